"""Shared values and the test clock of the IAM tests (imported by name: see conftest.py)."""

from __future__ import annotations

ACCOUNT = "000000000000"
ROOT_KEYS = ("LKIAROOTROOTROOTROOT", "root-secret-root-secret-root-secret-0000")


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now
