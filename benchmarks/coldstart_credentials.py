"""What execution-role credentials add to a cold start: with them vs a benchmark-only bypass, same run.

Two servers side by side: one as shipped (each new environment gets its role's session: STS seals
the secret, iam.db records the session — issued ahead of need by ``CredentialCache.prefetch`` when
the function is created) and one with ``LAMBENT_WORKER_BENCH_NO_ROLE_CREDENTIALS=1`` (environments
start without credentials and none are issued; everything else, the in-sandbox API listener
included, the same). Interleaved, ``--functions`` times: on each server create a new function
(its own code), wait until Active and until no sandbox is left, then time one synchronous invoke
over an open keep-alive connection; delete it.

Reported: cold start p50 / p90 with credentials and in the bypass, the p50 difference (what the
credentials add; target ≤ 5 ms) and the ratio.

Usage: python benchmarks/coldstart_credentials.py [--functions 10] [--json PATH]
"""

from __future__ import annotations


from _common import (
    FULL_CPU_MEMORY_MB,
    HELLO_HANDLER,
    Figure,
    LambentServer,
    Latency,
    Report,
    SigningClient,
    arg_parser,
    cold_invoke,
    create_function,
    lambda_client,
    unique_names,
)

#: What credentials may add to a cold start's p50 (the session issuing is off the start's path).
ADDED_P50_MAX_MS = 5.0
BYPASS_ENV = {"LAMBENT_WORKER_BENCH_NO_ROLE_CREDENTIALS": "1"}


def _cold_start(srv: LambentServer, lam: object, client: SigningClient, name: str, i: int, problems: list[str]) -> float:
    create_function(lam, name, f"# function {i}: distinct code per function\n{HELLO_HANDLER}",
                    memory_mb=FULL_CPU_MEMORY_MB)
    return cold_invoke(srv, lam, client, name, problems)[0]


def main() -> None:
    parser = arg_parser(__doc__)
    parser.add_argument("--functions", type=int, default=10)
    args = parser.parse_args()
    report = Report("coldstart_credentials", "Cold start with execution-role credentials vs without (bypass), same run")
    problems: list[str] = []
    with LambentServer() as srv, LambentServer(BYPASS_ENV) as bypass:
        runs: dict[str, tuple[LambentServer, object, SigningClient, list[float]]] = {"credentials": (srv, lambda_client(srv.url), SigningClient(srv.port), []),
                "bypass": (bypass, lambda_client(bypass.url), SigningClient(bypass.port), [])}
        try:
            for i, name in enumerate(unique_names("credcold", max(1, args.functions))):
                for label, (server, lam, client, samples) in runs.items():
                    samples.append(_cold_start(server, lam, client, f"{name}-{label[0]}", i, problems))
        finally:
            for _, _, client, _ in runs.values():
                client.close()
    report.note_server(srv)

    with_creds = Latency.of(runs["credentials"][3])
    without = Latency.of(runs["bypass"][3])
    base = "bypass (no credentials)"
    report.add(Figure("cold start p50 with credentials", with_creds.p50_ms, "ms", without.p50_ms, base))
    report.add(Figure("cold start p90 with credentials", with_creds.p90_ms, "ms", without.p90_ms, base))
    report.add(Figure("credentials added to a cold start (p50 difference)", with_creds.p50_ms - without.p50_ms, "ms",
                      max_value=ADDED_P50_MAX_MS))
    report.add(Figure("errors", len(problems), "", max_value=0))
    report.info.update({"functions": args.functions, "with_credentials": with_creds.as_dict(),
                        "bypass": without.as_dict(), "problems": problems})
    report.notes.append(f"{args.functions} new functions per server, interleaved; cold start p50 "
                        f"{with_creds.p50_ms:.1f} ms with credentials vs {without.p50_ms:.1f} ms without")
    for problem in problems[:5]:
        report.notes.append(f"problem: {problem}")
    report.emit(args.json)


if __name__ == "__main__":
    main()
