"""What authorising a warm Invoke costs: ``lambent.iam.enforce.authorize`` vs a bypass, same run.

In process, no server. An IAM user with a realistic 10-statement policy (logs, DynamoDB, S3 with
a policy variable, SQS, Lambda with wildcards and an IP condition, NotAction with a region
condition, two Deny statements, one of them conditional) invokes ``app-api:live``; its compiled
policies are cached (``PolicyCache``, as on a server after the first call). Figures:

* ``authorize()`` p50 / p99 for Invoke: table lookup, the function ARN from the params, the
  request's global keys, ``Authorizer.evaluate`` (cache hit + engine), the decision;
* baseline, same run, interleaved: the bypass, i.e. what the request path does for the same call
  without authorisation (resolving the qualified function ARN from the params);
* the overhead (p50 difference) of authorisation alone, and of SigV4 verification of the signed
  Invoke request (``SigV4Verifier.verify``, the user's key looked up in the IAM store) plus
  authorisation: the issue's budget, at most 100 µs added to a warm invoke;
* the same for a denied call (AccessDenied built with AWS's message), for information.

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
    report = Report("authz_overhead", "authorize() for a warm Invoke (10-statement user policy, cached) vs bypass")

    with tempfile.TemporaryDirectory(prefix="lambent-authz-") as tmp:
        iam = IamService.open_in(Path(tmp), A, ROOT_KEYS)
        try:
            iam.create_user(A, "bob")
            iam.put_inline_policy(A, OwnerKind.USER, "bob", "app", json.dumps(USER_POLICY))
            key = iam.create_access_key(A, "bob")
            bob = iam.lookup(key.access_key_id)
            if bob is None:
                raise SystemExit("the benchmark user's key was not found")
            authorizer = Authorizer(iam)
            verifier = SigV4Verifier(iam.lookup, REGION)
            path, query, body = "/2015-03-31/functions/app-api/invocations", "Qualifier=live", b"{}"
            signed = AWSRequest("POST", f"http://localhost:9000{path}?{query}", data=body,
                                headers={"Content-Type": "application/json", "Host": "localhost:9000"})
            SigV4Auth(Credentials(key.access_key_id, key.secret_access_key), "lambda", REGION).add_auth(signed)
            headers = {k.lower(): v for k, v in signed.headers.items()}

            def verified() -> None:
                principal = verifier.verify("POST", path, query, headers, body).principal
                authorize(authorizer, principal, "lambda", "Invoke", PARAMS, region=REGION, account=A,
                          source_ip="10.1.2.3", secure_transport=True)

            def allowed() -> None:
                authorize(authorizer, bob, "lambda", "Invoke", PARAMS, region=REGION, account=A,
                          source_ip="10.1.2.3", secure_transport=True)

            def bypass() -> None:
                ref = parse_function_name(PARAMS["FunctionName"], create=False)  # type: ignore[arg-type]
                function_arn(REGION, ref.account_id or A, ref.name, resolve_qualifier(ref, PARAMS["Qualifier"]))  # type: ignore[arg-type]

            def denied() -> None:
                try:
                    authorize(authorizer, bob, "lambda", "Invoke", DENIED, region=REGION, account=A,
                              source_ip="10.1.2.3", secure_transport=True)
                except AccessDenied:
                    return
                raise SystemExit("the denied call was allowed")

            allowed()  # warm: compiles and caches bob's policies
            verified()  # and the signing key
            batch = 10
            auth_us: list[float] = []
            base_us: list[float] = []
            deny_us: list[float] = []
            sig_us: list[float] = []
            for _ in range(max(1, args.requests // batch)):  # interleaved: load changes hit all alike
                auth_us.append(batched_us(allowed, batch))
                base_us.append(batched_us(bypass, batch))
                sig_us.append(batched_us(verified, batch))
                if len(deny_us) * 10 < len(auth_us):
                    deny_us.append(batched_us(denied, batch))
            hits, misses = authorizer.cache.hits, authorizer.cache.misses
        finally:
            iam.close()

    p50, p99 = statistics.median(auth_us), pct(auth_us, 0.99)
    b50, b99 = statistics.median(base_us), pct(base_us, 0.99)
    overhead = p50 - b50
    total = statistics.median(sig_us) - b50
    report.add(Figure("authorize() Invoke p50 (allowed)", p50, "µs", b50, "bypass p50 (µs)"))
    report.add(Figure("authorize() Invoke p99 (allowed)", p99, "µs", b99, "bypass p99 (µs)"))
    report.add(Figure("authorisation overhead per warm invoke (p50 difference)", overhead, "µs"))
    report.add(Figure("SigV4 verify + authorize overhead per warm invoke (p50 difference)", total, "µs", max_value=100.0))
    report.add(Figure("SigV4 verify + authorize p99", pct(sig_us, 0.99), "µs"))
    report.add(Figure("authorize() Invoke p50 (denied, message built)", statistics.median(deny_us), "µs"))
    report.info.update({"requests": len(auth_us) * batch, "statements": len(USER_POLICY["Statement"]),
                        "cache_hits": hits, "cache_misses": misses, "ratio_p50": p50 / b50 if b50 else None})
    report.notes.append(f"authorize() p50 {p50:.2f} µs vs bypass {b50:.2f} µs ({p50 / b50:.1f}×); "
                        f"overhead {overhead:.1f} µs; with SigV4 verification {total:.1f} µs of the 100 µs budget")
    report.emit(args.json)
    sys.exit(0 if report.passed else 1)


if __name__ == "__main__":
    main()
