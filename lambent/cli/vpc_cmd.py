"""``lambent vpc``: attach a network namespace of this host, or the host itself, to a VPC subnet.

    lambent vpc attach SUBNET_ID --netns NAME [--security-group-ids SG ...]
    lambent vpc attach SUBNET_ID --host [--security-group-ids SG ...]
    lambent vpc detach SUBNET_ID --netns NAME | --host

``attach`` prints ``{"Address": ..., "Gateway": ..., "SubnetId": ..., "NetworkInterfaceId": ...}``:
the namespace gets a veth (``v`` + 8 hex digits of the subnet id) with that address and a default
route via the gateway; ``--host`` puts the address (/32) on the subnet's bridge (bind a service to
it to be reached from the VPC). The attachment is an interface of type ``interface`` in
DescribeNetworkInterfaces, in the VPC's default security group unless groups are given. Only the
server operator's account may attach (the ``lambent`` API's AttachSubnet / DetachSubnet,
IAM actions ``lambent:AttachSubnet`` / ``lambent:DetachSubnet``). Credentials and endpoint as
every API-calling command (:mod:`lambent.cli._client`).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lambent.cli._client import TargetError, add_arguments, client, resolve_args


def register(sub: Any) -> None:
    p = sub.add_parser("vpc", help="attach a network namespace or the host to a VPC subnet",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    verbs = p.add_subparsers(dest="verb", required=True)
    for verb in ("attach", "detach"):
        v = verbs.add_parser(verb, help=f"{verb} a namespace (--netns) or the host (--host)")
        v.add_argument("subnet_id", metavar="SUBNET_ID")
        which = v.add_mutually_exclusive_group(required=True)
        which.add_argument("--netns", metavar="NAME", help="a network namespace of this host (ip netns)")
        which.add_argument("--host", action="store_true", help="the host itself")
        if verb == "attach":
            v.add_argument("--security-group-ids", nargs="+", metavar="SG", default=None,
                           help="security groups of the subnet's VPC (default: its default group)")
        add_arguments(v)
        v.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        target = resolve_args(args)
    except TargetError as exc:
        print(f"lambent vpc: {exc.message}", file=sys.stderr)
        return 1
    api = client(target, "lambent")
    params: dict[str, Any] = {"SubnetId": args.subnet_id}
    if args.host:
        params["Host"] = True
    else:
        params["NetworkNamespace"] = args.netns
    try:
        if args.verb == "attach":
            if args.security_group_ids:
                params["SecurityGroupIds"] = args.security_group_ids
            out = api.attach_subnet(**params)
            print(json.dumps({k: out[k] for k in ("Address", "Gateway", "SubnetId", "NetworkInterfaceId") if k in out}))
        else:
            api.detach_subnet(**params)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        print(f"{error.get('Code', 'Error')}: {error.get('Message', '')}", file=sys.stderr)
        return 1
    except BotoCoreError as exc:
        print(f"lambent vpc: {exc}", file=sys.stderr)
        return 1
    return 0
