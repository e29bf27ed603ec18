"""Secrets at rest: AES-256-GCM with a key kept outside the database.

The key is ``<data dir>/iam.key`` (32 random bytes, mode 0600), created on first start with
``O_EXCL`` so two starts never write two keys. A key file readable by group or others, or of the
wrong size, is refused rather than used: a leaked key opens every stored secret. Each secret is
sealed with a fresh 96-bit nonce and the row's identity (the access key id) as associated data,
so a sealed secret copied onto another row does not open. Stolen ``iam.db`` alone reveals no
secret; ``iam.db`` with ``iam.key`` reveals all (the threat this does not cover).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from lambent.errors import ServiceError

KEY_FILE = "iam.key"
_KEY_BYTES = 32
_NONCE_BYTES = 12


class SecretBox:
    """Seals and opens secrets with one key. Scope: the IAM service's lifetime."""

    def __init__(self, key: bytes) -> None:
        if len(key) != _KEY_BYTES:
            raise ServiceError(f"the IAM key must be {_KEY_BYTES} bytes")
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "SecretBox(<key hidden>)"

    @classmethod
    def open_in(cls, data_dir: Path) -> SecretBox:
        """The box of ``data_dir``'s key file, creating the key on first use."""
        return cls(load_or_create_key(data_dir / KEY_FILE))

    def seal(self, secret: str, identity: str) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, secret.encode(), identity.encode())

    def unseal(self, sealed: bytes, identity: str) -> str:
        try:
            return self._aead.decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], identity.encode()).decode()
        except (InvalidTag, ValueError):
            # never the secret nor the ciphertext in the message
            raise ServiceError(
                "a stored IAM secret does not open with this data dir's iam.key (the key file was replaced?)",
                identity=identity,
            ) from None


def load_or_create_key(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        return _read_key(path)
    key = AESGCM.generate_key(bit_length=_KEY_BYTES * 8)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
        f.flush()
        os.fsync(f.fileno())
    return key


def _read_key(path: Path) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:  # ELOOP: a symlink, never followed
        raise ServiceError(f"{path} cannot be opened as the IAM key file: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        mode = os.fstat(f.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise ServiceError(f"{path} is not a regular file")
        if mode & 0o077:
            raise ServiceError(f"{path} is readable by others (mode {stat.S_IMODE(mode):o}); chmod 600 it")
        key = f.read(_KEY_BYTES + 1)
    if len(key) != _KEY_BYTES:
        raise ServiceError(f"{path} does not hold a {_KEY_BYTES}-byte key")
    return key
