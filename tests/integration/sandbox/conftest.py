"""Fixtures for the real-sandbox tests: real bwrap, real cgroups, run as root.

Without the prerequisites (root, bwrap, setpriv, usable cgroups, unprivileged user namespaces)
every test here is skipped with the reason, unless CI=true: then they fail.

Each session uses its own cgroup prefix (``lambent-it-<pid>``) so ``cleanup_stale`` never
touches sandboxes of anyone else on the machine.
"""

from __future__ import annotations

import asyncio
import functools
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from lambent.sandbox import CgroupManager, ExitStatus, Limits, Sandbox, SandboxSpec

DEFAULT_LIMITS = Limits(memory_mb=256, cpu_millicores=1000, pids_max=64)
BASE_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}


@functools.cache
def _missing_prerequisite() -> str | None:
    if os.geteuid() != 0:
        return "sandbox integration tests must run as root"
    for exe in ("/usr/bin/bwrap", "/usr/bin/setpriv"):
        if not os.access(exe, os.X_OK):
            return f"{exe} is not installed"
    manager = CgroupManager()
    if not manager.available:
        return f"cgroups unusable: {manager.unavailable_reason}"
    probe = subprocess.run(
        ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--",
         "/usr/bin/bwrap", "--unshare-all", "--ro-bind", "/usr", "/usr",
         "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/lib", "/lib",
         "--", "/usr/bin/true"],
        capture_output=True,
        timeout=10,
    )  # fmt: skip
    if probe.returncode != 0:
        return f"unprivileged bwrap does not work here: {probe.stderr.decode().strip()}"
    return None


@pytest.fixture(autouse=True)
def _require_prerequisites() -> None:
    reason = _missing_prerequisite()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def cgroups() -> Iterator[CgroupManager]:
    manager = CgroupManager(prefix=f"lambent-it-{os.getpid()}")
    yield manager
    if manager.available:
        manager.cleanup_stale()
        assert manager.remove_parents(), "sandbox cgroups left behind"


class SandboxKit:
    """Starts sandboxes for one test and destroys whatever is left afterwards."""

    def __init__(self, cgroups: CgroupManager, test_name: str) -> None:
        self.cgroups = cgroups
        self.started: list[Sandbox] = []
        self._prefix = "".join(c if c.isalnum() else "-" for c in test_name.lower())[:40]

    def spec(self, argv: tuple[str, ...], **overrides: Any) -> SandboxSpec:
        values: dict[str, Any] = {
            "sandbox_id": f"{self._prefix}-{len(self.started)}-{os.urandom(3).hex()}",
            "argv": argv,
            "env": BASE_ENV,
            "mounts": (),
            "tmp_size_mb": 16,
            "limits": DEFAULT_LIMITS,
            "cwd": "/",
        }
        values.update(overrides)
        return SandboxSpec(**values)

    async def start(self, argv: tuple[str, ...], **overrides: Any) -> Sandbox:
        sandbox = await Sandbox.start(self.spec(argv, **overrides), self.cgroups)
        self.started.append(sandbox)
        return sandbox

    async def python(self, code: str, **overrides: Any) -> Sandbox:
        return await self.start(("/usr/bin/python3.11", "-c", code), **overrides)

    async def output(self, sandbox: Sandbox, timeout_s: float = 10.0) -> str:
        """Everything the sandbox writes until its pipe closes (the tree exited)."""
        chunks: list[bytes] = []
        async with asyncio.timeout(timeout_s):
            while True:
                chunk = await self.read_some(sandbox)
                if not chunk:
                    return b"".join(chunks).decode(errors="replace")
                chunks.append(chunk)

    async def read_some(self, sandbox: Sandbox) -> bytes:
        """Wait until output_fd is readable, then return what is there (b"" at EOF)."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                return os.read(sandbox.output_fd, 65536)
            except BlockingIOError:
                ready: asyncio.Future[None] = loop.create_future()
                loop.add_reader(
                    sandbox.output_fd, lambda: ready.done() or ready.set_result(None)
                )
                try:
                    await ready
                finally:
                    loop.remove_reader(sandbox.output_fd)

    async def read_until(self, sandbox: Sandbox, marker: str, timeout_s: float = 10.0) -> str:
        text = ""
        async with asyncio.timeout(timeout_s):
            while marker not in text:
                chunk = await self.read_some(sandbox)
                if not chunk:
                    raise AssertionError(f"output ended before {marker!r}: {text!r}")
                text += chunk.decode(errors="replace")
        return text

    async def run(
        self, argv: tuple[str, ...], timeout_s: float = 20.0, **overrides: Any
    ) -> tuple[str, ExitStatus]:
        """Start, collect all output, return (output, ExitStatus)."""
        sandbox = await self.start(argv, **overrides)
        out = await self.output(sandbox, timeout_s)
        status = await asyncio.wait_for(sandbox.wait(), timeout_s)
        return out, status

    async def close(self) -> None:
        for sandbox in self.started:
            await sandbox.destroy()


@pytest.fixture
async def kit(cgroups: CgroupManager, request: pytest.FixtureRequest) -> AsyncIterator[SandboxKit]:
    k = SandboxKit(cgroups, request.node.name)
    yield k
    await k.close()


def own_memory_cgroup_dir() -> str:
    """The v1 memory cgroup the test process itself lives in (to show the host was unaffected)."""
    with open("/proc/self/cgroup", encoding="ascii") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if "memory" in controllers.split(","):
                return "/sys/fs/cgroup/memory" + path
    raise AssertionError("no v1 memory cgroup")


@pytest.fixture
def host_memory_cgroup() -> str:
    return own_memory_cgroup_dir()
