"""The host-wide uid allocator (flock per uid, crash-safe grants) and the private-path ACLs, plus
the command-line pieces that hide bwrap's options and carry the owner marker.

Runs as root on real files (pytest's tmp_path: a filesystem with POSIX ACLs). A "crashed owner"
is a forked child that takes a uid and leaves with ``os._exit``, without releasing anything.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lambent.sandbox import Limits, Mount, SandboxError, SandboxOptions, SandboxSpec
from lambent.sandbox._argv import ChildFds, build_command, hide_bwrap_options, launch_env
from lambent.sandbox.orphans import OWNER_ENV
from lambent.sandbox.uids import (
    UidAllocator,
    UidLease,
    UidRange,
    UidRangeExhausted,
    close_private,
    read_acl_users,
)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="uid locks and ACLs need root")

START = 2_100_000_000


@pytest.fixture
def lock_dir(tmp_path: Path) -> str:
    return str(tmp_path / "uids")


@pytest.fixture
def make(lock_dir: str) -> Callable[..., UidAllocator]:
    def build(size: int = 8, start: int = START) -> UidAllocator:
        return UidAllocator(UidRange(start, size), lock_dir, subid_files=())

    return build


@pytest.fixture
def tree() -> Iterator[Path]:
    """A code tree as codezip leaves it: 0755 root, with a world-readable file, under
    world-traversable parents (pytest's tmp_path lies under a 0700 directory)."""
    top = Path(tempfile.mkdtemp(prefix="lambent-uids-ut-", dir="/var/tmp"))
    os.chmod(top, 0o711)
    path = top / "code" / "abc"
    path.mkdir(parents=True)
    (path / "index.py").write_text("SECRET = 1\n")
    os.chmod(path, 0o755)
    os.chmod(top / "code", 0o711)
    yield path
    shutil.rmtree(top, ignore_errors=True)


def _as_uid(uid: int, action: Callable[[], object]) -> int:
    """Run ``action`` in a forked child with all three uids/gids set to ``uid``; 0 or the errno."""
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            action()
        except OSError as exc:
            code = exc.errno or 1
        except BaseException:
            code = 255
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def _crash_holding(allocator: UidAllocator, grant: list[str]) -> int:
    """A child takes a uid, grants ``grant`` and dies without releasing; returns the uid."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        lease = allocator.acquire()
        lease.grant(grant)
        os.write(w, str(lease.uid).encode())
        os._exit(0)
    os.close(w)
    uid = int(os.read(r, 32))
    os.close(r)
    os.waitpid(pid, 0)
    return uid


# ------------------------------------------------------------------------------ the range


def test_default_range_is_large_and_collides_with_nobody() -> None:
    from lambent.settings import SandboxSettings

    s = SandboxSettings()
    r = UidRange(s.uid_range_start, s.uid_range_size)
    assert r.size >= 4096
    assert r.end < 2**31  # software that keeps uids in a signed int
    assert not r.overlaps(0, 65536)  # system, regular users, nobody
    assert not r.overlaps(100_000, 65536 * 16)  # useradd's /etc/subuid ranges


@pytest.mark.parametrize(("start", "size"), [(0, 10), (65530, 10), (2**32 - 5, 10), (5000, 0)])
def test_invalid_ranges_are_refused(start: int, size: int) -> None:
    with pytest.raises(ValueError):
        UidRange(start, size)


def test_range_overlapping_subuid_is_refused(tmp_path: Path, lock_dir: str) -> None:
    subuid = tmp_path / "subuid"
    subuid.write_text("alice:100000:65536\nbob:2100000004:10\n")
    with pytest.raises(SandboxError, match=r"overlaps .*subuid \(bob: 2100000004\.\.2100000013\)"):
        UidAllocator(UidRange(START, 8), lock_dir, subid_files=(str(subuid),))
    # A range clear of every entry is fine
    UidAllocator(UidRange(START + 100, 8), lock_dir, subid_files=(str(subuid),))


def test_uids_of_real_users_are_never_handed_out(lock_dir: str) -> None:
    import grp
    import pwd

    # Given a two-uid range whose first uid is a real user (and the second nobody's)
    named = {p.pw_uid for p in pwd.getpwall()} | {g.gr_gid for g in grp.getgrall()}
    uid = next(u for u in sorted(named) if 0 < u < 65000 and u + 1 not in named)
    allocator = UidAllocator(UidRange(uid, 2), lock_dir, subid_files=())
    # Then only the second is handed out
    lease = allocator.acquire()
    assert lease.uid == uid + 1
    with pytest.raises(UidRangeExhausted):
        allocator.acquire()
    lease.release()


def test_lock_dir_is_root_only(lock_dir: str, make: Callable[..., UidAllocator]) -> None:
    make()
    st = os.lstat(lock_dir)
    assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == 0


def test_lock_dir_prepared_by_someone_else_is_refused(lock_dir: str) -> None:
    os.makedirs(lock_dir)
    os.chown(lock_dir, 65534, 65534)
    with pytest.raises(SandboxError, match="not a directory owned by this user"):
        UidAllocator(UidRange(START, 8), lock_dir, subid_files=())


# ------------------------------------------------------------------------------ allocation


def test_each_lease_is_a_distinct_uid_and_gid_of_the_range(make: Callable[..., UidAllocator]) -> None:
    allocator = make(size=8)
    leases = [allocator.acquire() for _ in range(8)]
    uids = {lease.uid for lease in leases}
    assert len(uids) == 8 and uids == set(range(START, START + 8))
    assert all(lease.gid == lease.uid for lease in leases)
    assert allocator.in_use == 8
    for lease in leases:
        lease.release()
    assert allocator.in_use == 0


def test_exhausted_range_is_a_typed_error(make: Callable[..., UidAllocator]) -> None:
    allocator = make(size=2)
    held = [allocator.acquire(), allocator.acquire()]
    with pytest.raises(UidRangeExhausted) as caught:
        allocator.acquire()
    assert isinstance(caught.value, SandboxError)
    assert caught.value.message == (
        f"no free sandbox uid: all 2 uids of {START}..{START + 1} are in use"
    )
    assert caught.value.hint == "raise LAMBENT_SANDBOX_UID_RANGE_SIZE or run fewer environments"
    # A released uid is handed out again
    held[0].release()
    again = allocator.acquire()
    assert again.uid == held[0].uid
    for lease in (again, held[1]):
        lease.release()


def test_two_owners_on_one_host_never_share_a_uid(make: Callable[..., UidAllocator]) -> None:
    # Given two allocators (two servers) on the same lock dir and a small range
    a, b = make(size=6), make(size=6)
    leases = [a.acquire(), b.acquire(), a.acquire(), b.acquire(), a.acquire(), b.acquire()]
    assert len({lease.uid for lease in leases}) == 6
    # Then neither finds a seventh
    for allocator in (a, b):
        with pytest.raises(UidRangeExhausted):
            allocator.acquire()
    for lease in leases:
        lease.release()


def test_owner_in_another_process_holds_its_uid(make: Callable[..., UidAllocator]) -> None:
    # Given a live child process holding the only uid of the range
    allocator = make(size=1)
    r, w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        lease = make(size=1).acquire()
        os.write(w, b"x")
        os.read(go_r, 1)
        lease.release()
        os._exit(0)
    try:
        os.read(r, 1)
        # Then this process gets none
        with pytest.raises(UidRangeExhausted):
            allocator.acquire()
    finally:
        os.write(go_w, b"x")
        os.waitpid(pid, 0)
    # And once the child let go, it does
    allocator.acquire().release()


def test_release_removes_the_lock_file_and_is_idempotent(
    make: Callable[..., UidAllocator], lock_dir: str
) -> None:
    allocator = make()
    lease = allocator.acquire()
    assert os.path.exists(f"{lock_dir}/{lease.uid}")
    lease.release()
    lease.release()
    assert lease.released
    assert sorted(os.listdir(lock_dir)) == []


def test_allocation_rotates_through_the_range(make: Callable[..., UidAllocator]) -> None:
    # Releasing and taking again does not hand back the same uid at once (a freed uid rests)
    allocator = make(size=4)
    first = allocator.acquire()
    first.release()
    second = allocator.acquire()
    assert second.uid != first.uid
    second.release()


# ------------------------------------------------------------------------------ grants (ACLs)


def test_grant_closes_the_tree_to_all_but_the_lease(make: Callable[..., UidAllocator], tree: Path) -> None:
    allocator = make()
    lease, other = allocator.acquire(), allocator.acquire()
    lease.grant([str(tree)])
    assert read_acl_users(str(tree)) == {lease.uid: 0o5}
    assert _as_uid(lease.uid, lambda: open(tree / "index.py").read()) == 0
    assert _as_uid(other.uid, lambda: os.listdir(tree)) == errno.EACCES
    assert _as_uid(other.uid, lambda: open(tree / "index.py").read()) == errno.EACCES
    assert _as_uid(65534, lambda: open(tree / "index.py").read()) == errno.EACCES
    # When it is released, nobody is left but root, and no ACL xattr remains
    lease.release()
    assert read_acl_users(str(tree)) == {}
    assert stat.S_IMODE(os.stat(tree).st_mode) == 0o700
    assert _as_uid(lease.uid, lambda: os.listdir(tree)) == errno.EACCES
    other.release()


def test_grants_of_several_sandboxes_on_one_tree_are_independent(
    make: Callable[..., UidAllocator], tree: Path
) -> None:
    allocator = make()
    a, b = allocator.acquire(), allocator.acquire()
    a.grant([str(tree)])
    b.grant([str(tree)])
    assert read_acl_users(str(tree)) == {a.uid: 0o5, b.uid: 0o5}
    a.release()
    assert read_acl_users(str(tree)) == {b.uid: 0o5}
    assert _as_uid(b.uid, lambda: os.listdir(tree)) == 0
    assert _as_uid(a.uid, lambda: os.listdir(tree)) == errno.EACCES
    b.release()


def test_grant_is_recorded_before_the_acl_is_written(
    make: Callable[..., UidAllocator], tree: Path, lock_dir: str
) -> None:
    lease = make().acquire()
    lease.grant([str(tree), str(tree)])
    with open(f"{lock_dir}/{lease.uid}", "rb") as f:
        assert f.read() == b"#held\0" + os.fsencode(str(tree)) + b"\0"
    assert lease.granted == (str(tree),)
    lease.release()


def test_grant_on_a_symlink_is_refused(make: Callable[..., UidAllocator], tree: Path) -> None:
    link = tree.parent / "link"
    link.symlink_to(tree)
    lease = make().acquire()
    with pytest.raises(SandboxError, match="cannot grant uid"):
        lease.grant([str(link)])
    lease.release()
    assert read_acl_users(str(tree)) == {}


def test_crashed_owner_grants_are_revoked_before_the_uid_is_reused(
    make: Callable[..., UidAllocator], tree: Path, lock_dir: str
) -> None:
    # Given an owner that died holding the only uid, with the tree granted to it
    uid = _crash_holding(make(size=1), [str(tree)])
    assert read_acl_users(str(tree)) == {uid: 0o5}
    assert os.path.getsize(f"{lock_dir}/{uid}") > 0
    # When another owner takes that uid
    lease = make(size=1).acquire()
    # Then it is the same uid, and the dead owner's grant is gone before it runs anything
    assert lease.uid == uid
    assert read_acl_users(str(tree)) == {}
    assert _as_uid(uid, lambda: os.listdir(tree)) == errno.EACCES
    lease.release()


def test_sweep_cleans_up_after_dead_owners_only(
    make: Callable[..., UidAllocator], tree: Path, lock_dir: str
) -> None:
    # Given a dead owner's uid (with a grant) and a live one's
    dead = _crash_holding(make(size=1), [str(tree)])
    live = make(size=1, start=START + 1).acquire()
    live.grant([str(tree)])
    assert read_acl_users(str(tree)) == {dead: 0o5, live.uid: 0o5}
    # When a starting owner sweeps
    removed = make(size=4).sweep()
    # Then only the dead owner's lock file and grant are gone
    assert removed == 1
    assert sorted(os.listdir(lock_dir)) == sorted([str(live.uid), "acl.lock"])
    assert read_acl_users(str(tree)) == {live.uid: 0o5}
    assert dead != live.uid
    live.release()
    assert sorted(os.listdir(lock_dir)) == ["acl.lock"]


def test_close_private_drops_every_entry(make: Callable[..., UidAllocator], tree: Path) -> None:
    lease = make().acquire()
    lease.grant([str(tree)])
    close_private(str(tree))
    assert read_acl_users(str(tree)) == {}
    assert stat.S_IMODE(os.stat(tree).st_mode) == 0o700
    lease.release()  # revoking an entry that is gone is fine
    assert stat.S_IMODE(os.stat(tree).st_mode) == 0o700


def test_released_lease_cannot_grant(make: Callable[..., UidAllocator], tree: Path) -> None:
    lease = make().acquire()
    lease.release()
    with pytest.raises(SandboxError, match="was released"):
        lease.grant([str(tree)])
    assert isinstance(lease, UidLease)


# ------------------------------------------------------------------------------ command line

FDS = ChildFds(status_w=10, block_r=11, passwd_r=12, group_r=13, hosts_r=14)


def _spec() -> SandboxSpec:
    return SandboxSpec(
        sandbox_id="sbx-1",
        argv=("/usr/bin/python3.11", "-m", "runtime"),
        env={"SECRET": "s3cr3t"},
        mounts=(Mount("/srv/lambent-x/code/abc", "/var/task", private=True),),
        tmp_size_mb=16,
        limits=Limits(memory_mb=128, cpu_millicores=1000, pids_max=64),
    )


def test_bwrap_options_leave_the_command_line() -> None:
    options = SandboxOptions(owner="/srv/lambent-x/", host_uid=2_000_000_001, host_gid=2_000_000_001)
    command = build_command(_spec(), options, FDS, ())
    hidden = hide_bwrap_options(command, _spec(), options)
    argv = hidden.argv(15)
    assert argv == [
        "/usr/bin/setpriv", "--reuid=2000000001", "--regid=2000000001", "--clear-groups", "--",
        "/usr/bin/bwrap", "--args", "15", "--", "/usr/bin/python3.11", "-m", "runtime",
    ]  # fmt: skip
    assert not any("/srv/lambent-x" in a for a in argv)
    # And bwrap reads exactly the options it had on its command line before
    bwrap_options = command[command.index("/usr/bin/bwrap") + 1 : command.index("--", 6)]
    assert hidden.options == b"".join(a.encode() + b"\0" for a in bwrap_options)
    assert b"/srv/lambent-x/code/abc\0/var/task\0" in hidden.options


def test_owner_marker_is_in_bwraps_environment_and_unset_for_the_command() -> None:
    options = SandboxOptions(owner="/srv/lambent-x/")
    env = launch_env(_spec(), options)
    assert env == {"SECRET": "s3cr3t", OWNER_ENV: "/srv/lambent-x/"}
    command = build_command(_spec(), options, FDS, ())
    i = command.index("--unsetenv")
    assert command[i + 1] == OWNER_ENV == "LAMBENT_SANDBOX_OWNER"
    # Without an owner, nothing is added
    plain = SandboxOptions()
    assert launch_env(_spec(), plain) == {"SECRET": "s3cr3t"}
    assert "--unsetenv" not in build_command(_spec(), plain, FDS, ())


def test_a_spec_variable_named_like_the_marker_keeps_its_value_for_the_command() -> None:
    # Given a function that itself sets LAMBENT_SANDBOX_OWNER (trying to pass as another owner)
    spec = SandboxSpec(
        sandbox_id="sbx-1", argv=("/bin/true",), env={OWNER_ENV: "/var/lib/lambent/other/"},
        mounts=(), tmp_size_mb=16, limits=Limits(memory_mb=128, cpu_millicores=1000, pids_max=64),
    )
    options = SandboxOptions(owner="/srv/lambent-x/")
    # Then bwrap carries this owner's marker, and the command gets its own value back
    assert launch_env(spec, options) == {OWNER_ENV: "/srv/lambent-x/"}
    command = build_command(spec, options, FDS, ())
    i = command.index("--unsetenv")
    assert command[i : i + 5] == ["--unsetenv", OWNER_ENV, "--setenv", OWNER_ENV, "/var/lib/lambent/other/"]
    # and that value is not on the command line bwrap runs with
    assert "/var/lib/lambent/other/" not in hide_bwrap_options(command, spec, options).argv(15)


def test_private_mount_without_an_allocator_is_refused() -> None:
    from lambent.sandbox.sandbox import _take_uid

    with pytest.raises(SandboxError, match="private mounts need a host uid per sandbox"):
        _take_uid(_spec(), SandboxOptions())


def test_an_environment_value_of_dashes_stays_in_the_pipe() -> None:
    # Given a spec variable named like the marker whose value is bwrap's separator itself
    spec = SandboxSpec(
        sandbox_id="sbx-1", argv=("/bin/true",), env={OWNER_ENV: "--"},
        mounts=(Mount("/srv/lambent-x/code/abc", "/var/task"),), tmp_size_mb=16,
        limits=Limits(memory_mb=128, cpu_millicores=1000, pids_max=64),
    )
    options = SandboxOptions(owner="/srv/lambent-x/")
    command = build_command(spec, options, FDS, ())
    hidden = hide_bwrap_options(command, spec, options)
    # Then the command line is still only bwrap --args FD -- argv, and the mounts are in the pipe
    assert hidden.argv(15)[-5:] == ["/usr/bin/bwrap", "--args", "15", "--", "/bin/true"]
    assert b"/srv/lambent-x/code/abc\0" in hidden.options
    assert b"--setenv\0LAMBENT_SANDBOX_OWNER\0--\0" in hidden.options


def test_a_dead_owners_uid_waits_while_a_process_still_runs_as_it(
    make: Callable[..., UidAllocator], tree: Path, lock_dir: str
) -> None:
    # Given an owner that died holding the only uid, and a process of that uid still alive
    # (a frozen sandbox its reaper has not killed yet), even without any grant
    uid = _crash_holding(make(size=1), [])
    assert Path(lock_dir, str(uid)).read_bytes() == b"#held\0"
    straggler = subprocess.Popen(
        ["/usr/bin/setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--", "/usr/bin/sleep", "30"]
    )
    try:
        deadline = time.monotonic() + 5
        while _proc_uid(straggler.pid) != uid and time.monotonic() < deadline:
            time.sleep(0.01)
        # Then neither another owner nor a sweep takes it
        with pytest.raises(UidRangeExhausted):
            make(size=1).acquire()
        assert make(size=1).sweep() == 0
    finally:
        straggler.kill()
        straggler.wait()
    # And once it is gone, it is handed out again
    lease = make(size=1).acquire()
    assert lease.uid == uid
    lease.release()


def _proc_uid(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("Uid:"))


def test_a_dead_owners_uid_is_passed_over_while_others_are_free(
    make: Callable[..., UidAllocator], tree: Path, lock_dir: str
) -> None:
    # Given a dead owner's uid with a grant, in a range with other free uids
    dead = _crash_holding(make(size=1), [str(tree)])
    allocator = make(size=2)
    # Then acquire hands out the free one and leaves the dead one's record alone (no /proc scan
    # on the event loop)
    for _ in range(3):
        lease = allocator.acquire()
        assert lease.uid == dead + 1
        lease.release()
    assert read_acl_users(str(tree)) == {dead: 0o5}
    # And the start-up sweep reclaims it
    assert allocator.sweep() == 1
    assert read_acl_users(str(tree)) == {}


def test_a_full_private_mount_acl_is_a_capacity_error(make: Callable[..., UidAllocator], tree: Path) -> None:
    from lambent.sandbox import SandboxCapacityExceeded
    from lambent.sandbox.uids import PrivateMountFull

    # Given a tree whose ACL is full of other sandboxes' entries (ext4 holds 503)
    allocator = make(size=600)
    leases = []
    try:
        with pytest.raises(PrivateMountFull) as caught:
            for _ in range(600):
                lease = allocator.acquire()
                leases.append(lease)
                lease.grant([str(tree)])
        # Then the refusal is a capacity limit (throttled upstream), naming the tree
        assert isinstance(caught.value, SandboxCapacityExceeded)
        assert caught.value.path == str(tree)
        assert 100 < len(read_acl_users(str(tree))) < 600
    finally:
        for lease in leases:
            lease.release()
    assert read_acl_users(str(tree)) == {}
