"""Safe deployments against the real server: every strategy on a scaled clock, hooks, the
error-rate alarm, manual stop, a restart in the middle of a canary, and the ``lambent deploy`` CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError
from harness import ACCESS_KEY, SECRET_KEY, Server, create_function, zip_of

from lambent.cli.deploy_cmd import ApiError, Client

API = "/lambent/2026-11-27/deployments"
#: 10 strategy minutes last 0.3 s: LambdaLinear10PercentEvery10Minutes takes 2.7 s.
FAST = "0.0005"


def code(v: int, fail_every: tuple[int, ...] = ()) -> dict[str, str]:
    """Version ``v``'s handler; it raises on the invocations whose number (per environment,
    modulo 10) is in ``fail_every``."""
    return {"app.py": (
        "n = 0\n"
        "def handler(e, c):\n"
        "    global n\n"
        "    n += 1\n"
        f"    if n % 10 in {fail_every!r}:\n"
        "        raise RuntimeError('bad release')\n"
        f"    return {{'v': {v}}}\n"
    )}


def two_versions(lam: Any, v2: dict[str, str] | None = None) -> str:
    """A function with versions 1 and 2 and alias ``live`` -> 1."""
    name = create_function(lam, code(1))
    lam.publish_version(FunctionName=name)
    lam.update_function_code(FunctionName=name, ZipFile=zip_of(v2 or code(2)))
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})
    assert lam.publish_version(FunctionName=name)["Version"] == "2"
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    return name


def api(srv: Server) -> Client:
    return Client(srv.url, ACCESS_KEY, SECRET_KEY, "us-east-1")


def create(srv: Server, name: str, **body: Any) -> dict[str, Any]:
    d: dict[str, Any] = api(srv).call("POST", API, {"FunctionName": name, "Alias": "live", "TargetVersion": "2", **body})["Deployment"]
    return d


def describe(srv: Server, deployment_id: str) -> dict[str, Any]:
    d: dict[str, Any] = api(srv).call("GET", f"{API}/{deployment_id}")["Deployment"]
    return d


def wait_done(srv: Server, deployment_id: str, timeout_s: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        d = describe(srv, deployment_id)
        if d["Status"] != "InProgress":
            return d
        assert time.monotonic() < deadline, d
        time.sleep(0.05)


def shifts(d: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["Details"] for e in d["Events"] if e["Type"] == "TrafficShifted"]


def alias_state(lam: Any, name: str) -> tuple[str, dict[str, float]]:
    a = lam.get_alias(FunctionName=name, Name="live")
    return a["FunctionVersion"], a.get("RoutingConfig", {}).get("AdditionalVersionWeights", {})


def cli(srv: Server, *args: str, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LAMBENT_ROOT_ACCESS_KEY_ID": ACCESS_KEY, "LAMBENT_ROOT_SECRET_ACCESS_KEY": SECRET_KEY,
           "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "lambent.cli.main", "deploy", *args, "--endpoint-url", srv.url],
                          env=env, capture_output=True, text=True, timeout=timeout_s, check=False)


# -- strategies ------------------------------------------------------------------------------------
STRATEGIES: list[tuple[dict[str, Any], list[int], float]] = [
    # (request fields, expected weights in %, interval in strategy minutes)
    ({"DeploymentConfigName": "LambdaAllAtOnce"}, [100], 0),
    ({"DeploymentConfigName": "LambdaCanary10Percent5Minutes"}, [10, 100], 5),
    ({"DeploymentConfigName": "LambdaCanary10Percent10Minutes"}, [10, 100], 10),
    ({"DeploymentConfigName": "LambdaCanary10Percent15Minutes"}, [10, 100], 15),
    ({"DeploymentConfigName": "CodeDeployDefault.LambdaCanary10Percent30Minutes"}, [10, 100], 30),
    ({"DeploymentConfigName": "LambdaLinear10PercentEvery1Minute"}, list(range(10, 101, 10)), 1),
    ({"DeploymentConfigName": "LambdaLinear10PercentEvery2Minutes"}, list(range(10, 101, 10)), 2),
    ({"DeploymentConfigName": "LambdaLinear10PercentEvery3Minutes"}, list(range(10, 101, 10)), 3),
    ({"DeploymentConfigName": "LambdaLinear10PercentEvery10Minutes"}, list(range(10, 101, 10)), 10),
    ({"DeploymentConfigName": "Canary25Percent3Minutes"}, [25, 100], 3),
    ({"DeploymentConfigName": "Linear20PercentEvery2Minutes"}, [20, 40, 60, 80, 100], 2),
    ({"TrafficRoutingConfig": {"Type": "TimeBasedLinear", "TimeBasedLinear": {"LinearPercentage": 30, "LinearInterval": 4}}},
     [30, 60, 90, 100], 4),
]


def test_every_strategy_shifts_the_alias_through_its_steps(fresh_server: Any) -> None:
    # Given a server whose strategy minutes last 30 ms, and one function per strategy
    srv = fresh_server(LAMBENT_DEPLOY_TIME_SCALE=FAST)
    lam = srv.client()
    names = [two_versions(lam) for _ in STRATEGIES]
    # When each is deployed (all at the same time)
    started = [create(srv, name, **fields) for name, (fields, _, _) in zip(names, STRATEGIES, strict=False)]
    for (fields, weights, minutes), name, d in zip(STRATEGIES, names, started, strict=False):
        assert d["Status"] == "InProgress" and d["CurrentVersion"] == "1" and d["TargetVersion"] == "2"
        d = wait_done(srv, d["DeploymentId"])
        label = fields.get("DeploymentConfigName", "custom")
        # Then it succeeded, through exactly its steps, each alias state as UpdateAlias leaves it
        assert d["Status"] == "Succeeded", (label, d)
        steps = shifts(d)
        assert [round(s["Weight"] * 100) for s in steps] == weights, label
        for s in steps:
            expected = ("2", {}) if s["Weight"] == 1.0 else ("1", {"2": s["Weight"]})
            assert (s["FunctionVersion"], s["AdditionalVersionWeights"]) == expected, label
        # on its schedule: never before a step is due, due times `interval` apart
        interval_s = minutes * 60 * float(FAST)
        applied = [st["AppliedTime"] for st in d["Steps"]]
        due = [st["DueTime"] for st in d["Steps"]]
        assert all(a >= t - 1e-6 for a, t in zip(applied, due, strict=False)), label
        assert due == pytest.approx([d["TrafficShiftStartTime"] + k * interval_s for k in range(len(weights))]), label
        assert applied[-1] - due[-1] < 2.0, label
        # and the alias now points at version 2 with no routing
        assert alias_state(lam, name) == ("2", {}), label
        assert d["CurrentWeight"] == 1.0 and d["LifecycleEvent"] == "End"
    listed = api(srv).call("GET", API, query={"FunctionName": names[1]})["Deployments"]
    assert [x["DeploymentId"] for x in listed] == [started[1]["DeploymentId"]]


# -- hooks -----------------------------------------------------------------------------------------
HOOK_OK = {"app.py": "def handler(e, c):\n    return {'status': 'Succeeded', 'seen': e}\n"}
HOOK_FAILED = {"app.py": "def handler(e, c):\n    return {'status': 'Failed'}\n"}
HOOK_RAISES = {"app.py": "def handler(e, c):\n    raise ValueError('smoke test failed')\n"}


def test_hooks(fresh_server: Any) -> None:
    srv = fresh_server(LAMBENT_DEPLOY_TIME_SCALE=FAST)
    lam = srv.client()
    ok, failed, raises = (create_function(lam, h) for h in (HOOK_OK, HOOK_FAILED, HOOK_RAISES))

    # Given a pre-traffic hook that raises: the deployment rolls back before any traffic moved
    name = two_versions(lam)
    revision = lam.get_alias(FunctionName=name, Name="live")["RevisionId"]
    d = wait_done(srv, create(srv, name, DeploymentConfigName="LambdaCanary10Percent5Minutes",
                              Hooks={"BeforeAllowTraffic": raises})["DeploymentId"])
    assert d["Status"] == "RolledBack"
    assert d["ErrorInformation"]["Code"] == "HOOK_EXECUTION_FAILURE"
    assert "smoke test failed" in d["ErrorInformation"]["Message"]
    assert shifts(d) == []
    assert alias_state(lam, name) == ("1", {})
    assert lam.get_alias(FunctionName=name, Name="live")["RevisionId"] == revision  # never touched

    # Given a post-traffic hook that reports Failed: traffic went to 100 %, then came back
    name = two_versions(lam)
    d = wait_done(srv, create(srv, name, DeploymentConfigName="LambdaCanary10Percent5Minutes",
                              Hooks={"BeforeAllowTraffic": ok, "AfterAllowTraffic": failed})["DeploymentId"])
    assert d["Status"] == "RolledBack" and d["ErrorInformation"]["Code"] == "HOOK_EXECUTION_FAILURE"
    assert [s["Weight"] for s in shifts(d)] == [0.1, 1.0]
    types = [e["Type"] for e in d["Events"]]
    assert types[-4:] == ["HookFailed", "RollbackStarted", "RollbackCompleted", "RolledBack"]
    assert alias_state(lam, name) == ("1", {})

    # Given hooks that pass: they get CodeDeploy's payload, before and after the shift
    name = two_versions(lam)
    d = wait_done(srv, create(srv, name, DeploymentConfigName="LambdaLinear10PercentEvery1Minute",
                              Hooks={"BeforeAllowTraffic": ok, "AfterAllowTraffic": ok})["DeploymentId"])
    assert d["Status"] == "Succeeded"
    types = [e["Type"] for e in d["Events"]]
    assert types.index("HookSucceeded") < types.index("TrafficShifted")
    assert types[-3:] == ["HookStarted", "HookSucceeded", "Succeeded"]
    hooks = [e["Details"] for e in d["Events"] if e["Type"] == "HookSucceeded"]
    seen = [json.loads(h["Response"])["seen"] for h in hooks]
    assert [s["LifecycleEvent"] for s in seen] == ["BeforeAllowTraffic", "AfterAllowTraffic"]
    assert all(s["DeploymentId"] == d["DeploymentId"] for s in seen)
    assert seen[0]["LifecycleEventHookExecutionId"] != seen[1]["LifecycleEventHookExecutionId"]
    assert alias_state(lam, name) == ("2", {})

    # A hook that does not exist is refused up front
    with pytest.raises(ApiError) as exc:
        create(srv, name, TargetVersion="1", Hooks={"BeforeAllowTraffic": "no-such-hook"})
    assert exc.value.code == "ResourceNotFoundException"


# -- alarm -----------------------------------------------------------------------------------------
def test_error_rate_alarm_rolls_back(fresh_server: Any) -> None:
    # Given a version 2 that fails 30 % of its invocations, deployed as a 30-minute canary
    # (18 s here) with a 5 % error-rate alarm evaluated every 0.1 s
    srv = fresh_server(LAMBENT_DEPLOY_TIME_SCALE="0.01", LAMBENT_DEPLOY_ALARM_POLL_S="0.1")
    lam = srv.client()
    name = two_versions(lam, code(2, fail_every=(1, 4, 7)))
    d = create(srv, name, DeploymentConfigName="LambdaCanary10Percent30Minutes",
               AlarmConfiguration={"ErrorRateThreshold": 0.05})
    assert d["AlarmConfiguration"]["MinimumInvocations"] == 20  # the server's default
    # When traffic goes through the alias meanwhile
    done = threading.Event()
    executed: list[str] = []

    def drive() -> None:
        while not done.is_set():
            resp = lam.invoke(FunctionName=name, Qualifier="live", Payload=b"{}")
            resp["Payload"].read()
            executed.append(resp["ExecutedVersion"])

    threads = [threading.Thread(target=drive) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        d = wait_done(srv, d["DeploymentId"], timeout_s=60)
    finally:
        done.set()
        for t in threads:
            t.join()
    # Then the alarm fired during the canary and the alias is back on version 1
    assert d["Status"] == "RolledBack", d
    assert d["ErrorInformation"]["Code"] == "ALARM_ACTIVE"
    alarm = next(e["Details"] for e in d["Events"] if e["Type"] == "AlarmTriggered")
    assert alarm["Invocations"] >= 20 and alarm["ErrorRate"] > 0.05
    assert [s["Weight"] for s in shifts(d)] == [0.1]  # never promoted
    assert executed.count("2") >= 20
    assert alias_state(lam, name) == ("1", {})
    resp = lam.invoke(FunctionName=name, Qualifier="live", Payload=b"{}")
    assert resp["ExecutedVersion"] == "1"


# -- stop, conflicts, CLI --------------------------------------------------------------------------
def test_cli_deploy_status_list_stop(fresh_server: Any) -> None:
    srv = fresh_server(LAMBENT_DEPLOY_TIME_SCALE=FAST)
    lam = srv.client()
    name = two_versions(lam)
    # Given a deployment started from the CLI, parked at 10 % for 2880 strategy minutes (86 s)
    out = cli(srv, name, "--alias", "live", "--to-version", "2", "--strategy", "canary", "--percent", "10",
              "--interval", "2880", "--json")
    assert out.returncode == 0, out.stderr + out.stdout
    d = json.loads(out.stdout)
    deployment_id = d["DeploymentId"]
    assert d["DeploymentConfigName"] == "Canary10Percent2880Minutes"
    deadline = time.monotonic() + 10
    while alias_state(lam, name) != ("1", {"2": 0.1}):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # A second deployment of the same alias is a conflict
    second = cli(srv, name, "--alias", "live", "--to-version", "2")
    assert second.returncode == 1 and "ResourceConflictException" in second.stdout and deployment_id in second.stdout
    with pytest.raises(ApiError) as exc:
        create(srv, name)
    assert (exc.value.code, exc.value.status) == ("ResourceConflictException", 409)
    # When its status is asked for, it shows the progress
    status = cli(srv, "status", deployment_id)
    assert status.returncode == 0, status.stderr
    assert deployment_id in status.stdout and "InProgress" in status.stdout
    assert "10% on version 2" in status.stdout and "step 1/2" in status.stdout and "TrafficShifted" in status.stdout
    assert "━" in status.stdout  # the progress bar
    active = cli(srv, "status")
    assert deployment_id in active.stdout
    listed = cli(srv, "list", name)
    assert listed.returncode == 0 and deployment_id in listed.stdout and "Canary10Percent2880Minutes" in listed.stdout
    # When it is stopped, the alias goes back to version 1
    stopped = cli(srv, "stop", deployment_id)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert "Stopped" in stopped.stdout and "MANUAL_STOP" in stopped.stdout
    assert alias_state(lam, name) == ("1", {})
    d = describe(srv, deployment_id)
    assert d["Status"] == "Stopped" and [e["Type"] for e in d["Events"]][-4:] == [
        "StopRequested", "RollbackStarted", "RollbackCompleted", "Stopped"]
    again = cli(srv, "stop", deployment_id)
    assert again.returncode == 1 and "already completed" in again.stdout
    # And a new deployment, followed with --watch, succeeds
    watched = cli(srv, name, "--alias", "live", "--to-version", "2", "--strategy", "LambdaLinear10PercentEvery1Minute", "--watch")
    assert watched.returncode == 0, watched.stdout + watched.stderr
    assert "Succeeded" in watched.stdout and "100% on version 2" in watched.stdout
    assert alias_state(lam, name) == ("2", {})
    # Errors come back as the API's error codes
    bad = cli(srv, name, "--alias", "live", "--to-version", "2")
    assert bad.returncode == 1 and "InvalidParameterValueException" in bad.stdout and "already points" in bad.stdout
    bad = cli(srv, name, "--alias", "live", "--to-version", "1", "--strategy", "LambdaCanary25Percent1Minute")
    assert bad.returncode == 1 and "not a predefined configuration" in bad.stdout
    missing = cli(srv, "status", "d-NOTTHERE")
    assert missing.returncode == 1 and "ResourceNotFoundException" in missing.stdout


def test_api_validation_and_signature(fresh_server: Any) -> None:
    srv = fresh_server(LAMBENT_DEPLOY_TIME_SCALE=FAST)
    lam = srv.client()
    name = two_versions(lam)
    cases = [
        ({}, "ValidationException"),
        ({"FunctionName": name, "Alias": "live", "TargetVersion": "$LATEST"}, "InvalidParameterValueException"),
        ({"FunctionName": name, "Alias": "nope", "TargetVersion": "2"}, "ResourceNotFoundException"),
        ({"FunctionName": name, "Alias": "live", "TargetVersion": "7"}, "ResourceNotFoundException"),
        ({"FunctionName": name, "Alias": "live", "TargetVersion": "2", "DeploymentConfigName": "Sideways"}, "InvalidParameterValueException"),
        ({"FunctionName": name, "Alias": "live", "TargetVersion": "2", "AlarmConfiguration": {"ErrorRateThreshold": 3}}, "InvalidParameterValueException"),
        ({"FunctionName": name, "Alias": "live", "TargetVersion": "2", "Hooks": {"Sometime": name}}, "ValidationException"),
    ]
    for body, code_ in cases:
        with pytest.raises(ApiError) as exc:
            api(srv).call("POST", API, body)
        assert exc.value.code == code_, body
    with pytest.raises(ApiError) as exc:
        Client(srv.url, ACCESS_KEY, "wrong-secret", "us-east-1").call("GET", API)
    assert exc.value.code == "InvalidSignatureException"
    # boto3 clients of other services are not routed to the lambent API
    with pytest.raises(ClientError):
        srv.client("sqs").list_queues()


# -- restart ---------------------------------------------------------------------------------------
def test_restart_in_the_middle_of_a_canary_resumes_it(fresh_server: Any) -> None:
    # Given a canary whose promotion is due 6 s after the 10 % step
    srv = fresh_server(LAMBENT_DEPLOY_TIME_SCALE="0.01")
    lam = srv.client()
    name = two_versions(lam)
    d = create(srv, name, DeploymentConfigName="LambdaCanary10Percent10Minutes")
    deadline = time.monotonic() + 10
    while describe(srv, d["DeploymentId"])["CurrentWeight"] != 0.1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # When the server gets SIGTERM in the middle of the wait and starts again on the same data dir
    t = time.monotonic()
    assert srv.stop(signal.SIGTERM) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal after a clean stop
    assert time.monotonic() - t < 10
    assert "Application shutdown complete" in srv.log()
    srv.start()
    # Then the deployment is still InProgress at 10 %, resumes, and promotes at its original time
    d = describe(srv, d["DeploymentId"])
    assert alias_state(srv.client(), name) == ("1", {"2": 0.1})
    resumed = [e for e in d["Events"] if e["Type"] == "Resumed"]
    assert len(resumed) == 1
    d = wait_done(srv, d["DeploymentId"])
    assert d["Status"] == "Succeeded"
    due, applied = d["Steps"][1]["DueTime"], d["Steps"][1]["AppliedTime"]
    assert due == pytest.approx(d["TrafficShiftStartTime"] + 6.0)
    assert applied >= due
    if resumed[0]["Time"] < due:  # the server was back before the step was due: it ran on time
        assert applied - due < 1.0
    assert alias_state(srv.client(), name) == ("2", {})


# -- a stock botocore client ---------------------------------------------------------------------------
def test_a_botocore_client_built_from_the_model_performs_every_operation(fresh_server: Any) -> None:
    # Given a stock botocore session that knows lambent's model directory, and nothing else of lambent
    import botocore.session

    from lambent.api.models import MODELS_DIR

    srv = fresh_server(LAMBENT_DEPLOY_TIME_SCALE=FAST)
    name = two_versions(srv.client())
    session = botocore.session.Session()
    session.get_component("data_loader").search_paths.append(str(MODELS_DIR))
    client = session.create_client("lambent", endpoint_url=srv.url, region_name="us-east-1",
                                   aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)
    # When it creates a deployment parked at 10 % for 2880 strategy minutes
    created = client.create_deployment(
        FunctionName=name, Alias="live", TargetVersion="2",
        TrafficRoutingConfig={"Type": "TimeBasedCanary", "TimeBasedCanary": {"CanaryPercentage": 10, "CanaryInterval": 2880}},
        Hooks={"AfterAllowTraffic": name}, AlarmConfiguration={"ErrorRateThreshold": 0.5, "MinimumInvocations": 7},
    )
    # Then the answer is the model's output: status code, typed members
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    d = created["Deployment"]
    deployment_id = d["DeploymentId"]
    assert (d["FunctionName"], d["Alias"], d["CurrentVersion"], d["TargetVersion"], d["Status"]) == (name, "live", "1", "2", "InProgress")
    assert d["DeploymentConfigName"] == "Canary10Percent2880Minutes"
    assert d["Hooks"] == {"AfterAllowTraffic": name}
    assert (d["AlarmConfiguration"]["ErrorRateThreshold"], d["AlarmConfiguration"]["MinimumInvocations"]) == (0.5, 7)
    assert isinstance(d["CreateTime"], datetime) and abs(d["CreateTime"].timestamp() - time.time()) < 60
    # and GetDeployment returns its events, their free-form Details intact
    deadline = time.monotonic() + 10
    while True:
        got = client.get_deployment(DeploymentId=deployment_id)["Deployment"]
        if got["CurrentWeight"] == 0.1:
            break
        assert time.monotonic() < deadline, got
        time.sleep(0.05)
    shifted = [e for e in got["Events"] if e["Type"] == "TrafficShifted"]
    assert [(e["Details"]["Weight"], e["Details"]["AdditionalVersionWeights"]) for e in shifted] == [(0.1, {"2": 0.1})]
    assert isinstance(got["Steps"][0]["AppliedTime"], datetime) and "AppliedTime" not in got["Steps"][1]
    # ListDeployments filters by function and status
    listed = client.list_deployments(FunctionName=name, Status="InProgress")["Deployments"]
    assert [x["DeploymentId"] for x in listed] == [deployment_id]
    assert client.list_deployments(FunctionName=name, Status="Succeeded")["Deployments"] == []
    # StopDeployment rolls it back
    stopped = client.stop_deployment(DeploymentId=deployment_id)["Deployment"]
    assert stopped["DeploymentId"] == deployment_id and stopped["StopRequested"] is True
    # Errors come back as the model's exception classes
    with pytest.raises(client.exceptions.ResourceNotFoundException) as missing:
        client.get_deployment(DeploymentId="d-NOTTHERE")
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    deadline = time.monotonic() + 10
    while client.get_deployment(DeploymentId=deployment_id)["Deployment"]["Status"] == "InProgress":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    with pytest.raises(client.exceptions.ResourceConflictException) as conflict:
        client.stop_deployment(DeploymentId=deployment_id)
    assert "already completed (Stopped)" in conflict.value.response["Error"]["Message"]
    with pytest.raises(client.exceptions.InvalidParameterValueException):
        client.create_deployment(FunctionName=name, Alias="live", TargetVersion="2", DeploymentConfigName="Sideways")
    # and a client with the wrong secret is refused before any handler runs
    bad = session.create_client("lambent", endpoint_url=srv.url, region_name="us-east-1",
                                aws_access_key_id=ACCESS_KEY, aws_secret_access_key="wrong-secret")
    with pytest.raises(ClientError) as refused:
        bad.list_deployments()
    assert refused.value.response["Error"]["Code"] == "InvalidSignatureException"
