"""Warm synchronous invoke latency of a Python echo function, against a raw HTTP echo server.

One client, sequential requests over one keep-alive connection (TCP_NODELAY), each request
SigV4-signed by botocore's signer. The same client, signing included, hits the baseline: a raw
uvloop + httptools echo server in its own process (``_echo_server.py``). The ratio therefore
isolates what lambent does per invoke: verify the signature, route, hand the event to a warm
(thawed) sandbox over its Runtime API, wait for the response, freeze the sandbox again.

The function runs with MemorySize=1769 (one full vCPU; CPU is proportional to memory). For
reference, the same invoke through an unmodified boto3 client is reported too (no target).

Targets: p50 ≤ 1.5 ms and ≤ 6× the echo p50; p99 ≤ 6 ms.

Usage: python benchmarks/warm_invoke.py [--warmup 300] [--requests 3000] [--boto3-requests 1000] [--json PATH]
"""

from __future__ import annotations

import time
from typing import Any

from _common import (
    ECHO_HANDLER,
    ECHO_PAYLOAD,
    FULL_CPU_MEMORY_MB,
    EchoServer,
    Figure,
    LambentServer,
    Latency,
    Report,
    SigningClient,
    arg_parser,
    create_function,
    invoke_path,
    is_echo,
    lambda_client,
    unique_names,
)

P50_MAX_MS = 1.5
P50_MAX_RATIO = 6.0
P99_MAX_MS = 6.0


def _run(client: SigningClient, path: str, warmup: int, requests: int) -> tuple[list[float], int]:
    """``warmup`` then ``requests`` sequential POSTs; returns latencies (s) and the error count."""
    errors = 0
    samples: list[float] = []
    headers = {"Content-Type": "application/json"}
    for i in range(warmup + requests):
        t0 = time.perf_counter()
        result = client.request("POST", path, ECHO_PAYLOAD, headers)
        elapsed = time.perf_counter() - t0
        if result.status != 200 or not is_echo(result.body):
            errors += 1
            if errors <= 3:
                print(f"unexpected response: {result.status} {result.body[:200]!r}")
        if i >= warmup:
            samples.append(elapsed)
    return samples, errors


def _boto3_run(lam: Any, name: str, warmup: int, requests: int) -> list[float]:
    samples = []
    for i in range(warmup + requests):
        t0 = time.perf_counter()
        resp = lam.invoke(FunctionName=name, Payload=ECHO_PAYLOAD)
        resp["Payload"].read()
        elapsed = time.perf_counter() - t0
        if resp.get("FunctionError"):
            raise RuntimeError(f"function error through boto3: {resp}")
        if i >= warmup:
            samples.append(elapsed)
    return samples


def main() -> None:
    parser = arg_parser(__doc__)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--boto3-requests", type=int, default=1000)
    args = parser.parse_args()

    report = Report("warm_invoke", f"Warm sync invoke, Python echo, MemorySize={FULL_CPU_MEMORY_MB} MB (1 vCPU)")
    with LambentServer() as srv:
        (name,) = unique_names("warm", 1)
        lam = lambda_client(srv.url)
        create_function(lam, name, ECHO_HANDLER, memory_mb=FULL_CPU_MEMORY_MB)
        path = invoke_path(name)

        # Baseline first, in the same run, with the lambent server up but idle.
        with EchoServer() as echo:
            client = SigningClient(echo.port)
            cpu0 = echo.cpu_s()
            echo_samples, echo_errors = _run(client, path, args.warmup, args.requests)
            echo_cpu_us = (echo.cpu_s() - cpu0) / (args.warmup + args.requests) * 1e6
            client.close()
        echo_lat = Latency.of(echo_samples)

        client = SigningClient(srv.port)
        # Warm-up first (includes the one cold start), then measure CPU over the measured part.
        _, warmup_errors = _run(client, path, args.warmup, 0)
        environments = len(srv.sandboxes())
        cpu0, sb0 = srv.cpu_s(), srv.sandbox_cpu_s()
        samples, errors = _run(client, path, 0, args.requests)
        errors += warmup_errors
        server_cpu_us = (srv.cpu_s() - cpu0) / args.requests * 1e6
        sandbox_cpu_us = (srv.sandbox_cpu_s() - sb0) / args.requests * 1e6
        reconnects = client.reconnects
        client.close()
        lat = Latency.of(samples)

        boto_samples = _boto3_run(lam, name, min(args.warmup, 100), args.boto3_requests)
        boto_lat = Latency.of(boto_samples)
        signing_us = SigningClient(srv.port).signing_cost_us()

    base = "raw echo"
    report.add(Figure("p50", lat.p50_ms, "ms", echo_lat.p50_ms, base, max_value=P50_MAX_MS, max_ratio=P50_MAX_RATIO))
    report.add(Figure("p90", lat.p90_ms, "ms", echo_lat.p90_ms, base))
    report.add(Figure("p99", lat.p99_ms, "ms", echo_lat.p99_ms, base, max_value=P99_MAX_MS))
    report.add(Figure("mean", lat.mean_ms, "ms", echo_lat.mean_ms, base))
    report.add(Figure("errors", errors, "", echo_errors, base, max_value=0))
    report.add(Figure("server CPU / invoke", server_cpu_us, "µs", echo_cpu_us, "echo CPU/req"))
    report.add(Figure("sandbox CPU / invoke", sandbox_cpu_us, "µs"))
    report.add(Figure("boto3 p50 (reference)", boto_lat.p50_ms, "ms", lat.p50_ms, "raw client"))
    report.add(Figure("boto3 p99 (reference)", boto_lat.p99_ms, "ms", lat.p99_ms, "raw client"))
    report.info.update(
        {
            "memory_mb": FULL_CPU_MEMORY_MB,
            "warmup": args.warmup,
            "requests": args.requests,
            "lambent": lat.as_dict(),
            "echo": echo_lat.as_dict(),
            "boto3": boto_lat.as_dict(),
            "server_cpu_us_per_invoke": round(server_cpu_us, 1),
            "sandbox_cpu_us_per_invoke": round(sandbox_cpu_us, 1),
            "echo_cpu_us_per_request": round(echo_cpu_us, 1),
            "client_signing_us_per_request": round(signing_us, 1),
            "environments_after_warmup": environments,
            "client_reconnects": reconnects,
        }
    )
    report.notes += [
        f"{args.requests} sequential requests after {args.warmup} warm-up, one keep-alive connection, "
        f"TCP_NODELAY, every request SigV4-signed (signing costs the client {signing_us:.0f} µs, "
        "in both figure and baseline)",
        "baseline: raw uvloop+httptools echo server in its own process, same client, same requests",
        f"environments after warm-up: {environments} (expected 1)",
        "server CPU / invoke: the lambent server process only, from /proc/<pid>/stat (10 ms ticks over the "
        "whole run); sandbox CPU / invoke: the sandbox's cgroup (bwrap init + runtime + handler)",
    ]
    report.note_server(srv)
    report.emit(args.json)


if __name__ == "__main__":
    main()
