"""Function logs: log groups and streams stored durably under ``<data dir>/logs``.

Layout: ``logs/<group>/<stream>.jsonl`` (names percent-encoded: '/' as '%2F'), one JSON object per
event ``{"t": epoch_ms, "m": message}`` in append order. A stream is written in *segments*, the unit
that quotas delete: the first is ``<stream>.jsonl``, each later one ``<stream>+<offset>.jsonl``,
where ``offset`` is the byte offset in the stream at which it begins ('+' never appears in an
encoded name). The offsets :meth:`LogStore.read` takes and returns are offsets in the whole
stream, so they stay valid when old segments are deleted (reading resumes at the oldest left).
Stream names follow Lambda: ``YYYY/MM/DD/[<version>]<environment id>``.

One writer per stream (the execution environment that owns it; PutLogEvents writes through it
when it is open, else through a writer of its own: :meth:`LogStore.put_events`); readers
(``lambent logs``, the CloudWatch Logs API in lambent/api/logs_api.py) read the files, in this
process or another: forwards (:meth:`LogStore.scan`), backwards from an offset
(:meth:`LogStore.scan_back`), or merged and filtered over a group (:func:`filter_events`). Event
positions are stream offsets, which the API's tokens carry. A group's creation time and retention
live in ``logs/+groups/<encoded group>.json`` ('+' never appears in an encoded name).

A server's store has quotas (:mod:`lambent.observability.quota`: per group, in total): running
byte counts are charged once per buffer written (O(1); no directory is looked at per invoke), and
past a quota the oldest closed segments go first. A log write never fails an invocation: what the
disk refuses (ENOSPC, any OSError) is truncated away and dropped, and once writing works again the
stream gets a line saying how many events were dropped and why.
"""

from __future__ import annotations

import contextlib
import errno
import heapq
import json
import logging
import os
import shutil
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote, unquote

from lambent.observability.quota import LogQuota, LogUsage, Segment

log = logging.getLogger(__name__)

#: Bytes buffered per writer before they are written (an invocation's lines are written at its end).
_BUF_BYTES = 1 << 16
_SUFFIX = ".jsonl"
#: A failing log disk is reported in the server log at most this often.
_WARN_EVERY_S = 60.0
#: A segment's time index has one (offset, min ms, max ms) entry per this many bytes (or so).
_CHUNK_BYTES = 1 << 16
_INDEX_SUFFIX = ".tix"
_NO_MIN = 1 << 62
_NO_MAX = -(1 << 62)
#: A time index file larger than this is not one the writer made: ignored.
_INDEX_MAX_BYTES = 4 << 20


@dataclass(frozen=True)
class LogEvent:
    timestamp_ms: int
    message: str
    stream: str = ""


_encode = json.JSONEncoder(ensure_ascii=False).encode


def stream_name(version: str, env_id: str, now: float | None = None) -> str:
    day = datetime.fromtimestamp(now if now is not None else time.time(), timezone.utc).strftime("%Y/%m/%d")
    return f"{day}/[{version}]{env_id}"


def _enc(name: str) -> str:
    return quote(name, safe="")


def account_group(account_id: str, group: str) -> str:
    """The stored name of account ``account_id``'s log group ``group``: every account has its own
    groups (two accounts' functions ``f`` each log to their own ``/aws/lambda/f``). ``:`` is in
    no CloudWatch log group name (letters, digits and ``._-/#``), so the two parts never blur.
    LogNameError for a name that is no group's (empty, ``.``, ``..``), as :meth:`LogStore.group_dir`."""
    if not group or group in (".", ".."):
        raise LogNameError(f"The log group name {group!r} is not valid on this lambent server.")
    return f"{account_id}:{group}"


def own_unowned_groups(root: Path, account_id: str) -> int:
    """Give the log groups written before accounts (stored names without ``ACCOUNT:``) to
    ``account_id``, their metadata with them. Server start-up, before the :class:`LogStore` is
    built (its quota scan charges the groups by stored name). Returns how many moved."""
    moved = 0
    try:
        dirs = [d for d in root.iterdir() if d.is_dir() and d.name != _META_DIR]
    except FileNotFoundError:
        return 0
    for d in dirs:
        group = unquote(d.name)
        if ":" in group:
            continue
        target = root / _enc(account_group(account_id, group))
        if target.exists():
            log.warning("log group %s is not moved to account %s: %s exists", group, account_id, target.name)
            continue
        os.rename(d, target)
        meta = root / _META_DIR / f"{d.name}.json"
        with contextlib.suppress(FileNotFoundError):
            os.rename(meta, root / _META_DIR / f"{target.name}.json")
        moved += 1
    return moved


def _segment_name(base: str, start: int) -> str:
    return f"{base}{_SUFFIX}" if start == 0 else f"{base}+{start}{_SUFFIX}"


def _listing(d: Path) -> dict[str, list[tuple[int, Path]]]:
    """Every stream (encoded name) in group dir ``d`` with its segments' (start offset, path), in
    order; one directory listing."""
    try:
        names = os.listdir(d)
    except (FileNotFoundError, NotADirectoryError):
        return {}  # no such group, or deleted meanwhile
    out: dict[str, list[tuple[int, Path]]] = {}
    for n in names:
        if not n.endswith(_SUFFIX):
            continue
        stem = n[: -len(_SUFFIX)]
        plus = stem.rfind("+")
        if plus < 0:
            out.setdefault(stem, []).append((0, d / n))
            continue
        try:
            start = int(stem[plus + 1:])
        except ValueError:
            continue
        out.setdefault(stem[:plus], []).append((start, d / n))
    for segs in out.values():
        segs.sort()
    return out


def _index_path(segment: Path) -> Path:
    """A segment's time index: ``<root>/+groups/<encoded group>.tix/<segment name>`` (beside the
    group's metadata, so that neither a group's directory nor the list of groups changes)."""
    group_dir = segment.parent
    return group_dir.parent / _META_DIR / f"{group_dir.name}{_INDEX_SUFFIX}" / segment.name


def _read_index(segment: Path, size: int) -> tuple[int, list[tuple[int, int, int]]] | None:
    """A closed segment's time index, checked against the file (None if absent or not sound)."""
    try:
        with open(_index_path(segment), "rb") as f:
            raw = f.read(_INDEX_MAX_BYTES + 1)
        if len(raw) > _INDEX_MAX_BYTES:
            return None
        doc = json.loads(raw)
        end = int(doc["end"])
        chunks = [(int(a), int(b), int(c)) for a, b, c in doc["chunks"]]
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if end > size or any(b[0] <= a[0] for a, b in zip(chunks, chunks[1:], strict=False)) or (
            chunks and not 0 <= chunks[0][0] <= chunks[-1][0] < end):
        return None  # not this file's (truncated, replaced): read it whole
    return end, chunks


def _segments(d: Path, base: str) -> list[tuple[int, Path]]:
    """(start offset, path) of every segment of the stream ``base`` (encoded) in ``d``, in order."""
    return _listing(d).get(base, [])


class LogStreamWriter:
    """Appends events to one stream. Scope: owned by one execution environment, on the event loop.

    Never raises for a full or failing disk: what cannot be written is dropped and counted (a
    note in the stream says so once writing works again). Writing after ``close`` is a no-op."""

    def __init__(self, store: LogStore, group: str, directory: Path, base: str) -> None:
        self._store = store
        self.group = group
        self._dir = directory
        self._base = base
        self._fd = -1
        self._buf = bytearray()
        self._seg_max = store.quota.segment_max_bytes
        #: Stream offset at which the current segment begins, and its bytes so far.
        self._start = 0
        self._seg_size = 0
        self._last_ms = 0
        self._dropped_events = 0
        self._dropped_bytes = 0
        self._drop_reason = ""
        self._detached = False
        self._closed = False
        #: told of every line an execution environment writes (EMF extraction: observability/emf.py)
        self._hook: Callable[[str, str, int], None] | None = None
        #: the current segment's time index: (offset in the segment, min ms, max ms) per chunk of
        #: about _CHUNK_BYTES; chunks end where the next begins, the last at ``_seg_size``
        self._chunks: list[tuple[int, int, int]] = []
        self._bmin = _NO_MIN
        self._bmax = _NO_MAX
        if os.path.exists(directory / _segment_name(base, 0)):
            # Reopened (environment ids are unique, so not in a server): append a new segment.
            segs = _segments(directory, base)
            start, path = segs[-1]
            with contextlib.suppress(OSError):
                self._start = start + path.stat().st_size

    def write(self, message: str, timestamp_ms: int | None = None, *, platform: bool = False) -> None:
        """Append one event. ``platform``: a line lambent wrote itself (START/END/REPORT or its
        JSON record), never handed to the line hook (EMF is the function's output, not Lambda's)."""
        t = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
        # The same JSON as json.dumps({"t": t, "m": message}), built without a dict: this runs
        # three times per invocation at least.
        self._buf += f'{{"t": {t}, "m": {_encode(message)}}}\n'.encode("utf-8", "replace")
        self._last_ms = t
        if t < self._bmin:
            self._bmin = t
        if t > self._bmax:
            self._bmax = t
        if self._hook is not None and message[:1] == "{" and not platform:
            try:
                self._hook(self.group, message, t)
            except Exception:  # noqa: BLE001 - a hook never fails a log write
                log.exception("log line hook failed")
        if len(self._buf) >= _BUF_BYTES:
            self._write_buffer()

    def flush(self) -> None:
        self._write_buffer()

    def close(self) -> None:
        if self._closed:
            return
        self._write_buffer()
        self._closed = True
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.fsync(self._fd)
            self._close_fd()
        if self._seg_size and not self._detached:
            self._write_index()
            self._store._segment_closed(Segment(self._path(), self.group, self._seg_size, self._last_ms))
        self._store._forget(self)

    # -- internals --------------------------------------------------------------------------------
    @property
    def segment_bytes(self) -> int:
        return self._seg_size

    @property
    def last_ms(self) -> int:
        return self._last_ms

    def _path(self) -> Path:
        return self._dir / _segment_name(self._base, self._start)

    def _close_fd(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1

    def _open(self) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
        try:
            self._fd = os.open(self._path(), flags, 0o600)
        except FileNotFoundError:
            self._dir.mkdir(parents=True, exist_ok=True)
            self._store._group_made(self._dir)
            self._fd = os.open(self._path(), flags, 0o600)

    def roll(self) -> None:
        """End the current segment (it may be deleted from now on); the next write starts another
        at the stream's current end."""
        self._close_fd()
        if self._seg_size:
            self._write_index()
            self._store._segment_closed(Segment(self._path(), self.group, self._seg_size, self._last_ms))
            self._start += self._seg_size
            self._seg_size = 0
        self._chunks = []

    def _write_index(self) -> None:
        """The closed segment's time index beside it (``<segment>.tix``); best effort: a segment
        without one is read whole."""
        if not self._chunks:
            return
        doc = {"v": 1, "end": self._seg_size, "chunks": self._chunks}
        path = _index_path(self._path())
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(doc, separators=(",", ":")))

    def live_index(self) -> tuple[int, list[tuple[int, int, int]]]:
        """(bytes indexed, chunks) of the open segment, for a reader in this process. The size is
        read first: every byte below it is in the chunks (they are updated before it grows)."""
        end = self._seg_size
        return end, list(self._chunks)

    def _detach(self) -> None:
        """The group was deleted: write nothing more (its files are gone)."""
        self._detached = True
        self._close_fd()
        self._seg_size = 0
        self._chunks = []
        self._buf.clear()

    def _write_buffer(self) -> None:
        buf = self._buf
        if not buf:
            return
        self._buf = bytearray()
        bmin, bmax = self._bmin, self._bmax
        self._bmin, self._bmax = _NO_MIN, _NO_MAX
        if self._detached or self._closed:
            return
        if self._seg_size and self._seg_size + len(buf) > self._seg_max:
            self.roll()
        data = self._drop_note() + buf if self._dropped_events else buf
        try:
            if self._fd < 0:
                self._open()
            n = os.write(self._fd, data)
            while n < len(data):  # short only when the disk fills up: the next write says why
                n += os.write(self._fd, memoryview(data)[n:])
        except OSError as exc:
            # One event per line: JSON escapes newlines inside messages.
            self._failed(exc, buf.count(b"\n"), len(buf))
            return
        if len(data) != len(buf):  # the drop note, stamped now
            now_ms = int(time.time() * 1000)
            bmin, bmax = min(bmin, now_ms), max(bmax, now_ms)
        # the index first, then the size (see live_index)
        chunks = self._chunks
        at = self._seg_size
        if chunks and at - chunks[-1][0] < _CHUNK_BYTES:
            c = chunks[-1]
            chunks[-1] = (c[0], min(c[1], bmin), max(c[2], bmax))
        else:
            chunks.append((at, bmin, bmax))
        self._seg_size += len(data)
        if self._dropped_events:
            self._dropped_events = self._dropped_bytes = 0
        self._store._charged(self, len(data))

    def _failed(self, exc: OSError, events: int, nbytes: int) -> None:
        # Cut what made it to the disk of this buffer: a reader never sees a torn line, and a
        # full disk gets those bytes back.
        if self._fd >= 0:
            try:
                os.ftruncate(self._fd, self._seg_size)
            except OSError:
                self.roll()  # the segment's end is unknown: start a new one
        self._dropped_events += events
        self._dropped_bytes += nbytes
        self._drop_reason = (
            "lambent's data directory was out of space (ENOSPC)" if exc.errno in (errno.ENOSPC, errno.EDQUOT)
            else f"the log file could not be written ({exc.strerror or exc})"
        )
        self._store._dropped(self, events, nbytes, exc)

    def _drop_note(self) -> bytes:
        msg = (f"[lambent] {self._dropped_events} log events ({self._dropped_bytes} bytes) were dropped: "
               f"{self._drop_reason}")
        return f'{{"t": {int(time.time() * 1000)}, "m": {_encode(msg)}}}\n'.encode()


class LogStore:
    """All log groups of a server (with ``quota``: accounting and rotation), or of a CLI reader.
    Scope: one per server process; writers and quota bookkeeping run on the event loop."""

    def __init__(self, root: Path, quota: LogQuota | None = None, *, create: bool = True) -> None:
        self.root = root
        if create:
            root.mkdir(parents=True, exist_ok=True)
        self.quota = quota or LogQuota.unlimited()
        self.usage = LogUsage(self.quota)
        self._writers: dict[str, set[LogStreamWriter]] = {}
        #: Writers PutLogEvents opened (streams no environment writes), least recently used first.
        self._api_writers: OrderedDict[tuple[str, str], LogStreamWriter] = OrderedDict()
        #: Events and bytes the disk refused (dropped, counted), and bytes deleted by rotation.
        self.dropped_events = 0
        self.dropped_bytes = 0
        self.rotated_bytes = 0
        self._warned_at = -_WARN_EVERY_S
        #: handed every line of the execution environments' writers (:meth:`writer`), not
        #: PutLogEvents' (CloudWatch extracts EMF from Lambda's logs; the API's need a header)
        self.line_hook: Callable[[str, str, int], None] | None = None
        if quota is not None:
            self._scan()

    def writer(self, group: str, stream: str) -> LogStreamWriter:
        w = LogStreamWriter(self, group, self.root / _enc(group), _enc(stream))
        w._hook = self.line_hook
        self._writers.setdefault(group, set()).add(w)
        return w

    # -- quotas -----------------------------------------------------------------------------------
    def _scan(self) -> None:
        """Charge what earlier runs left (oldest first) and bring it within the quotas. Start-up only."""
        found: list[Segment] = []
        for gdir in self.root.iterdir():
            if not gdir.is_dir():
                continue
            group = unquote(gdir.name)
            for f in gdir.iterdir():
                if f.name.endswith(_SUFFIX):
                    with contextlib.suppress(OSError):
                        st = f.stat()
                        found.append(Segment(f, group, st.st_size, int(st.st_mtime * 1000)))
        found.sort(key=lambda s: s.last_ms)
        for seg in found:
            self.usage.existing(seg)
        for group in {s.group for s in found}:
            self._delete(self.usage.victims(group))

    def _charged(self, w: LogStreamWriter, n: int) -> None:
        if not self.usage.charge(w.group, n):
            return
        for _ in range(64):
            self._delete(self.usage.victims(w.group))
            if not self.usage.over(w.group) or not w.segment_bytes:
                return
            # Nothing closed is left to delete, only segments being written: close this
            # writer's own, so that it goes next.
            w.roll()

    def _segment_closed(self, seg: Segment) -> None:
        if self.usage.closed(seg):
            self._delete(self.usage.victims(seg.group))

    def _forget(self, w: LogStreamWriter) -> None:
        if self._api_writers.get((w.group, w._base)) is w:
            del self._api_writers[(w.group, w._base)]
        ws = self._writers.get(w.group)
        if ws is not None:
            ws.discard(w)
            if not ws:
                del self._writers[w.group]

    def _delete(self, segments: list[Segment]) -> None:
        for seg in segments:
            try:
                seg.path.unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:
                log.warning("could not delete log segment %s: %s", seg.path, exc)
            with contextlib.suppress(OSError):
                _index_path(seg.path).unlink()
            self.rotated_bytes += seg.size

    def _dropped(self, w: LogStreamWriter, events: int, nbytes: int, exc: OSError) -> None:
        self.dropped_events += events
        self.dropped_bytes += nbytes
        now = time.monotonic()
        if now - self._warned_at >= _WARN_EVERY_S:
            self._warned_at = now
            log.warning("log writes to %s fail (%s): events are dropped and counted in their streams "
                        "(%d events so far); invocations go on", w.group, exc, self.dropped_events)

    def delete_group(self, group: str) -> None:
        """Delete a log group with all its streams (DeleteFunction frees its logs: docs/parity.md)."""
        for w in self._writers.pop(group, set()):
            w._detach()
        for key in [k for k in self._api_writers if k[0] == group]:
            del self._api_writers[key]
        self.usage.drop_group(group)
        d = self.group_dir(group)
        shutil.rmtree(d, ignore_errors=True)
        shutil.rmtree(self.root / _META_DIR / f"{d.name}{_INDEX_SUFFIX}", ignore_errors=True)
        with contextlib.suppress(OSError):
            self._meta_path(d).unlink()

    def expire_before(self, group: str, before_ms: int) -> int:
        """Delete ``group``'s segments whose last event is older than ``before_ms``; returns the
        bytes deleted. The hook for retention: CloudWatch Logs' PutRetentionPolicy
        (``retentionInDays``) will call it with ``now - days``, once the Logs API exists."""
        for w in list(self._writers.get(group, ())):
            if w.segment_bytes and w.last_ms < before_ms:
                w.roll()
        victims = self.usage.expired(group, before_ms)
        self._delete(victims)
        return sum(s.size for s in victims)

    # -- reading ----------------------------------------------------------------------------------
    def groups(self) -> list[str]:
        try:
            return sorted(unquote(p.name) for p in self.root.iterdir() if p.is_dir() and p.name != _META_DIR)
        except FileNotFoundError:
            return []

    def streams(self, group: str) -> list[str]:
        return sorted(unquote(base) for base in _listing(self.group_dir(group)))

    def read(self, group: str, stream: str, offset: int = 0) -> tuple[list[LogEvent], int]:
        """Events of one stream from stream offset ``offset``; returns them and the next offset."""
        return self._read(_segments(self.group_dir(group), _enc(stream)), stream, offset)

    def read_group(self, group: str, offsets: dict[str, int]) -> list[LogEvent]:
        """New events of every stream of a group (one directory listing), from and advancing
        ``offsets`` (stream -> offset), merged in timestamp order: for ``lambent logs --follow``."""
        out: list[LogEvent] = []
        for base, segs in sorted(_listing(self.group_dir(group)).items()):
            stream = unquote(base)
            events, offsets[stream] = self._read(segs, stream, offsets.get(stream, 0))
            out.extend(events)
        out.sort(key=lambda e: e.timestamp_ms)
        return out

    @staticmethod
    def _read(segs: list[tuple[int, Path]], stream: str, offset: int) -> tuple[list[LogEvent], int]:
        out: list[LogEvent] = []
        for i, (start, path) in enumerate(segs):
            try:
                f = open(path, "rb")  # noqa: SIM115 - closed below
            except FileNotFoundError:
                continue  # rotated away meanwhile
            with f:
                size = os.fstat(f.fileno()).st_size
                if start + size <= offset:
                    continue
                pos = max(offset, start)  # older segments were deleted: resume at this one
                f.seek(pos - start)
                offset = pos
                torn = False
                for raw in f:
                    if not raw.endswith(b"\n"):
                        torn = True
                        break
                    offset += len(raw)
                    try:
                        obj = json.loads(raw)
                    except ValueError:
                        continue
                    out.append(LogEvent(int(obj["t"]), str(obj["m"]), stream))
            if torn:
                if i == len(segs) - 1:
                    break  # a half-written line: read it next time
                offset = start + size  # a crash's torn end of an older segment: skip it
        return out, offset

    def events(self, group: str) -> Iterator[LogEvent]:
        """All events of a group, merged across streams in timestamp order."""
        return iter(self.read_group(group, {}))

    # -- the CloudWatch Logs API's view (lambent/api/logs_api.py, lambent logs) -------------------
    def group_dir(self, group: str) -> Path:
        """The directory of ``group``; refuses names that are not one safe file name."""
        enc = _enc(group)
        if not group or group in (".", "..") or len(enc) > _MAX_NAME:
            raise LogNameError(f"The log group name {group!r} is not valid on this lambent server "
                               f"(at most {_MAX_NAME} characters once '/' is encoded as %2F).")
        return self.root / enc

    def _stream_base(self, stream: str) -> str:
        enc = _enc(stream)
        if not stream or len(enc) > _MAX_NAME - 32:
            raise LogNameError(f"The log stream name {stream!r} is not valid on this lambent server "
                               f"(at most {_MAX_NAME - 32} characters once '/' and '[' ']' are encoded).")
        return enc

    def has_group(self, group: str) -> bool:
        return self.group_dir(group).is_dir()

    def create_group(self, group: str, now_ms: int | None = None) -> bool:
        """Create an empty group; False if it exists."""
        d = self.group_dir(group)
        try:
            d.mkdir(parents=True)
        except FileExistsError:
            return False
        self._write_meta(d, {"creationTime": now_ms if now_ms is not None else int(time.time() * 1000)})
        return True

    def _group_made(self, d: Path) -> None:
        """A writer created its group's directory (a function's first log line)."""
        if not self._meta_path(d).exists():
            with contextlib.suppress(OSError):
                self._write_meta(d, {"creationTime": int(time.time() * 1000)})

    def _meta_path(self, d: Path) -> Path:
        # Beside the group directories, in one whose name no encoded group can have ('+' is encoded).
        return self.root / _META_DIR / f"{d.name}.json"

    def _write_meta(self, d: Path, meta: dict[str, int]) -> None:
        path = self._meta_path(d)
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(meta))
        os.replace(tmp, path)

    def _read_meta(self, d: Path) -> dict[str, int]:
        try:
            raw = json.loads(self._meta_path(d).read_text())
        except (OSError, ValueError):
            raw = {}
        meta = {k: int(v) for k, v in raw.items() if isinstance(v, int)} if isinstance(raw, dict) else {}
        if "creationTime" not in meta:
            with contextlib.suppress(OSError):
                meta["creationTime"] = int(d.stat().st_mtime * 1000)
        return meta

    def set_retention(self, group: str, days: int | None) -> None:
        d = self.group_dir(group)
        meta = self._read_meta(d)
        meta.pop("retentionInDays", None)
        if days is not None:
            meta["retentionInDays"] = days
        self._write_meta(d, meta)

    def group_info(self, group: str) -> GroupInfo | None:
        d = self.group_dir(group)
        if not d.is_dir():
            return None
        meta = self._read_meta(d)
        stored = 0
        for segs in _listing(d).values():
            for _, path in segs:
                with contextlib.suppress(OSError):
                    stored += path.stat().st_size
        return GroupInfo(group, meta.get("creationTime", 0), meta.get("retentionInDays"), stored)

    def create_stream(self, group: str, stream: str) -> bool:
        """Create an empty stream (its first segment, empty); False if it exists."""
        d = self.group_dir(group)
        base = self._stream_base(stream)
        if _segments(d, base):
            return False
        try:
            fd = os.open(d / _segment_name(base, 0), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        except FileExistsError:
            return False
        os.close(fd)
        return True

    def has_stream(self, group: str, stream: str) -> bool:
        return bool(_segments(self.group_dir(group), self._stream_base(stream)))

    def stream_infos(self, group: str, prefix: str = "", names: list[str] | None = None) -> list[StreamInfo]:
        """Every stream of ``group`` (names starting with ``prefix``; only ``names`` if given):
        first and last event times read from the first line and the tail of the newest segment,
        not the whole stream."""
        out: list[StreamInfo] = []
        wanted = set(names) if names is not None else None
        for base, segs in _listing(self.group_dir(group)).items():
            name = unquote(base)
            if (prefix and not name.startswith(prefix)) or (wanted is not None and name not in wanted):
                continue
            out.append(_stream_info(name, segs))
        out.sort(key=lambda s: s.name)
        return out

    def stream_writer(self, group: str, stream: str) -> LogStreamWriter:
        """The open writer of this stream if one exists (one writer per stream: an execution
        environment's, shared with PutLogEvents), else one kept for the API: at most
        :data:`_API_WRITERS` of those, least recently used closed first."""
        base = self._stream_base(stream)
        for w in self._writers.get(group, ()):
            if w._base == base and not w._closed and not w._detached:
                if (group, base) in self._api_writers:
                    self._api_writers.move_to_end((group, base))
                return w
        w = LogStreamWriter(self, group, self.group_dir(group), base)
        self._writers.setdefault(group, set()).add(w)
        self._api_writers[(group, base)] = w
        while len(self._api_writers) > _API_WRITERS:
            _, old = self._api_writers.popitem(last=False)
            old.close()
        return w

    def put_events(self, group: str, stream: str, events: list[tuple[int, str]]) -> None:
        """Append (timestamp ms, message) events to a stream (PutLogEvents), visible to readers
        on return. A writer the API opened keeps no file descriptor between calls."""
        w = self.stream_writer(group, stream)
        for t, message in events:
            w.write(message, t)
        w.flush()
        if self._api_writers.get((group, w._base)) is w:
            w._close_fd()

    def delete_stream(self, group: str, stream: str) -> bool:
        """Delete a stream's events (DeleteLogStream); False if it has none and no file. An
        execution environment writing it goes on, in a new segment (the stream reappears)."""
        d = self.group_dir(group)
        base = self._stream_base(stream)
        for w in list(self._writers.get(group, ())):
            if w._base != base or w._closed or w._detached:
                continue
            if self._api_writers.get((group, base)) is w:
                w.close()
            else:
                w.flush()
                w.roll()
        segs = _segments(d, base)
        self.usage.drop_paths(group, {path for _, path in segs})
        for _, path in segs:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            with contextlib.suppress(OSError):
                _index_path(path).unlink()
        return bool(segs)

    def at_boundary(self, group: str, stream: str, offset: int) -> bool:
        """Whether ``offset`` is where an event begins or the stream ends (a token a client sent
        back must be one): a segment's start, or just after a newline."""
        segs = _segments(self.group_dir(group), self._stream_base(stream))
        if offset < 0:
            return False
        if not segs or offset <= segs[0][0]:
            return True
        for start, path in segs:
            try:
                size = path.stat().st_size
            except OSError:
                continue
            if offset == start:
                return True
            if start < offset <= start + size:
                try:
                    with open(path, "rb") as f:
                        f.seek(offset - start - 1)
                        return f.read(1) == b"\n"
                except OSError:
                    return False
        return False

    def scan_back(self, group: str, stream: str, before: int | None = None) -> Iterator[Positioned]:
        """Events of one stream that end at or before ``before`` (None: all), newest first."""
        return _scan_back(_segments(self.group_dir(group), self._stream_base(stream)), stream, before)

    def stream_end(self, group: str, stream: str) -> int:
        """The stream offset just after its last byte (0 for an empty or missing stream)."""
        segs = _segments(self.group_dir(group), self._stream_base(stream))
        for start, path in reversed(segs):
            with contextlib.suppress(OSError):
                return start + path.stat().st_size
        return 0

    def index_of(self, group: str, path: Path, size: int) -> tuple[int, list[tuple[int, int, int]]] | None:
        """The time index of one segment file: the open writer's (this process), else the
        ``.tix`` file a closed segment has; None when there is none (older data dirs, a crash,
        another process's open segment): then the segment is read whole."""
        for w in list(self._writers.get(group, ())):
            if not w._closed and not w._detached and w._path() == path:
                return w.live_index()
        return _read_index(path, size)

    def scan(self, group: str, stream: str, offset: int = 0) -> Iterator[Positioned]:
        """Events of one stream from stream offset ``offset``, lazily, each with its start and
        end offsets (what tokens are made of)."""
        return _scan(_segments(self.group_dir(group), self._stream_base(stream)), stream, offset)


#: Groups' metadata (creation time, retention): ``<root>/+groups/<encoded group>.json``.
_META_DIR = "+groups"
#: Writers kept for PutLogEvents streams (each closed, its segment ended, when evicted).
_API_WRITERS = 256
#: Longest encoded group or stream file name (NAME_MAX is 255; segments add '+<offset>.jsonl').
_MAX_NAME = 240


class LogNameError(ValueError):
    """A group or stream name that cannot be one file name (the API answers InvalidParameterException)."""


@dataclass(frozen=True)
class GroupInfo:
    name: str
    creation_ms: int
    retention_days: int | None
    stored_bytes: int


@dataclass(frozen=True)
class StreamInfo:
    name: str
    creation_ms: int
    first_ms: int | None
    last_ms: int | None
    last_write_ms: int
    stored_bytes: int


@dataclass(frozen=True)
class Positioned:
    start: int
    end: int
    event: LogEvent


#: (start offset, end offset, timestamp ms, message) of one stored event.
_Raw = tuple[int, int, int, str]
#: json's C string scanner (typeshed does not declare it): decodes one JSON string literal.
_scanstring: Callable[[str, int], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]
_HEAD = b'{"t": '
_MID = b', "m": '


def _parse(raw: bytes) -> tuple[int, str] | None:
    """(timestamp, message) of one stored line: the writer's exact layout is sliced (no dict
    built), anything else goes through the JSON parser; None for a line that is not an event."""
    if raw.startswith(_HEAD) and raw.endswith(b"}\n"):
        i = raw.find(_MID, 6)
        if i > 0:
            try:
                text = raw[i + 7:-2].decode("utf-8")
                msg, end = _scanstring(text, 1)
                if end == len(text) and text[:1] == '"':
                    return int(raw[6:i]), msg
            except ValueError:  # UnicodeDecodeError and malformed JSON included
                pass
    try:
        obj = json.loads(raw)
        return int(obj["t"]), str(obj["m"])
    except (ValueError, TypeError, KeyError):
        return None


#: The timestamp of a line skipped by its bytes (it cannot match): counted, never returned.
_SKIPPED = -(1 << 63)


def _scan_raw(segs: list[tuple[int, Path]], offset: int, needles: tuple[bytes, ...] = ()) -> Iterator[_Raw]:
    for i, (start, path) in enumerate(segs):
        try:
            f = open(path, "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            continue
        with f:
            size = os.fstat(f.fileno()).st_size
            if start + size <= offset:
                continue
            pos = max(offset, start)
            f.seek(pos - start)
            for raw in f:
                if not raw.endswith(b"\n"):
                    if i == len(segs) - 1:
                        return  # a half-written line: the next read gets it
                    break  # a crash's torn end of an older segment
                end = pos + len(raw)
                if needles and not all(n in raw for n in needles):
                    yield pos, end, _SKIPPED, ""
                    pos = end
                    continue
                parsed = _parse(raw)
                if parsed is not None:
                    yield pos, end, parsed[0], parsed[1]
                pos = end
            offset = start + size


def _scan(segs: list[tuple[int, Path]], stream: str, offset: int) -> Iterator[Positioned]:
    for start, end, t, msg in _scan_raw(segs, offset):
        yield Positioned(start, end, LogEvent(t, msg, stream))


_BACK_BLOCK = 1 << 16


def _scan_back(
    segs: list[tuple[int, Path]], stream: str, before: int | None, block: int = _BACK_BLOCK,
) -> Iterator[Positioned]:
    """Events of one stream ending at or before stream offset ``before`` (None: the end), newest
    first, reading blocks backwards from the end: a tail costs what it returns, not the stream."""
    for start, path in reversed(segs):
        try:
            f = open(path, "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            continue
        with f:
            size = os.fstat(f.fileno()).st_size
            hi = size if before is None else min(size, before - start)
            if hi <= 0:
                continue
            data = b""
            lo = hi  # data holds the file's bytes [lo, lo + len(data))
            first = True
            while True:
                if lo > 0 and (data.count(b"\n") < 2 or first):
                    nxt = max(0, lo - block)
                    f.seek(nxt)
                    data = f.read(lo - nxt) + data
                    lo = nxt
                    if first:
                        cut = data.rfind(b"\n") + 1  # a torn (half-written) last line is left out
                        data = data[:cut]
                        first = False
                        if not data:
                            if lo == 0:
                                break
                            continue
                    continue
                if not data:
                    break
                idx = data.rfind(b"\n", 0, len(data) - 1)
                if idx < 0 and lo > 0:
                    first = False
                    nxt = max(0, lo - block)
                    f.seek(nxt)
                    data = f.read(lo - nxt) + data
                    lo = nxt
                    continue
                line = data[idx + 1:]
                line_at = lo + idx + 1
                data = data[:idx + 1]
                parsed = _parse(line)
                if parsed is not None:
                    yield Positioned(start + line_at, start + line_at + len(line), LogEvent(parsed[0], parsed[1], stream))
                if idx < 0:
                    break


def _first_ts(path: Path) -> int | None:
    try:
        with open(path, "rb") as f:
            line = f.readline(1 << 21)
        return int(json.loads(line)["t"]) if line.endswith(b"\n") else None
    except (OSError, ValueError, TypeError, KeyError):
        return None


def _last_ts(path: Path, size: int) -> int | None:
    """The newest event's timestamp of one segment, read backwards in small blocks."""
    if size == 0:
        return None
    try:
        for pe in _scan_back([(0, path)], "", None, block=4096):
            return pe.event.timestamp_ms
    except OSError:
        return None
    return None


def _stream_info(name: str, segs: list[tuple[int, Path]]) -> StreamInfo:
    stats: list[tuple[Path, int, float]] = []
    for _, path in segs:
        with contextlib.suppress(OSError):
            st = path.stat()
            stats.append((path, st.st_size, st.st_mtime))
    stored = sum(s for _, s, _ in stats)
    first = next((t for p, s, _ in stats if s and (t := _first_ts(p)) is not None), None)
    last = next((t for p, s, _ in reversed(stats) if s and (t := _last_ts(p, s)) is not None), None)
    mtime = int(stats[-1][2] * 1000) if stats else 0
    created = int(stats[0][2] * 1000) if stats else 0
    if first is not None:
        created = min(created, first)
    return StreamInfo(name, created, first, last, mtime, stored)


#: Events a FilterLogEvents page reads at most (matching or not, those skipped by their bytes
#: included): a page's cost is bounded.
FILTER_SCAN_BUDGET = 20_000_000
#: ... and for about this long (then the page ends with a nextToken, as CloudWatch's pages do).
FILTER_PAGE_SECONDS = 0.1
#: What one event adds to a FilterLogEvents answer beside its message and stream name (its
#: keys, timestamps and eventId as JSON), for ``max_bytes``.
FILTER_EVENT_OVERHEAD = 120
#: Bytes of a file read (and searched) at once when filtering.
_FILTER_WINDOW = 1 << 21
_FILTER_FIRST_WINDOW = 1 << 15
#: The shortest stored line (``{"t": 0, "m": ""}`` and its newline): a stretch of n bytes holds
#: at most n / 18 events.
_MIN_LINE_BYTES = 18

#: (start offset, end offset, timestamp ms or _SKIPPED, message, lines it accounts for): what the
#: filter's reader yields; a _SKIPPED item only says how far the stream has been read.
_Item = tuple[int, int, int, str, int]


def _time_ranges(store: LogStore, group: str, segs: list[tuple[int, Path]], offset: int,
                 start_ms: int | None, end_ms: int | None) -> Iterator[tuple[int, Path, int, int, bool]]:
    """(segment start, path, from, to, last segment?) byte ranges of a stream, from stream
    offset ``offset``, leaving out the chunks a segment's time index puts wholly outside
    [start_ms, end_ms). Bytes no index covers are always read."""
    for i, (start, path) in enumerate(segs):
        try:
            size = path.stat().st_size
        except OSError:
            continue
        if start + size <= offset:
            continue
        lo = max(offset, start) - start
        last = i == len(segs) - 1
        index = store.index_of(group, path, size) if start_ms is not None or end_ms is not None else None
        if index is None:
            yield start, path, lo, size, last
            continue
        end, chunks = index
        run_lo = run_hi = -1
        for k, (c_at, c_min, c_max) in enumerate(chunks):
            c_end = chunks[k + 1][0] if k + 1 < len(chunks) else end
            if c_end <= lo or (start_ms is not None and c_max < start_ms) or (end_ms is not None and c_min >= end_ms):
                continue
            a = max(c_at, lo)
            if a == run_hi:
                run_hi = c_end
                continue
            if run_hi > run_lo:
                yield start, path, run_lo, run_hi, False
            run_lo, run_hi = a, c_end
        if run_hi > run_lo:
            yield start, path, run_lo, run_hi, False
        if size > end:
            yield start, path, max(end, lo), size, last


def _scan_filtered(store: LogStore, group: str, segs: list[tuple[int, Path]], offset: int,
                   needles: tuple[bytes, ...], start_ms: int | None, end_ms: int | None,
                   allowed: Callable[[], int]) -> Iterator[_Item]:
    """A stream's events for FilterLogEvents from ``offset``: the time index skips chunks out
    of range, and with ``needles`` a window of the file is searched for them (bytes.find, no
    copy) so that only the lines holding one are decoded. Every item says how many lines it
    accounts for (a searched stretch counts its bytes / _MIN_LINE_BYTES, at least its lines); the
    last item's end is how far the stream was read. A window is searched whole only while the
    page may read that many lines (``allowed()``); else it is read line by line, so that a page
    stops exactly at its budget."""
    needle = max(needles, key=len) if needles else b""
    others = tuple(n for n in needles if n is not needle)
    buf = bytearray()
    for seg_start, path, lo, hi, last in _time_ranges(store, group, segs, offset, start_ms, end_ms):
        try:
            f = open(path, "rb", buffering=0)  # noqa: SIM115 - closed below
        except FileNotFoundError:
            continue
        with f:
            at = lo  # the file offset of buf[0]
            f.seek(lo)
            window = _FILTER_FIRST_WINDOW  # grows: a page that needs a few events reads a few
            while at < hi:
                want = min(window, hi - at)
                window = min(2 * window, _FILTER_WINDOW)
                if len(buf) != want:
                    buf = bytearray(want)
                got = f.readinto(buf)
                if not got:
                    break
                cut = buf.rfind(b"\n", 0, got) + 1
                if cut == 0:
                    if got < want or at + got >= hi:
                        break  # a torn last line (or an older segment's torn end): not an event
                    # one line longer than the window: take a bigger one (bounded by the file)
                    window = max(window, 2 * want)
                    f.seek(at)
                    continue
                base = seg_start + at
                if needle and cut // _MIN_LINE_BYTES <= allowed():
                    done = 0  # bytes of the window accounted for
                    i = buf.find(needle, 0, cut)
                    while i >= 0:
                        ls = buf.rfind(b"\n", 0, i) + 1
                        le = buf.index(b"\n", i) + 1
                        line = bytes(buf[ls:le])
                        if all(n in line for n in others):
                            parsed = _parse(line)
                            if parsed is not None:
                                yield base + ls, base + le, parsed[0], parsed[1], 1 + (ls - done) // _MIN_LINE_BYTES
                                done = le
                        i = buf.find(needle, le, cut)
                    if done < cut:
                        yield base + done, base + cut, _SKIPPED, "", max(1, (cut - done) // _MIN_LINE_BYTES)
                else:
                    p = 0
                    while p < cut:
                        e = buf.index(b"\n", p) + 1
                        raw = bytes(buf[p:e])
                        if needles and not all(n in raw for n in needles):
                            yield base + p, base + e, _SKIPPED, "", 1
                        else:
                            parsed = _parse(raw)
                            if parsed is None:
                                yield base + p, base + e, _SKIPPED, "", 1
                            else:
                                yield base + p, base + e, parsed[0], parsed[1], 1
                        p = e
                at += cut
                f.seek(at)
            if at < hi and last:
                return  # a half-written line at the stream's end: the next read gets it


@dataclass(frozen=True)
class FilterResult:
    events: list[Positioned]
    #: where the next page resumes (stream -> offset, -1: read to its end), None when done
    positions: dict[str, int] | None


def filter_events(
    store: LogStore, group: str, matcher: Callable[[str], bool], *, streams: list[str] | None = None,
    prefix: str = "", start_ms: int | None = None, end_ms: int | None = None, limit: int = 10_000,
    positions: dict[str, int] | None = None, budget: int = FILTER_SCAN_BUDGET,
    deadline_s: float = FILTER_PAGE_SECONDS, max_bytes: int | None = None,
) -> FilterResult:
    """Matching events of a group's streams, merged by timestamp (ties: stream name, offset),
    from ``positions``; reads at most ``budget`` events, for at most about ``deadline_s``. Each
    stream is read in append order, so a page resumes exactly where the previous one stopped even
    if timestamps are not sorted. ``max_bytes``: the page ends once its events' answer would be
    about that large (each counted as its message, its stream name and FILTER_EVENT_OVERHEAD).

    What makes a page cheap over a large group (benchmarks/filter_logs.py): one directory
    listing; segments' time indexes (``.tix``, written by the writer) skip chunks outside the
    time range; the pattern's required terms are searched in the raw bytes, so only lines holding
    them are decoded; the merge stops at the page's limit."""
    gdir = store.group_dir(group)
    listing = _listing(gdir)
    all_names = sorted(unquote(b) for b in listing)
    names = [s for s in all_names if s.startswith(prefix)] if streams is None else list(streams)
    # Substrings every matching event's stored line contains (the pattern's required terms, as
    # JSON encodes them): a line without one is skipped undecoded.
    needles = tuple(_encode(n)[1:-1].encode() for n in getattr(matcher, "needles", ()))
    pos = dict(positions or {})
    heap: list[tuple[int, str, int, int, str, Iterator[_Item]]] = []
    scanned = 0
    items = 0
    stop_at = time.monotonic() + deadline_s
    reached: dict[str, int] = {}

    def spent() -> bool:
        return scanned >= budget or (items & 255 == 0 and time.monotonic() >= stop_at)

    def allowed() -> int:
        return budget - scanned if time.monotonic() < stop_at else 0

    def advance(name: str, it: Iterator[_Item]) -> _Item | None:
        nonlocal scanned, items
        for item in it:
            scanned += item[4]
            items += 1
            reached[name] = item[1]
            t = item[2]
            if t != _SKIPPED and (start_ms is None or t >= start_ms) and (end_ms is None or t < end_ms):
                return item
            if spent():
                break
        return None

    state: dict[str, int] = {}
    out: list[Positioned] = []
    exhausted = False
    for name in names:
        at = pos.get(name, 0)
        if at < 0:
            state[name] = -1
            continue
        if exhausted:
            state[name] = at
            continue
        try:
            segs = listing.get(store._stream_base(name), [])
        except ValueError:
            continue
        it = _scan_filtered(store, group, segs, at, needles, start_ms, end_ms, allowed)
        first = advance(name, it)
        if first is None:
            exhausted = spent()
            state[name] = reached.get(name, at) if exhausted else -1
            continue
        heapq.heappush(heap, (first[2], name, first[0], first[1], first[3], it))
    size = 0
    room = (1 << 62) if max_bytes is None else max_bytes
    while heap and len(out) < limit and size < room:
        t, name, start, end, msg, it = heapq.heappop(heap)
        if matcher(msg):
            out.append(Positioned(start, end, LogEvent(t, msg, name)))
            size += len(msg) + len(name) + FILTER_EVENT_OVERHEAD
        if spent():
            # Out of budget: what was read already is still returned; nothing more is read.
            state[name] = end
            continue
        nxt = advance(name, it)
        if nxt is None:
            state[name] = reached.get(name, end) if spent() else -1
        else:
            heapq.heappush(heap, (nxt[2], name, nxt[0], nxt[1], nxt[3], it))
    for _, name, start, _, _, _ in heap:
        state[name] = start
    if all(v == -1 for v in state.values()):
        return FilterResult(out, None)
    return FilterResult(out, state)
