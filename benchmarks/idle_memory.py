"""Memory of one idle warm Python execution environment, against a bare Python process.

``--functions`` Python functions are created and invoked once each, so each has exactly one warm,
frozen environment. For every environment, every process it adds is measured:

* all processes in its cgroup (``cgroup.procs``: bwrap's init inside the sandbox and the runtime),
* bwrap's own parent process of that sandbox, which runs outside the cgroup: the parent of a
  cgroup member whose command line starts with bwrap/setpriv.

PSS (``Pss`` of ``/proc/<pid>/smaps_rollup``: private pages plus a fair share of shared ones) is
summed per environment and averaged; USS (private pages only, independent of how many processes
share the rest) and the cgroup's own ``memory.usage_in_bytes`` (which also counts page cache and
kernel memory charged to it) are reported for comparison.

Baseline, same run and before any environment exists: as many bare ``/usr/bin/python3 -S -c
'import time; time.sleep(30)'`` processes as environments, alive together, so their pages are
shared the way the environments' are (PSS of one process alone depends on whether other
processes happen to map the same interpreter; it is reported too).

Functions use MemorySize=1769; ten of them exceed the 16 GB default worker memory budget, so this
server runs with LAMBENT_WORKER_MEMORY_BUDGET_MB=32768.

Target: ≤ 12 MB PSS per environment.

Usage: python benchmarks/idle_memory.py [--functions 10] [--json PATH]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from dataclasses import dataclass

from _common import (
    FULL_CPU_MEMORY_MB,
    HELLO_HANDLER,
    Figure,
    LambentServer,
    Report,
    SigningClient,
    arg_parser,
    cgroup_freezer_state,
    cgroup_memory_bytes,
    cgroup_pids,
    create_function,
    lambda_client,
    proc_cmdline,
    proc_ppid,
    smaps_rollup_kb,
    unique_names,
    uss_kb,
    wait_until,
)

PYTHON = "/usr/bin/python3"
PSS_MAX_MB = 12.0
MEMORY_BUDGET_MB = 32768
_LAUNCHERS = ("bwrap", "setpriv")


@dataclass(frozen=True)
class EnvMemory:
    env_id: str
    pss_kb: int
    uss_kb: int
    rss_kb: int
    cgroup_bytes: int
    #: (label, PSS kB) of every process counted; label is the program name, "(outside)" marks
    #: bwrap's parent, which is not in the cgroup.
    processes: tuple[tuple[str, int], ...]


def _is_launcher(pid: int) -> bool:
    try:
        argv = proc_cmdline(pid)
    except OSError:
        return False
    return bool(argv) and os.path.basename(argv[0]) in _LAUNCHERS


def _measure_env(prefix: str, env_id: str) -> EnvMemory:
    members = cgroup_pids(prefix, env_id)
    outside = {proc_ppid(p) for p in members} - members
    launchers = {p for p in outside if _is_launcher(p)}
    pss = uss = rss = 0
    processes = []
    # Launchers first, then by pid: the same order (parent bwrap, init bwrap, runtime) in every env.
    for pid in sorted(members | launchers, key=lambda p: (p not in launchers, p)):
        rollup = smaps_rollup_kb(pid)
        pss += rollup.get("Pss", 0)
        uss += uss_kb(rollup)
        rss += rollup.get("Rss", 0)
        label = os.path.basename(proc_cmdline(pid)[0]) + (" (outside)" if pid in launchers else "")
        processes.append((label, rollup.get("Pss", 0)))
    return EnvMemory(env_id, pss, uss, rss, cgroup_memory_bytes(prefix, env_id), tuple(processes))


def _bare_pythons(n: int) -> list[dict[str, int]]:
    """smaps_rollup of ``n`` bare sleeping interpreters alive together (n=1: one alone)."""
    procs = [subprocess.Popen([PYTHON, "-S", "-c", "import time; time.sleep(30)"]) for _ in range(n)]
    try:
        time.sleep(1.0)  # well past start-up: every interpreter is idle in sleep()
        return [smaps_rollup_kb(p.pid) for p in procs]
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(10)


def _mean_kb(rollups: list[dict[str, int]], key: str) -> float:
    if key == "Uss":
        return statistics.fmean(uss_kb(r) for r in rollups)
    return statistics.fmean(r.get(key, 0) for r in rollups)


def main() -> None:
    parser = arg_parser(__doc__)
    parser.add_argument("--functions", type=int, default=10)
    args = parser.parse_args()

    report = Report("idle_memory", f"Memory per idle warm Python environment, MemorySize={FULL_CPU_MEMORY_MB} MB")
    with LambentServer({"LAMBENT_WORKER_MEMORY_BUDGET_MB": str(MEMORY_BUDGET_MB)}) as srv:
        alone = _bare_pythons(1)
        bare = _bare_pythons(args.functions)
        lam = lambda_client(srv.url)
        client = SigningClient(srv.port)
        names = unique_names("idle", args.functions)
        problems = []
        for name in names:
            create_function(lam, name, HELLO_HANDLER, memory_mb=FULL_CPU_MEMORY_MB)
            result = client.invoke(name, b"{}")
            if result.status != 200 or "x-amz-function-error" in result.headers:
                problems.append(f"{name}: {result.status} {result.body[:200]!r}")
        client.close()
        prefix = srv.cgroup_prefix
        env_ids = [p.name for p in srv.sandboxes()]
        frozen = wait_until(lambda: all(cgroup_freezer_state(prefix, e) == "FROZEN" for e in env_ids), 5)
        time.sleep(0.5)  # let anything lazily freed settle
        envs = [_measure_env(prefix, e) for e in env_ids]

    if len(envs) != args.functions:
        problems.append(f"expected {args.functions} environments, found {len(envs)}")
    mb = 1024.0
    pss = statistics.fmean(e.pss_kb for e in envs) / mb
    uss = statistics.fmean(e.uss_kb for e in envs) / mb
    rss = statistics.fmean(e.rss_kb for e in envs) / mb
    cg = statistics.fmean(e.cgroup_bytes for e in envs) / 2**20
    base_pss, base_uss, base_rss = (_mean_kb(bare, k) / mb for k in ("Pss", "Uss", "Rss"))
    alone_pss, alone_uss = (_mean_kb(alone, k) / mb for k in ("Pss", "Uss"))
    base = f"{len(bare)} bare python3 -S"
    report.add(Figure("PSS / environment", pss, "MB", base_pss, base, max_value=PSS_MAX_MB))
    report.add(Figure("PSS / environment vs 1 alone", pss, "MB", alone_pss, "1 bare python3 -S"))
    report.add(Figure("USS / environment", uss, "MB", base_uss, base))
    report.add(Figure("RSS / environment", rss, "MB", base_rss, base))
    report.add(Figure("cgroup memory.usage / env", cg, "MB", base_pss, f"{base} (PSS)"))
    report.add(Figure("problems", len(problems), "", max_value=0))
    report.info.update(
        {
            "memory_mb": FULL_CPU_MEMORY_MB,
            "memory_budget_mb": MEMORY_BUDGET_MB,
            "environments": len(envs),
            "all_frozen": frozen,
            "bare_python_kb": {k: round(_mean_kb(bare, k)) for k in ("Rss", "Pss", "Uss", "Private_Dirty")},
            "bare_python_alone_kb": {k: round(_mean_kb(alone, k)) for k in ("Rss", "Pss", "Uss", "Private_Dirty")},
            "per_env": [
                {"env": e.env_id[:12], "pss_kb": e.pss_kb, "uss_kb": e.uss_kb, "rss_kb": e.rss_kb,
                 "cgroup_bytes": e.cgroup_bytes, "processes": e.processes}
                for e in envs
            ],
            "problems": problems,
        }
    )
    by_position: dict[str, list[int]] = {}
    for e in envs:
        for label, kb in e.processes:
            by_position.setdefault(label, []).append(kb)
    shape = ", ".join(f"{label} {statistics.fmean(kbs) / mb:.2f} MB" for label, kbs in by_position.items())
    report.notes += [
        f"{len(envs)} environments, one per function, each invoked once and frozen "
        f"({'all FROZEN' if frozen else 'NOT all frozen when measured'})",
        f"average PSS by process: {shape} ('outside' = bwrap's parent, not in the cgroup)",
        "PSS shares pages among every process mapping them (all environments' pythons share the "
        "interpreter); USS counts only private pages",
        f"baseline: {len(bare)} bare {PYTHON} -S processes sleeping together (the same sharing as "
        f"{len(bare)} environments), measured before any environment existed; one alone: PSS "
        f"{alone_pss:.2f} MB, USS {alone_uss:.2f} MB (file pages mapped by no other process count as private)",
        f"server runs with LAMBENT_WORKER_MEMORY_BUDGET_MB={MEMORY_BUDGET_MB}",
    ]
    for problem in problems[:5]:
        report.notes.append(f"problem: {problem}")
    report.note_server(srv)
    report.emit(args.json)


if __name__ == "__main__":
    main()
