"""Versions, aliases and EventInvokeConfigs through the protocol layer's request path in-process
(Dispatcher: route, parse, model checks, refusals, handler, serialise) over the real control plane
on a temp store: no HTTP, no sandboxes. Status codes, bodies and error codes as a client sees them."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from starlette.datastructures import Headers

from lambent.api.dispatch import Dispatcher
from lambent.api.services import table
from lambent.arns import FunctionKey as _FunctionKey
from lambent.arns import function_key as _function_key
from lambent.control.aliases import AliasService
from lambent.control.code import CodeStore
from lambent.control.codezip import ZipLimits
from lambent.control.event_invoke import EventInvokeConfigs
from lambent.control.functions import CreateFunctionInput, FunctionService
from lambent.control.runtimes import RuntimeCatalog
from lambent.control.versions import VersionService
from lambent.iam.authorize import Authorizer
from lambent.iam.model import Principal, PrincipalKind
from lambent.iam.service import IamService
from lambent.platform import Platform
from lambent.settings import Settings
from lambent.store import Store
from lambent.store.async_queue import AsyncEventStore
from lambent.store.invoke_configs import InvokeConfigStore

ARN = "arn:aws:lambda:us-east-1:000000000000:function:"

def K(name: str) -> _FunctionKey:
    """The key of the test account's function ``name``."""
    return _function_key("000000000000", name)


FN = "/2015-03-31/functions"
EIC = "/2019-09-25/functions"


@dataclass
class Answer:
    status: int
    error: str | None
    body: dict[str, Any]

    @property
    def message(self) -> str:
        return str(self.body.get("message") or self.body.get("Message"))


ROOT = Principal(kind=PrincipalKind.ROOT, account_id="000000000000", arn="arn:aws:iam::000000000000:root",
                 user_id="000000000000", name="", access_key_id="AKIDEXAMPLE", secret_access_key="secret")


class Api:
    """One in-process server: the control plane and the layer's dispatcher."""

    def __init__(self, tmp_path: Path) -> None:
        self.store = Store.open_in(tmp_path)
        self.queue = AsyncEventStore(tmp_path / "async-queue.db")
        settings = Settings(data_dir=tmp_path)
        self.functions = FunctionService(settings, self.store, CodeStore(tmp_path / "code", self.store, ZipLimits()),
                                         RuntimeCatalog())
        platform = SimpleNamespace(
            settings=settings, functions=self.functions, versions=VersionService(self.functions), aliases=AliasService(self.functions),
            event_invoke_configs=EventInvokeConfigs(self.functions, InvokeConfigStore(self.queue.engine)),
            # what the authorisation step needs for a call naming another account's ARN (even the
            # server root is evaluated then): the real evaluation, no function policies
            authorizer=Authorizer(IamService.open_in(tmp_path, "000000000000", ("AKIDROOT", "secret"))),
            function_policies=SimpleNamespace(for_arn=lambda arn: None),
        )
        self.dispatcher = Dispatcher(cast(Platform, platform), table())

    async def create(self, name: str, description: str = "") -> None:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("app.py", "def handler(e, c):\n    return 1\n")
        await self.functions.create(CreateFunctionInput(account_id="000000000000",
            name=name, runtime="python3.11", role="arn:aws:iam::000000000000:role/r", handler="app.handler",
            zip_file=buf.getvalue(), description=description))
        await self.functions.wait_idle()

    async def new_version(self, name: str, description: str) -> str:
        """Change $LATEST (so a new version is due) and publish it."""
        from lambent.control.updates import ConfigUpdate

        await self.functions.update_configuration(K(name), ConfigUpdate(description=description))
        await self.functions.wait_idle()
        answer = await self("POST", f"{FN}/{name}/versions", {})
        assert answer.status == 201, answer
        return str(answer.body["Version"])

    async def __call__(self, method: str, path: str, body: dict[str, Any] | None = None, query: str = "") -> Answer:
        scope: dict[str, Any] = {"type": "http", "method": method, "path": path, "query_string": query.encode(),
                                 "headers": []}
        sent: list[dict[str, Any]] = []

        async def send(message: Any) -> None:
            sent.append(message)

        async def receive() -> Any:
            return {"type": "http.request", "body": b""}

        raw = json.dumps(body).encode() if body is not None else b""
        await self.dispatcher.dispatch(scope, receive, send, table()["lambda"], Headers(scope=scope), raw, ROOT)
        start, payload = sent
        headers = {k.decode(): v.decode() for k, v in start["headers"]}
        out = payload["body"]
        return Answer(start["status"], headers.get("x-amzn-errortype"), json.loads(out) if out else {})

    def close(self) -> None:
        self.queue.close()
        self.store.close()


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    a = Api(tmp_path)
    await a.create("fn")
    yield a
    a.close()


async def test_publish_and_alias_answers_have_the_models_status_codes(api: Api) -> None:
    # Given a function with one published version
    v1 = await api("POST", f"{FN}/fn/versions", {"Description": "first"})
    assert (v1.status, v1.body["Version"], v1.body["FunctionArn"]) == (201, "1", f"{ARN}fn:1")
    # When an alias is created, read and deleted
    created = await api("POST", f"{FN}/fn/aliases", {"Name": "live", "FunctionVersion": "1"})
    got = await api("GET", f"{FN}/fn/aliases/live")
    deleted = await api("DELETE", f"{FN}/fn/aliases/live")
    # Then: 201 with the AliasConfiguration, 200 with the same, 204 with no body
    assert created.status == 201 and created.body == got.body
    assert created.body["AliasArn"] == f"{ARN}fn:live" and "RoutingConfig" not in created.body
    assert (deleted.status, deleted.body) == (204, {})
    assert (await api("GET", f"{FN}/fn/aliases/live")).status == 404


async def test_update_alias_keeps_what_is_not_given_and_null_routing_removes_it(api: Api) -> None:
    # Given an alias on version 1 sending 30 % of its traffic to version 2
    await api("POST", f"{FN}/fn/versions", {})
    await api.new_version("fn", "v2")
    await api("POST", f"{FN}/fn/aliases", {"Name": "live", "FunctionVersion": "1", "Description": "d",
                                           "RoutingConfig": {"AdditionalVersionWeights": {"2": 0.3}}})
    # When only the description changes (and the version is sent as null), the rest is kept
    up = await api("PUT", f"{FN}/fn/aliases/live", {"Description": "e", "FunctionVersion": None})
    assert (up.body["FunctionVersion"], up.body["Description"]) == ("1", "e")
    assert up.body["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.3}}
    # When RoutingConfig is sent as null, the routing goes
    cleared = await api("PUT", f"{FN}/fn/aliases/live", {"RoutingConfig": None})
    assert cleared.status == 200 and "RoutingConfig" not in cleared.body
    # And a stale RevisionId is 412
    stale = await api("PUT", f"{FN}/fn/aliases/live", {"Description": "x", "RevisionId": up.body["RevisionId"]})
    assert (stale.status, stale.error) == (412, "PreconditionFailedException")


async def test_alias_rules_the_model_cannot_state_are_the_domains(api: Api) -> None:
    await api("POST", f"{FN}/fn/versions", {})
    # routing from $LATEST, to the primary itself: InvalidParameterValueException
    latest = await api("POST", f"{FN}/fn/aliases", {"Name": "a", "FunctionVersion": "$LATEST",
                                                    "RoutingConfig": {"AdditionalVersionWeights": {"1": 0.5}}})
    assert (latest.status, latest.error) == (400, "InvalidParameterValueException")
    # what the model states is the layer's ValidationException: a numeric alias name, a weight over 1
    numeric = await api("POST", f"{FN}/fn/aliases", {"Name": "123", "FunctionVersion": "1"})
    heavy = await api("POST", f"{FN}/fn/aliases", {"Name": "b", "FunctionVersion": "1",
                                                   "RoutingConfig": {"AdditionalVersionWeights": {"2": 1.5}}})
    assert (numeric.error, heavy.error) == ("ValidationException", "ValidationException")
    assert "Member must have value less than or equal to 1.0" in heavy.message
    # a second alias of the same name: 409
    await api("POST", f"{FN}/fn/aliases", {"Name": "c", "FunctionVersion": "1"})
    again = await api("POST", f"{FN}/fn/aliases", {"Name": "c", "FunctionVersion": "1"})
    assert (again.status, again.error) == (409, "ResourceConflictException")


async def test_qualified_and_hostile_function_names_are_refused(api: Api) -> None:
    qualified = await api("GET", f"{FN}/fn:1/aliases")
    assert (qualified.error, qualified.message) == (
        "InvalidParameterValueException", "This operation does not accept a qualified function name.")
    # a name that is no function name at all (path tricks, another account) never reaches the registry
    traversal = await api("GET", f"{FN}/..%2Ffn/versions")
    other_account = await api("GET", f"{FN}/arn:aws:lambda:us-east-1:111111111111:function:fn/aliases")
    assert traversal.error == "ValidationException"
    assert (other_account.status, other_account.error) == (403, "AccessDeniedException")
    missing = await api("GET", f"{FN}/nope/versions")
    assert (missing.status, missing.message) == (404, f"Function not found: {ARN}nope")


async def test_members_lambent_does_not_act_on_are_refused_by_name(api: Api) -> None:
    answer = await api("POST", f"{FN}/fn/versions", {"PublishTo": "LATEST_PUBLISHED"})
    assert (answer.status, answer.error, answer.message) == (
        400, "InvalidParameterValueException",
        "PublishTo is not supported by this lambent server yet (PublishVersion); remove it from the request.")
    assert (await api("GET", f"{FN}/fn/versions")).body["Versions"][-1]["Version"] == "$LATEST"


async def test_aliases_and_versions_paginate_and_refuse_foreign_markers(api: Api) -> None:
    await api("POST", f"{FN}/fn/versions", {})
    for name in ("a", "b", "c"):
        await api("POST", f"{FN}/fn/aliases", {"Name": name, "FunctionVersion": "1"})
    first = await api("GET", f"{FN}/fn/aliases", query="MaxItems=2")
    rest = await api("GET", f"{FN}/fn/aliases", query=f"MaxItems=2&Marker={first.body['NextMarker']}")
    assert [a["Name"] for a in first.body["Aliases"]] + [a["Name"] for a in rest.body["Aliases"]] == ["a", "b", "c"]
    assert "NextMarker" not in rest.body
    versions = await api("GET", f"{FN}/fn/versions", query="MaxItems=1")
    assert [v["Version"] for v in versions.body["Versions"]] == ["$LATEST"] and versions.body["NextMarker"]
    forged = await api("GET", f"{FN}/fn/aliases", query="Marker=_w%3D%3D")  # not UTF-8 inside
    assert (forged.error, forged.message) == ("InvalidParameterValueException",
                                              "Invalid Marker: the token is not one this API returned.")
    zero = await api("GET", f"{FN}/fn/versions", query="MaxItems=0")
    assert zero.error == "ValidationException"


async def test_event_invoke_config_put_replaces_update_merges(api: Api) -> None:
    sink = "arn:aws:sqs:us-east-1:000000000000:sink"
    # Given a configuration with retries and a failure destination
    put = await api("PUT", f"{EIC}/fn/event-invoke-config", {"MaximumRetryAttempts": 1,
                                                             "DestinationConfig": {"OnFailure": {"Destination": sink}}})
    assert put.status == 200 and put.body["FunctionArn"] == f"{ARN}fn:$LATEST"
    assert isinstance(put.body["LastModified"], (int, float))  # epoch seconds, the model's timestamp
    assert put.body["DestinationConfig"] == {"OnSuccess": {}, "OnFailure": {"Destination": sink}}
    # When Update gives only the event age, the rest is kept
    upd = await api("POST", f"{EIC}/fn/event-invoke-config", {"MaximumEventAgeInSeconds": 120})
    assert (upd.body["MaximumRetryAttempts"], upd.body["MaximumEventAgeInSeconds"]) == (1, 120)
    assert upd.body["DestinationConfig"]["OnFailure"] == {"Destination": sink}
    # When Update gives the failure destination empty, it is removed
    removed = await api("POST", f"{EIC}/fn/event-invoke-config", {"DestinationConfig": {"OnFailure": {}}})
    assert removed.body["DestinationConfig"] == {"OnSuccess": {}, "OnFailure": {}}
    # When Put gives only the retries, everything else is unset
    again = await api("PUT", f"{EIC}/fn/event-invoke-config", {"MaximumRetryAttempts": 0})
    assert "MaximumEventAgeInSeconds" not in again.body and again.body["MaximumRetryAttempts"] == 0
    # And Delete answers 204; a Get after it names the qualified ARN
    assert (await api("DELETE", f"{EIC}/fn/event-invoke-config")).status == 204
    gone = await api("GET", f"{EIC}/fn/event-invoke-config")
    assert (gone.status, gone.message) == (404, f"The function {ARN}fn:$LATEST doesn't have an EventInvokeConfig")


async def test_event_invoke_config_destinations_that_could_be_abused_are_refused(api: Api) -> None:
    path = f"{EIC}/fn/event-invoke-config"

    async def put(destination: str) -> Answer:
        return await api("PUT", path, {"DestinationConfig": {"OnSuccess": {"Destination": destination}}})

    # itself (an invoke loop), another account's function, a function that does not exist
    itself, foreign, missing = await put(f"{ARN}fn"), await put("arn:aws:lambda:us-east-1:111111111111:function:x"), \
        await put(f"{ARN}nope")
    assert itself.message == "You can't specify the function as a destination for itself."
    assert foreign.message == "The destination ARN arn:aws:lambda:us-east-1:111111111111:function:x is invalid."
    assert missing.message == f"The destination ARN {ARN}nope is invalid."
    assert {itself.error, foreign.error, missing.error} == {"InvalidParameterValueException"}
    # a service lambent cannot deliver to; text that is no ARN (the model's pattern)
    s3, garbage = await put("arn:aws:s3:::bucket"), await put("file:///etc/passwd")
    assert (s3.error, garbage.error) == ("InvalidParameterValueException", "ValidationException")
    # out-of-range numbers are the model's
    retries = await api("PUT", path, {"MaximumRetryAttempts": 3})
    assert (retries.error, retries.message) == ("ValidationException", "1 validation error detected: Value '3' at "
                                                "'maximumRetryAttempts' failed to satisfy constraint: Member must have "
                                                "value less than or equal to 2")
    assert (await api("GET", path)).status == 404  # nothing was stored


async def test_event_invoke_configs_list_per_qualifier(api: Api) -> None:
    await api("POST", f"{FN}/fn/versions", {})
    await api("POST", f"{FN}/fn/aliases", {"Name": "live", "FunctionVersion": "1"})
    for qualifier in ("$LATEST", "1", "live"):
        await api("PUT", f"{EIC}/fn/event-invoke-config", {"MaximumRetryAttempts": 1}, query=f"Qualifier={qualifier}")
    listed = await api("GET", f"{EIC}/fn/event-invoke-config/list", query="MaxItems=2")
    assert [c["FunctionArn"] for c in listed.body["FunctionEventInvokeConfigs"]] == [f"{ARN}fn:$LATEST", f"{ARN}fn:1"]
    tail = await api("GET", f"{EIC}/fn/event-invoke-config/list", query=f"Marker={listed.body['NextMarker']}")
    assert [c["FunctionArn"] for c in tail.body["FunctionEventInvokeConfigs"]] == [f"{ARN}fn:live"]
    assert (await api("GET", f"{EIC}/fn/event-invoke-config/list", query="MaxItems=51")).error == "ValidationException"
    qualified = await api("GET", f"{EIC}/fn:live/event-invoke-config/list")
    assert qualified.message == "ListFunctionEventInvokeConfigs takes an unqualified function name."
    # a qualifier that names nothing is 404; a malformed one is the domain's ValidationException
    assert (await api("GET", f"{EIC}/fn/event-invoke-config", query="Qualifier=9")).status == 404
    assert (await api("GET", f"{EIC}/fn/event-invoke-config", query="Qualifier=bad!")).error == "ValidationException"
