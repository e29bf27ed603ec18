"""The public surface other layers code against; changing it must be deliberate."""

from __future__ import annotations

import dataclasses
import inspect

import lambent.sandbox as sandbox
from lambent.sandbox import Cgroup, CgroupManager, ExitStatus, Sandbox, SandboxError


def test_exported_names_are_pinned() -> None:
    assert sorted(sandbox.__all__) == [
        "Cgroup",
        "CgroupManager",
        "ExitStatus",
        "Limits",
        "Mount",
        "Sandbox",
        "SandboxCapacityExceeded",
        "SandboxError",
        "SandboxOptions",
        "SandboxSpec",
        "UidAllocator",
        "UidRange",
        "UidRangeExhausted",
        "kill_leftover_sandboxes",
        "udp_in_netns",
    ]
    for name in sandbox.__all__:
        assert getattr(sandbox, name) is not None


def test_value_types_are_frozen_dataclasses() -> None:
    for cls in (sandbox.Mount, sandbox.Limits, sandbox.SandboxSpec, sandbox.SandboxOptions,
                ExitStatus):  # fmt: skip
        assert dataclasses.is_dataclass(cls)
        assert cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
    assert [f.name for f in dataclasses.fields(ExitStatus)] == ["exit_code", "signal", "oom_killed"]
    assert [f.name for f in dataclasses.fields(sandbox.SandboxSpec)] == [
        "sandbox_id", "argv", "env", "mounts", "tmp_size_mb", "limits",
        "cwd", "hostname", "listen_port", "uid", "gid",
    ]  # fmt: skip


def test_sandbox_interface() -> None:
    assert inspect.iscoroutinefunction(Sandbox.start)
    assert list(inspect.signature(Sandbox.start).parameters) == ["spec", "cgroups", "options"]
    for name in ("wait", "destroy"):
        assert inspect.iscoroutinefunction(getattr(Sandbox, name)), name
    for name in ("freeze", "thaw", "memory_peak_bytes", "reset_memory_peak",
                 "memory_current_bytes"):  # fmt: skip
        assert callable(getattr(Sandbox, name)) and not inspect.iscoroutinefunction(
            getattr(Sandbox, name)
        )
    assert isinstance(inspect.getattr_static(Sandbox, "exited"), property)


def test_cgroup_interfaces() -> None:
    assert list(inspect.signature(CgroupManager).parameters) == ["root", "prefix", "version"]
    for name in ("create", "cleanup_stale"):
        assert callable(getattr(CgroupManager, name))
    for name in ("add_pid", "freeze", "thaw", "kill_all", "memory_peak_bytes", "reset_memory_peak",
                 "memory_current_bytes", "oom_kill_count", "destroy"):  # fmt: skip
        assert callable(getattr(Cgroup, name)), name
    assert isinstance(inspect.getattr_static(Cgroup, "paths"), property)


def test_sandbox_error_carries_context() -> None:
    err = SandboxError("cannot write", sandbox_id="sbx-1", path="/sys/x", hint="run as root")
    assert isinstance(err, Exception)
    assert str(err) == "cannot write; sandbox=sbx-1; path=/sys/x; hint: run as root"
