"""Concurrent control-plane changes and invocations on the same functions: creates, code and
configuration updates (with and without Publish), publishes, aliases, tags, reserved concurrency,
deletes, sync and async invokes from 10 threads. Every answer is a success or a client error
(409/404/429), never a 5xx, and the server logs no unhandled exception.

It found: code blobs deleted between their upload and the version that uses them (a concurrent
release of the same content), entries written through after a delete and re-create, and new
environments failing to start for code that an update or delete had just removed.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Any

from botocore.exceptions import ClientError

from harness import ROLE, zip_of

NAMES = ("race0", "race1")
DURATION_S = 8.0


def code(rnd: random.Random) -> bytes:
    return zip_of({"app.py": f"def handler(e, c):\n    return {rnd.randint(0, 3)}\n"})


def one_operation(lam: Any, rnd: random.Random) -> None:
    name = rnd.choice(NAMES)
    op = rnd.randrange(10)
    if op == 0:
        lam.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": code(rnd)}, Publish=rnd.random() < 0.5)
    elif op == 1:
        lam.update_function_code(FunctionName=name, ZipFile=code(rnd), Publish=rnd.random() < 0.3)
    elif op == 2:
        lam.update_function_configuration(FunctionName=name, Timeout=rnd.randint(1, 5))
    elif op == 3:
        lam.publish_version(FunctionName=name)
    elif op == 4:
        versions = [v["Version"] for v in lam.list_versions_by_function(FunctionName=name)["Versions"]][1:]
        if versions:
            try:
                lam.create_alias(FunctionName=name, Name="live", FunctionVersion=rnd.choice(versions))
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ResourceConflictException":
                    raise
                lam.update_alias(FunctionName=name, Name="live", FunctionVersion=rnd.choice(versions))
    elif op in (5, 6):
        lam.invoke(FunctionName=name, Qualifier=rnd.choice(["$LATEST", "live", "1"]), Payload=b"{}")
    elif op == 7:
        lam.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")
    elif op == 8 and rnd.random() < 0.3:
        lam.delete_function(FunctionName=name)
    elif op == 9 and rnd.random() < 0.5:
        # tags and reserved concurrency are written under the same per-function lock
        if rnd.random() < 0.5:
            lam.tag_resource(Resource=f"arn:aws:lambda:us-east-1:000000000000:function:{name}", Tags={"n": str(rnd.randint(0, 9))})
        else:
            lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=rnd.randint(10, 20))
    else:
        lam.get_function(FunctionName=name)


def test_concurrent_changes_never_fail_on_the_server(fresh_server: Any) -> None:
    srv = fresh_server()
    failures: list[str] = []
    counts = {"ok": 0, "client_error": 0}
    lock = threading.Lock()
    deadline = time.monotonic() + DURATION_S

    def worker(seed: int) -> None:
        rnd = random.Random(seed)
        lam = srv.client(max_pool_connections=2)
        while time.monotonic() < deadline:
            try:
                one_operation(lam, rnd)
                outcome = "ok"
            except ClientError as exc:
                status = exc.response["ResponseMetadata"]["HTTPStatusCode"]
                outcome = "client_error"
                if status >= 500:
                    with lock:
                        failures.append(f"{status} {exc.response['Error']}")
            with lock:
                counts[outcome] += 1

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures[:5]
    assert counts["ok"] > 100, counts  # the mix really ran
    time.sleep(1.0)  # background transitions and deliveries of the last changes
    assert "Traceback" not in srv.log(), srv.log()[-4000:]
