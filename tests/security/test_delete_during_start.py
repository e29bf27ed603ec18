"""A function deleted or given new code while its invocations cold-start (or run) never makes them
blame the function's code: each answers 200 with the real result, or 404 ResourceNotFoundException
once the function is gone, never a FunctionError with ``Runtime.ImportModuleError`` /
``Runtime.ExitError``.

The handler sleeps at import and then imports a second module, so a delete that removes the code
tree mid-init used to surface as ``Runtime.ImportModuleError: No module named 'helper'``; a handler
that reads its own files mid-invocation used to fail with FileNotFoundError once a delete or an
update released its package (the tree is now kept while any environment mounts it).
"""

from __future__ import annotations

import json
import random
import threading
import time
from typing import Any

from botocore.exceptions import ClientError

from harness import Server, create_function, zip_of
from lambent.store.async_queue import read_queue

#: The server account (the harness default), which owns these tests' functions and log groups.
ACCOUNT = "000000000000"

ROUNDS = 30
INVOKES_PER_ROUND = 3
ARN_PREFIX = "arn:aws:lambda:us-east-1:000000000000:function:"


def slow_import_app(value: str, import_sleep_s: float = 0.25) -> dict[str, str | bytes]:
    return {
        "app.py": f"import time\ntime.sleep({import_sleep_s})\nimport helper\n\n"
                  "def handler(e, c):\n    return {'value': helper.VALUE}\n",
        "helper.py": f"VALUE = {value!r}\n",
    }


def invoke_outcome(lam: Any, name: str) -> tuple[str, Any]:
    """('ok', payload) | ('not_found', message) | ('bad', description)."""
    try:
        resp = lam.invoke(FunctionName=name, Payload=b"{}")
    except ClientError as exc:
        err = exc.response["Error"]
        status = exc.response["ResponseMetadata"]["HTTPStatusCode"]
        if status == 404 and err["Code"] == "ResourceNotFoundException":
            return "not_found", err["Message"]
        return "bad", f"{status} {err}"
    payload = resp["Payload"].read()
    if resp["StatusCode"] != 200 or "FunctionError" in resp:
        return "bad", f"{resp['StatusCode']} {resp.get('FunctionError')} {payload!r}"
    return "ok", json.loads(payload)


def invoke_all(lam: Any, name: str, n: int, stagger_s: float = 0.15) -> tuple[list[threading.Thread], list[tuple[str, Any]]]:
    """``n`` invocations from threads, the i-th sent ``i * stagger_s`` after the first."""
    results: list[tuple[str, Any]] = []
    lock = threading.Lock()

    def one(delay_s: float) -> None:
        time.sleep(delay_s)
        outcome = invoke_outcome(lam, name)
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=one, args=(i * stagger_s,)) for i in range(n)]
    for t in threads:
        t.start()
    return threads, results


def test_delete_during_cold_starts_answers_the_result_or_404(server: Server) -> None:
    lam = server.client(max_pool_connections=INVOKES_PER_ROUND + 2)
    rnd = random.Random(8)
    bad: list[str] = []
    counts = {"ok": 0, "not_found": 0}
    deadline = time.monotonic() + 60
    for round_no in range(ROUNDS):
        assert time.monotonic() < deadline, f"only {round_no} rounds in 60 s"
        # Given a function whose init takes 0.25 s and then imports a second module of its package
        value = f"round-{round_no}"
        name = create_function(lam, slow_import_app(value))
        # When it is deleted while invocations are cold-starting (or just before / after)
        threads, results = invoke_all(lam, name, INVOKES_PER_ROUND)
        time.sleep(rnd.uniform(0.0, 0.4))
        lam.delete_function(FunctionName=name)
        for t in threads:
            t.join(30)
        # Then each answers the real result or 404 naming the function, never a Runtime.* error
        assert len(results) == INVOKES_PER_ROUND
        for kind, detail in results:
            if kind == "ok" and detail == {"value": value}:
                counts["ok"] += 1
            elif kind == "not_found" and detail == f"Function not found: {ARN_PREFIX}{name}:$LATEST":
                counts["not_found"] += 1
            else:
                bad.append(f"round {round_no}: {kind} {detail}")
    assert not bad, "\n".join(bad)
    # Both outcomes happened: the deletes really raced the starts.
    assert counts["ok"] > 0 and counts["not_found"] > 0, counts


def test_update_code_during_cold_starts_runs_old_or_new_code(server: Server) -> None:
    lam = server.client(max_pool_connections=INVOKES_PER_ROUND + 2)
    rnd = random.Random(9)
    bad: list[str] = []
    seen: set[str] = set()
    deadline = time.monotonic() + 60
    for round_no in range(15):
        assert time.monotonic() < deadline, f"only {round_no} rounds in 60 s"
        # Given a function with slowly importing code "old"
        old, new = f"old-{round_no}", f"new-{round_no}"
        name = create_function(lam, slow_import_app(old))
        try:
            # When its code is replaced while invocations cold-start
            threads, results = invoke_all(lam, name, INVOKES_PER_ROUND)
            time.sleep(rnd.uniform(0.0, 0.4))
            lam.update_function_code(FunctionName=name, ZipFile=zip_of(slow_import_app(new)))
            for t in threads:
                t.join(30)
            # Then every invocation ran the old or the new code
            for kind, detail in results:
                if kind == "ok" and detail in ({"value": old}, {"value": new}):
                    seen.add("old" if detail == {"value": old} else "new")
                else:
                    bad.append(f"round {round_no}: {kind} {detail}")
        finally:
            lam.delete_function(FunctionName=name)
    assert not bad, "\n".join(bad)
    assert seen == {"old", "new"}, seen


def test_delete_mid_invocation_keeps_the_code_until_the_invocation_ends(server: Server) -> None:
    lam = server.client()
    # Given a warm function whose invocation reads a file of its package after 1 s
    app = ("import time\n\ndef handler(e, c):\n    time.sleep(e.get('sleep', 0))\n"
           "    with open('data.txt') as f:\n        return {'data': f.read()}\n")
    name = create_function(lam, {"app.py": app, "data.txt": "still here"})
    assert invoke_outcome(lam, name) == ("ok", {"data": "still here"})
    results: list[tuple[str, Any]] = []
    t = threading.Thread(target=lambda: results.append(
        ("ok", json.loads(lam.invoke(FunctionName=name, Payload=b'{"sleep": 1}')["Payload"].read()))))
    t.start()
    time.sleep(0.4)
    # When the function is deleted while that invocation sleeps
    lam.delete_function(FunctionName=name)
    t.join(30)
    # Then the invocation still reads its file, and the function is gone afterwards
    assert results == [("ok", {"data": "still here"})]
    assert invoke_outcome(lam, name) == ("not_found", f"Function not found: {ARN_PREFIX}{name}:$LATEST")


def test_update_mid_invocation_keeps_the_old_code_until_the_invocation_ends(server: Server) -> None:
    lam = server.client()
    app = ("import time\n\ndef handler(e, c):\n    time.sleep(e.get('sleep', 0))\n"
           "    with open('data.txt') as f:\n        return {'data': f.read()}\n")
    name = create_function(lam, {"app.py": app, "data.txt": "old"})
    try:
        assert invoke_outcome(lam, name) == ("ok", {"data": "old"})
        results: list[Any] = []
        t = threading.Thread(target=lambda: results.append(
            json.loads(lam.invoke(FunctionName=name, Payload=b'{"sleep": 1}')["Payload"].read())))
        t.start()
        time.sleep(0.4)
        # When its code is replaced while an invocation runs
        lam.update_function_code(FunctionName=name, ZipFile=zip_of({"app.py": app, "data.txt": "new"}))
        lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})
        t.join(30)
        # Then the running invocation finishes on the old code, the next one runs the new
        assert results == [{"data": "old"}]
        assert invoke_outcome(lam, name) == ("ok", {"data": "new"})
    finally:
        lam.delete_function(FunctionName=name)


def test_async_events_of_a_function_deleted_during_a_start_run_or_are_dropped(fresh_server: Any) -> None:
    srv = fresh_server()
    lam = srv.client()
    # Given a slowly starting function that runs one event at a time, and another function
    doomed = create_function(lam, slow_import_app("doomed", import_sleep_s=0.5))
    lam.put_function_concurrency(FunctionName=doomed, ReservedConcurrentExecutions=1)  # the others wait queued
    kept = create_function(lam, {"app.py": "def handler(e, c):\n    print('ran', c.aws_request_id)\n    return 1\n"})
    # When both get events and the first is deleted while its first event cold-starts
    ids = [lam.invoke(FunctionName=doomed, InvocationType="Event", Payload=b"{}")["ResponseMetadata"]["RequestId"]
           for _ in range(3)]
    kept_id = lam.invoke(FunctionName=kept, InvocationType="Event", Payload=b"{}")["ResponseMetadata"]["RequestId"]
    time.sleep(0.3)
    lam.delete_function(FunctionName=doomed)

    # Then the starting event runs to completion and the queued ones are dropped as the function
    # no longer exists: none is counted as a function error and kept for a retry a minute later
    # (the old code did that with Runtime.ImportModuleError); the other function's event is delivered.
    def settled() -> tuple[list[str], bool, bool]:
        log = srv.log()
        arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{doomed}"
        dropped = [i for i in ids if f"dropping async event {i}: function {arn}" in log]
        rows, _, _ = read_queue(srv.data_dir / "async-queue.db", time.time())
        return dropped, any(r.function == f"{ACCOUNT}:function:{doomed}" for r in rows), kept_id in ran_ids(srv, kept)

    deadline = time.monotonic() + 10
    dropped, queued, kept_ran = settled()
    while time.monotonic() < deadline and not (kept_ran and not queued and len(dropped) == 2):
        time.sleep(0.1)
        dropped, queued, kept_ran = settled()
    assert not queued, f"events of the deleted function still queued:\n{srv.log()[-3000:]}"
    assert dropped == ids[1:]
    assert kept_ran
    assert "Runtime.ImportModuleError" not in srv.log()


def ran_ids(srv: Server, name: str) -> list[str]:
    from lambent.observability.logs import LogStore, account_group

    try:
        events = list(LogStore(srv.data_dir / "logs").events(account_group(ACCOUNT, f"/aws/lambda/{name}")))
    except FileNotFoundError:
        return []
    return [e.message.split()[-1] for e in events if e.message.startswith("ran ")]
