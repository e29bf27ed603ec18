"""Argument types shared by the ``lambent`` commands."""

from __future__ import annotations

import argparse
import re

_ACCOUNT_ID = re.compile(r"\d{12}")


def account_id(value: str) -> str:
    """``--account``: a 12-digit AWS account id (argparse answers anything else with usage, exit 2)."""
    if not _ACCOUNT_ID.fullmatch(value):
        raise argparse.ArgumentTypeError(f"{value[:40]!r} is not a 12-digit account id")
    return value
