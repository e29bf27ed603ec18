"""AddPermission / RemovePermission / GetPolicy through the protocol layer's request path in-process
(route, parse, model checks, refusals, handler, serialise) over the real control plane on a temp
store: status codes, bodies and error codes as a client sees them (AWS's recorded answers)."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import pytest
from starlette.datastructures import Headers

from lambent.api.dispatch import Dispatcher
from lambent.api.services import table
from lambent.control.aliases import AliasService
from lambent.control.code import CodeStore
from lambent.control.codezip import ZipLimits
from lambent.control.functions import CreateFunctionInput, FunctionService
from lambent.control.runtimes import RuntimeCatalog
from lambent.control.versions import VersionService
from lambent.iam.function_policies import FunctionPolicies
from lambent.iam.model import Principal, PrincipalKind
from lambent.platform import Platform
from lambent.settings import Settings
from lambent.store import Store
from lambent.store.iam import IamStore
from lambent.store.iam_function_policies import FunctionPolicyStore

from lambent.arns import FunctionKey as _FunctionKey
from lambent.arns import function_key as _function_key

ACCOUNT_ID = "000000000000"


def K(name: str, account: str = ACCOUNT_ID) -> _FunctionKey:
    """The key of the test account's function ``name``."""
    return _function_key(account, name)


ARN = "arn:aws:lambda:us-east-1:000000000000:function:"
FN = "/2015-03-31/functions"


ROOT = Principal(kind=PrincipalKind.ROOT, account_id="000000000000", arn="arn:aws:iam::000000000000:root",
                 user_id="000000000000", name="", access_key_id="AKIDEXAMPLE", secret_access_key="secret")


def registry_exists(p: Any) -> Any:
    """As Platform._function_exists: the function (and its version or alias) is registered."""
    def exists(name: str, qualifier: str | None) -> bool:
        fn = p.functions.registry.get(name)
        return fn is not None and (qualifier is None or qualifier in fn.versions or qualifier in fn.aliases)

    return exists


class FakePlatform:
    """What the handlers use of a Platform (a plain class: the transitional path keys it weakly)."""

    def __init__(self, tmp_path: Path, store: Store) -> None:
        self.settings = Settings(data_dir=tmp_path)
        self.disk = None
        self.functions = FunctionService(self.settings, store, CodeStore(tmp_path / "code", store, ZipLimits()),
                                         RuntimeCatalog())
        self.versions = VersionService(self.functions)
        self.aliases = AliasService(self.functions)


class Api:
    def __init__(self, tmp_path: Path) -> None:
        self.store = Store.open_in(tmp_path)
        self.iam_store = IamStore.open_in(tmp_path)
        self.platform = FakePlatform(tmp_path, self.store)
        # as Platform wires it: Platform.function_policies
        fp = FunctionPolicies(FunctionPolicyStore(self.iam_store.engine),
                              region="us-east-1", exists=registry_exists(self.platform))
        fp.load_now()
        self.platform.functions.on_change(fp.function_changed)
        self.platform.function_policies = fp  # type: ignore[attr-defined]
        self.dispatcher = Dispatcher(cast(Platform, self.platform), table())

    async def create(self, name: str) -> None:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("app.py", "def handler(e, c):\n    return 1\n")
        await self.platform.functions.create(CreateFunctionInput(account_id="000000000000",
            name=name, runtime="python3.11", role="arn:aws:iam::000000000000:role/r", handler="app.handler",
            zip_file=buf.getvalue()))
        await self.platform.functions.wait_idle()

    async def __call__(self, method: str, path: str, body: dict[str, Any] | None = None, query: str = "") -> Any:
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
        parsed = json.loads(out) if out else {}
        return start["status"], headers.get("x-amzn-errortype"), parsed

    def close(self) -> None:
        self.iam_store.close()
        self.store.close()


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    a = Api(tmp_path)
    await a.create("fn")
    yield a
    a.close()


def message(body: dict[str, Any]) -> str:
    return str(body.get("message") or body.get("Message"))


S3 = {"StatementId": "s3", "Action": "lambda:InvokeFunction", "Principal": "s3.amazonaws.com",
      "SourceArn": "arn:aws:s3:::bucket"}


async def test_add_get_remove_answer_with_the_models_codes_and_awss_shapes(api: Api) -> None:
    # When a permission is added
    status, _, added = await api("POST", f"{FN}/fn/policy", S3)
    # Then 201 and the statement as JSON text
    assert status == 201
    statement = {"Sid": "s3", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
                 "Action": "lambda:InvokeFunction", "Resource": f"{ARN}fn",
                 "Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:s3:::bucket"}}}
    assert json.loads(added["Statement"]) == statement
    # And GetPolicy answers the whole policy as text with a RevisionId
    status, _, got = await api("GET", f"{FN}/fn/policy")
    assert status == 200 and set(got) == {"Policy", "RevisionId"}
    assert json.loads(got["Policy"]) == {"Version": "2012-10-17", "Id": "default", "Statement": [statement]}
    # When it is removed: 204, and GetPolicy is 404 with AWS's text
    status, _, removed = await api("DELETE", f"{FN}/fn/policy/s3")
    assert (status, removed) == (204, {})
    status, code, body = await api("GET", f"{FN}/fn/policy")
    assert (status, code, message(body)) == (404, "ResourceNotFoundException", "The resource you requested does not exist.")


async def test_errors_are_awss(api: Api) -> None:
    await api("POST", f"{FN}/fn/policy", S3)
    cases = [
        (("POST", f"{FN}/fn/policy", S3), 409, "ResourceConflictException",
         "The statement id (s3) provided already exists. Please provide a new statement id, or remove the existing statement."),
        (("POST", f"{FN}/fn/policy", {**S3, "StatementId": "example.com"}), 400, "ValidationException",
         "1 validation error detected: Value 'example.com' at 'statementId' failed to satisfy constraint: "
         "Member must satisfy regular expression pattern: ([a-zA-Z0-9-_]+)"),
        (("POST", f"{FN}/fn/policy", {**S3, "StatementId": "p", "Principal": "invalid principal"}), 400,
         "ValidationException", None),
        (("POST", f"{FN}/fn/policy", {**S3, "StatementId": "p", "Principal": "bob"}), 400,
         "InvalidParameterValueException", "The provided principal was invalid. Please check the principal and try again."),
        (("POST", f"{FN}/fn/policy", {**S3, "StatementId": "l"}, "Qualifier=$LATEST"), 400,
         "InvalidParameterValueException", "We currently do not support adding policies for $LATEST."),
        (("POST", f"{FN}/fn:1/policy", {**S3, "StatementId": "l"}, "Qualifier=2"), 400,
         "InvalidParameterValueException",
         "The derived qualifier from the function name does not match the specified qualifier."),
        (("POST", f"{FN}/doesnotexist/policy", S3), 404, "ResourceNotFoundException",
         f"Function not found: {ARN}doesnotexist"),
        (("POST", f"{FN}/fn/policy", S3, "Qualifier=42"), 404, "ResourceNotFoundException",
         f"Function not found: {ARN}fn:42"),
        (("POST", f"{FN}/fn/policy", {**S3, "StatementId": "r", "RevisionId": "wrong"}), 412,
         "PreconditionFailedException",
         "The Revision Id provided does not match the latest Revision Id. Call the GetPolicy API to retrieve the latest Revision Id"),
        (("DELETE", f"{FN}/fn/policy/nope"), 404, "ResourceNotFoundException",
         "Statement nope is not found in resource policy."),
        (("DELETE", f"{FN}/doesnotexist/policy/s3"), 404, "ResourceNotFoundException",
         f"No policy found for: {ARN}doesnotexist"),
        (("GET", f"{FN}/doesnotexist/policy"), 404, "ResourceNotFoundException", "The resource you requested does not exist."),
        (("GET", f"{FN}/fn/policy", None, "Qualifier=7"), 404, "ResourceNotFoundException",
         "The resource you requested does not exist."),
        (("POST", f"{FN}/fn/policy", {**S3, "StatementId": "u", "InvokedViaFunctionUrl": True}), 400,
         "InvalidParameterValueException", None),
    ]
    for args, status, code, text in cases:
        got_status, got_code, body = await api(*args)  # type: ignore[arg-type]
        assert (got_status, got_code) == (status, code), (args, body)
        if text is not None:
            assert message(body) == text, args
    # Nothing of the refused requests was added
    _, _, got = await api("GET", f"{FN}/fn/policy")
    assert [s["Sid"] for s in json.loads(got["Policy"])["Statement"]] == ["s3"]


async def test_versions_and_aliases_have_their_own_policies_and_revisions(api: Api) -> None:
    await api("POST", f"{FN}/fn/versions", {})
    await api("POST", f"{FN}/fn/aliases", {"Name": "live", "FunctionVersion": "1"})
    alias_rev = (await api("GET", f"{FN}/fn/aliases/live"))[2]["RevisionId"]
    # Given a policy on the alias (its precondition: the alias's RevisionId), none on version 1
    status, _, added = await api("POST", f"{FN}/fn/policy", {**S3, "RevisionId": alias_rev}, "Qualifier=live")
    assert status == 201 and json.loads(added["Statement"])["Resource"] == f"{ARN}fn:live"
    assert (await api("GET", f"{FN}/fn/policy", None, "Qualifier=1"))[0] == 404
    assert (await api("GET", f"{FN}/fn/policy"))[0] == 404
    _, _, live = await api("GET", f"{FN}/fn:live/policy")
    # RemovePermission with a stale RevisionId is refused, with the current one it goes
    status, code, body = await api("DELETE", f"{FN}/fn/policy/s3", None, f"Qualifier=live&RevisionId={alias_rev}")
    assert (status, code) == (412, "PreconditionFailedException")
    assert message(body).endswith("Call the GetFunction/GetAlias API to retrieve the latest Revision Id")
    status, _, _ = await api("DELETE", f"{FN}/fn/policy/s3", None, f"Qualifier=live&RevisionId={live['RevisionId']}")
    assert status == 204


async def test_deleting_the_function_deletes_its_policies(api: Api) -> None:
    await api("POST", f"{FN}/fn/policy", {**S3, "Principal": "*"})
    policies: FunctionPolicies = api.platform.function_policies  # type: ignore[attr-defined]
    assert policies.compiled("000000000000", "fn", None) is not None
    assert (await api("DELETE", f"{FN}/fn"))[0] == 204
    await api.create("fn")
    assert policies.compiled("000000000000", "fn", None) is None
    assert (await api("GET", f"{FN}/fn/policy"))[0] == 404
    assert policies.store.all() == []
