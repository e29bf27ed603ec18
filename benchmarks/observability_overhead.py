"""What recording costs the warm invoke: p50 with metrics (AWS/Lambda, EMF), billing (usage
records) and tracing recorded, against the same server with them switched off, same run.

Two servers run side by side with the same function (it prints one log line and one EMF
document per invocation, so logs and EMF extraction are exercised); one client alternates
rounds of sequential SigV4-signed invokes between them (ABAB..., so drift in the machine's load
hits both alike). Function logs (START/END/REPORT and the printed lines) are written in both:
lambent has no switch for them (the REPORT line is what billing must equal), so their cost is in
both figures. Off means: ``LAMBENT_METRICS_ENABLED=false`` (no AWS/Lambda metrics, no EMF),
``LAMBENT_BILLING_ENABLED=false`` (no usage records) and, when the settings tree has it,
``LAMBENT_TRACING_ENABLED=false``.

Target: p50 on ≤ 1.05 × p50 off (issue 12: "Logs, metrics, traces and billing together add ≤ 5%
to warm invoke p50").

Usage: python benchmarks/observability_overhead.py [--warmup 200] [--rounds 10] [--per-round 300] [--json PATH]
"""

from __future__ import annotations

import time

from _common import (
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


def _off_env() -> dict[str, str]:
    from lambent.settings import Settings

    env = {"LAMBENT_METRICS_ENABLED": "false", "LAMBENT_BILLING_ENABLED": "false"}
    tracing = getattr(Settings(), "tracing", None)
    if tracing is not None and hasattr(tracing, "enabled"):
        env["LAMBENT_TRACING_ENABLED"] = "false"
    return env


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
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--per-round", type=int, default=300)
    args = parser.parse_args()
    rounds, per_round = max(1, min(args.rounds, 100)), max(1, min(args.per_round, 10_000))  # bounded
    off_env = _off_env()
    report = Report("observability_overhead", "Warm invoke p50, recording on vs off (same run, alternating rounds)")
    with LambentServer() as on, LambentServer(off_env) as off:
        (name,) = unique_names("obs", 1)
        clients: dict[str, SigningClient] = {}
        for label, srv in (("on", on), ("off", off)):
            create_function(lambda_client(srv.url), name, HANDLER, memory_mb=FULL_CPU_MEMORY_MB)
            clients[label] = SigningClient(srv.port)
        path = invoke_path(name)
        samples: dict[str, list[float]] = {"on": [], "off": []}
        errors = {"on": 0, "off": 0}
        for label in ("on", "off"):
            _, errors[label] = _round(clients[label], path, args.warmup)
        for r in range(rounds):
            order = ("on", "off") if r % 2 == 0 else ("off", "on")
            for label in order:
                got, bad = _round(clients[label], path, per_round)
                samples[label] += got
                errors[label] += bad
        for c in clients.values():
            c.close()
    lat_on, lat_off = Latency.of(samples["on"]), Latency.of(samples["off"])
    report.add(Figure("p50 recording on", lat_on.p50_ms, "ms", lat_off.p50_ms, "recording off", max_ratio=MAX_RATIO))
    report.add(Figure("p90 recording on", lat_on.p90_ms, "ms", lat_off.p90_ms, "recording off"))
    report.add(Figure("p99 recording on", lat_on.p99_ms, "ms", lat_off.p99_ms, "recording off"))
    report.add(Figure("errors", errors["on"] + errors["off"], "", max_value=0))
    report.info.update({"on": lat_on.as_dict(), "off": lat_off.as_dict(), "off_env": off_env, "rounds": rounds,
                        "per_round": per_round, "warmup": args.warmup})
    report.notes += [
        f"{rounds} rounds of {per_round} sequential invokes per server, alternating ABAB/BABA, after "
        f"{args.warmup} warm-up each; one keep-alive connection per server, every request SigV4-signed",
        "off: " + ", ".join(f"{k}={v}" for k, v in off_env.items()) + "; function logs are written in both",
        "the function prints one line and one EMF document per invocation",
    ]
    report.note_server(on)
    report.emit(args.json)


if __name__ == "__main__":
    main()
