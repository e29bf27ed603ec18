"""What resolving an alias with routing weights adds to the warm invoke path.

Two measurements in one run:
1. End to end: one function published as versions 1 and 2 and an alias ``live`` (version 1 plus
   50 % routed to version 2); warm invokes through the alias are interleaved on the same signed
   keep-alive connection with invokes that name a version directly, drawn with the same 50/50
   coin, so both sides run in the same two environments and only the alias resolution differs
   (figure: p50(alias) − p50(version), the target). The same against the unqualified function
   (one environment instead of two) is reported for information.
2. In process: ``FunctionService.resolve`` with the weighted alias vs with no qualifier, the exact
   code the invoke path runs, timed over many calls (no network noise).

Target: the alias adds < 50 µs.

Usage: python benchmarks/alias_overhead.py [--requests 4000] [--json PATH]
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import (
    ECHO_HANDLER,
    ECHO_PAYLOAD,
    FULL_CPU_MEMORY_MB,
    Figure,
    LambentServer,
    Report,
    SigningClient,
    arg_parser,
    create_function,
    lambda_client,
    unique_names,
)

MAX_ADDED_US = 50.0


def in_process_resolve_us(n: int = 200_000) -> tuple[float, float]:
    """(unqualified, weighted alias) cost of FunctionService.resolve per call, in µs."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from lambent.control.code import CodeStore
    from lambent.control.codezip import ZipLimits
    from lambent.control.functions import FunctionEntry, FunctionService
    from lambent.control.model import Alias, FunctionConfig, State
    from lambent.control.runtimes import RuntimeCatalog
    from lambent.settings import Settings
    from lambent.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open_in(Path(tmp))
        svc = FunctionService(Settings(data_dir=Path(tmp)), store, CodeStore(Path(tmp) / "code", store, ZipLimits()), RuntimeCatalog())
        base = FunctionConfig(name="f", runtime="python3.11", role="r", handler="app.handler", code_hash_hex="0",
                              code_sha256_b64="0", code_size=1, last_modified="", revision_id="r", state=State.ACTIVE)
        versions = {"$LATEST": base, "1": base.replace(version="1"), "2": base.replace(version="2")}
        entry = FunctionEntry("f", 0.0, {}, None, versions, 2, {"live": Alias("f", "live", "1", "r", "", "2", 0.5)})
        svc._fns["f"] = entry  # noqa: SLF001 - a registry with one function, no I/O
        draw = random.random

        def timed(qualifier: str | None) -> float:
            t0 = time.perf_counter()
            for _ in range(n):
                svc.resolve("f", qualifier, draw=draw())
            return (time.perf_counter() - t0) / n * 1e6

        plain = min(timed(None) for _ in range(3))
        alias = min(timed("live") for _ in range(3))
        store.close()
    return plain, alias


def main() -> None:
    parser = arg_parser(__doc__)
    parser.add_argument("--requests", type=int, default=4000, help="measured requests per variant")
    args = parser.parse_args()
    report = Report("alias_overhead", f"Alias with routing weights vs unqualified invoke, MemorySize={FULL_CPU_MEMORY_MB} MB")
    with LambentServer() as srv:
        lam = lambda_client(srv.url)
        (name,) = unique_names("alias", 1)
        create_function(lam, name, ECHO_HANDLER, memory_mb=FULL_CPU_MEMORY_MB)
        lam.publish_version(FunctionName=name)
        lam.update_function_configuration(FunctionName=name, Description="second")
        lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.05})
        lam.publish_version(FunctionName=name)
        lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1",
                         RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}})
        client = SigningClient(srv.port)
        coin = random.Random(7)
        targets = {"plain": lambda: name, "alias": lambda: f"{name}:live",
                   "version": lambda: f"{name}:{2 if coin.random() < 0.5 else 1}"}
        samples: dict[str, list[float]] = {"plain": [], "alias": [], "version": []}
        errors = 0
        order = list(targets)
        for i in range(300 + args.requests):  # warm-up makes both versions and $LATEST warm
            coin.shuffle(order)
            for key in order:
                t0 = time.perf_counter()
                res = client.invoke(targets[key](), ECHO_PAYLOAD)
                dt = time.perf_counter() - t0
                if res.status != 200 or "x-amz-function-error" in res.headers:
                    errors += 1
                elif i >= 300:
                    samples[key].append(dt)
        client.close()
    plain_p50 = statistics.median(samples["plain"]) * 1e6
    alias_p50 = statistics.median(samples["alias"]) * 1e6
    version_p50 = statistics.median(samples["version"]) * 1e6
    resolve_plain, resolve_alias = in_process_resolve_us()
    report.add(Figure("added p50, alias vs version", alias_p50 - version_p50, "µs", version_p50, "version p50 (µs)",
                      max_value=MAX_ADDED_US))
    report.add(Figure("added p50, alias vs unqualified", alias_p50 - plain_p50, "µs", plain_p50, "unqualified p50 (µs)"))
    report.add(Figure("added per resolve, in process", resolve_alias - resolve_plain, "µs", resolve_plain, "unqualified resolve (µs)",
                      max_value=MAX_ADDED_US))
    report.add(Figure("errors", errors, "", max_value=0))
    report.info.update({"requests_per_variant": args.requests, "plain_p50_us": plain_p50, "alias_p50_us": alias_p50,
                        "version_p50_us": version_p50,
                        "resolve_plain_us": resolve_plain, "resolve_alias_us": resolve_alias})
    report.notes.append("end to end: alias, version and unqualified requests interleaved in random order on one "
                        "connection; alias vs unqualified also compares two warm environments with one")
    report.note_server(srv)
    report.emit(args.json)


if __name__ == "__main__":
    main()
