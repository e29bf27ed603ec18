"""What recording costs the warm invoke: p50 with metrics (AWS/Lambda, EMF), billing (usage
records) and tracing recorded, against the same server with them switched off, same run.

Two servers run side by side with the same function (it prints one log line and one EMF
document per invocation, so logs and EMF extraction are exercised); one client alternates
rounds of sequential SigV4-signed invokes between them (ABBA BAAB..., so drift in the machine's
load hits both alike). Function logs (START/END/REPORT and the printed lines) are written in both:
they are the function's output (the REPORT line is what billing must equal), so their cost is in
both figures. Off means every recorder off: ``LAMBENT_METRICS_ENABLED=false`` and
``LAMBENT_METRICS_EMF_ENABLED=false`` (no AWS/Lambda metrics, no EMF), ``LAMBENT_BILLING_ENABLED=false``
(no usage records), ``LAMBENT_TRACING_ENABLED=false`` (no X-Ray daemon, no segments; the trace
header every invocation carries is still made).

Figures: p50 on and off over all rounds (the target: on ≤ 1.05 × off, issue 12: "Logs, metrics,
traces and billing together add ≤ 5% to warm invoke p50"), and the median of the per-round
ratios (each round's p50 on / the adjacent round's p50 off: robust to slow drift on a loaded
machine). Afterwards the "on" server's CloudWatch Invocations sum must equal the invokes it
served (nothing recorded is lost) and the "off" server's must be absent (off really is off).

Bounded: at most 200 rounds of at most 5000 invokes, and rounds stop after ``--max-seconds``
(an even number of rounds always runs, so both orders count alike).

Usage: python benchmarks/observability_overhead.py [--warmup 200] [--rounds 20] [--per-round 200]
       [--max-seconds 900] [--json PATH]
"""

from __future__ import annotations

import statistics
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from _common import (
    ACCESS_KEY,
    REGION,
    SECRET_KEY,
    FULL_CPU_MEMORY_MB,
    ECHO_PAYLOAD,
    Figure,
    LambentServer,
    Latency,
    Report,
    SigningClient,
    arg_parser,
    create_function,
    invoke_path,
    lambda_client,
    unique_names,
)

MAX_RATIO = 1.05
HANDLER = '''
import json, time

def handler(event, context):
    print("processed", context.aws_request_id)
    print(json.dumps({"_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": [{
        "Namespace": "Bench", "Dimensions": [["service"]], "Metrics": [{"Name": "Work", "Unit": "Count"}]}]},
        "service": "bench", "Work": 1}))
    return event
'''


OFF_ENV = {
    "LAMBENT_METRICS_ENABLED": "false",
    "LAMBENT_METRICS_EMF_ENABLED": "false",
    "LAMBENT_BILLING_ENABLED": "false",
    "LAMBENT_TRACING_ENABLED": "false",
}


def _invocations_recorded(url: str, name: str) -> float | None:
    """The Invocations sum CloudWatch on ``url`` has for ``name`` over the last hour (None: no data)."""
    import boto3
    from botocore.config import Config

    cw: Any = boto3.client("cloudwatch", endpoint_url=url, region_name=REGION, aws_access_key_id=ACCESS_KEY,
                           aws_secret_access_key=SECRET_KEY, config=Config(retries={"max_attempts": 0}))
    now = datetime.now(timezone.utc)
    got = cw.get_metric_statistics(Namespace="AWS/Lambda", MetricName="Invocations",
                                   Dimensions=[{"Name": "FunctionName", "Value": name}],
                                   StartTime=now - timedelta(hours=1), EndTime=now + timedelta(minutes=1),
                                   Period=3600 + 120, Statistics=["Sum"])
    points = got.get("Datapoints", [])
    return sum(p["Sum"] for p in points) if points else None


def _round(client: SigningClient, path: str, n: int) -> tuple[list[float], int]:
    samples: list[float] = []
    errors = 0
    headers = {"Content-Type": "application/json"}
    for _ in range(n):
        t0 = time.perf_counter()
        result = client.request("POST", path, ECHO_PAYLOAD, headers)
        samples.append(time.perf_counter() - t0)
        if result.status != 200 or b"x-amz-function-error" in b"".join(k.encode() for k in result.headers):
            errors += 1
    return samples, errors


def main() -> None:
    parser = arg_parser(__doc__)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--per-round", type=int, default=200)
    parser.add_argument("--max-seconds", type=float, default=900.0)
    args = parser.parse_args()
    rounds, per_round = max(2, min(args.rounds, 200)), max(1, min(args.per_round, 5000))  # bounded
    warmup = max(1, min(args.warmup, 5000))
    report = Report("observability_overhead", "Warm invoke p50, recording on vs off (same run, alternating rounds)")
    served = {"on": 0, "off": 0}
    with LambentServer() as on, LambentServer(OFF_ENV) as off:
        (name,) = unique_names("obs", 1)
        clients: dict[str, SigningClient] = {}
        for label, srv in (("on", on), ("off", off)):
            create_function(lambda_client(srv.url), name, HANDLER, memory_mb=FULL_CPU_MEMORY_MB)
            clients[label] = SigningClient(srv.port)
        path = invoke_path(name)
        samples: dict[str, list[float]] = {"on": [], "off": []}
        errors = {"on": 0, "off": 0}
        ratios: list[float] = []
        for label in ("on", "off"):
            _, errors[label] = _round(clients[label], path, warmup)
            served[label] += warmup
        deadline = time.monotonic() + max(1.0, args.max_seconds)
        done = 0
        for r in range(rounds):
            if r % 2 == 0 and r > 0 and time.monotonic() > deadline:
                break  # out of time: stop after a whole pair of rounds
            # ABBA BAAB: each server goes first as often as second
            order = ("on", "off") if r % 4 in (0, 3) else ("off", "on")
            p50: dict[str, float] = {}
            for label in order:
                got, bad = _round(clients[label], path, per_round)
                samples[label] += got
                errors[label] += bad
                served[label] += per_round
                p50[label] = statistics.median(got)
            ratios.append(p50["on"] / p50["off"])
            done += 1
        for c in clients.values():
            c.close()
        recorded_on = _invocations_recorded(on.url, name)
        recorded_off = _invocations_recorded(off.url, name)
        report.note_server(on)
    lat_on, lat_off = Latency.of(samples["on"]), Latency.of(samples["off"])
    report.add(Figure("p50 recording on", lat_on.p50_ms, "ms", lat_off.p50_ms, "recording off", max_ratio=MAX_RATIO))
    report.add(Figure("median of per-round p50 ratios", statistics.median(ratios), "×", 1.0, "off"))
    report.add(Figure("p90 recording on", lat_on.p90_ms, "ms", lat_off.p90_ms, "recording off"))
    report.add(Figure("p99 recording on", lat_on.p99_ms, "ms", lat_off.p99_ms, "recording off"))
    report.add(Figure("errors", errors["on"] + errors["off"], "", max_value=0))
    report.add(Figure("invocations lost by metrics (on)", served["on"] - (recorded_on or 0), "", max_value=0,
                      min_value=0))
    report.add(Figure("invocations recorded with metrics off", recorded_off or 0, "", max_value=0))
    report.info.update({"on": lat_on.as_dict(), "off": lat_off.as_dict(), "off_env": OFF_ENV, "rounds": done,
                        "per_round": per_round, "warmup": warmup, "round_ratios": [round(x, 4) for x in ratios],
                        "served": served})
    report.notes += [
        f"{done} rounds of {per_round} sequential invokes per server, alternating ABBA/BAAB, after "
        f"{warmup} warm-up each; one keep-alive connection per server, every request SigV4-signed",
        "off: " + ", ".join(f"{k}={v}" for k, v in OFF_ENV.items()) + "; function logs are written in both",
        "the function prints one line and one EMF document per invocation",
        "per-invocation costs of each recorder, in process: benchmarks/observability_micro.py",
    ]
    report.emit(args.json)


if __name__ == "__main__":
    main()
