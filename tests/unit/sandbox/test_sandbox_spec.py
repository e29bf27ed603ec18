"""SandboxSpec, Limits and SandboxOptions validate themselves on creation."""

from __future__ import annotations

import dataclasses

import pytest

from lambent.sandbox import Limits, Mount, SandboxOptions, SandboxSpec

LIMITS = Limits(memory_mb=128, cpu_millicores=1000, pids_max=64)


def _spec(**overrides: object) -> SandboxSpec:
    values: dict[str, object] = {
        "sandbox_id": "sbx-1",
        "argv": ("/bin/true",),
        "env": {},
        "mounts": (),
        "tmp_size_mb": 16,
        "limits": LIMITS,
    }
    values.update(overrides)
    return SandboxSpec(**values)  # type: ignore[arg-type]


def test_defaults_match_the_lambda_like_layout() -> None:
    spec = _spec()
    assert spec.cwd == "/var/task"
    assert spec.hostname == "localhost"
    assert spec.listen_port == 9001
    assert (spec.uid, spec.gid) == (993, 990)


def test_spec_is_frozen_and_env_is_a_read_only_copy() -> None:
    env = {"A": "1"}
    spec = _spec(env=env)
    env["A"] = "changed"
    assert spec.env["A"] == "1"
    with pytest.raises(TypeError):
        spec.env["B"] = "2"  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.cwd = "/"  # type: ignore[misc]


@pytest.mark.parametrize("sandbox_id", ["", "UPPER", "a/b", "..", "a_b", "x" * 65, "a b"])
def test_sandbox_id_must_be_a_safe_cgroup_name(sandbox_id: str) -> None:
    with pytest.raises(ValueError, match="sandbox_id"):
        _spec(sandbox_id=sandbox_id)


@pytest.mark.parametrize(
    "overrides",
    [
        {"argv": ()},
        {"argv": ("a\x00b",)},
        {"env": {"A=B": "x"}},
        {"env": {"A": "x\x00"}},
        {"tmp_size_mb": 0},
        {"cwd": "relative"},
        {"hostname": "bad host"},
        {"listen_port": 0},
        {"listen_port": 70000},
        {"uid": -1},
        {"gid": 2**32},
    ],
)
def test_invalid_specs_are_rejected(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        _spec(**overrides)


def test_listen_port_can_be_disabled() -> None:
    assert _spec(listen_port=None).listen_port is None


def test_extra_listen_ports_default_to_none_and_are_kept_in_order() -> None:
    assert SandboxOptions().extra_listen_ports == ()
    assert SandboxOptions(extra_listen_ports=[9003, 9002]).extra_listen_ports == (9003, 9002)  # type: ignore[arg-type]


@pytest.mark.parametrize("ports", [(0,), (65536,), (True,), ("9002",), (9002, 9002)])
def test_extra_listen_ports_must_be_valid_and_distinct(ports: tuple[object, ...]) -> None:
    with pytest.raises(ValueError, match="extra_listen_ports"):
        SandboxOptions(extra_listen_ports=ports)  # type: ignore[arg-type]


def test_extra_listen_ports_must_not_take_the_specs_listen_port() -> None:
    options = SandboxOptions(extra_listen_ports=(9002,))
    options.check_ports(_spec(listen_port=9001))
    options.check_ports(_spec(listen_port=None))
    with pytest.raises(ValueError, match="listen_port 9002"):
        options.check_ports(_spec(listen_port=9002))


@pytest.mark.parametrize("field", ["memory_mb", "cpu_millicores", "pids_max"])
@pytest.mark.parametrize("value", [0, -1, True, 1.5])
def test_limits_must_be_positive_ints(field: str, value: object) -> None:
    values: dict[str, object] = {"memory_mb": 64, "cpu_millicores": 500, "pids_max": 8}
    values[field] = value
    with pytest.raises(ValueError, match=field):
        Limits(**values)  # type: ignore[arg-type]


def test_limits_memory_bytes() -> None:
    assert LIMITS.memory_bytes == 128 * 1024 * 1024


def test_mount_paths_must_be_absolute() -> None:
    with pytest.raises(ValueError):
        Mount("relative", "/var/task")
    with pytest.raises(ValueError):
        Mount("/srv", "var/task")


def test_options_refuse_root_as_host_identity() -> None:
    # The sandbox uid maps onto the host identity; root would expose root-only files.
    with pytest.raises(ValueError, match="root"):
        SandboxOptions(host_uid=0)
    with pytest.raises(ValueError):
        SandboxOptions(host_gid=0)


def test_options_validate_paths_names_and_timeouts() -> None:
    with pytest.raises(ValueError):
        SandboxOptions(bwrap_path="bwrap")
    with pytest.raises(ValueError):
        SandboxOptions(user_name="Bad Name")
    with pytest.raises(ValueError):
        SandboxOptions(start_timeout_s=0)
