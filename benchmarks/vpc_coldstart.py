"""Cold start of a function in a VPC, against the same function on the default network and with
the network off, in the same run.

Two servers: one with ``LAMBENT_NETWORK_ENABLED`` and ``LAMBENT_VPC_NETWORK_ENABLED`` off, one with it and ``LAMBENT_VPC_NETWORK_ENABLED``
on (DNS upstream pointed at a
loopback port nothing answers: no packet leaves the machine). On the second, a VPC (10.240.0.0/16)
with two /24 subnets and a security group is made through the EC2 API, and an execution role with
AWSLambdaVPCAccessExecutionRole. Then, interleaved (so that load drifts hit every arm alike), for
each of ``--functions`` rounds: a new function per arm (its own code), one cold invoke each,
timed on the client over an open keep-alive connection, the function deleted and its sandbox
waited out before the next cold start.

Figures: cold start p50 of each arm; the VPC's added p50 (VPC minus default network, target
≤ 3 ms, issue 11: PASS/FAIL in the table), the VPC minus the network off, and the default network
minus the network off (information); p90s. The deltas are of p50s of interleaved arms of one run.

Usage: python benchmarks/vpc_coldstart.py [--functions 15] [--json PATH]
"""

from __future__ import annotations

import json
from typing import Any

import boto3

from _common import (
    ACCESS_KEY,
    FULL_CPU_MEMORY_MB,
    HELLO_HANDLER,
    REGION,
    RUNTIME,
    SECRET_KEY,
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
    zip_bytes,
)

ADDED_MAX_MS = 3.0
VPC_ROLE = "vpc-bench"
VPC_ACCESS = "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
NETWORK_ON = {"LAMBENT_NETWORK_ENABLED": "1", "LAMBENT_VPC_NETWORK_ENABLED": "1", "LAMBENT_NETWORK_DNS_UPSTREAM": "127.0.0.1:9"}
#: both networks off (the VPC network is on by default)
NETWORK_OFF = {"LAMBENT_NETWORK_ENABLED": "0", "LAMBENT_VPC_NETWORK_ENABLED": "0"}


def _client(service: str, url: str) -> Any:
    return boto3.client(service, endpoint_url=url, region_name=REGION, aws_access_key_id=ACCESS_KEY,
                        aws_secret_access_key=SECRET_KEY)


def _vpc_setup(url: str) -> tuple[str, dict[str, Any]]:
    """(the VPC role's ARN, the VpcConfig) on the server at ``url``."""
    iam, ec2 = _client("iam", url), _client("ec2", url)
    role = iam.create_role(RoleName=VPC_ROLE, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    iam.attach_role_policy(RoleName=VPC_ROLE, PolicyArn=VPC_ACCESS)
    vpc = ec2.create_vpc(CidrBlock="10.240.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.240.{i}.0/24")["Subnet"]["SubnetId"] for i in (1, 2)]
    group = ec2.create_security_group(VpcId=vpc, GroupName="bench", Description="bench")["GroupId"]
    return role, {"SubnetIds": subnets, "SecurityGroupIds": [group]}


def _create_vpc_function(lam: Any, name: str, source: str, role: str, vpc: dict[str, Any]) -> None:
    lam.create_function(FunctionName=name, Runtime=RUNTIME, Role=role, Handler="app.handler",
                        Code={"ZipFile": zip_bytes({"app.py": source})}, MemorySize=FULL_CPU_MEMORY_MB, Timeout=30,
                        VpcConfig=vpc)
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 600})


def _one_cold_start(srv: LambentServer, lam: Any, client: SigningClient, name: str,
                    problems: list[str]) -> float | None:
    """Seconds of one cold invoke of ``name`` (None, and a problem noted, if it failed)."""
    elapsed, ok = cold_invoke(srv, lam, client, name, problems)
    return elapsed if ok else None


def main() -> None:
    parser = arg_parser(__doc__)
    parser.add_argument("--functions", type=int, default=15, help="cold starts per arm")
    args = parser.parse_args()
    report = Report("vpc_coldstart", f"Cold start with VpcConfig vs the default network vs no network, "
                                     f"MemorySize={FULL_CPU_MEMORY_MB} MB")
    off: list[float | None] = []
    on: list[float | None] = []
    vpc_arm: list[float | None] = []
    problems: list[str] = []
    with LambentServer(NETWORK_OFF) as bare, LambentServer(NETWORK_ON) as net:
        bare_lam, net_lam = lambda_client(bare.url), lambda_client(net.url)
        bare_client, net_client = SigningClient(bare.port), SigningClient(net.port)
        role, vpc = _vpc_setup(net.url)
        for i, (a, b, c) in enumerate(zip(unique_names("off", args.functions), unique_names("on", args.functions),
                                          unique_names("vpc", args.functions), strict=True)):
            source = f"# round {i}: distinct code per function\n{HELLO_HANDLER}"
            create_function(bare_lam, a, source)
            off.append(_one_cold_start(bare, bare_lam, bare_client, a, problems))
            create_function(net_lam, b, source + "# default network\n")
            on.append(_one_cold_start(net, net_lam, net_client, b, problems))
            _create_vpc_function(net_lam, c, source + "# in a VPC\n", role, vpc)
            vpc_arm.append(_one_cold_start(net, net_lam, net_client, c, problems))
        bare_client.close()
        net_client.close()
        report.note_server(net)

    lat_off, lat_on, lat_vpc = (Latency.of([s for s in arm if s is not None] or [float("nan")])
                                for arm in (off, on, vpc_arm))
    report.add(Figure("VPC cold start p50", lat_vpc.p50_ms, "ms", lat_on.p50_ms, "default network p50",
                      max_value=lat_on.p50_ms + ADDED_MAX_MS))
    report.add(Figure("added by the VPC (p50 VPC - default network)", lat_vpc.p50_ms - lat_on.p50_ms, "ms",
                      max_value=ADDED_MAX_MS))
    report.add(Figure("added by the VPC over no network (p50 VPC - network off)", lat_vpc.p50_ms - lat_off.p50_ms,
                      "ms"))
    report.add(Figure("added by the default network (p50 default - network off)", lat_on.p50_ms - lat_off.p50_ms,
                      "ms"))
    report.add(Figure("VPC cold start p90", lat_vpc.p90_ms, "ms", lat_on.p90_ms, "default network p90"))
    report.add(Figure("default network cold start p50", lat_on.p50_ms, "ms", lat_off.p50_ms, "network off p50"))
    report.add(Figure("errors", len(problems), "", max_value=0))
    report.info.update({"functions_per_arm": args.functions, "network_off": lat_off.as_dict(),
                        "default_network": lat_on.as_dict(), "vpc": lat_vpc.as_dict(), "problems": problems})
    report.notes += [
        f"{args.functions} rounds, each: one new function per arm, one cold invoke each (interleaved arms)",
        f"target: the VPC arm's p50 at most {ADDED_MAX_MS} ms over the default network's, same run",
    ]
    for problem in problems[:5]:
        report.notes.append(f"problem: {problem}")
    report.emit(args.json)


if __name__ == "__main__":
    main()
