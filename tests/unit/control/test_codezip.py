"""Zip safety: traversal, absolute paths, links out of the tree, bombs, sizes."""

from __future__ import annotations

import io
import os
import shutil
import stat
import uuid
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from lambent.control import codezip
from lambent.control.codezip import PARTIAL_SUFFIX, ZipLimits, inspect_zip, unpack_zip
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


# -- links, the tree they describe, and the extraction that must never follow them ---------------

FILE, DIR, LINK = "file", "dir", "link"
#: The chain an adversary used to write on the host as root (issue 8, break 1): `s` is the package
#: root, so `s/…/s/l` is `l` at the root, ten levels below... the host's `/`, lexically inside.
CHAIN = "s/" * 10


def ordered_zip(entries: Sequence[tuple[str, str, str | bytes]]) -> bytes:
    """An archive whose members come in exactly this order: (name, file|dir|link, content)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # duplicate names are what some tests are about
        for name, kind, content in entries:
            info = zipfile.ZipInfo(name)
            kind_bits = {FILE: stat.S_IFREG | 0o644, DIR: stat.S_IFDIR | 0o755, LINK: stat.S_IFLNK | 0o777}[kind]
            info.external_attr = kind_bits << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, content)
    return buf.getvalue()


@pytest.fixture
def host_target() -> Iterator[Path]:
    """A directory on the host (outside every test tree) that hostile archives aim at."""
    d = Path(f"/tmp/lambent-zip-test-{uuid.uuid4().hex}")
    d.mkdir(mode=0o700)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def refusal(data: bytes, dest: Path) -> str:
    with pytest.raises(InvalidParameterValue) as err:
        unpack_zip(data, dest, ZipLimits())
    assert not dest.exists() and not dest.with_name(dest.name + PARTIAL_SUFFIX).exists()
    return err.value.message


def test_the_link_chain_to_host_root_is_refused_and_writes_nothing(tmp_path: Path, host_target: Path) -> None:
    # Given the adversary's archive: s -> ., s/s/…/l -> ../../… (really the host's /), a file through l
    data = ordered_zip([
        ("s", LINK, "."),
        (CHAIN + "l", LINK, "../" * 10),
        (f"{CHAIN}l{host_target}/pwned.txt", FILE, b"pwned"),
    ])
    # When it is checked or unpacked, Then it is refused (l is written through s), and nothing appears on the host
    msg = f"Zip file rejected: entry '{CHAIN}l' is inside symbolic link 's'."
    with pytest.raises(InvalidParameterValue) as err:
        inspect_zip(data, ZipLimits())
    assert err.value.message == msg
    assert refusal(data, tmp_path / "c") == msg
    assert list(host_target.iterdir()) == []


def test_a_chmod_never_goes_through_a_link(tmp_path: Path, host_target: Path) -> None:
    # Given a link that is lexically inside but, through s -> ., really lands on a host directory (0700)
    target = CHAIN + "../" * 10 + str(host_target).lstrip("/")
    data = ordered_zip([("s", LINK, "."), ("m", LINK, target)])
    # When it is unpacked, Then it is refused and the host directory keeps its mode
    assert refusal(data, tmp_path / "c") == f"Zip file rejected: symbolic link 'm' points outside the package ({target})."
    assert stat.S_IMODE(host_target.stat().st_mode) == 0o700


@pytest.mark.parametrize(
    "entries,message",
    [
        # an entry written through an earlier link
        ([("sub/", DIR, ""), ("a", LINK, "sub"), ("a/x.py", FILE, "x")],
         "Zip file rejected: entry 'a/x.py' is inside symbolic link 'a'."),
        # ... or through a file
        ([("a", FILE, "x"), ("a/b.py", FILE, "x")], "Zip file rejected: entry 'a/b.py' is inside file 'a'."),
        # a link replaced by a directory, a directory (explicit or implied) replaced by a link
        ([("sub/", DIR, ""), ("a", LINK, "sub"), ("a/", DIR, "")],
         "Zip file rejected: entry 'a/' has the same path as another entry."),
        ([("a/", DIR, ""), ("a", LINK, "sub")], "Zip file rejected: entry 'a' has the same path as another entry."),
        ([("a/x.py", FILE, "x"), ("a", LINK, "sub")], "Zip file rejected: entry 'a' has the same path as another entry."),
        # duplicate names, also once normalised (./, backslashes, //)
        ([("app.py", FILE, "1"), ("app.py", FILE, "2")],
         "Zip file rejected: entry 'app.py' has the same path as another entry."),
        ([("pkg/m.py", FILE, "1"), ("pkg\\m.py", FILE, "2")],
         "Zip file rejected: entry 'pkg\\m.py' has the same path as another entry."),
        ([("pkg/m.py", FILE, "1"), ("./pkg//m.py", FILE, "2")],
         "Zip file rejected: entry './pkg//m.py' has the same path as another entry."),
        # links to links: each looks inside alone, together they climb out
        ([("d/up", LINK, ".."), ("x", LINK, "d/up/..")],
         "Zip file rejected: symbolic link 'x' points outside the package (d/up/..)."),
        # ... also when the link it goes through comes later in the archive
        ([("x", LINK, "d/up/.."), ("d/up", LINK, "..")],
         "Zip file rejected: symbolic link 'x' points outside the package (d/up/..)."),
        # a link to a link to the parent of the root
        ([("a", LINK, "b"), ("b", LINK, "c/../..")],
         "Zip file rejected: symbolic link 'a' points outside the package (b)."),
        # loops
        ([("a", LINK, "b"), ("b", LINK, "a")],
         "Zip file rejected: symbolic link 'a' loops or goes through too many links (b)."),
        ([("a", LINK, "a/x")], "Zip file rejected: symbolic link 'a' loops or goes through too many links (a/x)."),
        # targets the kernel would not take
        ([("a", LINK, "x\0y")], "Zip file rejected: symbolic link 'a' has an empty or invalid target."),
        ([("a", LINK, "")], "Zip file rejected: symbolic link 'a' has an empty or invalid target."),
        ([("a", LINK, "x/" * 2048)], "Zip file rejected: symbolic link 'a' has a target longer than 4095 bytes."),
        ([("a", LINK, "\\etc")], None),  # a backslash is a plain character in a link target: accepted
        # names
        ([(".", FILE, "x")], "Zip file rejected: entry '.' has no name."),
        ([("C:/x.py", FILE, "x")], "Zip file rejected: entry 'C:/x.py' has an absolute path or '..' component."),
        ([("\\etc\\cron.d\\x", FILE, "x")],
         "Zip file rejected: entry '\\etc\\cron.d\\x' has an absolute path or '..' component."),
        ([("//etc/x", FILE, "x")], "Zip file rejected: entry '//etc/x' has an absolute path or '..' component."),
        ([("a\\..\\..\\x.py", FILE, "x")],
         "Zip file rejected: entry 'a\\..\\..\\x.py' has an absolute path or '..' component."),
    ],
)
def test_hostile_trees_are_refused(tmp_path: Path, entries: list[tuple[str, str, str]], message: str | None) -> None:
    data = ordered_zip(entries)
    if message is None:
        unpack_zip(data, tmp_path / "c", ZipLimits())
        return
    with pytest.raises(InvalidParameterValue) as err:
        inspect_zip(data, ZipLimits())
    assert err.value.message == message
    assert refusal(data, tmp_path / "c") == message


def test_links_that_stay_inside_are_kept(tmp_path: Path) -> None:
    # Given the links real packages carry: versioned libraries, a directory alias, a link to a parent
    data = ordered_zip([
        ("lib/libfoo.so.1", FILE, b"ELF"),
        ("lib/libfoo.so", LINK, "libfoo.so.1"),
        ("tools/run", FILE, b"#!/bin/sh\n"),
        ("bin", LINK, "./tools"),
        ("lib/top", LINK, ".."),
        ("lib/again", LINK, "top/lib/libfoo.so"),  # link to a link to a link, still inside
        ("dangling", LINK, "not/there"),
    ])
    dest = tmp_path / "c"
    unpack_zip(data, dest, ZipLimits())
    assert (dest / "lib" / "libfoo.so").read_bytes() == b"ELF"
    assert (dest / "bin" / "run").read_bytes() == b"#!/bin/sh\n"
    assert (dest / "lib" / "again").read_bytes() == b"ELF"
    assert os.readlink(dest / "lib" / "top") == ".."
    assert os.readlink(dest / "dangling") == "not/there"
    assert stat.S_IMODE(dest.stat().st_mode) == 0o755
    assert stat.S_IMODE((dest / "lib").stat().st_mode) == 0o755


def test_names_are_normalised_and_case_is_significant(tmp_path: Path) -> None:
    # Given `S` a link to the root and `s` a directory (different names on Linux), dot and backslash names
    data = ordered_zip([
        ("S", LINK, "."),
        ("s/x.py", FILE, b"x"),
        ("./pkg/./a.py", FILE, b"a"),
        ("pkg\\b.py", FILE, b"b"),
        ("pkg/", DIR, ""),  # a directory listed after its files is the same directory
    ])
    dest = tmp_path / "c"
    unpack_zip(data, dest, ZipLimits())
    assert sorted(p.name for p in dest.iterdir()) == ["S", "pkg", "s"]
    assert (dest / "s").is_dir() and not (dest / "s").is_symlink()
    assert (dest / "pkg" / "a.py").read_bytes() == b"a" and (dest / "pkg" / "b.py").read_bytes() == b"b"


def test_directories_get_0755_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        unpack_zip(ordered_zip([("a/", DIR, ""), ("a/b/c.py", FILE, b"c")]), tmp_path / "c", ZipLimits())
    finally:
        os.umask(old)
    for d in (tmp_path / "c", tmp_path / "c" / "a", tmp_path / "c" / "a" / "b"):
        assert stat.S_IMODE(d.stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "c" / "a" / "b" / "c.py").stat().st_mode) == 0o644


def test_the_extraction_itself_never_follows_a_link(tmp_path: Path, host_target: Path) -> None:
    # Given entries the plan would refuse, handed straight to the extraction (defence in depth)
    zf = zipfile.ZipFile(io.BytesIO(ordered_zip([("x", FILE, b"pwned")])))
    info = zf.getinfo("x")
    root = tmp_path / "root"
    root.mkdir()

    def entry(name: str, kind: codezip._Kind, target: str = "") -> codezip._Entry:
        return codezip._Entry(name, tuple(name.rstrip("/").split("/")), kind, info, target)

    cases = [
        # a file written through a link to the host
        [entry("l", codezip._Kind.LINK, str(host_target)), entry("l/pwned", codezip._Kind.FILE)],
        # a directory created (and chmodded) through a link to the host
        [entry("m", codezip._Kind.LINK, str(host_target)), entry("m/", codezip._Kind.DIR)],
        [entry("n", codezip._Kind.LINK, str(host_target)), entry("n/sub/", codezip._Kind.DIR)],
        # a file over an existing link
        [entry("o", codezip._Kind.LINK, str(host_target / "pwned")), entry("o", codezip._Kind.FILE)],
    ]
    for i, entries in enumerate(cases):
        with pytest.raises(InvalidParameterValue, match="is not a directory|has the same path as another entry"):
            codezip._extract(zf, entries, root, ZipLimits())
        assert list(host_target.iterdir()) == [], i
        assert stat.S_IMODE(host_target.stat().st_mode) == 0o700, i


def test_corrupt_data_is_a_refusal_not_a_crash(tmp_path: Path) -> None:
    # Given a deflated member whose compressed bytes are garbage (the headers are intact)
    data = bytearray(ordered_zip([("app.py", FILE, os.urandom(4096) * 4)]))
    start = data.find(b"app.py") + len("app.py")
    data[start : start + 200] = b"\xff" * 200
    assert refusal(bytes(data), tmp_path / "c") == codezip._UNZIP_ERROR


def test_an_encrypted_link_is_a_refusal_not_a_crash() -> None:
    # Given a link member flagged as encrypted (zipfile then refuses to read it without a password)
    data = bytearray(ordered_zip([("a", LINK, "b")]))
    local, central = data.find(b"PK\x03\x04"), data.find(b"PK\x01\x02")
    data[local + 6] |= 1
    data[central + 8] |= 1
    with pytest.raises(InvalidParameterValue) as err:
        inspect_zip(bytes(data), ZipLimits())
    assert err.value.message == codezip._UNZIP_ERROR


def test_a_nul_in_a_name_ends_it(tmp_path: Path) -> None:
    # Given a member whose raw name is "evil\0/../../x" (zipfile, like C tools, stops at the NUL)
    data = bytearray(ordered_zip([("evilQ/../../x", FILE, b"x")]))
    assert data.count(b"evilQ") == 2  # local and central headers
    data = bytearray(bytes(data).replace(b"evilQ", b"evil\0"))
    # When it is unpacked, Then only "evil" is written, inside the tree
    dest = tmp_path / "c"
    unpack_zip(bytes(data), dest, ZipLimits())
    assert [p.name for p in dest.iterdir()] == ["evil"] and (dest / "evil").read_bytes() == b"x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]
