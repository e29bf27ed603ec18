"""Who may call CloudWatch: a user of the account needs cloudwatch:* permissions (AWS's denial
otherwise; before the integrator lists the actions, non-root callers are refused: fail closed),
and ``cloudwatch:namespace`` confines PutMetricData to the namespaces its policy names."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from cw_wire import CLOUDWATCH_ERRORS, QueryClient, _service, error

from lambent.api import envelopes
from lambent.api.cloudwatch_api import SIGV4_SERVICE
from lambent.api.dispatch import Dispatcher
from lambent.iam import enforce
from lambent.iam.actions import ACTIONS
from lambent.iam.actions_cloudwatch import actions
from lambent.iam.authorize import Authorizer
from lambent.iam.model import OwnerKind, Principal
from lambent.iam.service import IamService
from lambent.observability.metrics import MetricsService
from lambent.observability.metrics.cloudwatch import CloudWatch
from lambent.platform import Platform
from lambent.settings import Settings

ACCOUNT = "000000000000"


def _doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


@pytest.fixture
def iam(tmp_path: Path) -> Iterator[IamService]:
    svc = IamService.open_in(tmp_path, ACCOUNT, ("LKIAROOTROOTROOTROOT", "r" * 40))
    yield svc
    svc.close()


def setup(iam: IamService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[QueryClient, Principal, MetricsService]:
    monkeypatch.setitem(envelopes.TABLES, "cloudwatch", CLOUDWATCH_ERRORS)
    metrics = MetricsService(None, retention_s=86400.0, max_series=100, flush_interval_s=10.0)
    platform = SimpleNamespace(settings=Settings(data_dir=tmp_path), cloudwatch=CloudWatch(metrics),
                               authorizer=Authorizer(iam), function_policies=SimpleNamespace(for_arn=lambda arn: None))
    service = _service("query")
    client = QueryClient(Dispatcher(cast(Platform, platform), {SIGV4_SERVICE: service}), service)
    iam.create_user(ACCOUNT, "app")
    key = iam.create_access_key(ACCOUNT, "app")
    principal = iam.lookup(key.access_key_id)
    assert principal is not None
    return client, principal, metrics


PUT = {"Namespace": "Mine", "MetricData": [{"MetricName": "M", "Value": 1.0}]}


async def test_without_the_action_table_a_user_is_refused(iam: IamService, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    client, user, metrics = setup(iam, tmp_path, monkeypatch)
    monkeypatch.setattr(enforce, "ACTIONS", {k: v for k, v in ACTIONS.items() if k[0] != SIGV4_SERVICE})
    iam.put_inline_policy(ACCOUNT, OwnerKind.USER, "app", "all", _doc({"Effect": "Allow", "Action": "*", "Resource": "*"}))
    status, _, _ = error(await client("PutMetricData", PUT, principal=user))
    assert status == 500  # no IAM action known: refused, never allowed
    assert list(metrics.series()) == []


async def test_namespace_condition_confines_put_metric_data(iam: IamService, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    client, user, metrics = setup(iam, tmp_path, monkeypatch)
    monkeypatch.setattr(enforce, "ACTIONS", {**ACTIONS, **{(a.service, a.operation): a for a in actions()}})
    iam.put_inline_policy(ACCOUNT, OwnerKind.USER, "app", "put", _doc(
        {"Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*",
         "Condition": {"StringEquals": {"cloudwatch:namespace": "Mine"}}}))
    ok = await client("PutMetricData", PUT, principal=user)
    assert ok["ResponseMetadata"]["HTTPStatusCode"] == 200
    status, code, message = error(await client("PutMetricData", {**PUT, "Namespace": "Theirs"}, principal=user))
    assert (status, code) == (403, "AccessDenied")
    assert "cloudwatch:PutMetricData" in message
    status, code, _ = error(await client("ListMetrics", {}, principal=user))  # no read permission
    assert (status, code) == (403, "AccessDenied")
    assert [s.namespace for s in metrics.series()] == ["Mine"]
