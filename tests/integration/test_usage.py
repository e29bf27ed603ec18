"""Billing end to end: N invocations of a real server, then ``lambent usage --format json``
equals the sum of the invocations' REPORT lines (read with LogType=Tail), within 30 s.
"""

from __future__ import annotations

import base64
import json
import math
import re
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

from harness import Server, create_function, require_prerequisites

ROOT = Path(__file__).resolve().parents[2]

#: The local wiring (only when lambent/platform.py does not make a UsageRecorder itself).
APP = {"app.py": """
import time
def handler(event, context):
    time.sleep(event.get("sleep_ms", 0) / 1000)
    return {"ok": True}
"""}

_REPORT = re.compile(r"^REPORT RequestId: (\S+)\tDuration: ([0-9.]+) ms\tBilled Duration: ([0-9]+) ms\t"
                     r"Memory Size: ([0-9]+) MB\t[^\n]*?(?:Init Duration: ([0-9.]+) ms\t|$)", re.M)


def _report(resp: dict[str, Any]) -> tuple[str, float, int, int, float | None]:
    tail = base64.b64decode(resp["LogResult"]).decode()
    m = _REPORT.search(tail)
    assert m is not None, tail
    return m.group(1), float(m.group(2)), int(m.group(3)), int(m.group(4)), float(m.group(5)) if m.group(5) else None


def _usage(data_dir: Path, *extra: str) -> list[dict[str, Any]]:
    command = ["lambent.cli.main", "usage"]
    out = subprocess.run([sys.executable, "-m", *command, "--format", "json", "--data-dir",
                          str(data_dir), *extra], check=True, capture_output=True, text=True, timeout=60)
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def _wait_usage(data_dir: Path, requests: int, *extra: str) -> list[dict[str, Any]]:
    """Poll the CLI (another process: no event to await) until ``requests`` are visible; the
    promise is 30 s."""
    deadline = time.monotonic() + 30
    while True:
        rows = _usage(data_dir, *extra)
        if sum(r["requests"] for r in rows) >= requests or time.monotonic() > deadline:
            return rows
        time.sleep(0.25)


def _start(tmp_path: Path, data_dir: Path | None = None, **extra: str) -> Server:
    data_dir = data_dir or tmp_path / "data"
    return Server(data_dir, env_extra=dict(extra)).start()


def test_usage_equals_the_sum_of_the_report_lines(tmp_path: Path) -> None:
    require_prerequisites()
    srv = _start(tmp_path)
    try:
        lam = srv.client()
        name = create_function(lam, APP, MemorySize=256, EphemeralStorage={"Size": 1024})
        cold = _report(lam.invoke(FunctionName=name, Payload=b"{}", LogType="Tail"))
        assert cold[4] is not None, "the first invocation is a cold start"
        since = time.time()
        reports = [_report(lam.invoke(FunctionName=name, Payload=json.dumps({"sleep_ms": i * 7}).encode(),
                                      LogType="Tail")) for i in range(8)]
        assert all(r[4] is None for r in reports), "warm invocations"
        billed = sum(r[2] for r in reports)

        [row] = _wait_usage(srv.data_dir, len(reports), "--since", repr(since), "--function", name)
        assert row["function"] == name
        assert row["requests"] == len(reports)
        assert row["billed_duration_ms"] == billed
        assert row["gb_seconds"] == float(Fraction(billed * 256, 1024 * 1000))
        eph = Fraction(billed * (1024 - 512), 1024 * 1000)
        expected_cost = (len(reports) * Fraction("0.20") / 1_000_000 + Fraction(billed * 256, 1024 * 1000)
                         * Fraction("0.0000166667") + eph * Fraction("0.0000000309"))
        assert row["cost"] == round(float(expected_cost), 8)
        assert row["ephemeral_gb_seconds"] == float(eph)

        # The cold start bills its INIT with its INVOKE (Lambda since August 2025), rounded once:
        # ceil(Duration + Init Duration), up to the REPORT line's two printed decimals; its REPORT
        # line's Billed Duration says exactly that, and the usage records agree with it.
        [whole] = _wait_usage(srv.data_dir, len(reports) + 1, "--function", name)
        cold_billed = whole["billed_duration_ms"] - billed
        printed = cold[1] + cold[4]
        assert cold_billed in {math.ceil(printed - 0.01), math.ceil(printed), math.ceil(printed + 0.01)}
        assert cold_billed == cold[2]

        # Asynchronous invocations go through the same service and are billed too.
        for _ in range(2):
            assert lam.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")["StatusCode"] == 202
        [after] = _wait_usage(srv.data_dir, len(reports) + 3, "--function", name)
        assert after["requests"] == len(reports) + 3
        [by_version] = _usage(srv.data_dir, "--function", name, "--by", "version")
        assert (by_version["version"], by_version["requests"]) == ("$LATEST", len(reports) + 3)
    finally:
        srv.stop()
        srv.cleanup()



def test_a_failed_init_is_billed_as_its_report_line_says(tmp_path: Path) -> None:
    """The invocation whose init failed: its REPORT carries the init's duration, its Billed
    Duration covers it, and the usage record bills exactly that."""
    require_prerequisites()
    srv = _start(tmp_path)
    try:
        lam = srv.client()
        name = create_function(lam, {"app.py": "raise RuntimeError('init boom')\n"})
        since = time.time()
        reports = []
        for _ in range(2):
            resp = lam.invoke(FunctionName=name, Payload=b"{}", LogType="Tail")
            assert resp["FunctionError"] == "Unhandled"
            reports.append(_report(resp))
        assert all(r[4] is not None for r in reports), "each invocation ran (and failed) an init"
        assert all(r[2] in {math.ceil(r[1] + r[4] + d) for d in (-0.01, 0, 0.01)} for r in reports)
        [row] = _wait_usage(srv.data_dir, 2, "--since", repr(since), "--function", name)
        assert row["requests"] == 2
        assert row["billed_duration_ms"] == sum(r[2] for r in reports)
    finally:
        srv.stop()
        srv.cleanup()


def _http_usage(srv: Server, query: str = "", keys: tuple[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    """GET /usage signed for service ``lambent`` (by the root, or by ``keys``)."""
    import urllib.error
    import urllib.request

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from harness import ACCESS_KEY, SECRET_KEY

    req = AWSRequest(method="GET", url=f"{srv.url}/usage{'?' + query if query else ''}")
    SigV4Auth(Credentials(*(keys or (ACCESS_KEY, SECRET_KEY))), "lambent", "us-east-1").add_auth(req)
    raw = urllib.request.Request(req.url, method="GET", headers=dict(req.headers))
    try:
        with urllib.request.urlopen(raw, timeout=30) as res:
            return res.status, json.loads(res.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_get_usage_is_served_signed_and_authorised(tmp_path: Path) -> None:
    """GET /usage answers what `lambent usage --format json` prints, within 30 s of the
    invocations; unsigned or unauthorised callers get AWS-shaped refusals; bad parameters a 400."""
    import urllib.error
    import urllib.request

    from lambent.api.models import client as model_client
    from harness import ACCESS_KEY, SECRET_KEY

    require_prerequisites()
    srv = _start(tmp_path)
    try:
        lam = srv.client()
        name = create_function(lam, APP, MemorySize=512)
        lam.invoke(FunctionName=name, Payload=b"{}")  # the cold start (its INIT is billed too)
        since = repr(time.time())
        reports = [_report(lam.invoke(FunctionName=name, Payload=b"{}", LogType="Tail")) for _ in range(4)]
        deadline = time.monotonic() + 30
        query = f"function={name}&since={since}"
        status, body = _http_usage(srv, query)
        while (status != 200 or not body["rows"] or body["rows"][0]["requests"] < 4) and time.monotonic() < deadline:
            time.sleep(0.25)
            status, body = _http_usage(srv, query)
        assert status == 200, body
        [row] = body["rows"]
        assert row["function"] == name and row["requests"] == 4
        assert row["billed_duration_ms"] == sum(r[2] for r in reports)
        assert row["gb_seconds"] == float(Fraction(row["billed_duration_ms"] * 512, 1024 * 1000))
        assert {"requests", "gb_seconds", "cost"} <= set(row) and body["total"]["requests"] == 4
        # the same rows as the CLI's
        assert _usage(srv.data_dir, "--function", name, "--since", since) == body["rows"]
        # botocore's client of lambent's model calls it too, with the query members
        cli = model_client("lambent", srv.url, ACCESS_KEY, SECRET_KEY, "us-east-1")
        out = cli.get_usage(By="version", FunctionName=name)
        assert [(r["version"], r["requests"]) for r in out["rows"]] == [("$LATEST", 5)]

        # hostile input: a bad grouping, a bad time, a function name that is not one
        assert _http_usage(srv, "by=account")[0] == 400
        status, err = _http_usage(srv, "since=yesterday")
        assert status == 400 and "not a time" in err.get("message", err.get("Message", ""))
        assert _http_usage(srv, "function=" + "x" * 65)[0] == 400
        # unsigned: refused before anything is read
        try:
            urllib.request.urlopen(f"{srv.url}/usage", timeout=30)
            raise AssertionError("unsigned GET /usage answered")
        except urllib.error.HTTPError as exc:
            assert exc.code == 403
        # an IAM user without lambent:GetUsage is denied; granted, it reads the rows
        iam = srv.client("iam")
        iam.create_user(UserName="reader")
        key = iam.create_access_key(UserName="reader")["AccessKey"]
        keys = (key["AccessKeyId"], key["SecretAccessKey"])
        status, err = _http_usage(srv, "", keys)
        assert status == 403 and "lambent:GetUsage" in json.dumps(err)
        iam.put_user_policy(UserName="reader", PolicyName="usage", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "lambent:GetUsage", "Resource": "*"}]}))
        deadline = time.monotonic() + 10
        status, body = _http_usage(srv, "", keys)
        while status != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
            status, body = _http_usage(srv, "", keys)
        assert status == 200 and body["total"]["requests"] == 5
    finally:
        srv.stop()
        srv.cleanup()
