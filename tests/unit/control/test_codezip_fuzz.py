"""Property test of the unpacker against generated hostile archives (issue 8, break 1).

Each archive mixes what an adversary combines: links to `.` and to parents, chains of links
through links, entries written through links, links replaced by directories and back, duplicate
names, case variants, `.` / empty / backslash components, absolute targets aimed at a host
directory. For every one, the unpacker must either refuse it with InvalidParameterValue (leaving
nothing behind) or produce a tree whose links all resolve inside it — and in both cases nothing
outside the target may change: not the sentinel directory next to it, not the rest of the temp
root, not the host directory the absolute targets aim at.
"""

from __future__ import annotations

import io
import os
import random
import shutil
import stat
import time
import uuid
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from lambent.control.codezip import PARTIAL_SUFFIX, ZipLimits, unpack_zip
from lambent.errors import InvalidParameterValue

ARCHIVES = 1000
SEED = 20261201
#: Names that exist around the target (so a wrong resolution lands on something real) plus a case variant.
NAMES = ["s", "S", "l", "d", "x", "code", "b", "sentinel", "victim"]

Snapshot = dict[str, tuple[int, int]]


def snapshot(root: Path, skip: set[Path]) -> Snapshot:
    """Every path under root (links not followed) -> (mode with type, size)."""
    out: Snapshot = {}
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if Path(dirpath, d) not in skip]
        for name in [*dirs, *files, "."]:
            p = Path(dirpath, name)
            st = p.lstat()
            out[str(p)] = (st.st_mode, st.st_size if not stat.S_ISDIR(st.st_mode) else 0)
    return out


@pytest.fixture
def host_dir() -> Iterator[Path]:
    d = Path(f"/tmp/lambent-zip-fuzz-{uuid.uuid4().hex}")
    d.mkdir(mode=0o700)
    yield d
    shutil.rmtree(d, ignore_errors=True)


class Generator:
    """Random hostile archives, reproducible from the seed."""

    def __init__(self, rng: random.Random, host_dir: Path) -> None:
        self.rng = rng
        self.host_dir = host_dir

    def component(self) -> str:
        return self.rng.choice(NAMES)

    def path(self, prefixes: list[str]) -> str:
        r = self.rng
        parts = [self.component() for _ in range(r.randint(1, 4))]
        if prefixes and r.random() < 0.4:  # through (or onto) an earlier entry, e.g. a link
            parts = [*r.choice(prefixes).split("/"), *parts[: r.randint(0, 2)]]
        if r.random() < 0.05:
            parts.insert(r.randrange(len(parts) + 1), r.choice([".", "", ".."]))
        if r.random() < 0.1:
            parts = [p.upper() if r.random() < 0.5 else p for p in parts]
        sep = "\\" if r.random() < 0.1 else "/"
        return sep.join(parts)

    def target(self, links: list[str]) -> str:
        r = self.rng
        choice = r.randrange(12)
        if choice == 0:
            return "."
        if choice == 1:
            return "../" * r.randint(1, 6)
        if choice == 2:
            return "../" * r.randint(1, 6) + r.choice(["sentinel", "sentinel/f", "code", "victim"])
        if choice == 3:
            return str(self.host_dir if r.random() < 0.5 else self.host_dir / "f")
        if choice == 4 and links:  # through earlier links, then up
            return r.choice(links) + "/" + "../" * r.randint(1, 6) + r.choice(["", "sentinel"])
        if choice == 5:
            return "s/" * r.randint(1, 10) + "../" * r.randint(1, 12) + r.choice(["", "sentinel", "x"])
        if choice == 6 and links:
            return r.choice(links)  # a link to a link
        if choice in (7, 8):
            return self.component()  # a sibling: the harmless kind real packages carry
        return "/".join(r.choice([*NAMES, "..", "."]) for _ in range(r.randint(1, 5)))

    def archive(self) -> list[tuple[str, str, str]]:
        r = self.rng
        entries: list[tuple[str, str, str]] = []
        if r.random() < 0.5:
            entries.append(("s", "link", "."))  # the root under another name: deep chains
        links = [e[0] for e in entries]
        names: list[str] = list(links)
        for _ in range(r.randint(1, 7)):
            if names and r.random() < 0.1:
                name = r.choice(names)  # a duplicate, possibly of another kind
            else:
                name = self.path(names)
            kind = r.choices(["file", "dir", "link"], weights=[4, 2, 4])[0]
            if kind == "link":
                entries.append((name, kind, self.target(links)))
                links.append(name)
            else:
                entries.append((name + "/" if kind == "dir" else name, kind, "pwned"))
            names.append(name)
        return entries


def build(entries: list[tuple[str, str, str]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # duplicate names are intended
        for name, kind, content in entries:
            info = zipfile.ZipInfo(name)
            bits = {"file": stat.S_IFREG | 0o755, "dir": stat.S_IFDIR | 0o755, "link": stat.S_IFLNK | 0o777}[kind]
            info.external_attr = bits << 16
            zf.writestr(info, content)
    return buf.getvalue()


def links_stay_inside(dest: Path) -> list[str]:
    escapes = []
    real_dest = os.path.realpath(dest)
    for dirpath, dirs, files in os.walk(dest):
        for name in [*dirs, *files]:
            p = os.path.join(dirpath, name)
            if os.path.islink(p):
                real = os.path.realpath(p)
                if real != real_dest and not real.startswith(real_dest + "/"):
                    escapes.append(f"{p} -> {os.readlink(p)} = {real}")
    return escapes


def test_generated_hostile_archives_never_write_outside(tmp_path: Path, host_dir: Path) -> None:
    # Given a temp root with a sentinel directory next to the target and files that links may aim at
    world = tmp_path / "world"
    code = world / "a" / "b" / "code"
    code.mkdir(parents=True)
    for d in (world / "sentinel", code / "sentinel", world / "a" / "victim"):
        d.mkdir(mode=0o700)
        (d / "f").write_text("keep")
        os.chmod(d / "f", 0o600)
    dest = code / "dest"
    before = snapshot(world, skip=set())
    gen = Generator(random.Random(SEED), host_dir)
    outcomes = {"refused": 0, "unpacked": 0}
    started = time.monotonic()
    for i in range(ARCHIVES):
        entries = gen.archive()
        # When each archive is unpacked
        try:
            unpack_zip(build(entries), dest, ZipLimits())
        except InvalidParameterValue:
            outcomes["refused"] += 1
            assert not dest.exists(), (i, entries)
        else:
            outcomes["unpacked"] += 1
            # Then what was written stays inside: every link resolves within the tree
            assert links_stay_inside(dest) == [], (i, entries)
        # And nothing outside it changed (files, types, modes), nothing was left half-unpacked
        assert not dest.with_name(dest.name + PARTIAL_SUFFIX).exists(), (i, entries)
        assert snapshot(world, skip={dest}) == before, (i, entries)
        assert list(host_dir.iterdir()) == [] and stat.S_IMODE(host_dir.stat().st_mode) == 0o700, (i, entries)
        shutil.rmtree(dest, ignore_errors=True)
    # The generator exercises both outcomes (a generator that only made refused archives would prove little)
    assert outcomes["refused"] > ARCHIVES // 4 and outcomes["unpacked"] > ARCHIVES // 10, outcomes
    assert time.monotonic() - started < 20
