"""``lambent deploy``: safe deployments through a running server's ``lambent`` API.

    lambent deploy FUNCTION --alias A --to-version N [--strategy NAME] [--pre-traffic-hook FN]
                   [--post-traffic-hook FN] [--rollback-on-error-rate R] [--watch]
    lambent deploy status [ID] [--watch]      one deployment (or every InProgress one)
    lambent deploy list FUNCTION              a function's deployments, newest first
    lambent deploy stop ID                    stop and roll back
    lambent deploy create FUNCTION ...        the first form, for a function named like a verb

Requests go through a botocore client of the ``lambent`` API, built from its botocore-format model
(``lambent/api/models/``), SigV4-signed (service ``lambent``) with the credentials the aws CLI would
use: ``--profile NAME``, ``AWS_PROFILE``, ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``
(/``AWS_SESSION_TOKEN``), ``~/.aws/credentials`` and ``~/.aws/config``; endpoint ``--endpoint-url``
or ``AWS_ENDPOINT_URL``; region ``--region``, ``AWS_REGION`` or the profile's. With none of those,
a local server's operator signs with its root credentials (``--data-dir``). The order is
:mod:`lambent.cli._client`'s.
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from lambent.api.models import client as model_client
from lambent.cli._client import Target, TargetError, add_arguments, resolve_args

API = "/lambent/2026-11-27/deployments"
VERBS = ("create", "status", "list", "stop")
TERMINAL = ("Succeeded", "Failed", "Stopped", "RolledBack")
_STATUS_STYLE = {"InProgress": "cyan", "Succeeded": "green", "Failed": "red", "Stopped": "yellow", "RolledBack": "yellow"}
#: Exit code when a watched deployment ends in anything but Succeeded.
EXIT_NOT_SUCCEEDED = 3


class ApiError(Exception):
    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.status = code, message, status


def register(sub: Any) -> None:
    p = sub.add_parser(
        "deploy", help="shift an alias to a new version in steps (canary / linear), with hooks and rollback",
        usage="lambent deploy FUNCTION --alias A --to-version N [options]\n"
              "       lambent deploy status [ID] | list FUNCTION | stop ID",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("words", nargs="+", metavar="FUNCTION | VERB ARG", help="a function to deploy, or status/list/stop")
    p.add_argument("--alias", help="the alias to move")
    p.add_argument("--to-version", help="the published version to move it to")
    p.add_argument("--strategy", default="LambdaAllAtOnce",
                   help="LambdaAllAtOnce, LambdaCanary10Percent5Minutes, LambdaLinear10PercentEvery1Minute, ..., "
                        "Canary25Percent3Minutes, Linear20PercentEvery2Minutes; or 'canary'/'linear' with "
                        "--percent and --interval (default LambdaAllAtOnce)")
    p.add_argument("--percent", type=int, help="with --strategy canary|linear: percent per increment")
    p.add_argument("--interval", type=int, help="with --strategy canary|linear: minutes between increments")
    p.add_argument("--pre-traffic-hook", metavar="FN", help="function run before any traffic shifts (BeforeAllowTraffic)")
    p.add_argument("--post-traffic-hook", metavar="FN", help="function run after all traffic shifted (AfterAllowTraffic)")
    p.add_argument("--rollback-on-error-rate", type=float, metavar="RATE",
                   help="roll back if the new version's error rate exceeds RATE (e.g. 0.05)")
    p.add_argument("--alarm-min-invocations", type=int, metavar="N",
                   help="invocations of the new version needed before the alarm can fire (server default 20)")
    p.add_argument("--watch", "-w", action="store_true", help="follow the deployment until it ends")
    p.add_argument("--json", action="store_true", help="print the API's JSON instead of tables")
    add_arguments(p)
    p.set_defaults(func=run)


# -- client ----------------------------------------------------------------------------------------
#: A CLI should fail fast on a server that is not there, and still ride out a brief throttle.
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 2}, connect_timeout=5, read_timeout=30)


def _plain(value: Any) -> Any:
    """A botocore answer as the wire carried it: timestamps back to epoch seconds, no metadata."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class Client:
    """The ``lambent`` API: its operations through a botocore client built from the API's model;
    :meth:`call` sends a raw signed request (any body, for tests and debugging)."""

    def __init__(self, endpoint: str, access_key: str, secret_key: str, region: str,
                 session_token: str | None = None) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.credentials = Credentials(access_key, secret_key, session_token)
        self.region = region
        self.api = model_client("lambent", self.endpoint, access_key, secret_key, region, _CONFIG,
                                session_token=session_token)

    @classmethod
    def of(cls, target: Target) -> Client:
        """A client of the server ``target`` names, signed with its credentials."""
        return cls(target.endpoint_url, target.access_key_id, target.secret_access_key, target.region,
                   target.session_token)

    def _op(self, operation: str, **params: Any) -> dict[str, Any]:
        try:
            result: dict[str, Any] = _plain(getattr(self.api, operation)(**params))
        except ClientError as exc:
            err = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            raise ApiError(err.get("Code", f"HTTP{status}"), err.get("Message", str(exc)), status) from None
        return result

    def create(self, **params: Any) -> dict[str, Any]:
        deployment: dict[str, Any] = self._op("create_deployment", **params)["Deployment"]
        return deployment

    def get(self, deployment_id: str) -> dict[str, Any]:
        deployment: dict[str, Any] = self._op("get_deployment", DeploymentId=deployment_id)["Deployment"]
        return deployment

    def list(self, **params: Any) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self._op("list_deployments", **params)["Deployments"]
        return found

    def stop(self, deployment_id: str) -> dict[str, Any]:
        deployment: dict[str, Any] = self._op("stop_deployment", DeploymentId=deployment_id)["Deployment"]
        return deployment

    def call(self, method: str, path: str, body: dict[str, Any] | None = None, query: dict[str, str] | None = None) -> Any:
        url = self.endpoint + urllib.parse.quote(path)
        if query:
            url += "?" + urllib.parse.urlencode(query, quote_via=urllib.parse.quote)
        data = json.dumps(body).encode() if body is not None else b""
        req = AWSRequest(method=method, url=url, data=data, headers={"Content-Type": "application/json"})
        SigV4Auth(self.credentials, "lambent", self.region).add_auth(req)
        prepared = req.prepare()
        http = urllib.request.Request(prepared.url, data=data or None, headers=dict(prepared.headers.items()), method=method)
        try:
            with urllib.request.urlopen(http, timeout=30) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            code = exc.headers.get("x-amzn-ErrorType", f"HTTP{exc.code}")
            try:
                err = json.loads(raw)
                message = err.get("message") or err.get("Message") or raw.decode(errors="replace")
            except ValueError:
                message = raw.decode(errors="replace")
            raise ApiError(code, message, exc.code) from None
        return json.loads(raw) if raw else {}


# -- commands --------------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> int:
    console = Console(highlight=False)
    words: list[str] = args.words
    verb, rest = (words[0], words[1:]) if words[0] in VERBS else ("create", words)
    if len(rest) > 1 or (verb in ("create", "list", "stop") and not rest):
        console.print(f"[red]usage:[/red] lambent deploy {'FUNCTION' if verb == 'create' else verb} "
                      f"{'ID' if verb in ('stop', 'status') else 'FUNCTION'} ...")
        return 2
    try:
        target = resolve_args(args)
    except TargetError as exc:
        Console(stderr=True, highlight=False).print(f"[red]lambent deploy[/red]: {escape(exc.message)}")
        return 1
    client = Client.of(target)
    try:
        if verb == "create":
            return _create(client, console, args, rest[0])
        if verb == "status":
            return _status(client, console, args, rest[0] if rest else None)
        if verb == "list":
            return _list(client, console, args, rest[0])
        return _stop(client, console, args, rest[0])
    except ApiError as exc:
        console.print(f"[red]{escape(exc.code)}[/red]: {escape(exc.message)}")
        return 1
    except EndpointConnectionError as exc:
        console.print(f"[red]cannot reach {escape(target.endpoint_url)}[/red]: {escape(str(exc))}")
        return 1
    except BotoCoreError as exc:  # a value the model refuses before sending (ParamValidationError) ...
        console.print(f"[red]error[/red]: {escape(str(exc))}")
        return 1
    except KeyboardInterrupt:
        return 130


def _routing_fields(args: argparse.Namespace) -> dict[str, Any]:
    strategy: str = args.strategy
    kind = strategy.lower()
    if kind in ("canary", "linear"):
        if args.percent is None or args.interval is None:
            raise SystemExit(f"--strategy {kind} needs --percent and --interval")
        if kind == "canary":
            return {"TrafficRoutingConfig": {"Type": "TimeBasedCanary", "TimeBasedCanary": {
                "CanaryPercentage": args.percent, "CanaryInterval": args.interval}}}
        return {"TrafficRoutingConfig": {"Type": "TimeBasedLinear", "TimeBasedLinear": {
            "LinearPercentage": args.percent, "LinearInterval": args.interval}}}
    if args.percent is not None or args.interval is not None:
        raise SystemExit("--percent and --interval go with --strategy canary or linear")
    return {"DeploymentConfigName": strategy}


def _create(client: Client, console: Console, args: argparse.Namespace, function: str) -> int:
    if not args.alias or not args.to_version:
        raise SystemExit("lambent deploy FUNCTION needs --alias and --to-version")
    body: dict[str, Any] = {"FunctionName": function, "Alias": args.alias, "TargetVersion": args.to_version,
                            **_routing_fields(args)}
    hooks = {k: v for k, v in (("BeforeAllowTraffic", args.pre_traffic_hook), ("AfterAllowTraffic", args.post_traffic_hook)) if v}
    if hooks:
        body["Hooks"] = hooks
    if args.rollback_on_error_rate is not None:
        body["AlarmConfiguration"] = {"ErrorRateThreshold": args.rollback_on_error_rate}
        if args.alarm_min_invocations is not None:
            body["AlarmConfiguration"]["MinimumInvocations"] = args.alarm_min_invocations
    d = client.create(**body)
    if args.json and not args.watch:
        console.print_json(data=d)
        return 0
    if not args.json:
        console.print(f"Deployment [bold]{d['DeploymentId']}[/bold] started: {escape(function)}:{escape(args.alias)} "
                      f"{d['CurrentVersion']} → {d['TargetVersion']} ({d['DeploymentConfigName']})")
    return _watch(client, console, d["DeploymentId"], args.json) if args.watch else 0


def _status(client: Client, console: Console, args: argparse.Namespace, deployment_id: str | None) -> int:
    if deployment_id is None:
        active = client.list(Status="InProgress")
        if args.json:
            console.print_json(data=active)
        elif not active:
            console.print("no deployment in progress")
        else:
            console.print(Group(*(render(d, events=False) for d in active)))
        return 0
    if args.watch:
        return _watch(client, console, deployment_id, args.json)
    d = client.get(deployment_id)
    if args.json:
        console.print_json(data=d)
    else:
        console.print(render(d))
    return 0


def _watch(client: Client, console: Console, deployment_id: str, as_json: bool) -> int:
    def fetch() -> dict[str, Any]:
        return client.get(deployment_id)

    d = fetch()
    if as_json:
        while d["Status"] not in TERMINAL:
            time.sleep(0.5)
            d = fetch()
        console.print_json(data=d)
    else:
        with Live(render(d), console=console, refresh_per_second=4, transient=False) as live:
            while d["Status"] not in TERMINAL:
                time.sleep(0.5)
                d = fetch()
                live.update(render(d))
    return 0 if d["Status"] == "Succeeded" else EXIT_NOT_SUCCEEDED


def _list(client: Client, console: Console, args: argparse.Namespace, function: str) -> int:
    found = client.list(FunctionName=function)
    if args.json:
        console.print_json(data=found)
        return 0
    if not found:
        console.print(f"no deployments of {escape(function)}")
        return 0
    table = Table(title=f"Deployments of {escape(function)}", title_justify="left")
    for col in ("ID", "Alias", "Versions", "Config", "Status", "Weight", "Created"):
        table.add_column(col, no_wrap=col in ("ID", "Status", "Created"))
    for d in found:
        table.add_row(
            d["DeploymentId"], escape(d["Alias"]), f"{d['CurrentVersion']} → {d['TargetVersion']}",
            d["DeploymentConfigName"], _status_text(d["Status"]), f"{d['CurrentWeight']:.0%}", _time(d["CreateTime"], short=True),
        )
    console.print(table)
    return 0


def _stop(client: Client, console: Console, args: argparse.Namespace, deployment_id: str) -> int:
    d = client.stop(deployment_id)
    deadline = time.monotonic() + 60
    while d["Status"] not in TERMINAL and time.monotonic() < deadline:
        time.sleep(0.5)
        d = client.get(deployment_id)
    if args.json:
        console.print_json(data=d)
    else:
        console.print(render(d))
    return 0 if d["Status"] == "Stopped" else 1


# -- rendering -------------------------------------------------------------------------------------
def _time(epoch: float | None, short: bool = False) -> str:
    return datetime.fromtimestamp(epoch).strftime("%m-%d %H:%M:%S" if short else "%Y-%m-%d %H:%M:%S") if epoch else "-"


def _duration(seconds: float) -> str:
    whole = max(0, round(seconds))
    h, rem = divmod(whole, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


def _status_text(status: str) -> Text:
    return Text(status, style=_STATUS_STYLE.get(status, ""))


def render(d: dict[str, Any], events: bool = True, now: float | None = None) -> RenderableType:
    """A deployment as a header, a progress bar of the traffic on the new version, and its events."""
    now = time.time() if now is None else now
    steps = d["Steps"]
    applied = sum(1 for s in steps if s.get("AppliedTime") is not None)
    weight = float(d["CurrentWeight"])
    header = Text.assemble(
        (d["DeploymentId"], "bold"), "  ", f"{d['FunctionName']}:{d['Alias']}  ",
        f"{d['CurrentVersion']} → {d['TargetVersion']}  ", (d["DeploymentConfigName"], "magenta"), "  ",
        _status_text(d["Status"]),
    )
    bar_line = Table.grid(padding=(0, 1))
    bar_line.add_row(
        ProgressBar(total=100, completed=weight * 100, width=40,
                    complete_style="green" if d["Status"] != "Failed" else "red", finished_style="green"),
        Text(f"{weight:.0%} on version {d['TargetVersion']}"),
        Text(f"step {applied}/{len(steps)}", style="dim"),
    )
    info = Table.grid(padding=(0, 2))
    info.add_row("lifecycle", d["LifecycleEvent"] + (" (stop requested)" if d.get("StopRequested") and d["Status"] == "InProgress" else ""))
    if d["Status"] == "InProgress" and applied < len(steps) and steps[applied].get("DueTime") is not None:
        info.add_row("next step", f"{steps[applied]['Weight']:.0%} in {_duration(steps[applied]['DueTime'] - now)}")
    for key, label in (("BeforeAllowTraffic", "pre-traffic hook"), ("AfterAllowTraffic", "post-traffic hook")):
        if key in d.get("Hooks", {}):
            info.add_row(label, escape(d["Hooks"][key]))
    if "AlarmConfiguration" in d:
        a = d["AlarmConfiguration"]
        info.add_row("alarm", f"error rate > {a['ErrorRateThreshold']:.1%} over {a['WindowSeconds']:.0f}s "
                              f"(min {a['MinimumInvocations']} invocations)")
    info.add_row("created", _time(d["CreateTime"]))
    if d.get("CompleteTime"):
        info.add_row("completed", _time(d["CompleteTime"]))
    if "ErrorInformation" in d:
        err = d["ErrorInformation"]
        info.add_row(Text("error", style="red"), Text(f"{err['Code']}: {err['Message']}"))
    parts: list[RenderableType] = [header, bar_line, info]
    if events and d.get("Events"):
        table = Table(show_header=True, header_style="dim", box=None, padding=(0, 1))
        table.add_column("time")
        table.add_column("event")
        table.add_column("message")
        for e in d["Events"][-12:]:
            table.add_row(datetime.fromtimestamp(e["Time"]).strftime("%H:%M:%S.%f")[:-3], e["Type"], Text(e["Message"]))
        parts.append(table)
    parts.append(Text(""))
    return Group(*parts)
