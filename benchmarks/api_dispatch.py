"""In-process cost of the HTTP step of a warm Invoke: the protocol layer against the old path.

Both paths run in this process, on this machine, interleaved in the same run, with the same stub
platform (an invoker that answers at once), so the difference is what the request path itself
costs: everything after the body is read and its signature checked, up to the ASGI response.

- new: ``LambentApp._dispatch`` (the Invoke regex, ``Dispatcher.dispatch_known``: parse_known
  with its precomputed plan and validator, the refusal of unhandled members, the handler,
  ``serialise``, the raw ASGI messages).
- old: the path before the protocol layer, loaded from git (``--old-commit``): the same regex,
  a Starlette ``Request``, ``lambda_api.invoke`` hand-parsing headers and query, a Starlette
  ``Response``.

Target: the new path adds less than 50 µs (p50) to a warm invoke (~1 ms end to end), so the
whole warm invoke stays within 5 % (reported as the ratio of a 1 ms invoke plus the difference).

Usage: python benchmarks/api_dispatch.py [--requests 20000] [--old-commit b0218ce] [--json PATH]
"""

from __future__ import annotations

import asyncio
import importlib.util
import subprocess
import sys
import tempfile
import time
from collections.abc import MutableMapping
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

from _common import Figure, Latency, Report, arg_parser

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from starlette.datastructures import Headers  # noqa: E402
from starlette.requests import Request  # noqa: E402

from lambent import arns  # noqa: E402
from lambent.api import app as app_module  # noqa: E402

ADDED_P50_MAX_US = 50.0
WARM_INVOKE_MS = 1.0
PAYLOAD = b'{"key1": "value1", "key2": "value2", "items": [1, 2, 3, 4, 5], "nested": {"a": "b"}}'
FUNCTION = "bench-fn"
PATH = f"/2015-03-31/functions/{FUNCTION}/invocations"
HEADERS = {
    "host": "127.0.0.1:9000",
    "accept-encoding": "identity",
    "user-agent": "Boto3/1.35.0 md/Botocore#1.35.0 ua/2.0 os/linux#6.1 md/arch#x86_64 lang/python#3.11.7",
    "x-amz-date": "20261202T010000Z",
    "x-amz-content-sha256": "0" * 64,
    "authorization": "AWS4-HMAC-SHA256 Credential=AK/20261202/us-east-1/lambda/aws4_request, "
                     "SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=" + "0" * 64,
    "amz-sdk-invocation-id": "5d3c7a2e-1e0f-4bb6-9f5a-1f3c2b9a8e7d",
    "amz-sdk-request": "attempt=1",
    "content-length": str(len(PAYLOAD)),
}


class _Functions:
    """What both handlers ask of the function registry, done as the real one does (arns parse)."""

    def ref(self, raw: str, qualifier: str | None = None) -> tuple[str, str | None]:
        ref = arns.parse_function_name(raw, max_len=256, create=False, qualifier=qualifier)
        return ref.name, arns.resolve_qualifier(ref, qualifier)

    def arn(self, name: str, qualifier: str | None = None) -> str:
        return f"arn:aws:lambda:us-east-1:000000000000:function:{name}" + (f":{qualifier}" if qualifier else "")


class _Invoker:
    """A warm environment that answers at once: what is measured is the request path."""

    async def invoke(self, name: str, qualifier: str | None, request: Any) -> Any:
        outcome = SimpleNamespace(payload=request.payload, function_error=None, log_tail=b"")
        return SimpleNamespace(config=SimpleNamespace(version="$LATEST"), outcome=outcome)


def _platform() -> Any:
    limits = SimpleNamespace(sync_payload_max_bytes=6_291_456, async_payload_max_bytes=1_048_576)
    settings = SimpleNamespace(
        region="us-east-1", data_dir=tempfile.gettempdir(), limits=limits,
        http=SimpleNamespace(body_spool_bytes=1 << 20, max_large_bodies=1, large_body_wait_s=1.0),
    )
    credentials = SimpleNamespace(access_key_id="AK", secret_access_key="SK")
    return SimpleNamespace(settings=settings, credentials=credentials, functions=_Functions(), invoker=_Invoker(),
                           ready=asyncio.Event())


def _old_module(repo: str, commit: str, path: str, name: str) -> ModuleType:
    source = subprocess.run(["git", "-C", repo, "show", f"{commit}:{path}"],
                            check=True, capture_output=True, text=True).stdout
    file = Path(tempfile.mkdtemp(prefix="lambent-bench-")) / f"{name}.py"
    file.write_text(source)
    spec = importlib.util.spec_from_file_location(name, file)
    assert spec is not None and spec.loader is not None  # noqa: S101 - a benchmark script
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _old_lambda_api(repo: str, commit: str) -> ModuleType:
    """``lambent/api/lambda_api.py`` as it was at ``commit`` (before the protocol layer), with the
    ``lambent/api/rest.py`` of that commit (its Starlette helpers are gone since)."""
    old_rest = _old_module(repo, commit, "lambent/api/rest.py", "old_rest")
    current = sys.modules.get("lambent.api.rest")
    sys.modules["lambent.api.rest"] = old_rest
    try:
        return _old_module(repo, commit, "lambent/api/lambda_api.py", "old_lambda_api")
    finally:
        if current is not None:
            sys.modules["lambent.api.rest"] = current
        else:
            del sys.modules["lambent.api.rest"]


def _scope(app: Any) -> dict[str, Any]:
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in HEADERS.items()]
    return {"type": "http", "method": "POST", "path": PATH, "raw_path": PATH.encode(), "query_string": b"",
            "headers": raw, "app": app}


async def _receive() -> MutableMapping[str, Any]:
    return {"type": "http.disconnect"}


def _sink() -> tuple[list[int], Any]:
    statuses: list[int] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    return statuses, send


async def _measure(app: Any, old: ModuleType, requests: int, block: int) -> tuple[list[float], list[float]]:
    service = app.services["lambda"]
    new_samples: list[float] = []
    old_samples: list[float] = []
    statuses, send = _sink()
    old_app = SimpleNamespace(state=SimpleNamespace(platform=app.platform, log=app_module.log))
    root = app.platform.iam.root_principal()

    async def new_path() -> None:
        scope = _scope(app)
        headers = Headers(scope=scope)  # built by LambentApp.__call__ before the signature check, both paths
        await app._dispatch(scope, _receive, send, service, headers, PAYLOAD, root)

    async def old_path() -> None:
        scope = _scope(old_app)
        Headers(scope=scope)
        m = app_module._INVOKE_PATH.match(scope["path"])
        assert m is not None  # noqa: S101
        scope.setdefault("state", {})["body"] = PAYLOAD
        scope["path_params"] = {"name": m.group(1)}
        response = await old.invoke(Request(scope, _receive))
        await response(scope, _receive, send)

    done = 0
    while done < requests:
        for path, samples in ((new_path, new_samples), (old_path, old_samples)):
            for _ in range(block):
                t0 = time.perf_counter()
                await path()
                samples.append(time.perf_counter() - t0)
        done += block
    if set(statuses) != {200}:
        raise SystemExit(f"unexpected statuses: {sorted(set(statuses))}")
    return new_samples, old_samples


def main() -> None:
    parser = arg_parser(__doc__)
    parser.add_argument("--requests", type=int, default=20000, help="requests per path (after warm-up)")
    parser.add_argument("--warmup", type=int, default=2000)
    parser.add_argument("--old-commit", default="b0218ce", help="a commit before the protocol layer")
    parser.add_argument("--repo", default=str(ROOT), help="the git checkout holding --old-commit")
    args = parser.parse_args()

    old = _old_lambda_api(args.repo, args.old_commit)
    app = app_module.LambentApp(_platform())
    asyncio.run(_measure(app, old, args.warmup, 500))
    new_samples, old_samples = asyncio.run(_measure(app, old, args.requests, 1000))
    new, before = Latency.of(new_samples), Latency.of(old_samples)
    added_us = (new.p50_ms - before.p50_ms) * 1000

    report = Report("api_dispatch", "HTTP step of a warm Invoke, in process: protocol layer vs the old path")
    report.add(Figure("request path p50", new.p50_ms * 1000, "µs", before.p50_ms * 1000, "old path"))
    report.add(Figure("request path p90", new.p90_ms * 1000, "µs", before.p90_ms * 1000, "old path"))
    report.add(Figure("added p50", added_us, "µs", max_value=ADDED_P50_MAX_US))
    report.add(Figure(f"warm invoke of {WARM_INVOKE_MS:g} ms, with the added p50", WARM_INVOKE_MS + added_us / 1000, "ms",
                      WARM_INVOKE_MS, f"{WARM_INVOKE_MS:g} ms", max_ratio=1.05))
    report.info.update(new=new.as_dict(), old=before.as_dict(), old_commit=args.old_commit, payload_bytes=len(PAYLOAD))
    report.emit(args.json)
    sys.exit(0 if report.passed else 1)


if __name__ == "__main__":
    main()
