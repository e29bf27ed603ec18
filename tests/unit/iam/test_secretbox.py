"""Secrets at rest: the key file's creation and refusals, and sealed values bound to their row."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lambent.errors import ServiceError
from lambent.iam.secretbox import SecretBox


def test_the_key_file_is_created_once_private_and_reused(tmp_path: Path) -> None:
    box = SecretBox.open_in(tmp_path)
    key_file = tmp_path / "iam.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    first = key_file.read_bytes()
    sealed = box.seal("s3cr3t", "AKIA1")
    again = SecretBox.open_in(tmp_path)
    assert key_file.read_bytes() == first
    assert again.unseal(sealed, "AKIA1") == "s3cr3t"
    assert "s3cr3t" not in repr(box) and first.hex() not in repr(box)


def test_a_sealed_secret_opens_only_on_its_own_row(tmp_path: Path) -> None:
    box = SecretBox.open_in(tmp_path)
    sealed = box.seal("s3cr3t", "AKIA1")
    assert b"s3cr3t" not in sealed
    assert box.seal("s3cr3t", "AKIA1") != sealed  # a fresh nonce each time
    with pytest.raises(ServiceError) as caught:
        box.unseal(sealed, "AKIA2")
    assert "s3cr3t" not in caught.value.message
    with pytest.raises(ServiceError):
        box.unseal(sealed[:-1] + bytes([sealed[-1] ^ 1]), "AKIA1")


def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    SecretBox.open_in(tmp_path)
    os.chmod(tmp_path / "iam.key", 0o644)
    with pytest.raises(ServiceError) as caught:
        SecretBox.open_in(tmp_path)
    assert "chmod 600" in caught.value.message


def test_a_truncated_key_file_or_a_symlink_is_refused(tmp_path: Path) -> None:
    key_file = tmp_path / "iam.key"
    key_file.write_bytes(b"short")
    key_file.chmod(0o600)
    with pytest.raises(ServiceError) as caught:
        SecretBox.open_in(tmp_path)
    assert "32-byte key" in caught.value.message
    key_file.unlink()
    target = tmp_path / "elsewhere"
    target.write_bytes(b"x" * 32)
    target.chmod(0o600)
    key_file.symlink_to(target)
    with pytest.raises(ServiceError) as link:
        SecretBox.open_in(tmp_path)
    assert "cannot be opened" in link.value.message
