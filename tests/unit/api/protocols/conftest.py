"""Puts this directory's helpers (``protocols_wire``, ``protocols_gen``) on the import path: the
suite runs with ``--import-mode=importlib``, where test directories are not packages."""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
