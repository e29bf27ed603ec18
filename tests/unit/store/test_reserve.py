"""The disk guard: the full state, the ballast, and the two kinds of write (growth, essential)."""

from __future__ import annotations

import asyncio
import errno
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from lambent.errors import StorageFull
from lambent.settings import StorageSettings
from lambent.store import Store
from lambent.store.async_queue import AsyncEventStore, NewEvent
from lambent.store.reserve import BALLAST_NAME, DiskGuard, is_disk_full

KB = 1024
MB = 1024 * KB
RESERVE = 64 * KB
MIN_FREE = 32 * KB


class FakeDisk(DiskGuard):
    """A guard whose free space the test sets (the ballast is a real file)."""

    def __init__(self, data_dir: Path, free: int) -> None:
        self.free = free
        super().__init__(data_dir, StorageSettings(reserve_bytes=RESERVE, min_free_bytes=MIN_FREE))
        self.open()

    def free_bytes(self) -> int:
        return self.free

    def _allocate(self, size: int) -> bool:
        ok = super()._allocate(size)
        if ok:
            self.free -= size
        return ok

    def release(self) -> bool:
        released = super().release()
        if released:
            self.free += RESERVE
        return released


def message(what: str) -> str:
    return (f"lambent's data directory is out of space (ENOSPC): {what} was not carried out. "
            "Deletes keep working: delete functions or versions to free space, or grow the volume.")


def test_the_ballast_is_preallocated_at_start(tmp_path: Path) -> None:
    disk = FakeDisk(tmp_path, free=10 * MB)
    assert (tmp_path / BALLAST_NAME).stat().st_size == RESERVE
    assert disk.ballast_present and not disk.full
    disk.check_room("PublishVersion")  # no error


def test_below_the_minimum_free_space_growth_is_refused_with_the_cause(tmp_path: Path) -> None:
    disk = FakeDisk(tmp_path, free=10 * MB)
    disk.free = MIN_FREE - 1
    disk.refresh()
    with pytest.raises(StorageFull) as exc:
        disk.check_room("PublishVersion")
    assert exc.value.message == message("PublishVersion")
    # room again: noticed by the next check itself
    disk.free = 10 * MB
    disk.check_room("PublishVersion")


def test_a_released_ballast_still_counts_as_reserved_until_it_is_recreated(tmp_path: Path) -> None:
    disk = FakeDisk(tmp_path, free=10 * MB)
    disk.free = 0
    assert disk.release() and not (tmp_path / BALLAST_NAME).exists()
    assert disk.free == RESERVE
    disk.refresh()
    # RESERVE bytes free, but they are the reserve's: growth may not take them
    with pytest.raises(StorageFull):
        disk.check_room("CreateFunction")
    disk.free = RESERVE + MIN_FREE  # a delete freed space: the ballast comes back
    disk.refresh()
    assert (tmp_path / BALLAST_NAME).exists() and disk.free == MIN_FREE and not disk.full


def test_essential_writes_release_the_reserve_when_space_is_short(tmp_path: Path) -> None:
    disk = FakeDisk(tmp_path, free=10 * MB)
    disk.free = 0
    assert disk.essential("DeleteFunction", lambda: "done") == "done"
    assert disk.releases == 1 and not disk.ballast_present


def test_essential_writes_retry_with_the_reserve_after_meeting_a_full_disk(tmp_path: Path) -> None:
    disk = FakeDisk(tmp_path, free=10 * MB)
    attempts: list[bool] = []

    def delete() -> str:
        attempts.append(disk.ballast_present)
        if len(attempts) == 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return "deleted"

    assert disk.essential("DeleteFunction", delete) == "deleted"
    assert attempts == [True, False] and disk.releases == 1


def test_essential_writes_without_any_reserve_left_answer_storage_full(tmp_path: Path) -> None:
    disk = FakeDisk(tmp_path, free=10 * MB)
    disk.release()

    def delete() -> None:
        full = sqlite3.OperationalError("database or disk is full")
        full.sqlite_errorcode = sqlite3.SQLITE_FULL  # type: ignore[attr-defined]
        raise full

    with pytest.raises(StorageFull) as exc:
        disk.essential("DeleteFunction", delete)
    assert exc.value.message == message("DeleteFunction")


def test_other_errors_pass_through_unchanged(tmp_path: Path) -> None:
    disk = FakeDisk(tmp_path, free=10 * MB)

    def broken() -> None:
        raise ValueError("not a disk problem")

    with pytest.raises(ValueError):
        disk.essential("DeleteFunction", broken)
    with pytest.raises(ValueError):
        disk.guarded("PublishVersion", broken)
    assert disk.releases == 0 and not disk.full


def test_growth_meeting_enospc_becomes_storage_full(tmp_path: Path) -> None:
    disk = FakeDisk(tmp_path, free=10 * MB)

    def write_zip() -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(StorageFull) as exc:
        disk.guarded("CreateFunction", write_zip)
    assert exc.value.message == message("CreateFunction")
    assert disk.full and disk.releases == 0  # growth never takes the reserve


def test_what_counts_as_a_full_disk() -> None:
    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorcode = sqlite3.SQLITE_FULL  # type: ignore[attr-defined]
    assert is_disk_full(full)
    assert is_disk_full(OSError(errno.ENOSPC, "x")) and is_disk_full(OSError(errno.EDQUOT, "x"))
    assert not is_disk_full(OSError(errno.EACCES, "x"))
    wrapped = RuntimeError("while writing")
    wrapped.__cause__ = OSError(errno.ENOSPC, "x")
    assert is_disk_full(wrapped)
    assert not is_disk_full(sqlite3.OperationalError("database is locked"))


def _cap_pages(store_engine: sa.Engine, extra_pages: int = 0) -> None:
    """Make the database file unable to grow (SQLite's own SQLITE_FULL, no tmpfs needed)."""

    def cap(dbapi_conn: Any, _record: Any) -> None:
        pages = dbapi_conn.execute("PRAGMA page_count").fetchone()[0]
        dbapi_conn.execute(f"PRAGMA max_page_count={pages + extra_pages}")

    event.listen(store_engine, "connect", cap)
    store_engine.dispose()


def test_sql_meeting_sqlite_full_answers_storage_full_and_deletes_still_commit(tmp_path: Path) -> None:
    disk = FakeDisk(tmp_path, free=10 * MB)
    store = Store.open_in(tmp_path, disk)
    assert store.create_function("keep", {"code_hash_hex": "a"}, {})
    _cap_pages(store.engine)
    big = {"code_hash_hex": "b", "pad": "x" * 200_000}
    with pytest.raises(StorageFull) as exc:
        store.create_function("big", big, {})
    assert exc.value.message == message("CreateFunction")
    assert store.get_function("big") is None
    store.delete_function("keep")  # a delete needs no new page
    assert store.get_function("keep") is None
    store.close()


async def test_async_accept_on_a_full_disk_is_refused_and_accepted_events_still_change(tmp_path: Path) -> None:
    disk = FakeDisk(tmp_path, free=10 * MB)
    queue = AsyncEventStore(tmp_path / "q.db", disk)
    first = await queue.add(NewEvent("r1", "fn", None, b"{}", 1.0))
    # the database cannot grow any more: a large accept fails at its commit,
    queue._writer_conn.execute("PRAGMA max_page_count=" + str(queue._writer_conn.execute("PRAGMA page_count").fetchone()[0]))
    results = await asyncio.gather(queue.add(NewEvent("r2", "fn", None, b"x" * 200_000, 2.0)), queue.delete(first),
                                   return_exceptions=True)
    assert isinstance(results[0], StorageFull) and results[0].message == message("the asynchronous invocation")
    assert results[1] is None
    assert queue.count() == 0  # the delete was committed, the refused event is not there
    # and while the disk is full, accepts are refused before they reach the database
    disk.free = 0
    disk.refresh()
    with pytest.raises(StorageFull):
        await queue.add(NewEvent("r3", "fn", None, b"{}", 3.0))
    queue.close()


def test_a_start_on_a_full_disk_comes_up_on_the_reserve(tmp_path: Path) -> None:
    FakeDisk(tmp_path, free=10 * MB)  # an earlier run preallocated the ballast
    disk = FakeDisk(tmp_path, free=0)
    assert disk.releases == 1 and not (tmp_path / BALLAST_NAME).exists()
    assert disk.free == RESERVE and disk.full  # the room is the reserve's, not growth's
