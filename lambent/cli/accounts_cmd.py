"""``lambent accounts``: the operator's commands for the accounts a server hosts.

``lambent accounts create NAME`` adds an account (a random 12-digit id) with a root key pair and
prints ``{"AccountId", "AccessKeyId", "SecretAccessKey"}`` as JSON on stdout — the only time the
secret is shown; ``lambent accounts list`` prints the accounts (never a secret). Both act on the
data dir directly (``--data-dir``, ``LAMBENT_DATA_DIR``: the same directory ``lambent server``
uses), so they need filesystem access to it, not credentials; a running server sees a new
account's keys at once (its key lookup re-reads ``iam.db`` when a key is unknown).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lambent.errors import LambentError
from lambent.iam.service import IamService
from lambent.settings import Settings


def register(sub: Any) -> None:
    p = sub.add_parser("accounts", help="create and list the accounts this server hosts")
    actions = p.add_subparsers(dest="accounts_command", required=True)
    create = actions.add_parser("create", help="create an account with a root key pair (printed once, as JSON)")
    create.add_argument("name", help="a unique name: 1 to 50 letters, digits or +=,.@_- characters")
    create.add_argument("--data-dir", type=Path, default=None, help="state directory (default ./.lambent)")
    create.set_defaults(func=run_create)
    listing = actions.add_parser("list", help="list the accounts (JSON)")
    listing.add_argument("--data-dir", type=Path, default=None, help="state directory (default ./.lambent)")
    listing.set_defaults(func=run_list)


def _open(args: argparse.Namespace) -> IamService:
    settings = Settings.from_env(data_dir=args.data_dir)
    return IamService.open_in(settings.data_dir, settings.account_id)


def run_create(args: argparse.Namespace) -> int:
    try:
        iam = _open(args)
        try:
            account, key = iam.create_account(args.name)
        finally:
            iam.close()
    except LambentError as exc:
        print(f"lambent accounts create: {exc.message}", file=sys.stderr)
        return 1
    print(json.dumps({"AccountId": account.account_id, "AccessKeyId": key.access_key_id,
                      "SecretAccessKey": key.secret_access_key}))
    return 0


def run_list(args: argparse.Namespace) -> int:
    try:
        iam = _open(args)
        try:
            accounts = iam.accounts()
        finally:
            iam.close()
    except LambentError as exc:
        print(f"lambent accounts list: {exc.message}", file=sys.stderr)
        return 1
    print(json.dumps([
        {"AccountId": a.account_id, "Name": a.name,
         "CreateDate": datetime.fromtimestamp(a.created_at, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
        for a in accounts
    ], indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m lambent.cli.accounts_cmd`` (the same as ``lambent accounts``)."""
    parser = argparse.ArgumentParser(prog="lambent")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["accounts", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
