"""A function cannot see the data dir, other functions, host processes or other Runtime APIs."""

from __future__ import annotations

from typing import Any

from harness import create_function, invoke_json

PROBE = {"app.py": """
import os, socket
def handler(e, c):
    out = {}
    for p in e.get("paths", []):
        try:
            os.listdir(p) if os.path.isdir(p) else open(p, "rb").read(16)
            out[p] = "readable"
        except FileNotFoundError:
            out[p] = "missing"
        except PermissionError:
            out[p] = "denied"
        except OSError as exc:
            out[p] = "error:" + type(exc).__name__
    out["pids"] = sorted(int(x) for x in os.listdir("/proc") if x.isdigit())
    out["uid"] = os.getuid()
    out["euid"] = os.geteuid()
    with open("/proc/self/status") as f:
        out["capeff"] = [l.split()[1] for l in f if l.startswith("CapEff")][0]
    if e.get("write_tmp"):
        with open("/tmp/secret", "w") as f:
            f.write(e["write_tmp"])
    try:
        out["tmp"] = open("/tmp/secret").read()
    except FileNotFoundError:
        out["tmp"] = None
    out["task"] = sorted(os.listdir("/var/task"))
    try:
        open("/var/task/new.py", "w")
        out["task_writable"] = True
    except OSError:
        out["task_writable"] = False
    for port in e.get("ports", []):
        s = socket.socket()
        s.settimeout(0.5)
        try:
            s.connect(("127.0.0.1", port))
            out[f"port{port}"] = "open"
        except OSError:
            out[f"port{port}"] = "closed"
        finally:
            s.close()
    return out
"""}


def test_sandbox_view_of_the_host(lam: Any, server: Any) -> None:
    a = create_function(lam, PROBE)
    b = create_function(lam, {"b.py": "SECRET = 1\n", **PROBE})
    data = str(server.data_dir)
    paths = [data, data + "/lambent.db", data + "/root-credentials", "/root", "/home", "/work", "/etc/shadow", "/var/lib"]
    _, out = invoke_json(lam, a, {"paths": paths, "write_tmp": "from-a", "ports": [server.port, 5432, 6379]})
    for p in paths:
        assert out[p] in ("missing", "denied"), (p, out[p])
    # its own processes only, unprivileged, no capabilities
    assert len(out["pids"]) <= 5
    assert out["uid"] != 0 and out["euid"] != 0
    assert int(out["capeff"], 16) == 0
    # code is read-only and only its own
    assert out["task"] == ["app.py"] and out["task_writable"] is False
    # no network: not the lambent API, not the host's databases
    assert out[f"port{server.port}"] == "closed" and out["port5432"] == "closed" and out["port6379"] == "closed"
    # another function sees neither a's /tmp nor a's code
    _, out_b = invoke_json(lam, b, {"paths": []})
    assert out_b["tmp"] is None
    assert out_b["task"] == ["app.py", "b.py"]


def test_runtime_api_is_private_to_each_environment(lam: Any) -> None:
    # Given a function whose handler tries to steal the next invocation of its *own* Runtime API
    # (the only one it can reach) while it is busy: the API refuses a second concurrent /next
    snoop = create_function(lam, {"app.py": """
import http.client, os
def handler(e, c):
    host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=2)
    # answering an invocation id that is not ours is refused
    conn.request("POST", "/2018-06-01/runtime/invocation/not-mine/response", body=b"{}")
    r = conn.getresponse()
    status = r.status
    r.read()
    return {"foreign_response_status": status, "runtime_api": os.environ["AWS_LAMBDA_RUNTIME_API"]}
"""})
    victim = create_function(lam, {"app.py": "def handler(e, c):\n    return 'victim-ok'\n"})
    _, body = invoke_json(lam, snoop)
    assert body["foreign_response_status"] in (400, 403, 404)
    assert body["runtime_api"] == "127.0.0.1:9001"
    # the victim's invocations are untouched
    assert invoke_json(lam, victim)[1] == "victim-ok"
