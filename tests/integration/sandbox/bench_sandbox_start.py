"""Start-latency benchmark for lambent.sandbox (a script, not a test).

Prints the median and p90 of
  start:   Sandbox.start() until it returns (command released to run),
  running: Sandbox.start() until the command's first output byte arrived on output_fd,
  destroy: Sandbox.destroy() of a running sandbox,
for N sandboxes started one after another. Run as root:

    .venv/bin/python tests/integration/sandbox/bench_sandbox_start.py [N] [--uvloop]
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time

from lambent.sandbox import CgroupManager, Limits, Sandbox, SandboxSpec


async def _first_output(fd: int, timeout_s: float) -> None:
    loop = asyncio.get_running_loop()
    ready = loop.create_future()
    loop.add_reader(fd, lambda: ready.done() or ready.set_result(None))
    try:
        await asyncio.wait_for(ready, timeout_s)
    finally:
        loop.remove_reader(fd)


async def main(n: int) -> None:
    cgroups = CgroupManager(prefix=f"lambent-bench-{os.getpid()}")
    starts: list[float] = []
    running: list[float] = []
    destroys: list[float] = []
    try:
        for i in range(n):
            spec = SandboxSpec(
                sandbox_id=f"bench-{i}",
                argv=("/bin/sh", "-c", "echo up; exec sleep 30"),
                env={"PATH": "/usr/bin:/bin"},
                mounts=(),
                tmp_size_mb=16,
                limits=Limits(memory_mb=128, cpu_millicores=1000, pids_max=64),
                cwd="/",
            )
            t0 = time.perf_counter()
            sandbox = await Sandbox.start(spec, cgroups)
            t1 = time.perf_counter()
            await _first_output(sandbox.output_fd, 5.0)
            t2 = time.perf_counter()
            await sandbox.destroy()
            t3 = time.perf_counter()
            starts.append(t1 - t0)
            running.append(t2 - t0)
            destroys.append(t3 - t2)
    finally:
        cgroups.cleanup_stale()
        cgroups.remove_parents()

    def fmt(name: str, xs: list[float]) -> str:
        xs = xs[1:] if len(xs) > 1 else xs  # the first one pays for imports and thread setup
        q = statistics.quantiles(xs, n=10)[-1] if len(xs) > 1 else xs[0]
        return f"{name:8s} median {statistics.median(xs) * 1e3:6.2f} ms   p90 {q * 1e3:6.2f} ms"

    print(f"n={n} loop={type(asyncio.get_running_loop()).__module__}")
    print(fmt("start", starts))
    print(fmt("running", running))
    print(fmt("destroy", destroys))


if __name__ == "__main__":
    count = int(next((a for a in sys.argv[1:] if a.isdigit()), "30"))
    if "--uvloop" in sys.argv:
        import uvloop

        uvloop.run(main(count))
    else:
        asyncio.run(main(count))
