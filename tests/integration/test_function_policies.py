"""AddPermission / GetPolicy / RemovePermission through boto3 against a real server: AWS's exact
shapes, 404 once the last statement is gone, policies kept across a restart, deleted with their
function."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from harness import Server, create_function

APP: dict[str, str | bytes] = {"app.py": "def handler(event, context):\n    return event\n"}


@pytest.fixture
def policy_server(fresh_server: Callable[..., Server]) -> Server:
    """A server of its own: the tests restart it."""
    return fresh_server()


def _code(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    err: Any = exc.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Message"]


def test_add_get_remove_get(policy_server: Server) -> None:
    lam = policy_server.client()
    name = create_function(lam, APP)
    arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    # When two permissions are added
    added = lam.add_permission(FunctionName=name, StatementId="s3", Action="lambda:InvokeFunction",
                               Principal="s3.amazonaws.com", SourceArn="arn:aws:s3:::bucket",
                               SourceAccount="123456789012")
    lam.add_permission(FunctionName=name, StatementId="acct", Action="lambda:GetFunction", Principal="123456789012")
    # Then AddPermission answered 201 with the statement as JSON text
    assert added["ResponseMetadata"]["HTTPStatusCode"] == 201
    s3 = {"Sid": "s3", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
          "Action": "lambda:InvokeFunction", "Resource": arn,
          "Condition": {"StringEquals": {"AWS:SourceAccount": "123456789012"},
                        "ArnLike": {"AWS:SourceArn": "arn:aws:s3:::bucket"}}}
    assert json.loads(added["Statement"]) == s3
    # And GetPolicy answers the whole document
    got = lam.get_policy(FunctionName=name)
    acct = {"Sid": "acct", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
            "Action": "lambda:GetFunction", "Resource": arn}
    assert json.loads(got["Policy"]) == {"Version": "2012-10-17", "Id": "default", "Statement": [s3, acct]}
    assert got["RevisionId"]
    # A repeated statement id is AWS's 409
    with pytest.raises(ClientError) as conflict:
        lam.add_permission(FunctionName=name, StatementId="s3", Action="lambda:InvokeFunction", Principal="*")
    assert _code(conflict)[:2] == ("ResourceConflictException", 409)
    # When both are removed (the second with the current RevisionId), GetPolicy is 404
    lam.remove_permission(FunctionName=name, StatementId="s3")
    rev = lam.get_policy(FunctionName=name)["RevisionId"]
    assert rev != got["RevisionId"]
    removed = lam.remove_permission(FunctionName=name, StatementId="acct", RevisionId=rev)
    assert removed["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as gone:
        lam.get_policy(FunctionName=name)
    assert _code(gone) == ("ResourceNotFoundException", 404, "The resource you requested does not exist.")


def test_policies_persist_and_go_with_their_function(policy_server: Server) -> None:
    lam = policy_server.client()
    name = create_function(lam, APP)
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.add_permission(FunctionName=name, StatementId="v", Action="lambda:InvokeFunction", Principal="*",
                       Qualifier=version)
    before = lam.get_policy(FunctionName=name, Qualifier=version)
    # the unqualified function has no policy of its own
    with pytest.raises(ClientError):
        lam.get_policy(FunctionName=name)
    # When the server restarts, the version's policy is there unchanged
    policy_server.stop()
    policy_server.start()
    lam = policy_server.client()
    after = lam.get_policy(FunctionName=name, Qualifier=version)
    assert (after["Policy"], after["RevisionId"]) == (before["Policy"], before["RevisionId"])
    # When the function is deleted and re-created under its name, it has no policy
    lam.delete_function(FunctionName=name)
    create_function(lam, APP, FunctionName=name)
    new_version = lam.publish_version(FunctionName=name)["Version"]
    assert new_version == version
    with pytest.raises(ClientError) as gone:
        lam.get_policy(FunctionName=name, Qualifier=version)
    assert _code(gone)[:2] == ("ResourceNotFoundException", 404)


def _revision(lam: Any, name: str, qualifier: str | None = None) -> str:
    kw = {"Qualifier": qualifier} if qualifier else {}
    return str(lam.get_function_configuration(FunctionName=name, **kw)["RevisionId"])


def _settled(lam: Any, name: str) -> str:
    """$LATEST's RevisionId once its update has finished (the finish is a new revision)."""
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    return _revision(lam, name)


def test_the_policy_revision_is_the_function_versions_and_the_aliass(policy_server: Server) -> None:
    lam = policy_server.client()
    name = create_function(lam, APP)
    rev0 = _settled(lam, name)
    # A stale RevisionId is AWS's 412, and nothing is added
    with pytest.raises(ClientError) as stale:
        lam.add_permission(FunctionName=name, StatementId="a", Action="lambda:InvokeFunction", Principal="*",
                           RevisionId="00000000-0000-0000-0000-000000000000")
    assert _code(stale)[:2] == ("PreconditionFailedException", 412)
    # AddPermission with $LATEST's RevisionId changes $LATEST's RevisionId: GetPolicy and GetFunction agree
    lam.add_permission(FunctionName=name, StatementId="a", Action="lambda:InvokeFunction", Principal="*",
                       RevisionId=rev0)
    rev1 = lam.get_policy(FunctionName=name)["RevisionId"]
    assert rev1 != rev0
    assert rev1 == lam.get_function(FunctionName=name)["Configuration"]["RevisionId"] == _revision(lam, name)
    with pytest.raises(ClientError) as again:
        lam.add_permission(FunctionName=name, StatementId="b", Action="lambda:InvokeFunction", Principal="*",
                           RevisionId=rev0)
    assert _code(again)[:2] == ("PreconditionFailedException", 412)
    # The new RevisionId is $LATEST's own: UpdateFunctionConfiguration accepts it
    lam.update_function_configuration(FunctionName=name, Description="d", RevisionId=rev1)
    rev2 = _settled(lam, name)
    assert lam.get_policy(FunctionName=name)["RevisionId"] == rev2 != rev1
    # A version's policy carries the version's RevisionId, and changes only it
    version = lam.publish_version(FunctionName=name)["Version"]
    latest_before, v_before = _revision(lam, name), _revision(lam, name, version)
    lam.add_permission(FunctionName=name, StatementId="v", Action="lambda:InvokeFunction", Principal="*",
                       Qualifier=version, RevisionId=v_before)
    v_after = _revision(lam, name, version)
    assert v_after != v_before
    assert lam.get_policy(FunctionName=name, Qualifier=version)["RevisionId"] == v_after
    assert _revision(lam, name) == latest_before
    # An alias's policy carries the alias's RevisionId (GetAlias shows the new one)
    alias_rev = lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)["RevisionId"]
    lam.add_permission(FunctionName=name, StatementId="l", Action="lambda:InvokeFunction", Principal="*",
                       Qualifier="live", RevisionId=alias_rev)
    alias_after = lam.get_alias(FunctionName=name, Name="live")["RevisionId"]
    assert alias_after != alias_rev
    assert lam.get_policy(FunctionName=name, Qualifier="live")["RevisionId"] == alias_after
    assert _revision(lam, name, version) == v_after
    # RemovePermission: a stale RevisionId is 412; the current one removes and changes it
    with pytest.raises(ClientError) as stale_remove:
        lam.remove_permission(FunctionName=name, StatementId="l", Qualifier="live", RevisionId=alias_rev)
    assert _code(stale_remove)[:2] == ("PreconditionFailedException", 412)
    lam.remove_permission(FunctionName=name, StatementId="l", Qualifier="live", RevisionId=alias_after)
    assert lam.get_alias(FunctionName=name, Name="live")["RevisionId"] not in (alias_rev, alias_after)
    lam.remove_permission(FunctionName=name, StatementId="a", RevisionId=rev2)
    assert _revision(lam, name) not in (rev0, rev1, rev2)
    # A permission changed while an update is in progress: the update still finishes (Successful)
    lam.update_function_configuration(FunctionName=name, Description="during")
    lam.add_permission(FunctionName=name, StatementId="during", Action="lambda:InvokeFunction", Principal="*")
    final = _settled(lam, name)
    assert lam.get_function_configuration(FunctionName=name)["LastUpdateStatus"] == "Successful"
    assert lam.get_policy(FunctionName=name)["RevisionId"] == final


COUNTER: dict[str, str | bytes] = {"app.py": "N = [0]\n\ndef handler(event, context):\n    N[0] += 1\n    return N[0]\n"}


def _invoke(lam: Any, name: str, qualifier: str | None = None) -> Any:
    kw = {"Qualifier": qualifier} if qualifier else {}
    return json.loads(lam.invoke(FunctionName=name, Payload=b"{}", **kw)["Payload"].read())


def test_a_permission_change_keeps_warm_environments_and_a_real_update_does_not(policy_server: Server) -> None:
    lam = policy_server.client()
    name = create_function(lam, COUNTER)
    _settled(lam, name)
    assert _invoke(lam, name) == 1
    # AddPermission gives $LATEST a new RevisionId but changes nothing it runs with: still warm
    lam.add_permission(FunctionName=name, StatementId="a", Action="lambda:InvokeFunction", Principal="*")
    assert _invoke(lam, name) == 2
    lam.add_permission(FunctionName=name, StatementId="b", Action="lambda:InvokeFunction", Principal="*")
    lam.remove_permission(FunctionName=name, StatementId="a")
    assert _invoke(lam, name) == 3
    # A real change after permission changes still starts a new environment
    lam.update_function_configuration(FunctionName=name, Description="changed")
    _settled(lam, name)
    assert _invoke(lam, name) == 1
    # The same for a published version
    version = lam.publish_version(FunctionName=name)["Version"]
    assert _invoke(lam, name, version) == 1
    lam.add_permission(FunctionName=name, StatementId="v", Action="lambda:InvokeFunction", Principal="*",
                       Qualifier=version)
    assert _invoke(lam, name, version) == 2
