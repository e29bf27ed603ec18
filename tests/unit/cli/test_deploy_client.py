"""``lambent deploy``'s client is a stock botocore client built from the ``lambent`` model: what it
sends parses, in the server's protocol layer, into the members the handlers read, and what the
layer answers parses back in botocore (no server: botocore's ``before-send`` hands the signed
request to the layer and returns its answer)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse

from lambent.api.protocols import handler
from lambent.cli._client import Target
from lambent.cli.deploy_cmd import ApiError, Client
from lambent.errors import LambentError, ResourceConflict

WHEN = datetime(2030, 1, 1, 12, 0, 0, 500000, tzinfo=timezone.utc)
DEPLOYMENT = {
    "DeploymentId": "d-ABC123456", "FunctionName": "f", "Alias": "live", "CurrentVersion": "1", "TargetVersion": "2",
    "DeploymentConfigName": "LambdaCanary10Percent5Minutes", "Status": "InProgress", "CurrentWeight": 0.1,
    "TrafficRoutingConfig": {"Type": "TimeBasedCanary", "TimeBasedCanary": {"CanaryPercentage": 10, "CanaryInterval": 5}},
    "Steps": [{"Weight": 0.1, "OffsetSeconds": 0, "DueTime": WHEN, "AppliedTime": WHEN}, {"Weight": 1.0, "OffsetSeconds": 300}],
    "CreateTime": WHEN, "Hooks": {"BeforeAllowTraffic": "smoke"},
    "Events": [{"Time": WHEN, "Type": "TrafficShifted", "Message": "10%",
                "Details": {"Weight": 0.1, "AdditionalVersionWeights": {"2": 0.1}, "FunctionVersion": "1"}}],
}


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


class Layer:
    """The server's protocol layer for ``lambent``, in-process: records what each operation got."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.error: LambentError | None = None

    def __call__(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        proto = handler("lambent")
        url = urlsplit(request.url)
        body = request.body or b""
        body = body.encode() if isinstance(body, str) else body
        auth = request.headers["Authorization"]
        auth = auth.decode() if isinstance(auth, bytes) else auth
        assert auth.startswith("AWS4-HMAC-SHA256 ") and "/us-east-1/lambent/aws4_request" in auth  # SigV4, service lambent
        try:
            op, params = proto.parse(request.method, url.path, url.query, dict(request.headers), body)
        except LambentError as exc:  # refused by the model's checks, as the server's dispatcher does
            status, headers, out = proto.serialise_error(exc)
            return AWSResponse(request.url, status, headers, _Raw(out))
        self.calls.append((op, params))
        if self.error is not None:
            status, headers, out = proto.serialise_error(self.error)
        else:
            key = "Deployments" if op == "ListDeployments" else "Deployment"
            status, headers, out = proto.serialise(op, {key: [DEPLOYMENT] if key == "Deployments" else DEPLOYMENT}, "rid")
        return AWSResponse(request.url, status, headers, _Raw(out))


@pytest.fixture
def wired() -> tuple[Client, Layer]:
    client = Client("http://127.0.0.1:9", "AKIDEXAMPLE", "secret", "us-east-1")
    layer = Layer()
    client.api.meta.events.register("before-send", layer)
    return client, layer


def test_every_operation_goes_through_the_model_both_ways(wired: tuple[Client, Layer]) -> None:
    client, layer = wired
    d = client.create(FunctionName="f", Alias="live", TargetVersion="2", DeploymentConfigName="LambdaCanary10Percent5Minutes",
                      Hooks={"BeforeAllowTraffic": "smoke"}, AlarmConfiguration={"ErrorRateThreshold": 0.05})
    assert layer.calls[-1] == ("CreateDeployment", {
        "FunctionName": "f", "Alias": "live", "TargetVersion": "2", "DeploymentConfigName": "LambdaCanary10Percent5Minutes",
        "Hooks": {"BeforeAllowTraffic": "smoke"}, "AlarmConfiguration": {"ErrorRateThreshold": 0.05}})
    # the CLI sees the wire's values: timestamps as epoch seconds, absent members absent
    assert d["CreateTime"] == WHEN.timestamp() and d["Steps"][0]["DueTime"] == WHEN.timestamp()
    assert "AppliedTime" not in d["Steps"][1] and "ResponseMetadata" not in d
    assert d["TrafficRoutingConfig"] == DEPLOYMENT["TrafficRoutingConfig"]
    assert client.get("d-ABC123456")["DeploymentId"] == "d-ABC123456"
    assert layer.calls[-1] == ("GetDeployment", {"DeploymentId": "d-ABC123456"})
    assert [x["DeploymentId"] for x in client.list(FunctionName="f", Status="InProgress")] == ["d-ABC123456"]
    assert layer.calls[-1] == ("ListDeployments", {"FunctionName": "f", "Status": "InProgress"})
    client.stop("d-ABC123456")
    assert layer.calls[-1] == ("StopDeployment", {"DeploymentId": "d-ABC123456"})


def test_event_details_are_a_document_kept_whole(wired: tuple[Client, Layer]) -> None:
    client, _ = wired
    (event,) = client.get("d-ABC123456")["Events"]
    assert event["Details"] == {"Weight": 0.1, "AdditionalVersionWeights": {"2": 0.1}, "FunctionVersion": "1"}


def test_an_error_answer_is_an_api_error_with_the_servers_code(wired: tuple[Client, Layer]) -> None:
    client, layer = wired
    layer.error = ResourceConflict("Deployment d-ABC123456 is already completed (Stopped).")
    with pytest.raises(ApiError) as err:
        client.stop("d-ABC123456")
    assert (err.value.code, err.value.status) == ("ResourceConflictException", 409)
    assert err.value.message == "Deployment d-ABC123456 is already completed (Stopped)."


def test_a_path_like_id_stays_one_label_never_another_route() -> None:
    # botocore percent-encodes the label ("/" too): the layer routes on the raw path, then decodes
    client = Client("http://127.0.0.1:9", "AKIDEXAMPLE", "secret", "us-east-1")
    layer = Layer()
    client.api.meta.events.register("before-send", layer)
    client.get("../deployments")
    assert layer.calls[-1] == ("GetDeployment", {"DeploymentId": "../deployments"})


@pytest.mark.parametrize(("call", "code"), [
    (lambda c: c.get("d-" + "X" * 100), "ValidationException"),  # an id longer than any the server makes
    (lambda c: c.list(Status="Sideways"), "ValidationException"),
    (lambda c: c.create(FunctionName="f", Alias="1", TargetVersion="2"), "ValidationException"),  # numeric alias
    (lambda c: c.create(FunctionName="f", Alias="live", TargetVersion="2; rm"), "ValidationException"),
    (lambda c: c.create(FunctionName="f" * 200, Alias="live", TargetVersion="2"), "ValidationException"),
])
def test_what_the_model_forbids_is_refused_before_any_handler(wired: tuple[Client, Layer], call: Any, code: str) -> None:
    client, layer = wired
    with pytest.raises(ApiError) as err:
        call(client)
    assert (err.value.code, err.value.status) == (code, 400)
    assert layer.calls == []


def test_a_resolved_target_signs_with_its_keys_region_and_session_token() -> None:
    # Given temporary credentials as a profile or STS gives them
    target = Target("http://127.0.0.1:9", "us-east-1", "ASIATEMP", "temp-secret", "the-session-token", "aws:env")
    client = Client.of(target)
    seen: list[dict[str, str]] = []
    layer = Layer()

    def record(request: AWSPreparedRequest, **kwargs: Any) -> AWSResponse:
        seen.append({k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()})
        return layer(request, **kwargs)

    client.api.meta.events.register("before-send", record)
    # When it calls the API, and sends a raw request
    client.get("d-ABC123456")
    # Then the request carries the key's id in its scope and the token, signed
    (headers,) = seen
    assert headers["x-amz-security-token"] == "the-session-token"
    assert "Credential=ASIATEMP/" in headers["authorization"] and "x-amz-security-token" in headers["authorization"]
    assert client.credentials.token == "the-session-token"
