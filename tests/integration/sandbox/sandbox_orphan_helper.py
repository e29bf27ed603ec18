"""Helper process for the die-with-parent test (run as a script, not collected).

Starts one sandbox whose command forks a background child, prints its pids and cgroup paths as
one JSON line, then waits to be SIGKILLed by the test. Nothing here cleans up: that is the point.

    python sandbox_orphan_helper.py <cgroup-prefix> <sandbox-id>
"""

from __future__ import annotations

import asyncio
import json
import sys

from lambent.sandbox import CgroupManager, Limits, Sandbox, SandboxSpec


async def main(prefix: str, sandbox_id: str) -> None:
    spec = SandboxSpec(
        sandbox_id=sandbox_id,
        argv=("/bin/sh", "-c", "sleep 1000 & echo ready; wait"),
        env={"PATH": "/usr/bin:/bin"},
        mounts=(),
        tmp_size_mb=8,
        limits=Limits(memory_mb=64, cpu_millicores=500, pids_max=16),
        cwd="/",
    )
    sandbox = await Sandbox.start(spec, CgroupManager(prefix=prefix))
    loop = asyncio.get_running_loop()
    ready = loop.create_future()
    loop.add_reader(sandbox.output_fd, lambda: ready.done() or ready.set_result(None))
    await asyncio.wait_for(ready, 10)
    assert sandbox.cgroup is not None
    # The background sleep may need a moment to appear in the cgroup.
    for _ in range(100):
        if len(sandbox.cgroup.pids()) >= 3:
            break
        await asyncio.sleep(0.01)
    print(json.dumps({"pids": sorted(sandbox.cgroup.pids()), "paths": sandbox.cgroup.paths}),
          flush=True)  # fmt: skip
    await asyncio.sleep(1000)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
