"""Run every benchmark in sequence and print one summary table; always exits 0.

Each benchmark runs as its own process (its own server, data dir and baseline) with ``--json``
pointing at a temporary file; its full output streams through. ``runtime_api_roundtrip.py``
(no JSON output) runs too when present and its last line is shown. Benchmarks report; they never
fail the build, so a FAIL, or even a crashed benchmark, is printed, not returned.

Usage: python benchmarks/run_all.py [--only NAME ...] [--json PATH]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import BENCH_DIR, arg_parser

BENCHMARKS = ("warm_invoke", "cold_start", "throughput", "idle_memory", "alias_overhead", "async_accept",
              "authz_overhead", "coldstart_credentials", "network_coldstart", "network_throughput", "vpc_coldstart",
              "vpc_attach", "vpc_throughput", "filter_logs", "observability_overhead", "observability_micro",
              "tracing_overhead")
EXTERNAL = ("runtime_api_roundtrip",)  # maintained elsewhere; no --json
TIMEOUT_S = 1200


def _run(name: str, json_path: Path | None) -> tuple[int | None, str, float]:
    """Run one script, streaming its output; returns (exit code or None on timeout, last line, seconds)."""
    cmd = [sys.executable, str(BENCH_DIR / f"{name}.py")]
    if json_path is not None:
        cmd += ["--json", str(json_path)]
    print(f"\n=== {name}: {' '.join(cmd[1:])}", flush=True)
    t0 = time.monotonic()
    last = ""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=BENCH_DIR.parent)
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            sys.stdout.write(line)
            if line.strip():
                last = line.strip()
        code: int | None = proc.wait(TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.terminate()
        proc.wait(30)
        code = None
    return code, last, time.monotonic() - t0


def _summary(results: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="lambent benchmarks: summary", title_justify="left")
    for col in ("benchmark", "figure", "measured", "baseline", "ratio", "target", "result"):
        table.add_column(col)
    footnotes = []
    for res in results:
        if res.get("figures") is None:
            ran = res["exit"] == 0
            table.add_row(res["benchmark"], "(no JSON; see below)", "", "", "", "", "ran" if ran else "[red]crashed[/red]")
            footnotes.append(f"{res['benchmark']}: {res.get('last_line', '')}")
            continue
        for f in res["figures"]:
            if not f["target"] and f is not res["figures"][0]:
                continue  # the summary keeps targeted figures (and each benchmark's headline)
            base = "" if f["baseline"] is None else f"{f['baseline']:.4g} {f['unit']}"
            ratio = "" if f["ratio"] is None else f"{f['ratio']:.2f}×"
            result = {True: "[green]PASS[/green]", False: "[red]FAIL[/red]", None: "info"}[f["passed"]]
            table.add_row(res["benchmark"], f["name"], f"{f['value']:.4g} {f['unit']}", base, ratio, f["target"], result)
    console = Console(width=140)
    console.print(table)
    for note in footnotes:
        console.print(f"  • {note}", highlight=False)


def main() -> None:
    parser = arg_parser(__doc__)
    parser.add_argument("--only", nargs="*", metavar="NAME", help=f"a subset of {', '.join(BENCHMARKS + EXTERNAL)}")
    args = parser.parse_args()
    selected = [n for n in BENCHMARKS + EXTERNAL if not args.only or n in args.only]

    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="lambent-bench-json-") as tmp:
        for name in selected:
            if not (BENCH_DIR / f"{name}.py").exists():
                continue
            json_path = None if name in EXTERNAL else Path(tmp) / f"{name}.json"
            code, last, seconds = _run(name, json_path)
            entry: dict[str, Any] = {"benchmark": name, "exit": code, "seconds": round(seconds, 1), "last_line": last}
            if json_path is not None and json_path.exists() and json_path.stat().st_size:
                entry.update(json.loads(json_path.read_text()))
                entry["benchmark"] = name
            results.append(entry)

    print()
    _summary(results)
    line = json.dumps({"benchmarks": results})
    if args.json:
        Path(args.json).write_text(line + "\n")
    crashed = [r["benchmark"] for r in results if r["exit"] != 0]
    if crashed:
        print(f"benchmarks that did not finish cleanly: {', '.join(crashed)}")
    sys.exit(0)


if __name__ == "__main__":
    main()
