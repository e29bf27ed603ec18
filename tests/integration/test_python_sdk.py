"""Python runtimes include boto3 byte-compiled for the runtime's interpreter, as on AWS.

/var/runtime is read-only inside the sandbox, so an uncompiled SDK is compiled in memory at every
cold start: ``import boto3`` took ~10 s inside a 128 MB handler (0.07 vCPU) and ~1.2 s at init.
The server compiles it once, in the background after start (``RuntimeCatalog.compile_python``).
"""

from __future__ import annotations

import base64
import re
import time
from pathlib import Path
from typing import Any

from harness import Server, create_function, invoke_json

IMPORT_AT_INIT = """import time
t0 = time.perf_counter()
import boto3
IMPORT_S = time.perf_counter() - t0
import os, botocore, botocore.client, bootstrap

def handler(e, c):
    return {'import_s': IMPORT_S, 'cached': botocore.__cached__, 'pyc': os.path.exists(botocore.__cached__),
            'client_pyc': os.path.exists(botocore.client.__cached__), 'probe': bootstrap.NAME}
"""

IMPORT_IN_HANDLER = """import os, time

def handler(e, c):
    t0 = time.perf_counter()
    import boto3
    return {'import_s': time.perf_counter() - t0}
"""


def wait_compiled(srv: Server, timeout_s: float = 90) -> Path:
    runtime_dir = srv.sandbox_dir() / "runtimes" / "python"
    stamp = runtime_dir / ".compiled-python3.11"
    deadline = time.monotonic() + timeout_s
    while not stamp.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert stamp.exists(), f"the Python runtime was not byte-compiled within {timeout_s} s:\n{srv.log()[-3000:]}"
    return runtime_dir


def init_duration_ms(resp: Any) -> float:
    m = re.search(r"Init Duration: ([\d.]+) ms", base64.b64decode(resp["LogResult"]).decode())
    assert m, "no Init Duration on a cold start"
    return float(m.group(1))


def test_boto3_imports_from_compiled_files_in_a_128_mb_function(server: Server, lam: Any) -> None:
    # Given a server whose background compile of /var/runtime is done
    runtime_dir = wait_compiled(server)
    assert (runtime_dir / "botocore" / "__pycache__" / "__init__.cpython-311.pyc").is_file()
    assert (runtime_dir / "__pycache__" / "bootstrap.cpython-311.pyc").is_file()
    # When a 128 MB function imports boto3 at init (and its own module named bootstrap, which must not be ours)
    name = create_function(lam, {"app.py": IMPORT_AT_INIT, "bootstrap.py": "NAME = 'mine'\n"}, MemorySize=128)
    resp, body = invoke_json(lam, name, LogType="Tail")
    # Then the import took well under 2 s, from the compiled files as the sandbox sees them
    assert "FunctionError" not in resp, body
    assert body["import_s"] < 2.0, body
    assert body["cached"] == "/var/runtime/botocore/__pycache__/__init__.cpython-311.pyc"
    assert body["pyc"] and body["client_pyc"], body
    assert body["probe"] == "mine"
    assert init_duration_ms(resp) < 3000


def test_boto3_import_inside_a_128_mb_handler_no_longer_compiles_botocore(server: Server, lam: Any) -> None:
    wait_compiled(server)
    # Given a 128 MB function (0.07 vCPU once init is over) that imports boto3 in its handler
    name = create_function(lam, {"app.py": IMPORT_IN_HANDLER}, MemorySize=128, Timeout=30)
    # When it is invoked
    resp, body = invoke_json(lam, name)
    # Then the import costs the ~0.3 s of CPU of loading boto3 (~4 s at 0.07 vCPU), not the ~0.8 s
    # of compiling it as well (>= 10 s before)
    assert "FunctionError" not in resp, body
    assert body["import_s"] < 7.0, body
