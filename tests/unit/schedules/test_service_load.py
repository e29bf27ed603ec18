"""SchedulerService.for_server does no I/O; load() resumes schedule time and reads the registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambent.schedules import ResumableClock, SchedulerService
from lambent.schedules.store import ScheduleStore
from lambent.settings import ScheduleSettings, Settings
from lambent.store import Store


async def test_for_server_reads_nothing_until_load(tmp_path: Path) -> None:
    db = Store.open_in(tmp_path)
    settings = Settings(schedules=ScheduleSettings(time_scale=0.5))
    service = SchedulerService.for_server(settings, db.engine)
    # Given a service just built: nothing written, the clock not readable yet
    assert ScheduleStore(db.engine).load_clock() is None
    assert isinstance(service.clock, ResumableClock)
    with pytest.raises(RuntimeError, match="before SchedulerService.load"):
        service.clock.now()
    assert service.list_groups() == []
    # When loaded (twice: the second does nothing)
    await service.load()
    saved = ScheduleStore(db.engine).load_clock()
    await service.load()
    # Then the line is saved, the default group exists, and a later server continues the same line
    assert saved is not None and saved[2] == 0.5
    assert ScheduleStore(db.engine).load_clock() == saved
    assert [g.name for g in service.list_groups()] == ["default"]
    again = SchedulerService.for_server(settings, db.engine)
    await again.load()
    assert isinstance(again.clock, ResumableClock)
    assert ScheduleStore(db.engine).load_clock() == saved
    assert abs(again.clock.now() - service.clock.now()) < 1.0


async def test_a_change_before_load_is_refused(tmp_path: Path) -> None:
    db = Store.open_in(tmp_path)
    service = SchedulerService.for_server(Settings(), db.engine)
    with pytest.raises(RuntimeError, match="before load"):
        await service.create_group("g", {})
    await service.load()
    assert (await service.create_group("g", {})).name == "g"
