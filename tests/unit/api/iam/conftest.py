"""Puts ``iam_wire`` on the import path; an IamService on a temporary data dir."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from lambent.iam.service import IamService  # noqa: E402

ACCOUNT = "000000000000"


@pytest.fixture
def iam(tmp_path: Path) -> Iterator[IamService]:
    svc = IamService.open_in(tmp_path, ACCOUNT, ("LKIAROOTROOTROOTROOT", "r" * 40))
    yield svc
    svc.close()
