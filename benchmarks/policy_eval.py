"""IAM policy evaluation: a compiled 10-statement role policy vs re-parsing it per request.

In process, no server. A realistic Lambda execution/deployer role policy (10 statements: logs,
DynamoDB, S3 with a policy variable, SQS, Lambda with wildcards, two Deny statements with
conditions, NotAction, ARN and IP conditions) is evaluated against a mix of requests that are
allowed by the first statement, allowed by a late one, implicitly denied (every statement
scanned) and explicitly denied. Figures:

* p50 / p99 of ``evaluate`` on the compiled policy (the request context built beforehand, as
  the server builds it once per call), target p50 < 20 µs;
* the same including ``Request.build`` (information);
* baseline, same run: ``json.loads`` + ``compile_policy`` + ``evaluate`` per request (what an
  engine without a compile step or cache pays); the ratio is printed.

Usage: python benchmarks/policy_eval.py [--requests 20000] [--json PATH]
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import Figure, Report, arg_parser  # noqa: E402

from lambent.iam.policy import Caller, PolicyCache, PolicyKind, Request, compile_policy, evaluate  # noqa: E402

A = "123456789012"
ROLE_POLICY: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "Logs", "Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": f"arn:aws:logs:*:{A}:log-group:/aws/lambda/*"},
        {"Sid": "Table", "Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"],
         "Resource": [f"arn:aws:dynamodb:us-east-1:{A}:table/orders", f"arn:aws:dynamodb:us-east-1:{A}:table/orders/index/*"]},
        {"Sid": "Home", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
         "Resource": "arn:aws:s3:::app-data/home/${aws:PrincipalAccount}/*"},
        {"Sid": "Queue", "Effect": "Allow", "Action": "sqs:*", "Resource": f"arn:aws:sqs:us-east-1:{A}:orders-*"},
        {"Sid": "Functions", "Effect": "Allow", "Action": ["lambda:Get*", "lambda:List*", "lambda:InvokeFunction"],
         "Resource": f"arn:aws:lambda:us-east-1:{A}:function:app-*"},
        {"Sid": "Deploy", "Effect": "Allow", "Action": ["lambda:UpdateFunctionCode", "lambda:PublishVersion", "lambda:UpdateAlias"],
         "Resource": f"arn:aws:lambda:us-east-1:{A}:function:app-*", "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}},
        {"Sid": "Schedules", "Effect": "Allow", "Action": "scheduler:*", "Resource": f"arn:aws:scheduler:us-east-1:{A}:schedule/app/*",
         "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:lambda:*:{A}:function:app-*"}}},
        {"Sid": "ReadOnlyElse", "Effect": "Allow", "NotAction": ["iam:*", "organizations:*", "account:*"], "Resource": "*",
         "Condition": {"StringEquals": {"aws:RequestedRegion": "us-east-1"}}},
        {"Sid": "NoDeletes", "Effect": "Deny", "Action": ["lambda:DeleteFunction", "dynamodb:DeleteTable", "s3:DeleteBucket"], "Resource": "*"},
        {"Sid": "TlsOnly", "Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
    ],
}
TEXT = json.dumps(ROLE_POLICY)
CALLER = Caller.role_session(A, "app-role", "i-0abc", "AROAEXAMPLE")
NOW = datetime(2026, 12, 2, tzinfo=timezone.utc)

#: (action, resource, extra context) -> a mix of early allow, late allow, implicit and explicit deny
MIX: list[tuple[str, str, dict[str, Any]]] = [
    ("logs:PutLogEvents", f"arn:aws:logs:us-east-1:{A}:log-group:/aws/lambda/app-api:log-stream:x", {}),
    ("s3:GetObject", f"arn:aws:s3:::app-data/home/{A}/report.csv", {}),
    ("lambda:InvokeFunction", f"arn:aws:lambda:us-east-1:{A}:function:app-api:live", {}),
    ("lambda:UpdateFunctionCode", f"arn:aws:lambda:us-east-1:{A}:function:app-api", {}),
    ("iam:CreateUser", f"arn:aws:iam::{A}:user/mallory", {}),
    ("lambda:DeleteFunction", f"arn:aws:lambda:us-east-1:{A}:function:app-api", {}),
    ("ec2:DescribeInstances", "*", {"aws:RequestedRegion": "us-east-1"}),
    ("sqs:SendMessage", f"arn:aws:sqs:us-east-1:{A}:orders-dlq", {}),
]


def build(action: str, resource: str, extra: dict[str, Any]) -> Request:
    return Request.build(CALLER, action, resource, now=NOW, secure_transport=True, source_ip="10.1.2.3", context=extra)


def per_call_us(fn: Any, batch: int, batches: int) -> list[float]:
    """Per-call times (µs), each the mean of a batch (the timer costs ~0.1 µs, batches hide it)."""
    out = []
    for _ in range(batches):
        t0 = time.perf_counter_ns()
        for _ in range(batch):
            fn()
        out.append((time.perf_counter_ns() - t0) / batch / 1000)
    return out


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def main() -> None:
    parser = arg_parser(__doc__)
    parser.add_argument("--requests", type=int, default=20000)
    args = parser.parse_args()
    report = Report("policy_eval", "IAM policy evaluation: compiled 10-statement role policy vs re-parse per request")

    cache = PolicyCache()
    policies = cache.get(CALLER.arn, 1, lambda shared: [compile_policy(TEXT, PolicyKind.IDENTITY, shared=shared)])
    assert cache.get(CALLER.arn, 1, lambda shared: []) is policies  # noqa: S101 - benchmark sanity, not validation
    requests = [build(*m) for m in MIX]
    decisions = [evaluate(r, policies).decision.value for r in requests]

    def naive(r: Request) -> None:
        evaluate(r, [compile_policy(json.loads(TEXT), PolicyKind.IDENTITY)])

    batch = 10
    compiled: list[float] = []
    built: list[float] = []
    cached: list[float] = []
    baseline: list[float] = []
    load = lambda shared: [compile_policy(TEXT, PolicyKind.IDENTITY, shared=shared)]  # noqa: E731
    rounds = max(1, args.requests // (batch * len(MIX)))
    for _ in range(rounds):  # interleaved, so load changes hit all three alike
        for r, m in zip(requests, MIX, strict=True):
            compiled += per_call_us(lambda r=r: evaluate(r, policies), batch, 1)
            built += per_call_us(lambda m=m: evaluate(build(*m), policies), batch, 1)
            cached += per_call_us(lambda r=r: evaluate(r, cache.get(CALLER.arn, 1, load)), batch, 1)
            baseline += per_call_us(lambda r=r: naive(r), 1, 1) if len(baseline) < len(compiled) // 10 + 1 else []

    p50, p99 = statistics.median(compiled), pct(compiled, 0.99)
    base50 = statistics.median(baseline)
    report.add(Figure("evaluate p50 (compiled, 10 statements)", p50, "µs", base50, "re-parse p50 (µs)", max_value=20.0))
    report.add(Figure("speedup vs re-parse per request (p50 ratio)", base50 / p50, "×", min_value=10.0))
    report.add(Figure("evaluate p99 (compiled)", p99, "µs"))
    report.add(Figure("Request.build + evaluate p50", statistics.median(built), "µs"))
    report.add(Figure("PolicyCache.get (hit) + evaluate p50", statistics.median(cached), "µs"))
    report.info.update({"requests": len(compiled) * batch, "baseline_requests": len(baseline), "mix": [m[0] for m in MIX],
                        "decisions": decisions, "cache_hits": cache.hits, "cache_misses": cache.misses,
                        "speedup_vs_reparse": base50 / p50 if p50 else None})
    report.notes.append(f"compiled is {base50 / p50:.0f}× faster than re-parsing per request (p50 {p50:.2f} µs vs {base50:.1f} µs)")
    report.emit(args.json)
    sys.exit(0 if report.passed else 1)


if __name__ == "__main__":
    main()
