"""Platform refuses to start with a StartupError the command turns into an exit, never SystemExit
(a component that exits the process cannot be embedded or tested)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from lambent.platform import Platform, StartupError, lock_data_dir, prepare_sandbox_dir
from lambent.settings import Settings


def test_building_a_platform_touches_nothing(tmp_path: Path) -> None:
    # Given paths for the data dir, the sandbox dir and the uid locks that do not exist yet
    settings = Settings.from_env(
        {"LAMBENT_WORKER_SANDBOX_DIR": str(tmp_path / "sandboxes"), "LAMBENT_SANDBOX_UID_LOCK_DIR": str(tmp_path / "uids"),
         "LAMBENT_SANDBOX_DIR_ROOT": str(tmp_path / "root")},
        data_dir=tmp_path / "data",
    )
    # When the platform is built
    platform = Platform(settings)
    # Then nothing was created, locked or generated: all of that is start()'s
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(StartupError):
        platform.credentials  # noqa: B018 - the property refuses before start()
    assert platform.sandbox_dir == (tmp_path / "sandboxes").resolve()


def test_a_locked_data_dir_is_a_startup_error(tmp_path: Path) -> None:
    fd = lock_data_dir(tmp_path)
    try:
        platform = Platform(Settings.from_env({}, data_dir=tmp_path))  # builds: no lock taken yet
        with pytest.raises(StartupError) as info:
            asyncio.run(platform.start())
        assert str(info.value) == f"another lambent server is using {tmp_path}"
        assert not isinstance(info.value, SystemExit)
    finally:
        os.close(fd)


def test_an_untraversable_sandbox_dir_is_a_startup_error(tmp_path: Path) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    os.chmod(private, 0o700)
    with pytest.raises(StartupError) as info:
        prepare_sandbox_dir(private / "sandboxes")
    assert str(info.value) == (
        f"{private} is not world-traversable: sandboxes could not reach {private / 'sandboxes'}; "
        "set LAMBENT_WORKER_SANDBOX_DIR to a path under a 0711/0755 directory"
    )


def test_a_data_dir_whose_database_is_not_one_is_a_startup_error(tmp_path: Path) -> None:
    # Given a data dir whose lambent.db is not an SQLite database
    data = tmp_path / "data"
    data.mkdir()
    (data / "lambent.db").write_bytes(b"not a database" * 100)
    settings = Settings.from_env({"LAMBENT_WORKER_SANDBOX_DIR": str(tmp_path / "sandboxes"),
                                  "LAMBENT_ROOT_ACCESS_KEY_ID": "AKIDEXAMPLE", "LAMBENT_ROOT_SECRET_ACCESS_KEY": "s" * 40},
                                 data_dir=data)
    # When the platform starts, Then it refuses with the file and the driver's reason
    with pytest.raises(StartupError) as info:
        asyncio.run(Platform(settings).start())
    assert str(info.value) == f"cannot open {data / 'lambent.db'}: file is not a database"
