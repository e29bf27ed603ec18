"""What authenticating and authorising a warm Invoke costs, against a bypass, same run.

In process, no server. Three callers invoke ``app-api:live`` with the request botocore signs:
the account's root, an IAM user with a realistic 10-statement policy (logs, DynamoDB, S3 with a
policy variable, SQS, Lambda with wildcards and an IP condition, NotAction with a region
condition, two Deny statements, one of them conditional) and a role session (an execution role
with the same 10 statements as its role policy). Compiled policies are cached (``PolicyCache``,
as on a server after the first call). Per caller, interleaved batches of:

* bypass: what the request path does for the call without SigV4 or IAM (resolving the qualified
  function ARN from the params) — the benchmark-only baseline;
* SigV4 only: ``SigV4Verifier.verify`` of the signed request (key looked up in the IAM store),
  then the bypass's work;
* SigV4 + authz: verification, then ``lambent.iam.enforce.authorize`` (table lookup, the ARN,
  the context keys, ``Authorizer.evaluate``, the decision). The root is evaluated too (the
  server's path skips that for the home account's root: this is the upper bound).

Reported: each p50, the delta over the bypass and the ratio; the issue's budget is the SigV4 +
authz delta, at most 100 µs per warm invoke, for every caller (PASS/FAIL). A denied call
(AccessDenied with AWS's message) is shown for information.

Usage: python benchmarks/authz_overhead.py [--requests 20000] [--json PATH]
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import Figure, Report, arg_parser  # noqa: E402

from botocore.auth import SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

from lambent.api.sigv4 import SigV4Verifier  # noqa: E402
from lambent.arns import function_arn, parse_function_name, resolve_qualifier  # noqa: E402
from lambent.errors import AccessDenied  # noqa: E402
from lambent.iam.authorize import Authorizer  # noqa: E402
from lambent.iam.enforce import authorize  # noqa: E402
from lambent.iam.model import OwnerKind  # noqa: E402
from lambent.iam.service import IamService  # noqa: E402

A = "123456789012"
REGION = "us-east-1"
ROOT_KEYS = ("LKIAROOTROOTROOTROOT", "root-secret-root-secret-root-secret-0000")
USER_POLICY: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "Logs", "Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": f"arn:aws:logs:*:{A}:log-group:/aws/lambda/*"},
        {"Sid": "Table", "Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"],
         "Resource": [f"arn:aws:dynamodb:{REGION}:{A}:table/orders", f"arn:aws:dynamodb:{REGION}:{A}:table/orders/index/*"]},
        {"Sid": "Home", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
         "Resource": "arn:aws:s3:::app-data/home/${aws:username}/*"},
        {"Sid": "Queue", "Effect": "Allow", "Action": "sqs:*", "Resource": f"arn:aws:sqs:{REGION}:{A}:orders-*"},
        {"Sid": "Deploy", "Effect": "Allow", "Action": ["lambda:UpdateFunctionCode", "lambda:PublishVersion", "lambda:UpdateAlias"],
         "Resource": f"arn:aws:lambda:{REGION}:{A}:function:app-*", "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}},
        {"Sid": "Schedules", "Effect": "Allow", "Action": "scheduler:*", "Resource": f"arn:aws:scheduler:{REGION}:{A}:schedule/app/*"},
        {"Sid": "ReadOnlyElse", "Effect": "Allow", "NotAction": ["iam:*", "organizations:*", "account:*", "lambda:Invoke*"],
         "Resource": "*", "Condition": {"StringEquals": {"aws:RequestedRegion": REGION}}},
        {"Sid": "Invoke", "Effect": "Allow", "Action": ["lambda:InvokeFunction", "lambda:Get*"],
         "Resource": [f"arn:aws:lambda:{REGION}:{A}:function:app-*"]},
        {"Sid": "NoDeletes", "Effect": "Deny", "Action": ["lambda:DeleteFunction", "dynamodb:DeleteTable", "s3:DeleteBucket"],
         "Resource": "*"},
        {"Sid": "TlsOnly", "Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
    ],
}
PARAMS = {"FunctionName": "app-api", "Qualifier": "live", "Payload": b"{}"}
DENIED = {"FunctionName": "billing", "Payload": b"{}"}


def batched_us(fn: Callable[[], object], batch: int) -> float:
    """Mean per-call time (µs) over one batch (hides the timer's own ~0.1 µs)."""
    t0 = time.perf_counter_ns()
    for _ in range(batch):
        fn()
    return (time.perf_counter_ns() - t0) / batch / 1000


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def main() -> None:
    parser = arg_parser(__doc__)
    parser.add_argument("--requests", type=int, default=20000)
    args = parser.parse_args()
    report = Report("authz_overhead", "SigV4 + authorisation of a warm Invoke (10-statement policy, cached) vs bypass")
    policy = json.dumps(USER_POLICY)
    trust = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})

    with tempfile.TemporaryDirectory(prefix="lambent-authz-") as tmp:
        iam = IamService.open_in(Path(tmp), A, ROOT_KEYS)
        try:
            iam.create_user(A, "bob")
            iam.put_inline_policy(A, OwnerKind.USER, "bob", "app", policy)
            key = iam.create_access_key(A, "bob")
            role = iam.create_role(A, "app-api-role", trust)
            iam.put_inline_policy(A, OwnerKind.ROLE, "app-api-role", "app", policy)
            session, token = iam.issue_session(role, "app-api", 3600)
            callers = {
                "root": (ROOT_KEYS[0], ROOT_KEYS[1], None),
                "user": (key.access_key_id, key.secret_access_key, None),
                "role session": (session.access_key_id, session.secret_access_key, token),
            }
            authorizer = Authorizer(iam)
            verifier = SigV4Verifier(iam.lookup, REGION)
            path, query, body = "/2015-03-31/functions/app-api/invocations", "Qualifier=live", b"{}"

            def bypass() -> None:
                ref = parse_function_name(PARAMS["FunctionName"], create=False)  # type: ignore[arg-type]
                function_arn(REGION, ref.account_id or A, ref.name, resolve_qualifier(ref, PARAMS["Qualifier"]))  # type: ignore[arg-type]

            def runs(key_id: str, secret: str, tok: str | None) -> dict[str, Callable[[], object]]:
                signed = AWSRequest("POST", f"http://localhost:9000{path}?{query}", data=body,
                                    headers={"Content-Type": "application/json", "Host": "localhost:9000"})
                SigV4Auth(Credentials(key_id, secret, tok), "lambda", REGION).add_auth(signed)
                headers = {k.lower(): v for k, v in signed.headers.items()}

                def sigv4_only() -> None:
                    verifier.verify("POST", path, query, headers, body)
                    bypass()

                def sigv4_authz() -> None:
                    principal = verifier.verify("POST", path, query, headers, body).principal
                    authorize(authorizer, principal, "lambda", "Invoke", PARAMS, region=REGION, account=A,
                              source_ip="10.1.2.3", secure_transport=True)

                return {"bypass": bypass, "sigv4": sigv4_only, "sigv4+authz": sigv4_authz}

            bob = iam.lookup(key.access_key_id)
            if bob is None:
                raise SystemExit("the benchmark user's key was not found")

            def denied() -> None:
                try:
                    authorize(authorizer, bob, "lambda", "Invoke", DENIED, region=REGION, account=A,
                              source_ip="10.1.2.3", secure_transport=True)
                except AccessDenied:
                    return
                raise SystemExit("the denied call was allowed")

            plans = {name: runs(*c) for name, c in callers.items()}
            for plan in plans.values():  # warm: compiles and caches the policies, derives the keys
                for fn in plan.values():
                    fn()
            denied()
            batch = 10
            samples: dict[tuple[str, str], list[float]] = {(c, k): [] for c, plan in plans.items() for k in plan}
            deny_us: list[float] = []
            rounds = max(1, args.requests // batch // len(plans))
            for i in range(rounds):  # interleaved: load changes hit all alike
                for c, plan in plans.items():
                    for k, fn in plan.items():
                        samples[(c, k)].append(batched_us(fn, batch))
                if i % 10 == 0:
                    deny_us.append(batched_us(denied, batch))
            hits, misses = authorizer.cache.hits, authorizer.cache.misses
        finally:
            iam.close()

    notes = []
    for c in plans:
        b50 = statistics.median(samples[(c, "bypass")])
        s50 = statistics.median(samples[(c, "sigv4")])
        a50 = statistics.median(samples[(c, "sigv4+authz")])
        report.add(Figure(f"{c}: SigV4 only p50", s50, "µs", b50, "bypass p50 (µs)"))
        report.add(Figure(f"{c}: SigV4 + authz p50", a50, "µs", b50, "bypass p50 (µs)"))
        report.add(Figure(f"{c}: SigV4 + authz p99", pct(samples[(c, "sigv4+authz")], 0.99), "µs",
                          pct(samples[(c, "bypass")], 0.99), "bypass p99 (µs)"))
        report.add(Figure(f"{c}: SigV4 + authz added to a warm invoke (p50 delta)", a50 - b50, "µs", max_value=100.0))
        notes.append(f"{c}: bypass {b50:.2f} µs, SigV4 +{s50 - b50:.1f} µs, SigV4 + authz +{a50 - b50:.1f} µs "
                     f"({a50 / b50:.1f}× the bypass) of the 100 µs budget")
    report.add(Figure("user: authorize() p50 (denied, message built)", statistics.median(deny_us), "µs"))
    report.info.update({"requests": rounds * batch * len(plans), "statements": len(USER_POLICY["Statement"]),
                        "cache_hits": hits, "cache_misses": misses})
    report.notes.extend(notes)
    report.emit(args.json)
    sys.exit(0 if report.passed else 1)


if __name__ == "__main__":
    main()
