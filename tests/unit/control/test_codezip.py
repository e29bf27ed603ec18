"""Zip safety: traversal, absolute paths, links out of the tree, bombs, sizes."""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

import pytest

from lambent.control.codezip import ZipLimits, inspect_zip, unpack_zip
from lambent.errors import InvalidParameterValue


def make_zip(entries: dict[str, bytes], links: dict[str, str] | None = None, mode: int = 0o644) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFREG | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return buf.getvalue()


def test_valid_zip_unpacks_read_only_world_readable(tmp_path: Path) -> None:
    # Given a package with files in a sub-directory
    data = make_zip({"app.py": b"x = 1\n", "pkg/mod.py": b"y = 2\n", "bootstrap": b"#!/bin/sh\n"})
    dest = tmp_path / "code"
    # When it is unpacked
    written = unpack_zip(data, dest, ZipLimits())
    # Then every file is there with world-readable permissions
    assert written == len(b"x = 1\n") + len(b"y = 2\n") + len(b"#!/bin/sh\n")
    assert (dest / "pkg" / "mod.py").read_bytes() == b"y = 2\n"
    assert stat.S_IMODE((dest / "app.py").stat().st_mode) == 0o644


def test_executable_bit_is_kept(tmp_path: Path) -> None:
    data = make_zip({"bootstrap": b"#!/bin/sh\necho hi\n"}, mode=0o755)
    unpack_zip(data, tmp_path / "c", ZipLimits())
    assert stat.S_IMODE((tmp_path / "c" / "bootstrap").stat().st_mode) == 0o755


@pytest.mark.parametrize("name", ["../evil.py", "a/../../evil.py", "/etc/passwd", "..\\evil.py"])
def test_traversal_and_absolute_paths_are_rejected(name: str) -> None:
    with pytest.raises(InvalidParameterValue, match="absolute path or '..'"):
        inspect_zip(make_zip({name: b"x"}), ZipLimits())


@pytest.mark.parametrize("target", ["/etc/shadow", "../../outside", "a/../../x"])
def test_links_out_of_the_tree_are_rejected(target: str) -> None:
    with pytest.raises(InvalidParameterValue, match="points outside the package"):
        inspect_zip(make_zip({"app.py": b"x"}, links={"link": target}), ZipLimits())


def test_link_inside_the_tree_is_accepted(tmp_path: Path) -> None:
    data = make_zip({"lib/real.py": b"x"}, links={"lib/alias.py": "real.py"})
    unpack_zip(data, tmp_path / "c", ZipLimits())
    assert (tmp_path / "c" / "lib" / "alias.py").read_bytes() == b"x"


def test_not_a_zip_gets_aws_message() -> None:
    with pytest.raises(InvalidParameterValue, match="Could not unzip uploaded file"):
        inspect_zip(b"this is not a zip", ZipLimits())


def test_unzipped_size_limit() -> None:
    data = make_zip({"big.bin": b"\0" * 2_000_000})
    with pytest.raises(InvalidParameterValue, match="Unzipped size must be smaller than 1000000 bytes"):
        inspect_zip(data, ZipLimits(unzipped_max_bytes=1_000_000))


def test_bomb_ratio_is_rejected() -> None:
    # 40 MB of zeros compresses ~1000:1
    data = make_zip({"zeros.bin": b"\0" * 40_000_000})
    with pytest.raises(InvalidParameterValue, match="compression ratio"):
        inspect_zip(data, ZipLimits())


def test_real_size_is_counted_not_the_header(tmp_path: Path) -> None:
    # Given an archive whose header lies about the unpacked size
    data = bytearray(make_zip({"a.bin": b"A" * 50_000}))
    fake = (100).to_bytes(4, "little")
    # patch uncompressed size in both local and central headers
    local = data.find(b"PK\x03\x04")
    data[local + 22 : local + 26] = fake
    central = data.find(b"PK\x01\x02")
    data[central + 24 : central + 28] = fake
    # When it is unpacked with a small limit, Then extraction stops with an error
    with pytest.raises(InvalidParameterValue):
        unpack_zip(bytes(data), tmp_path / "c", ZipLimits(unzipped_max_bytes=10_000))
    assert not (tmp_path / "c").exists()


def test_too_many_entries() -> None:
    data = make_zip({f"f{i}.txt": b"" for i in range(30)})
    with pytest.raises(InvalidParameterValue, match="too many entries"):
        inspect_zip(data, ZipLimits(max_entries=10))
