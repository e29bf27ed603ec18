"""Platform refuses to start with a StartupError the command turns into an exit, never SystemExit
(a component that exits the process cannot be embedded or tested)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lambent.platform import Platform, StartupError, lock_data_dir, prepare_sandbox_dir
from lambent.settings import Settings


def test_a_locked_data_dir_is_a_startup_error(tmp_path: Path) -> None:
    fd = lock_data_dir(tmp_path)
    try:
        with pytest.raises(StartupError) as info:
            Platform(Settings.from_env({}, data_dir=tmp_path))
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
