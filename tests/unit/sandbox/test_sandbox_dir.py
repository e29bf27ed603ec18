"""The sandbox dir's lifetime: claimed and locked by its owner, removed at stop, swept when its
owner dir is gone, never removed while held (sandbox/sandbox_dir.py)."""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

import pytest

from lambent.sandbox import SandboxError, sandbox_dir
from lambent.sandbox.sandbox_dir import OWNER_RECORD, SandboxDir, remove_for_owner, sweep_orphans

NAME = "lambent-0123456789ab"
OTHER = "lambent-ba9876543210"


@pytest.fixture
def owner(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    return d


def hold_lock(directory: Path) -> int:
    """Take the dir's lock as another process's owner would (flock is per open file)."""
    fd = os.open(directory / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def test_claim_records_both_ways_and_remove_deletes_everything(tmp_path: Path, owner: Path) -> None:
    # Given a claimed dir with caches in it
    home = SandboxDir.claim(tmp_path / "root" / NAME, owner)
    (home.path / "code" / "abc").mkdir(parents=True)
    (home.path / "code" / "abc" / "app.py").write_text("x")
    assert (home.path / ".owner").read_text().strip() == str(owner.resolve())
    assert (owner / OWNER_RECORD).read_text().strip() == str(home.path)
    assert home.lock_fd >= 0
    # When the owner stops in order
    home.remove()
    # Then the dir is gone and the lock let go of; removing again is harmless
    assert not home.path.exists()
    assert home.lock_fd == -1
    home.remove()


def test_retire_renames_the_dir_away_so_a_successor_starts_afresh(tmp_path: Path, owner: Path) -> None:
    root = tmp_path / "root"
    home = SandboxDir.claim(root / NAME, owner)
    (home.path / "code").mkdir()
    trash = home.retire()
    assert trash is not None and trash.parent == root and (trash / "code").is_dir()
    assert trash.name.startswith(f".{NAME}.removing-")
    assert not home.path.exists() and home.lock_fd == -1
    # a successor claims a new dir at once (the retired one's lock is not in its way)
    SandboxDir.claim(root / NAME, owner, wait_s=0).release()


def test_sweep_deletes_retired_dirs_only_once_abandoned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a retired dir renamed a while ago (its reaper died) and one just renamed
    root = tmp_path / "root"
    abandoned = root / ".lambent-ba9876543210.removing-deadbeef"
    (abandoned / "code").mkdir(parents=True)
    time.sleep(0.3)
    fresh = root / ".lambent-0123456789ab.removing-0badf00d"
    (fresh / "code").mkdir(parents=True)
    monkeypatch.setattr(sandbox_dir, "_TRASH_AGE_S", 0.2)  # instead of 10 minutes
    # When a start sweeps, Then only the abandoned one goes (and is not reported as a sandbox dir)
    assert sweep_orphans(root) == []
    assert not abandoned.exists() and fresh.exists()


def test_claim_waits_for_the_lock_then_refuses(tmp_path: Path, owner: Path) -> None:
    path = tmp_path / NAME
    path.mkdir()
    fd = hold_lock(path)  # a live owner, or a dead one's reaper still sweeping
    try:
        with pytest.raises(SandboxError, match="sandbox dir is in use by another server or its reaper"):
            SandboxDir.claim(path, owner, wait_s=0.1)
    finally:
        os.close(fd)
    SandboxDir.claim(path, owner, wait_s=0.1).release()  # free once the holder let go


def test_claim_refuses_another_owner_s_dir_at_once(tmp_path: Path, owner: Path) -> None:
    first = SandboxDir.claim(tmp_path / NAME, owner)
    other = tmp_path / "other-data"
    other.mkdir()
    with pytest.raises(SandboxError, match=f"sandbox dir belongs to data dir {owner.resolve()}"):
        SandboxDir.claim(first.path, other, wait_s=5)  # no waiting for the first owner's lock
    first.release()


def test_claim_refuses_a_directory_of_something_else(tmp_path: Path, owner: Path) -> None:
    # A directory someone pointed the setting at, holding files a stop would delete
    path = tmp_path / "srv"
    path.mkdir()
    (path / "important.txt").write_text("keep me")
    with pytest.raises(SandboxError, match=r"directory holds files of something else \(important.txt\)"):
        SandboxDir.claim(path, owner)
    assert (path / "important.txt").exists()


def test_claim_adopts_a_dir_made_before_owner_records(tmp_path: Path, owner: Path) -> None:
    path = tmp_path / NAME
    (path / "code").mkdir(parents=True)
    (path / "runtimes").mkdir()
    home = SandboxDir.claim(path, owner)
    assert (path / ".owner").exists()
    home.release()


def test_sweep_removes_only_unheld_dirs_whose_owner_is_gone(tmp_path: Path, owner: Path) -> None:
    root = tmp_path / "root"
    gone_owner = tmp_path / "deleted-data"
    gone_owner.mkdir()
    held_owner = tmp_path / "moved-data"
    held_owner.mkdir()
    # Given: an orphan (owner dir deleted), a dir whose owner dir vanished while its owner runs
    # (lock held), a stopped owner's dir (owner dir exists), a dir without record, the caller's own
    orphan = SandboxDir.claim(root / "lambent-aaaaaaaaaaaa", gone_owner)
    orphan.release()
    live = SandboxDir.claim(root / "lambent-bbbbbbbbbbbb", held_owner)
    stopped = SandboxDir.claim(root / "lambent-cccccccccccc", owner)
    stopped.release()
    (root / "lambent-dddddddddddd" / "code").mkdir(parents=True)
    mine = SandboxDir.claim(root / NAME, gone_owner)  # as orphaned as the first, but keep=
    mine.release()
    os.rename(gone_owner, tmp_path / "really-gone")
    os.rename(held_owner, tmp_path / "moved-away")
    # When a start sweeps the root
    removed = sweep_orphans(root, keep=mine.path)
    # Then only the orphan went
    assert removed == [orphan.path]
    assert sorted(p.name for p in root.iterdir()) == [
        NAME, "lambent-bbbbbbbbbbbb", "lambent-cccccccccccc", "lambent-dddddddddddd"]
    assert not (root / "lambent-dddddddddddd" / ".lock").exists()  # not even touched
    live.release()


def test_sweep_of_a_missing_root_is_harmless(tmp_path: Path) -> None:
    assert sweep_orphans(tmp_path / "nope") == []


def test_remove_for_owner(tmp_path: Path, owner: Path) -> None:
    home = SandboxDir.claim(tmp_path / NAME, owner)
    # Refused while held
    with pytest.raises(SandboxError, match="sandbox dir is in use: stop its server first"):
        remove_for_owner(owner)
    home.release()
    # Removed once the owner is gone (its data dir still exists: make clean deletes it next)
    assert remove_for_owner(owner) == home.path
    assert not home.path.exists()
    assert remove_for_owner(owner) is None  # nothing left to do


def test_remove_for_owner_never_trusts_the_record_alone(tmp_path: Path, owner: Path) -> None:
    # A record pointing at a directory that does not name this owner back is not followed
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "file").write_text("x")
    (owner / OWNER_RECORD).write_text(str(victim))
    with pytest.raises(SandboxError, match="does not name .* as its owner; left in place"):
        remove_for_owner(owner)
    assert (victim / "file").exists()
