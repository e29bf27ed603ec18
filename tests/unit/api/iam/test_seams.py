"""The seams the server wires (Platform.iam, call.principal), and concurrent changes
through the handlers (they run off the event loop, serialised by the domain's lock)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, cast

from iam_wire import call, error
from starlette.datastructures import Headers

from lambent.api.dispatch import Call
from lambent.api.iam_api import iam_of, principal_of
from lambent.iam.model import PrincipalKind
from lambent.iam.service import IamService
from lambent.platform import Platform

ACCOUNT = "000000000000"


def _call(platform: Any, principal: Any) -> Call:
    return Call(cast(Platform, platform), "iam", "ListUsers", {}, "r", Headers({}), "", b"", principal)


def test_the_caller_is_the_principal_its_signature_was_verified_for(iam: IamService) -> None:
    root = iam.root_principal()
    found = principal_of(_call(SimpleNamespace(iam=iam), root))
    assert (found.kind, found.account_id, found.arn) == (PrincipalKind.ROOT, ACCOUNT, "arn:aws:iam::000000000000:root")
    assert iam_of(_call(SimpleNamespace(iam=iam), root)) is iam


async def test_concurrent_creates_lose_nothing_and_keep_the_quotas(iam: IamService) -> None:
    results = await asyncio.gather(*(call(iam, "iam", "CreateUser", {"UserName": f"u{i}"}) for i in range(20)))
    assert all("User" in r for r in results)
    assert len(iam.list_users(ACCOUNT)) == 20
    keys = await asyncio.gather(*(call(iam, "iam", "CreateAccessKey", {"UserName": "u0"}) for _ in range(6)))
    made = [k for k in keys if "AccessKey" in k]
    refused = [error(k) for k in keys if "Error" in k]
    assert len(made) == 2 and len(iam.list_access_keys(ACCOUNT, "u0")) == 2
    assert refused == [(409, "LimitExceeded", "Cannot exceed quota for AccessKeysPerUser: 2")] * 4
