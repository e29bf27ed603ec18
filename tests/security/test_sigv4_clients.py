"""SigV4 against real boto3 clients of every principal, in-process: each client's request is caught
just before it would be sent (botocore's ``before-send``: nothing leaves the process) and handed to
the verifier exactly as the server receives it, backed by a real :class:`IamService`. The attacks
are what a holder of a captured request, a leaked session token or a revoked key would try."""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSPreparedRequest
from botocore.config import Config

from lambent.api.sigv4 import AuthScope, SigV4Verifier
from lambent.errors import ExpiredToken, InvalidSignature, UnrecognizedClient
from lambent.iam.model import KeyStatus, Principal, PrincipalKind
from lambent.iam.service import IamService
from lambent.iam.sts import assume_role

ACCOUNT = "000000000000"
ROOT = ("LKIAROOTROOTROOTROOT", "root-secret-root-secret-root-secret-0000")
ENDPOINT = "http://127.0.0.1:9"  # never connected to: before-send stops every request
SERVICES = ("lambda", "iam", "sts", "scheduler", "lambent")


class _Captured(Exception):
    def __init__(self, request: AWSPreparedRequest) -> None:
        super().__init__("captured")
        self.request = request


@dataclass
class Wire:
    """A request as the server sees it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def verify(self, verifier: SigV4Verifier, now: dt.datetime | None = None) -> AuthScope:
        return verifier.verify(self.method, self.path, self.query, self.headers, self.body, now=now)


def capture(service: str, op: str, creds: tuple[str, str, str | None], region: str = "us-east-1",
            **params: Any) -> Wire:
    client = boto3.client(service, endpoint_url=ENDPOINT, region_name=region, aws_access_key_id=creds[0],
                          aws_secret_access_key=creds[1], aws_session_token=creds[2],
                          config=Config(retries={"max_attempts": 0}))

    def stop(request: AWSPreparedRequest, **_: Any) -> None:
        raise _Captured(request)

    client.meta.events.register("before-send", stop)
    with pytest.raises(_Captured) as caught:
        getattr(client, op)(**params)
    req = caught.value.request
    parts = urllib.parse.urlsplit(req.url)
    headers = {k.lower(): (v.decode() if isinstance(v, bytes) else v) for k, v in req.headers.items()}
    headers["host"] = parts.netloc
    body = req.body if isinstance(req.body, bytes) else (req.body or "").encode()
    return Wire(req.method, parts.path, parts.query, headers, body)


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@dataclass
class World:
    iam: IamService
    clock: Clock
    verifier: SigV4Verifier
    alice: tuple[str, str, str | None]
    alice_principal: Principal
    session: tuple[str, str, str | None]
    role_arn: str


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    clock = Clock()
    iam = IamService.open_in(tmp_path, ACCOUNT, ROOT, clock=clock)
    iam.create_user(ACCOUNT, "alice")
    key = iam.create_access_key(ACCOUNT, "alice")
    alice = iam.lookup(key.access_key_id)
    assert alice is not None
    trust = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": alice.arn}, "Action": "sts:AssumeRole"}]})
    role = iam.create_role(ACCOUNT, "worker", trust)
    issued = assume_role(iam, alice, role.arn, "job")
    s = issued.session
    yield World(iam, clock, SigV4Verifier(iam.lookup, region="us-east-1", services=SERVICES),
                (key.access_key_id, key.secret_access_key, None), alice,
                (s.access_key_id, s.secret_access_key, issued.session_token), role.arn)
    iam.close()


ROOT_CREDS = (ROOT[0], ROOT[1], None)


@pytest.mark.parametrize(("service", "op", "params"), [
    ("lambda", "invoke", {"FunctionName": "fn:live", "Payload": b'{"k": "v"}'}),
    ("lambda", "list_functions", {"MaxItems": 5}),
    ("iam", "list_users", {"PathPrefix": "/a b/"}),
    ("sts", "get_caller_identity", {}),
])
def test_every_principal_kind_signs_with_a_real_client(world: World, service: str, op: str,
                                                       params: dict[str, Any]) -> None:
    kinds = {}
    for creds in (ROOT_CREDS, world.alice, world.session):
        scope = capture(service, op, creds, **params).verify(world.verifier)
        assert (scope.access_key_id, scope.service) == (creds[0], service)
        kinds[scope.principal.kind] = scope.principal.arn
    assert kinds == {
        PrincipalKind.ROOT: "arn:aws:iam::000000000000:root",
        PrincipalKind.USER: "arn:aws:iam::000000000000:user/alice",
        PrincipalKind.ASSUMED_ROLE: "arn:aws:sts::000000000000:assumed-role/worker/job",
    }


def test_the_old_dict_verifier_still_serves_the_root(world: World) -> None:
    scope = capture("lambda", "list_functions", ROOT_CREDS).verify(SigV4Verifier({ROOT[0]: ROOT[1]}))
    assert scope.principal.kind is PrincipalKind.ROOT


@pytest.mark.parametrize("service", ["iam", "sts"])
def test_global_service_clients_of_another_region_pass(tmp_path: Path, world: World, service: str) -> None:
    # a server in eu-west-1: botocore scopes iam (and sts on its global endpoint) to us-east-1 or
    # to the client's region; both are accepted, a third region is not
    eu = SigV4Verifier(world.iam.lookup, region="eu-west-1", services=SERVICES)
    op = "list_users" if service == "iam" else "get_caller_identity"
    for region in ("us-east-1", "eu-west-1"):
        assert capture(service, op, world.alice, region=region).verify(eu).service == service
    with pytest.raises(InvalidSignature, match="not 'ap-south-1'"):
        capture(service, op, world.alice, region="ap-south-1").verify(eu)
    with pytest.raises(InvalidSignature, match="not 'us-east-1'"):
        capture("lambda", "list_functions", world.alice, region="us-east-1").verify(eu)


def test_a_leaked_session_token_does_not_work_with_another_key(world: World) -> None:
    # Given alice's long-term key and the session's token (leaked without its secret)
    stolen = (world.alice[0], world.alice[1], world.session[2])
    with pytest.raises(UnrecognizedClient, match="security token included in the request is invalid"):
        capture("sts", "get_caller_identity", stolen).verify(world.verifier)


def test_session_credentials_without_their_token_are_refused(world: World) -> None:
    without = (world.session[0], world.session[1], None)
    with pytest.raises(UnrecognizedClient):
        capture("lambda", "list_functions", without).verify(world.verifier)
    wrong = (world.session[0], world.session[1], world.session[2][:-2] + "xx")  # type: ignore[index]
    with pytest.raises(UnrecognizedClient):
        capture("lambda", "list_functions", wrong).verify(world.verifier)


def test_an_expired_session_is_expired_token_even_when_correctly_signed(world: World) -> None:
    w = capture("lambda", "list_functions", world.session)
    world.clock.now += 3601
    with pytest.raises(ExpiredToken, match="The security token included in the request is expired"):
        w.verify(world.verifier)


def test_a_deactivated_or_deleted_key_stops_at_once(world: World) -> None:
    w = capture("lambda", "list_functions", world.alice)
    assert w.verify(world.verifier).principal.name == "alice"
    world.iam.update_access_key(ACCOUNT, "alice", world.alice[0], KeyStatus.INACTIVE)
    with pytest.raises(UnrecognizedClient):
        w.verify(world.verifier)
    world.iam.update_access_key(ACCOUNT, "alice", world.alice[0], KeyStatus.ACTIVE)
    assert w.verify(world.verifier).principal.name == "alice"
    world.iam.delete_access_key(ACCOUNT, "alice", world.alice[0])
    with pytest.raises(UnrecognizedClient):
        w.verify(world.verifier)


def test_a_captured_request_cannot_be_retargeted(world: World) -> None:
    w = capture("lambda", "invoke", world.alice, FunctionName="fn", Payload=b'{"amount": 1}')
    attacks = [
        Wire(w.method, w.path.replace("/fn/", "/admin-fn/"), w.query, w.headers, w.body),
        Wire(w.method, w.path, w.query, w.headers, b'{"amount": 1000}'),
        Wire("DELETE", w.path, w.query, w.headers, w.body),
        Wire(w.method, w.path, "Qualifier=prod", w.headers, w.body),
    ]
    for attack in attacks:
        with pytest.raises(InvalidSignature, match="does not match the signature you provided"):
            attack.verify(world.verifier)


@pytest.mark.parametrize("header", ["x-amz-invocation-type", "x-amz-client-context", "x-amz-target", "X-Amz-Log-Type"])
def test_an_x_amz_header_added_to_a_captured_request_is_refused(world: World, header: str) -> None:
    # the signature does not cover a header the client did not send: unsigned, it would turn a
    # captured synchronous Invoke into an Event one, or inject a client context into the function
    w = capture("lambda", "invoke", world.alice, FunctionName="fn", Payload=b"{}")
    assert header.lower() not in w.headers
    w.headers[header] = "Event"
    with pytest.raises(InvalidSignature) as exc:
        w.verify(world.verifier)
    assert exc.value.message == (
        f"There were headers present in the request which were not signed: {header.lower()}")


def test_the_headers_every_sdk_leaves_unsigned_may_be_added(world: World) -> None:
    w = capture("lambda", "invoke", world.alice, FunctionName="fn", Payload=b"{}")
    w.headers.update({"user-agent": "other", "x-amzn-trace-id": "Root=1-2-3", "expect": "100-continue"})
    assert w.verify(world.verifier).principal.name == "alice"


def test_a_users_signature_cannot_be_claimed_for_the_root(world: World) -> None:
    # renaming the key id in a captured Authorization header does not escalate: the root's secret
    # would be needed to produce a matching signature
    w = capture("iam", "list_users", world.alice)
    w.headers["authorization"] = w.headers["authorization"].replace(world.alice[0], ROOT[0])
    with pytest.raises(InvalidSignature, match="does not match"):
        w.verify(world.verifier)


def test_a_captured_request_cannot_be_replayed_after_fifteen_minutes(world: World) -> None:
    w = capture("lambda", "list_functions", world.alice)
    now = dt.datetime.now(dt.timezone.utc)
    assert w.verify(world.verifier, now=now + dt.timedelta(minutes=14)).principal.name == "alice"
    with pytest.raises(InvalidSignature, match=r"^Signature expired: \d{8}T\d{6}Z is now earlier than .* - 15 min.\)$"):
        w.verify(world.verifier, now=now + dt.timedelta(minutes=16))


def test_a_scope_for_an_unserved_service_is_refused(world: World) -> None:
    w = capture("sqs", "list_queues", world.alice)
    with pytest.raises(InvalidSignature, match="Credential should be scoped to correct service"):
        w.verify(world.verifier)
