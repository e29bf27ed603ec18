"""Old commit vs this tree, side by side in the same run: warm invoke p50 and cold start p50.

The issues that harden or restructure lambent promise not to cost the hot path ("warm invoke p50
within 3 %, cold start within 2 ms of the code before the change"). Machine speed drifts by tens of
percent between runs on a shared VM, so the old and the new code are measured in the *same* run,
alternating rounds (A B A B …) so that drift hits both alike. The old code is a ``git worktree`` of
``--base`` (default: the commit before the hardening work); its server is started by the same venv
with ``PYTHONPATH`` pointing at that worktree, so both run with the same interpreter and libraries.

Each round runs ``warm_invoke.py`` and ``cold_start.py`` once per tree (with their own same-run
baselines); the summary reports the median over rounds of each figure and the new/old ratio. The
server's and the sandbox's CPU time per warm invoke are reported too: on a shared VM they vary far
less than latency does.
Always exits 0: benchmarks report, they do not fail builds.

Usage: python benchmarks/compare_trees.py [--base REV] [--rounds 3] [--requests 3000] [--functions 20]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
DEFAULT_BASE = "1a71f52"  # main before issue 8 (hardening)


def _worktree(base: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix="lambent-base-", dir="/var/tmp"))
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "-q", str(path), base], check=True)
    return path


def _run(script: str, tree: Path | None, extra: list[str]) -> dict[str, Any] | None:
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        cmd = [sys.executable, str(BENCH_DIR / f"{script}.py"), "--json", out.name, *extra]
        proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=1200)
        if proc.returncode != 0:
            print(f"{script} ({'base' if tree else 'head'}) failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
            return None
        text = Path(out.name).read_text()
    return json.loads(text) if text.strip() else None


def _figure(result: dict[str, Any] | None, name: str) -> float | None:
    for f in (result or {}).get("figures", []):
        if f["name"] == name:
            return float(f["value"])
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--base", default=DEFAULT_BASE)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--functions", type=int, default=20)
    args = parser.parse_args()
    tree = _worktree(args.base)
    figures: dict[tuple[str, str], list[float]] = {}
    plan = [
        ("warm_invoke", ["--requests", str(args.requests), "--boto3-requests", "200"], ("p50", "p99", "server CPU / invoke", "sandbox CPU / invoke")),
        ("cold_start", ["--functions", str(args.functions), "--small-functions", "0"], ("cold start p50", "Init Duration p50")),
    ]
    try:
        for rnd in range(args.rounds):
            for script, extra, names in plan:
                for label, where in (("base", tree), ("head", None)) if rnd % 2 == 0 else (("head", None), ("base", tree)):
                    result = _run(script, where, extra)
                    for name in names:
                        value = _figure(result, name)
                        if value is not None:
                            figures.setdefault((f"{script}: {name}", label), []).append(value)
                    print(f"round {rnd + 1} {script} {label}: "
                          + ", ".join(f"{n}={_figure(result, n)}" for n in names), flush=True)
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], check=False)
    print(f"\nmedian of {args.rounds} rounds, base {args.base} vs this tree (ms; CPU figures in µs):")
    for key in sorted({k for k, _ in figures}):
        old, new = figures.get((key, "base")), figures.get((key, "head"))
        if not old or not new:
            print(f"  {key}: missing ({old=}, {new=})")
            continue
        o, n = statistics.median(old), statistics.median(new)
        print(f"  {key}: base {o:.3f}  head {n:.3f}  head/base {n / o:.3f}  (Δ {n - o:+.3f})")


if __name__ == "__main__":
    main()
