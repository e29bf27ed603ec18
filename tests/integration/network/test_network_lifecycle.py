"""The default network's lifetime on a real server: an environment's veth goes with it, a server
out of addresses fails the start with 500 ServiceException and keeps serving, a crash's leftovers
are removed by the next start, and after shutdown nothing of the server's network is on the host."""

from __future__ import annotations

import signal
import time
from typing import Any

import botocore.exceptions
import pytest
from harness import Server, create_function, invoke_json
from hosts import PUBLIC, NsHost, lambent_traces, sh
from probe import PROBE

from lambent.network import names_for


def _ports(server: Server) -> list[str]:
    prefix, _ = names_for(server.data_dir)
    return [line.split(":")[1].strip() for line in sh("ip", "-o", "link", "show").splitlines()
            if f": {prefix}v" in line]


def _until(check: Any, timeout_s: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return bool(check())


def test_out_of_addresses_is_a_service_exception_and_the_platform_keeps_serving(net_fresh: Any) -> None:
    # A /30: the gateway and one address, so a second environment cannot get one.
    srv = net_fresh(LAMBENT_NETWORK_SUBNET_PREFIX="30")
    lam = srv.client()
    first, second = (create_function(lam, {"app.py": PROBE}, Timeout=30) for _ in range(2))
    _, out = invoke_json(lam, first, {"steps": [{"do": "address"}]})
    assert out["0"].startswith("ok:")
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        invoke_json(lam, second, {"steps": []})
    assert caught.value.response["Error"]["Code"] == "ServiceException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    # The warm environment still serves, and the failed start left no veth behind.
    assert invoke_json(lam, first, {"steps": [{"do": "address"}]})[1] == out
    assert len(_ports(srv)) == 1
    assert "no free address" in srv.log()


def test_a_deleted_functions_veth_goes_and_a_crash_leaves_nothing_after_the_next_run(
        net_fresh: Any, public: NsHost) -> None:
    srv: Server = net_fresh()
    prefix, table = names_for(srv.data_dir)
    lam = srv.client()
    name = create_function(lam, {"app.py": PROBE}, Timeout=30)
    assert invoke_json(lam, name, {"steps": [{"do": "connect", "host": PUBLIC, "port": public.port}]})[1]["0"].startswith("ok:")
    assert len(_ports(srv)) == 1
    lam.delete_function(FunctionName=name)
    assert _until(lambda: _ports(srv) == [])
    # A crash: the bridge and tables stay behind.
    name = create_function(lam, {"app.py": PROBE}, Timeout=30)
    invoke_json(lam, name, {"steps": []})
    srv.stop(signal.SIGKILL)
    assert any(f"{prefix}:" in line for line in lambent_traces(prefix, table))
    assert any(table in line for line in lambent_traces(prefix, table))
    # The next start on the same data dir removes them and builds its own; it serves.
    again: Server = Server(srv.data_dir, env_extra=srv.env_extra).start()
    try:
        assert invoke_json(again.client(), name, {"steps": [{"do": "connect", "host": PUBLIC, "port": public.port}]}
                           )[1]["0"] == f"ok:{public.body.decode()}"
        assert len(_ports(again)) == 1
    finally:
        again.stop()
        again.cleanup()
    assert lambent_traces(prefix, table) == []


def test_a_host_that_cannot_build_the_network_refuses_to_start_naming_the_setting(tmp_path: Any) -> None:
    srv = Server(tmp_path / "data", env_extra={"LAMBENT_NETWORK_NFT_PATH": str(tmp_path / "no-nft")})
    try:
        with pytest.raises(RuntimeError, match="server exited early") as caught:
            srv.start()
        assert "no-nft is missing" in str(caught.value)
        assert "LAMBENT_NETWORK_ENABLED=false runs without it" in str(caught.value)
        # Turned off, the same host serves (loopback only).
        srv.env_extra["LAMBENT_NETWORK_ENABLED"] = "false"
        srv.start()
        assert srv.client().list_functions()["Functions"] == []
    finally:
        srv.stop()
        srv.cleanup()
