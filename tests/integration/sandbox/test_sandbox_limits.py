"""Resource limits bite inside the sandbox and nowhere else: /tmp size, memory, pids, CPU."""

from __future__ import annotations

import asyncio
import errno
import os
import subprocess
import time
from typing import TYPE_CHECKING

from lambent.sandbox import Limits
from lambent.sandbox._cgroupfs import parse_keyed

if TYPE_CHECKING:
    from conftest import SandboxKit

MB = 1024 * 1024


def _oom_kills(memory_cgroup_dir: str) -> int:
    with open(os.path.join(memory_cgroup_dir, "memory.oom_control"), encoding="ascii") as f:
        return parse_keyed(f.read(), "oom_kill")


async def test_tmp_is_writable_up_to_its_size_then_enospc(kit: SandboxKit) -> None:
    # Given /tmp of 8 MB
    out, status = await kit.run(
        ("/usr/bin/python3.11", "-c",
         "import os\n"
         "with open('/tmp/small', 'wb') as f:\n    f.write(b'x' * (4 << 20))\n"
         "print(os.path.getsize('/tmp/small'))\n"
         "try:\n"
         "    with open('/tmp/big', 'wb') as f:\n"
         "        for _ in range(16):\n            f.write(b'y' * (1 << 20)); f.flush()\n"
         "except OSError as e:\n    print(e.errno)\n"),
        tmp_size_mb=8,
    )  # fmt: skip
    # Then 4 MB fit, and writing 16 more fails with ENOSPC
    assert status.exit_code == 0, out
    assert out.split() == [str(4 * MB), str(errno.ENOSPC)]


async def test_allocating_past_the_memory_limit_is_oom_killed(
    kit: SandboxKit, host_memory_cgroup: str
) -> None:
    # Given a sandbox limited to 64 MB, and the host's own OOM counter
    host_kills_before = _oom_kills(host_memory_cgroup)
    sandbox = await kit.python(
        "chunks = []\n"
        "for i in range(40):\n"
        "    chunks.append(b'\\x01' * (10 << 20))\n"
        "    print((i + 1) * 10, flush=True)\n"
        "print('survived')\n",
        limits=Limits(memory_mb=64, cpu_millicores=1000, pids_max=16),
    )
    # When it allocates 400 MB
    out = await kit.output(sandbox, timeout_s=30)
    status = await asyncio.wait_for(sandbox.wait(), 10)
    # Then it is killed by SIGKILL with the OOM recorded, well before 400 MB
    assert "survived" not in out
    assert status.signal == 9 and status.exit_code is None
    assert status.oom_killed
    assert int(out.split()[-1]) <= 64
    assert sandbox.memory_peak_bytes() <= 64 * MB
    # And the host is fine: its own cgroup saw no OOM kill, and it can still run things
    assert _oom_kills(host_memory_cgroup) == host_kills_before
    assert subprocess.run(["/bin/true"], timeout=5).returncode == 0


async def test_memory_peak_tracks_and_resets(kit: SandboxKit) -> None:
    # Given a process that holds 40 MB, frees it, and waits
    sandbox = await kit.python(
        "import time\nx = b'\\x01' * (40 << 20)\nprint('held', flush=True)\ndel x\n"
        "print('freed', flush=True)\ntime.sleep(30)\n",
    )
    await kit.read_until(sandbox, "freed")
    # Then the peak remembers the 40 MB while current usage is lower
    assert sandbox.memory_peak_bytes() >= 40 * MB
    assert sandbox.memory_current_bytes() < sandbox.memory_peak_bytes()
    # And after a reset the peak starts again from current usage
    sandbox.reset_memory_peak()
    assert sandbox.memory_peak_bytes() < 40 * MB


async def test_fork_bomb_is_contained_by_pids_max(kit: SandboxKit) -> None:
    # Given a sandbox with pids.max 20 running a fork bomb
    sandbox = await kit.python(
        "import os, time, errno\n"
        "n = 0\n"
        "try:\n"
        "    while True:\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(60); os._exit(0)\n"
        "        n += 1\n"
        "except OSError as e:\n"
        "    print(errno.errorcode[e.errno], n, flush=True)\n"
        "time.sleep(60)\n",
        limits=Limits(memory_mb=256, cpu_millicores=1000, pids_max=20),
    )
    text = await kit.read_until(sandbox, "\n", timeout_s=20)
    # Then fork fails with EAGAIN inside once 20 processes exist (init + python + 18 children)
    code, forked = text.split()
    assert code == "EAGAIN"
    assert int(forked) == 18
    assert sandbox.cgroup is not None
    members = sandbox.cgroup.pids()
    assert len(members) == 20
    # And the host can still fork
    assert subprocess.run(["/bin/true"], timeout=5).returncode == 0
    # When the sandbox is destroyed, every one of them is gone
    paths = sandbox.cgroup.paths
    await sandbox.destroy()
    assert not [pid for pid in members if os.path.exists(f"/proc/{pid}")]
    assert not [p for p in paths if os.path.exists(p)]


async def test_cpu_quota_limits_a_busy_loop(kit: SandboxKit) -> None:
    # Given a busy loop under 250 millicores
    sandbox = await kit.python(
        "print('spinning', flush=True)\nwhile True:\n    pass\n",
        limits=Limits(memory_mb=64, cpu_millicores=250, pids_max=8),
    )
    await kit.read_until(sandbox, "spinning")
    assert sandbox.cgroup is not None
    # When it runs for a second
    used_before, t0 = sandbox.cgroup.cpu_usage_ns(), time.monotonic()
    await asyncio.sleep(1.0)
    used, elapsed = sandbox.cgroup.cpu_usage_ns() - used_before, time.monotonic() - t0
    # Then it got about a quarter of a CPU (generous bounds: a loaded host gives it less)
    share = used / 1e9 / elapsed
    assert 0.05 < share < 0.35, share
    # And the kernel throttled it
    cpu_dir = next(p for p in sandbox.cgroup.paths if "/cpu/" in p or "/cpu," in p)
    with open(os.path.join(cpu_dir, "cpu.stat"), encoding="ascii") as f:
        assert parse_keyed(f.read(), "nr_throttled") > 0
