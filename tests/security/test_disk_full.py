"""A full disk (issue 8, break 7): log quotas, the disk reserve, and clear errors.

The data dir of each server here is a small tmpfs of its own (mounted by the fixture, unmounted
also when a test fails). A flooding function filled an 80 MB data dir in about 28 invocations;
then every write answered a bare 500 — DeleteFunction included, so the space could not be freed
through the API. Now logs are bounded by quotas, growth is refused with a ServiceException that
names the cause, and deletes and state changes use a preallocated reserve.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from botocore.exceptions import ClientError

from harness import ROLE, Server, create_function, invoke_json, require_prerequisites, zip_of

#: The server account (the harness default), which owns these tests' functions and log groups.
ACCOUNT = "000000000000"

MB = 1024 * 1024
DISK_MB = 80
GROUP_QUOTA = 4 * MB
TOTAL_QUOTA = 10 * MB
RESERVE = 8 * MB
ENV = {
    "LAMBENT_STORAGE_LOG_GROUP_MAX_BYTES": str(GROUP_QUOTA),
    "LAMBENT_STORAGE_LOGS_MAX_BYTES": str(TOTAL_QUOTA),
    "LAMBENT_STORAGE_RESERVE_BYTES": str(RESERVE),
    "LAMBENT_STORAGE_MIN_FREE_BYTES": str(1 * MB),
    "LAMBENT_STORAGE_CHECK_INTERVAL_S": "0.1",
    "LAMBENT_ASYNC_TIME_SCALE": "0.01",
}
#: Prints about 1.5 MB per invocation; the per-invocation cap (1 MB) keeps 1 MB of it.
FLOOD = {"app.py": "def handler(e, c):\n    line = 'x' * 999\n    for _ in range(1500):\n        print(line)\n"
                   "    return 'flooded'\n"}
ECHO = {"app.py": "def handler(e, c):\n    if e.get('pad'):\n        print('p' * e['pad'])\n"
                  "    print('echo', c.aws_request_id)\n    return {'echo': e}\n"}
ENOSPC_MESSAGE = "lambent's data directory is out of space (ENOSPC)"
NOTE = re.compile(r"\[lambent\] (\d+) log events \((\d+) bytes\) were dropped: "
                  r"lambent's data directory was out of space \(ENOSPC\)")


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


def group_dir(srv: Server, name: str) -> Path:
    from lambent.observability.logs import account_group

    # log groups are stored per account (``ACCOUNT:GROUP``, quoted): the server account's here
    return srv.data_dir / "logs" / quote(account_group(ACCOUNT, f"/aws/lambda/{name}"), safe="")


def log_lines(srv: Server, name: str) -> list[str]:
    from lambent.observability.logs import LogStore, account_group

    return [e.message for e in LogStore(srv.data_dir / "logs").events(account_group(ACCOUNT, f"/aws/lambda/{name}"))]


def wait_for(cond: Callable[[], bool], timeout_s: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Factory: a server whose data dir is a fresh 80 MB tmpfs. Servers are stopped and the
    mount removed after the test, whatever happened."""
    require_prerequisites()
    made: list[tuple[Server, Path]] = []

    def make(**env: str) -> Server:
        mnt = tmp_path / f"data{len(made)}"
        mnt.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m,mode=0700", "tmpfs", str(mnt)], check=True)
        srv = Server(mnt, env_extra={**ENV, **env})
        made.append((srv, mnt))
        return srv.start()

    try:
        yield make
    finally:
        for srv, mnt in made:
            try:
                srv.stop()
                srv.cleanup()
            finally:
                if subprocess.run(["umount", str(mnt)], capture_output=True).returncode != 0:
                    subprocess.run(["umount", "-l", str(mnt)], check=False)


class Filler:
    """A file outside lambent's control that takes every free byte of the data dir's filesystem."""

    def __init__(self, srv: Server) -> None:
        self.path = srv.data_dir / "filler.bin"

    def fill(self) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            # The server may write meanwhile: take all but a little at once, then the rest by pages.
            for _ in range(20):
                free = free_bytes(self.path.parent)
                if free <= MB:
                    break
                try:
                    os.posix_fallocate(fd, os.fstat(fd).st_size, free - MB // 2)
                except OSError:
                    continue
            chunk = b"\0" * 4096
            while True:
                try:
                    os.write(fd, chunk)
                except OSError:
                    break
        finally:
            os.close(fd)
        assert free_bytes(self.path.parent) == 0

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def refused(exc: pytest.ExceptionInfo[ClientError], what: str) -> None:
    err = exc.value.response
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert err["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == "ServiceException"
    assert err["Error"]["Code"] == "ServiceException"
    assert err["Error"]["Message"] == (
        f"{ENOSPC_MESSAGE}: {what} was not carried out. Deletes keep working: delete functions or "
        "versions to free space, or grow the volume."
    )


def test_flooding_functions_cannot_fill_the_disk_beyond_the_log_quotas(small_disk: Callable[..., Server]) -> None:
    # Given a server with a 4 MB quota per function and 10 MB in total
    srv = small_disk()
    lam = srv.client()
    flooders = [create_function(lam, FLOOD, Timeout=30) for _ in range(3)]
    # When three functions each flood their logs with 7 MB (21 MB: the old code kept it all)
    first_ids: dict[str, str] = {}
    last_ids: dict[str, str] = {}
    for _ in range(7):
        for name in flooders:
            resp, out = invoke_json(lam, name)
            assert out == "flooded"
            rid = resp["ResponseMetadata"]["RequestId"]
            first_ids.setdefault(name, rid)
            last_ids[name] = rid
    # Then no function keeps more than its quota, and all of them together no more than the total
    sizes = {name: du(group_dir(srv, name)) for name in flooders}
    assert all(0 < size <= GROUP_QUOTA for size in sizes.values()), sizes
    assert du(srv.data_dir / "logs") <= TOTAL_QUOTA
    # and what went was the oldest: the last invocation's lines are there, the first one's not.
    for name in flooders:
        lines = log_lines(srv, name)
        assert any(line.startswith(f"REPORT RequestId: {last_ids[name]}") for line in lines)
        assert not any(line.startswith(f"START RequestId: {first_ids[name]}") for line in lines)
    assert free_bytes(srv.data_dir) > (DISK_MB - 2 * TOTAL_QUOTA // MB - RESERVE // MB) * MB


def test_a_full_disk_refuses_growth_with_a_clear_error_and_deletes_still_free_it(small_disk: Callable[..., Server]) -> None:
    # Given a server with a flooding function (logs, a code zip) and a warm echo function
    srv = small_disk()
    lam = srv.client()
    flood = create_function(lam, FLOOD, Timeout=30)
    echo = create_function(lam, ECHO)
    lam.put_function_concurrency(FunctionName=echo, ReservedConcurrentExecutions=5)
    for _ in range(3):
        invoke_json(lam, flood)
    assert invoke_json(lam, echo, {"n": 0})[1] == {"echo": {"n": 0}}
    flood_sha = base64.b64decode(lam.get_function(FunctionName=flood)["Configuration"]["CodeSha256"]).hex()
    flood_zip, flood_tree = srv.data_dir / "code" / f"{flood_sha}.zip", srv.sandbox_dir() / "code" / flood_sha
    assert flood_zip.is_file() and flood_tree.is_dir() and group_dir(srv, flood).is_dir()
    filler = Filler(srv)
    try:
        # When something outside lambent takes every free byte
        filler.fill()
        time.sleep(0.5)  # the server looks at free space every 0.1 s
        # Then a synchronous invoke still works (its log lines are dropped, the tail is kept)
        # (more than the page its log file has left, so that the disk must refuse it)
        resp, out = invoke_json(lam, echo, {"n": 1, "pad": 20000}, LogType="Tail")
        assert resp["StatusCode"] == 200 and out == {"echo": {"n": 1, "pad": 20000}}
        assert f"echo {resp['ResponseMetadata']['RequestId']}" in base64.b64decode(resp["LogResult"]).decode()
        # an async accept is refused clearly — nothing was accepted —
        with pytest.raises(ClientError) as exc:
            lam.invoke(FunctionName=echo, InvocationType="Event", Payload=b'{"n": 2}')
        refused(exc, "the asynchronous invocation")
        # and so are PublishVersion and CreateFunction,
        with pytest.raises(ClientError) as exc:
            lam.publish_version(FunctionName=echo)
        refused(exc, "PublishVersion")
        with pytest.raises(ClientError) as exc:
            lam.create_function(FunctionName="late", Runtime="python3.11", Role=ROLE, Handler="app.handler",
                                Code={"ZipFile": zip_of(ECHO)})
        refused(exc, "CreateFunction")
        assert free_bytes(srv.data_dir) == 0
        # while deletes work with 0 bytes free: DeleteFunctionConcurrency, DeleteFunction,
        lam.delete_function_concurrency(FunctionName=echo)
        assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName=echo)
        resp = lam.delete_function(FunctionName=flood)
        assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
        # which freed the function's space: its code zip and its logs.
        assert not group_dir(srv, flood).exists()
        # (the code goes once the function's last environment is torn down)
        wait_for(lambda: not flood_zip.exists() and not flood_tree.exists(), what="the function's code to go")
        with pytest.raises(ClientError) as exc:
            lam.get_function(FunctionName=flood)
        assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"
        assert free_bytes(srv.data_dir) > 2 * MB
    finally:
        filler.remove()
    # And once the filler is gone everything works again, the reserve included.
    wait_for(lambda: (srv.data_dir / "reserve.ballast").exists(), what="the reserve to be recreated")
    assert (srv.data_dir / "reserve.ballast").stat().st_size == RESERVE
    time.sleep(0.3)
    assert lam.invoke(FunctionName=echo, InvocationType="Event", Payload=b'{"n": 3}')["StatusCode"] == 202
    assert lam.publish_version(FunctionName=echo)["Version"] == "1"
    again = create_function(lam, ECHO)
    assert invoke_json(lam, again, {"n": 4})[1] == {"echo": {"n": 4}}
    # The echo function's stream says how many of its log events the full disk cost it.
    wait_for(lambda: any(line.startswith("echo ") for line in log_lines(srv, echo)), what="echo logs")
    invoke_json(lam, echo, {"n": 5})
    notes = [m for m in (NOTE.fullmatch(line) for line in log_lines(srv, echo)) if m]
    assert len(notes) == 1, log_lines(srv, echo)
    # START, the padding, the echo line, END and REPORT of the invocation on the full disk
    assert int(notes[0].group(1)) == 5 and int(notes[0].group(2)) > 20000


def test_accepted_async_events_stay_queued_through_a_full_disk(small_disk: Callable[..., Server]) -> None:
    # Given accepted events of a function that cannot run yet (reserved concurrency 0: throttled,
    # rescheduled again and again)
    srv = small_disk()
    lam = srv.client()
    name = create_function(lam, ECHO)
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    ids = {lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"n": i}))["ResponseMetadata"]["RequestId"]
           for i in range(3)}
    from lambent.store.async_queue import read_queue

    def queued() -> int:
        rows, _, _ = read_queue(srv.data_dir / "async-queue.db", time.time())
        return sum(r.events for r in rows if r.function == f"{ACCOUNT}:function:{name}")  # rows hold the function key

    filler = Filler(srv)
    try:
        # When the disk fills up while they are retried
        filler.fill()
        time.sleep(1.5)
        # Then none of them is lost, and no new one is accepted
        assert queued() == 3
        with pytest.raises(ClientError) as exc:
            lam.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")
        refused(exc, "the asynchronous invocation")
        # not even across a restart on the full disk (which comes up, on the reserve)
        srv.stop()
        srv.start()
        assert free_bytes(srv.data_dir) > 0 and not (srv.data_dir / "reserve.ballast").exists()
        assert queued() == 3
        with pytest.raises(ClientError) as exc:
            lam.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")
        refused(exc, "the asynchronous invocation")
    finally:
        filler.remove()
    # and once there is room they all run, each exactly under its accepted request id.
    lam.delete_function_concurrency(FunctionName=name)
    wait_for(lambda: queued() == 0, timeout_s=20, what="the queue to drain")
    wait_for(lambda: {line.split()[1] for line in log_lines(srv, name) if line.startswith("echo ")} == ids,
             timeout_s=10, what="the accepted events to run")
