"""Safe handling of deployment packages (.zip): validation and unpacking.

Guest code is hostile, and so is its zip. The server unpacks it as root, so the archive must never
be able to write, or change the mode of, anything outside the directory it is unpacked into.
Two independent defences:

1. **The plan** (:func:`inspect_zip`, before anything is written): the archive's *final* tree is
   modelled as paths -> file / directory / link. Refused: names with ``..``, absolute or drive
   paths, NUL; an entry whose path goes *through* another entry that is a link or a file; two
   entries with the same path (a link replaced by a directory, a directory by a link, a file
   twice); a link whose target, resolved the way the kernel will resolve it in that final tree
   (following the archive's other links, path_resolution(7)), ever climbs above the tree's root,
   is absolute, or loops. Also refused: too many entries, a declared unpacked size over AWS's
   250 MB, and compression ratios typical of zip bombs.
2. **The extraction** never follows a link, whatever the plan said: every directory is opened
   relative to its parent's fd with ``O_NOFOLLOW | O_DIRECTORY``, files are created with
   ``O_CREAT | O_EXCL | O_NOFOLLOW`` relative to that fd, links with ``symlinkat``, and modes are
   set with ``fchmod`` on those fds (no chmod walk that could follow a link). The real number of
   bytes written is counted: headers are not trusted.

Every refusal is an :class:`InvalidParameterValue` (400 InvalidParameterValueException), never a 500.
"""

from __future__ import annotations

import enum
import errno
import io
import os
import shutil
import stat
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from lambent.errors import InvalidParameterValue

#: AWS's message for an archive it cannot read.
_UNZIP_ERROR = "Could not unzip uploaded file. Please check your file, then try to upload again."
_CHUNK = 1 << 16
#: Suffix of the directory a package is unpacked into before it is renamed into place; a server
#: start removes leftovers (:class:`lambent.control.code.CodeStore`).
PARTIAL_SUFFIX = ".partial"
#: Links followed while resolving one target: Linux's MAXSYMLINKS; more is a loop (ELOOP).
_MAX_LINK_HOPS = 40
#: Linux's PATH_MAX less the NUL: the kernel refuses longer targets anyway.
_MAX_LINK_TARGET_BYTES = 4095
#: Path components visited while resolving all the links of one archive: bounds the work a
#: hostile archive (thousands of links to long chains of links) can make the server do.
_MAX_RESOLVE_STEPS = 2_000_000
#: Directory fds kept open during one extraction (most archives list each directory's files together).
_DIR_FD_CACHE = 64
#: Errors of zipfile/zlib meaning "this archive is broken" (encrypted entries and unsupported
#: compression methods raise RuntimeError / NotImplementedError).
_ARCHIVE_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, RuntimeError, ValueError)

_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_O_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True)
class ZipLimits:
    unzipped_max_bytes: int = 262_144_000
    max_ratio: int = 200
    max_entries: int = 20_000
    #: Archives that unpack to less than this are never called bombs, whatever their ratio.
    ratio_floor_bytes: int = 16 * 1024 * 1024


class _Kind(enum.Enum):
    FILE = "file"
    DIR = "directory"
    LINK = "symbolic link"


@dataclass(frozen=True)
class _Entry:
    """One archive member as it will be written: its path as components relative to the root."""

    name: str
    parts: tuple[str, ...]
    kind: _Kind
    info: zipfile.ZipInfo
    #: Link target, exactly as the kernel will read it (links only).
    target: str = ""


@dataclass(frozen=True)
class _Plan:
    entries: tuple[_Entry, ...]
    declared_bytes: int


def inspect_zip(data: bytes, limits: ZipLimits) -> int:
    """Validate an archive without writing anything; returns its declared unpacked size."""
    with _open(data) as zf:
        return _plan(zf, len(data), limits).declared_bytes


def unpack_zip(data: bytes, dest: Path, limits: ZipLimits) -> int:
    """Extract into ``dest`` (which must not exist); returns bytes written. Files end up world-readable
    and read-only so every sandbox can share them; executables keep their x bit. On any failure
    nothing is left behind (neither ``dest`` nor its ``.partial`` directory)."""
    tmp = dest.with_name(dest.name + PARTIAL_SUFFIX)
    shutil.rmtree(tmp, ignore_errors=True)  # rmtree never follows links
    try:
        with _open(data) as zf:
            plan = _plan(zf, len(data), limits)
            tmp.parent.mkdir(parents=True, exist_ok=True)
            tmp.mkdir(mode=0o700)  # 0755 only once complete (fchmod in _extract)
            written = _extract(zf, plan.entries, tmp, limits)
        os.replace(tmp, dest)
    except (OSError, *_ARCHIVE_ERRORS) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise InvalidParameterValue(_UNZIP_ERROR) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return written


# -- the plan -----------------------------------------------------------------------------------


@contextmanager
def _open(data: bytes) -> Iterator[zipfile.ZipFile]:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (OSError, *_ARCHIVE_ERRORS):
        raise InvalidParameterValue(_UNZIP_ERROR) from None
    with zf:
        yield zf


def _plan(zf: zipfile.ZipFile, compressed_bytes: int, limits: ZipLimits) -> _Plan:
    infos = zf.infolist()
    if len(infos) > limits.max_entries:
        raise InvalidParameterValue(f"Zip file has too many entries ({len(infos)} > {limits.max_entries}).")
    tree = _Tree()
    entries: list[_Entry] = []
    total = 0
    for info in infos:
        entry = _entry(zf, info)
        tree.add(entry)
        entries.append(entry)
        total += info.file_size
    tree.check_links()
    if total > limits.unzipped_max_bytes:
        raise InvalidParameterValue(f"Unzipped size must be smaller than {limits.unzipped_max_bytes} bytes")
    compressed = max(1, compressed_bytes)
    if total > limits.ratio_floor_bytes and total / compressed > limits.max_ratio:
        raise InvalidParameterValue(
            f"Zip file rejected: compression ratio {total // compressed}:1 exceeds {limits.max_ratio}:1 (zip bomb?)."
        )
    return _Plan(tuple(entries), total)


def _entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> _Entry:
    name = info.filename
    # Zips made on Windows may use backslashes; on Linux they are separators for us too.
    clean = name.replace("\\", "/")
    if clean.startswith("/") or (len(clean) > 1 and clean[1] == ":") or "\x00" in clean or ".." in clean.split("/"):
        raise InvalidParameterValue(f"Zip file rejected: entry '{name}' has an absolute path or '..' component.")
    parts = tuple(p for p in clean.split("/") if p not in ("", "."))
    if clean.endswith("/"):
        return _Entry(name, parts, _Kind.DIR, info)
    if not parts:
        raise InvalidParameterValue(f"Zip file rejected: entry '{name}' has no name.")
    if stat.S_ISLNK(info.external_attr >> 16):
        return _Entry(name, parts, _Kind.LINK, info, _read_link(zf, info))
    return _Entry(name, parts, _Kind.FILE, info)


def _read_link(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> str:
    name = info.filename
    too_long = f"Zip file rejected: symbolic link '{name}' has a target longer than {_MAX_LINK_TARGET_BYTES} bytes."
    if info.file_size > _MAX_LINK_TARGET_BYTES:
        raise InvalidParameterValue(too_long)
    try:
        with zf.open(info) as f:
            raw = f.read(_MAX_LINK_TARGET_BYTES + 1)  # the header may lie about the size
    except (OSError, *_ARCHIVE_ERRORS):
        raise InvalidParameterValue(_UNZIP_ERROR) from None
    if len(raw) > _MAX_LINK_TARGET_BYTES:
        raise InvalidParameterValue(too_long)
    target = raw.decode("utf-8", "replace")
    if not target or "\x00" in target:
        raise InvalidParameterValue(f"Zip file rejected: symbolic link '{name}' has an empty or invalid target.")
    if target.startswith("/"):
        raise InvalidParameterValue(f"Zip file rejected: symbolic link '{name}' points outside the package ({target}).")
    return target


class _Tree:
    """The final tree an archive describes: path components -> kind, and each link's target.
    Scope: one inspection."""

    def __init__(self) -> None:
        self._kinds: dict[tuple[str, ...], _Kind] = {(): _Kind.DIR}
        self._links: dict[tuple[str, ...], _Entry] = {}

    def add(self, entry: _Entry) -> None:
        parts = entry.parts
        for i in range(1, len(parts)):
            kind = self._kinds.get(parts[:i])
            if kind is None:
                self._kinds[parts[:i]] = _Kind.DIR
            elif kind is not _Kind.DIR:
                # Writing "through" a link is how an archive reaches outside; through a file it is nonsense.
                raise InvalidParameterValue(
                    f"Zip file rejected: entry '{entry.name}' is inside {kind.value} '{'/'.join(parts[:i])}'."
                )
        existing = self._kinds.get(parts)
        if existing is not None:
            if existing is _Kind.DIR and entry.kind is _Kind.DIR:
                return  # a directory listed twice, or after its files, is the same directory
            raise InvalidParameterValue(f"Zip file rejected: entry '{entry.name}' has the same path as another entry.")
        self._kinds[parts] = entry.kind
        if entry.kind is _Kind.LINK:
            self._links[parts] = entry

    def check_links(self) -> None:
        budget = [_MAX_RESOLVE_STEPS]
        for link in self._links.values():
            self._resolve(link, budget)

    def _resolve(self, link: _Entry, budget: list[int]) -> None:
        """Walk the link's target from the link's directory as the kernel would in the final tree,
        substituting the archive's links as they are met; refuse if the walk climbs above the root.
        Components that do not exist are walked lexically (the kernel would stop there: ENOENT)."""
        cur = list(link.parts[:-1])
        pending = list(reversed(link.target.split("/")))
        hops = 0
        while pending:
            budget[0] -= 1
            if budget[0] < 0:
                raise InvalidParameterValue("Zip file rejected: its symbolic links are too complex to resolve.")
            comp = pending.pop()
            if comp in ("", "."):
                continue
            if comp == "..":
                if not cur:
                    raise InvalidParameterValue(
                        f"Zip file rejected: symbolic link '{link.name}' points outside the package ({link.target})."
                    )
                cur.pop()
                continue
            cur.append(comp)
            through = self._links.get(tuple(cur))
            if through is None:
                continue
            hops += 1
            if hops > _MAX_LINK_HOPS:
                raise InvalidParameterValue(
                    f"Zip file rejected: symbolic link '{link.name}' loops or goes through too many links ({link.target})."
                )
            cur.pop()
            pending.extend(reversed(through.target.split("/")))


# -- the extraction -----------------------------------------------------------------------------


def _extract(zf: zipfile.ZipFile, entries: Sequence[_Entry], root: Path, limits: ZipLimits) -> int:
    """Write the planned entries under ``root`` without ever following a link (see the module
    docstring); returns the bytes really written."""
    written = 0
    with _DirFds(root) as dirs:
        for e in entries:
            if e.kind is _Kind.DIR:
                dirs.get(e.parts, e.name)
                continue
            parent = dirs.get(e.parts[:-1], e.name)
            leaf = e.parts[-1]
            try:
                if e.kind is _Kind.LINK:
                    os.symlink(e.target, leaf, dir_fd=parent)
                    continue
                fd = os.open(leaf, _O_NEW_FILE, 0o600, dir_fd=parent)
            except FileExistsError:
                raise InvalidParameterValue(f"Zip file rejected: entry '{e.name}' has the same path as another entry.") from None
            with os.fdopen(fd, "wb") as out, zf.open(e.info) as src:
                while chunk := src.read(_CHUNK):
                    written += len(chunk)
                    if written > limits.unzipped_max_bytes:
                        raise InvalidParameterValue(f"Unzipped size must be smaller than {limits.unzipped_max_bytes} bytes")
                    out.write(chunk)
                mode = (e.info.external_attr >> 16) & 0o777
                os.fchmod(out.fileno(), 0o755 if mode & 0o111 else 0o644)
        os.fchmod(dirs.root_fd, 0o755)
    return written


class _DirFds:
    """Directory fds of one extraction, each opened relative to its parent with O_NOFOLLOW (and
    created first if missing); a bounded cache. Scope: one :func:`_extract`."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self.root_fd = -1
        self._fds: dict[tuple[str, ...], int] = {}

    def __enter__(self) -> _DirFds:
        self.root_fd = os.open(self._root, _O_DIR)
        return self

    def __exit__(self, *exc: object) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
        os.close(self.root_fd)

    def get(self, parts: tuple[str, ...], name: str) -> int:
        if not parts:
            return self.root_fd
        fd = self._fds.get(parts)
        if fd is not None:
            return fd
        parent = self.get(parts[:-1], name)
        leaf = parts[-1]
        try:
            os.mkdir(leaf, 0o755, dir_fd=parent)
        except FileExistsError:
            pass
        try:
            fd = os.open(leaf, _O_DIR, dir_fd=parent)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise InvalidParameterValue(
                    f"Zip file rejected: entry '{name}' is inside {'/'.join(parts)}, which is not a directory."
                ) from None
            raise
        os.fchmod(fd, 0o755)  # whatever the umask
        if len(self._fds) >= _DIR_FD_CACHE:
            os.close(self._fds.pop(next(iter(self._fds))))
        self._fds[parts] = fd
        return fd
