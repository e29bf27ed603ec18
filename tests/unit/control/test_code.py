"""CodeStore's temporaries (issue 8, break 7): a failed upload removes its own, a start removes
those a crash left (``code/*.tmp`` zips, ``*.partial`` trees), and nothing else."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import zipfile
from pathlib import Path

import pytest

from lambent.control.code import CodeStore
from lambent.control.codezip import ZipLimits
from lambent.errors import InvalidParameterValue
from lambent.store import Store


def zip_bytes(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def lying_zip() -> bytes:
    """Passes inspection (its headers declare 100 bytes) but holds 50 000."""
    data = bytearray(zip_bytes({"a.bin": b"A" * 50_000}))
    fake = (100).to_bytes(4, "little")
    local, central = data.find(b"PK\x03\x04"), data.find(b"PK\x01\x02")
    data[local + 22 : local + 26] = fake
    data[central + 24 : central + 28] = fake
    return bytes(data)


def open_store(tmp_path: Path, limits: ZipLimits | None = None) -> CodeStore:
    return CodeStore(tmp_path / "code", Store.open_in(tmp_path), limits or ZipLimits(), unpack_root=tmp_path / "trees")


def test_a_start_removes_what_interrupted_uploads_left(tmp_path: Path) -> None:
    # Given a previous server's good package and what a crash left mid-upload
    good = zip_bytes({"app.py": b"x = 1\n"})
    sha = hashlib.sha256(good).hexdigest()
    open_store(tmp_path).put(good)
    code, trees = tmp_path / "code", tmp_path / "trees"
    (code / "0123abcd.tmp").write_bytes(b"half a zip")
    (trees / "0123abcd.partial" / "pkg").mkdir(parents=True)
    (trees / "0123abcd.partial" / "pkg" / "m.py").write_bytes(b"half")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_bytes(b"keep")
    (trees / "4567.partial").symlink_to(outside)  # never followed
    # When the store is opened again (a server start)
    open_store(tmp_path)
    # Then the temporaries are gone and everything else is intact
    assert sorted(p.name for p in code.iterdir()) == [f"{sha}.zip"]
    assert sorted(p.name for p in trees.iterdir()) == [sha]
    assert (trees / sha / "app.py").read_bytes() == b"x = 1\n"
    assert (outside / "keep.txt").read_bytes() == b"keep"


def test_a_failed_unpack_leaves_nothing_behind(tmp_path: Path) -> None:
    # Given an archive that passes inspection but fails while it is unpacked
    store = open_store(tmp_path, ZipLimits(unzipped_max_bytes=10_000))
    # When it is uploaded, Then it is refused (zipfile stops at the declared size: a CRC error)
    with pytest.raises(InvalidParameterValue) as err:
        store.put(lying_zip())
    assert err.value.message == "Could not unzip uploaded file. Please check your file, then try to upload again."
    # And neither its zip, nor a .tmp, nor a tree (whole or partial) is left
    assert list((tmp_path / "code").iterdir()) == []
    assert list((tmp_path / "trees").iterdir()) == []


def test_a_failed_zip_write_leaves_no_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a disk that fails while the zip is being written
    store = open_store(tmp_path)

    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space left"):
        store.put(zip_bytes({"app.py": b"x"}))
    assert list((tmp_path / "code").iterdir()) == []
    assert list((tmp_path / "trees").iterdir()) == []


def test_a_stored_package_is_its_private_zip_and_its_tree(tmp_path: Path) -> None:
    data = zip_bytes({"app.py": b"x = 1\n"})
    info = open_store(tmp_path).put(data)
    zpath = tmp_path / "code" / f"{info.sha256_hex}.zip"
    assert zpath.read_bytes() == data
    assert stat.S_IMODE(zpath.stat().st_mode) == 0o600
    assert sorted(p.name for p in (tmp_path / "code").iterdir()) == [zpath.name]
    assert (tmp_path / "trees" / info.sha256_hex / "app.py").read_bytes() == b"x = 1\n"
