"""An IAM service on a temporary data dir, with a clock the test moves. Puts this directory's
``iam_fixtures`` on the import path (the suite runs with ``--import-mode=importlib``)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from iam_fixtures import ACCOUNT, ROOT_KEYS, Clock  # noqa: E402

from lambent.iam.service import IamService  # noqa: E402


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def iam(tmp_path: Path, clock: Clock) -> Iterator[IamService]:
    svc = IamService.open_in(tmp_path, ACCOUNT, ROOT_KEYS, clock=clock)
    yield svc
    svc.close()
