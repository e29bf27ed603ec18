"""Presigned (query-string) SigV4 with URLs made by boto3's own presigner (``generate_presigned_url``,
botocore's ``SigV4QueryAuth``), verified in-process against a real :class:`IamService`: what the
holder of a presigned URL can and cannot do with it."""

from __future__ import annotations

import datetime as dt
import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from lambent.api.sigv4 import AuthScope, SigV4Verifier
from lambent.errors import ExpiredToken, IncompleteSignature, InvalidSignature, UnrecognizedClient
from lambent.iam.model import KeyStatus, PrincipalKind
from lambent.iam.service import IamService
from lambent.iam.sts import assume_role

ACCOUNT = "000000000000"
ROOT = ("LKIAROOTROOTROOTROOT", "root-secret-root-secret-root-secret-0000")
ENDPOINT = "http://127.0.0.1:9"  # only URLs are made; nothing is sent


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.timezone.utc).timestamp()

    def __call__(self) -> float:
        return self.now


class World:
    def __init__(self, tmp_path: Path) -> None:
        self.clock = Clock()
        self.iam = IamService.open_in(tmp_path, ACCOUNT, ROOT, clock=self.clock)
        self.iam.create_user(ACCOUNT, "alice")
        key = self.iam.create_access_key(ACCOUNT, "alice")
        self.alice = (key.access_key_id, key.secret_access_key, None)
        principal = self.iam.lookup(key.access_key_id)
        assert principal is not None
        trust = json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": principal.arn}, "Action": "sts:AssumeRole"}]})
        role = self.iam.create_role(ACCOUNT, "worker", trust)
        issued = assume_role(self.iam, principal, role.arn, "job")
        self.session = (issued.session.access_key_id, issued.session.secret_access_key, issued.session_token)
        self.verifier = SigV4Verifier(self.iam.lookup, region="us-east-1", services=("lambda", "iam", "sts"))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    yield w
    w.iam.close()


def presign(creds: tuple[str, str, str | None], service: str = "sts", op: str = "get_caller_identity",
            expires: int = 60, http_method: str | None = "GET", **params: Any) -> str:
    client = boto3.client(service, endpoint_url=ENDPOINT, region_name="us-east-1", aws_access_key_id=creds[0],
                          aws_secret_access_key=creds[1], aws_session_token=creds[2])
    # botocore signs with the operation's method (POST for STS) unless told the one the URL is for
    url: str = client.generate_presigned_url(op, Params=params, ExpiresIn=expires, HttpMethod=http_method)
    return url


def verify(world: World, url: str, method: str = "GET", body: bytes = b"", now: dt.datetime | None = None,
           headers: dict[str, str] | None = None) -> AuthScope:
    parts = urllib.parse.urlsplit(url)
    return world.verifier.verify(method, parts.path, parts.query, {"host": parts.netloc, **(headers or {})}, body,
                                 now=now)


def test_presigned_urls_of_every_principal_kind_verify(world: World) -> None:
    kinds = {verify(world, presign(c)).principal.kind for c in ((ROOT[0], ROOT[1], None), world.alice, world.session)}
    assert kinds == {PrincipalKind.ROOT, PrincipalKind.USER, PrincipalKind.ASSUMED_ROLE}


def test_a_url_presigned_for_post_works_only_as_a_post(world: World) -> None:
    # what AWS answers too (boto/boto3#756): the method is part of the canonical request
    url = presign(world.alice, http_method=None)
    assert verify(world, url, method="POST").presigned
    with pytest.raises(InvalidSignature, match="does not match"):
        verify(world, url, method="GET")


def test_a_presigned_rest_json_get_verifies(world: World) -> None:
    url = presign(world.alice, "lambda", "get_function", FunctionName="my fn:live")
    scope = verify(world, url)
    assert (scope.presigned, scope.service, scope.principal.name) == (True, "lambda", "alice")


def test_a_session_url_carries_its_token_and_dies_with_the_session(world: World) -> None:
    url = presign(world.session)
    assert "X-Amz-Security-Token=" in url
    assert verify(world, url).principal.kind is PrincipalKind.ASSUMED_ROLE
    world.clock.now += 3601
    with pytest.raises(ExpiredToken):
        verify(world, url)


def test_a_session_url_with_its_token_removed_or_swapped_is_refused(world: World) -> None:
    url = presign(world.session)
    parts = urllib.parse.urlsplit(url)
    pairs = [p for p in parts.query.split("&") if not p.startswith("X-Amz-Security-Token=")]
    with pytest.raises(UnrecognizedClient):
        verify(world, urllib.parse.urlunsplit(parts._replace(query="&".join(pairs))))
    other = presign(world.alice)
    token = urllib.parse.quote(str(world.session[2]), safe="")
    with pytest.raises(UnrecognizedClient):
        verify(world, other + f"&X-Amz-Security-Token={token}")


def test_a_presigned_url_dies_at_its_expiry(world: World) -> None:
    url = presign(world.alice, expires=30)
    now = dt.datetime.now(dt.timezone.utc)
    assert verify(world, url, now=now + dt.timedelta(seconds=25)).presigned
    with pytest.raises(InvalidSignature, match=r"^Signature expired: .* - 30 sec.\)$"):
        verify(world, url, now=now + dt.timedelta(seconds=35))


def test_a_week_long_url_still_lives_only_fifteen_minutes(world: World) -> None:
    # AWS's non-S3 services hold presigned requests to the 15-minute window
    url = presign(world.alice, expires=604800)
    now = dt.datetime.now(dt.timezone.utc)
    assert verify(world, url, now=now + dt.timedelta(minutes=14)).presigned
    with pytest.raises(InvalidSignature, match=r"^Signature expired: .* - 15 min.\)$"):
        verify(world, url, now=now + dt.timedelta(minutes=16))


@pytest.mark.parametrize(("old", "new"), [
    ("X-Amz-Expires=60", "X-Amz-Expires=900"),                          # the holder extends it
    ("Action=GetCallerIdentity", "Action=AssumeRole"),                  # another operation
    ("Version=2011-06-15", "Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A000000000000%3Arole%2Fworker"),
])
def test_a_presigned_url_cannot_be_edited(world: World, old: str, new: str) -> None:
    url = presign(world.alice)
    assert old in url
    with pytest.raises(InvalidSignature, match="does not match the signature you provided"):
        verify(world, url.replace(old, new))


def test_a_presigned_get_cannot_become_a_post_with_a_body(world: World) -> None:
    url = presign(world.alice, "lambda", "get_function", FunctionName="fn")
    with pytest.raises(InvalidSignature, match="does not match"):
        verify(world, url, method="POST")
    with pytest.raises(InvalidSignature, match="does not match"):
        verify(world, url, body=b'{"FunctionName": "admin"}')


def test_a_presigned_url_cannot_smuggle_a_second_signature_or_header_auth(world: World) -> None:
    url = presign(world.alice)
    with pytest.raises(IncompleteSignature, match="must not repeat"):
        verify(world, url + "&X-Amz-Signature=" + "0" * 64)
    with pytest.raises(IncompleteSignature, match="Only one auth mechanism allowed"):
        verify(world, url, headers={"authorization": "AWS4-HMAC-SHA256 Credential=x"})


def test_a_presigned_url_cannot_carry_unsigned_amz_headers(world: World) -> None:
    url = presign(world.alice, "lambda", "get_function", FunctionName="fn")
    with pytest.raises(InvalidSignature, match="headers present in the request which were not signed: x-amz-target"):
        verify(world, url, headers={"x-amz-target": "AWSLambda.DeleteFunction"})


def test_a_revoked_key_kills_its_urls(world: World) -> None:
    url = presign(world.alice)
    world.iam.update_access_key(ACCOUNT, "alice", world.alice[0], KeyStatus.INACTIVE)
    with pytest.raises(UnrecognizedClient, match="security token included in the request is invalid"):
        verify(world, url)
