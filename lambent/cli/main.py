"""The ``lambent`` command: one sub-command per module in this package."""

from __future__ import annotations

import argparse
import sys

from lambent.cli import accounts_cmd, deploy_cmd, logs_cmd, queue_cmd, server_cmd, usage_cmd, vpc_cmd


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lambent", description="Self-hosted AWS Lambda.")
    sub = parser.add_subparsers(dest="command", required=True)
    server_cmd.register(sub)
    logs_cmd.register(sub)
    deploy_cmd.register(sub)
    queue_cmd.register(sub)
    accounts_cmd.register(sub)
    usage_cmd.register(sub)
    vpc_cmd.register(sub)
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
