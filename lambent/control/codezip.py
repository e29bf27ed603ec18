"""Safe handling of deployment packages (.zip): validation and unpacking.

Guest code is hostile, and so is its zip: we refuse entries that would land outside the target
directory (``..``, absolute paths, symlinks pointing out), archives whose declared or real unpacked
size exceeds AWS's 250 MB limit, too many entries, and compression ratios typical of zip bombs.
The real number of bytes written is counted while extracting: headers are not trusted.
"""

from __future__ import annotations

import io
import os
import posixpath
import shutil
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

from lambent.errors import InvalidParameterValue

_UNZIP_ERROR = "Could not unzip uploaded file. Please check your file, then try to upload again."
_CHUNK = 1 << 16


@dataclass(frozen=True)
class ZipLimits:
    unzipped_max_bytes: int = 262_144_000
    max_ratio: int = 200
    max_entries: int = 20_000
    #: Archives that unpack to less than this are never called bombs, whatever their ratio.
    ratio_floor_bytes: int = 16 * 1024 * 1024


def inspect_zip(data: bytes, limits: ZipLimits) -> int:
    """Validate an archive without writing anything; returns its declared unpacked size."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise InvalidParameterValue(_UNZIP_ERROR) from None
    if len(infos) > limits.max_entries:
        raise InvalidParameterValue(f"Zip file has too many entries ({len(infos)} > {limits.max_entries}).")
    total = 0
    for info in infos:
        _check_name(info.filename)
        if _is_symlink(info):
            target = zf.read(info).decode("utf-8", "replace")
            _check_link(info.filename, target)
        total += info.file_size
    if total > limits.unzipped_max_bytes:
        raise InvalidParameterValue(f"Unzipped size must be smaller than {limits.unzipped_max_bytes} bytes")
    compressed = max(1, len(data))
    if total > limits.ratio_floor_bytes and total / compressed > limits.max_ratio:
        raise InvalidParameterValue(
            f"Zip file rejected: compression ratio {total // compressed}:1 exceeds {limits.max_ratio}:1 (zip bomb?)."
        )
    return total


def unpack_zip(data: bytes, dest: Path, limits: ZipLimits) -> int:
    """Extract into ``dest`` (which must not exist); returns bytes written. Files end up world-readable
    and read-only so every sandbox can share them; executables keep their x bit."""
    inspect_zip(data, limits)
    tmp = dest.with_name(dest.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True, mode=0o755)
    written = 0
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for info in zf.infolist():
                rel = _normalise(info.filename)
                if not rel:
                    continue
                target = tmp / rel
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True, mode=0o755)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
                if _is_symlink(info):
                    os.symlink(zf.read(info).decode("utf-8", "replace"), target)
                    continue
                mode = (info.external_attr >> 16) & 0o777
                with zf.open(info) as src, open(target, "wb") as out:
                    while chunk := src.read(_CHUNK):
                        written += len(chunk)
                        if written > limits.unzipped_max_bytes:
                            raise InvalidParameterValue(
                                f"Unzipped size must be smaller than {limits.unzipped_max_bytes} bytes"
                            )
                        out.write(chunk)
                os.chmod(target, 0o755 if mode & 0o111 else 0o644)
        for root, dirs, _files in os.walk(tmp):
            for d in dirs:
                os.chmod(os.path.join(root, d), 0o755)
        os.chmod(tmp, 0o755)
        os.replace(tmp, dest)
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise InvalidParameterValue(_UNZIP_ERROR) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return written


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def _normalise(name: str) -> str:
    return posixpath.normpath(name.replace("\\", "/")).lstrip("/") if name.strip("/") else ""


def _check_name(name: str) -> None:
    clean = name.replace("\\", "/")
    parts = clean.split("/")
    if clean.startswith("/") or ".." in parts or (len(clean) > 1 and clean[1] == ":") or "\x00" in clean:
        raise InvalidParameterValue(f"Zip file rejected: entry '{name}' has an absolute path or '..' component.")


def _check_link(name: str, target: str) -> None:
    if target.startswith("/"):
        raise InvalidParameterValue(f"Zip file rejected: symbolic link '{name}' points outside the package ({target}).")
    base = posixpath.dirname(name.replace("\\", "/"))
    resolved = posixpath.normpath(posixpath.join(base, target))
    if resolved == ".." or resolved.startswith("../"):
        raise InvalidParameterValue(f"Zip file rejected: symbolic link '{name}' points outside the package ({target}).")
