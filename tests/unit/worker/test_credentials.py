"""Execution-role credentials of environments (lambent/worker/credentials.py): when an environment
retires, what the cache shares, and that a deleted role gets no new credentials while its old
ones stop resolving (with the real IAM service and STS)."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import pytest

from lambent.control.model import FunctionConfig
from lambent.control.runtimes import RuntimeCatalog
from lambent.errors import AccessDenied, EnvironmentStartFailed
from lambent.iam.service import IamService
from lambent.iam.sts import assume_role_for_service
from lambent.observability.logs import LogStore
from lambent.sandbox import CgroupManager, Sandbox, SandboxError, SandboxOptions
from lambent.sandbox.spec import SandboxSpec
from lambent.settings import WorkerSettings
from lambent.worker.credentials import EXPIRY_MARGIN_S, CredentialCache, Credentials, credentials_via, known_to, retire_at
from lambent.worker.environment import INSIDE_API_PORT, EnvState
from lambent.worker.pool import WorkerPool

ACCOUNT = "123456789012"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


def cfg(name: str = "f", role: str = f"arn:aws:iam::{ACCOUNT}:role/exec", timeout_s: int = 3) -> FunctionConfig:
    return FunctionConfig(name=name, runtime="python3.11", role=role, handler="app.handler", code_hash_hex="a" * 64,
                          code_sha256_b64="x", code_size=1, last_modified="now", revision_id="r1", timeout_s=timeout_s)


def creds(issued_at: float = 1000.0, lifetime_s: float = 3600.0, key: str = "ASIAEXAMPLE") -> Credentials:
    return Credentials(key, "secret", "token", issued_at, issued_at + lifetime_s)


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_retires_at_two_thirds_of_the_lifetime() -> None:
    assert retire_at(creds(1000.0, 3600.0), timeout_s=3) == 1000.0 + 2400.0


def test_retires_early_enough_for_its_longest_invocation_to_end_with_valid_credentials() -> None:
    c = creds(1000.0, 1800.0)
    at = retire_at(c, timeout_s=900)
    assert at == c.expires_at - 900 - EXPIRY_MARGIN_S < c.issued_at + 1200
    assert at + 900 < c.expires_at


def test_environment_variables_are_lambdas_and_secrets_stay_out_of_repr() -> None:
    c = Credentials("ASIAKEY", "s3cr3t", "t0ken", 1.0, 2.0)
    assert c.env() == {"AWS_ACCESS_KEY_ID": "ASIAKEY", "AWS_SECRET_ACCESS_KEY": "s3cr3t", "AWS_SESSION_TOKEN": "t0ken"}
    assert "s3cr3t" not in repr(c) and "t0ken" not in repr(c)


@pytest.mark.parametrize("bad", [
    {"access_key_id": ""}, {"secret_access_key": ""}, {"session_token": ""}, {"expires_at": 1000.0},
])
def test_credentials_validate_themselves(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        replace(creds(), **bad)


def test_cache_shares_a_young_session_then_issues_a_new_one() -> None:
    clock = Clock()
    issued: list[str] = []

    def issue(c: FunctionConfig) -> Credentials:
        issued.append(c.name)
        return creds(clock.now, 3600.0, key=f"ASIA{len(issued)}")

    cache = CredentialCache(issue, clock=clock)
    first = cache(cfg())
    clock.now += 1199  # still in the first third
    assert cache(cfg()) is first
    clock.now += 1  # a third old: an environment started now would live less than a third
    second = cache(cfg())
    assert second is not first and second.access_key_id == "ASIA2"
    assert cache(cfg(name="g")).access_key_id == "ASIA3"  # per function
    assert cache(cfg(role=f"arn:aws:iam::{ACCOUNT}:role/other")).access_key_id == "ASIA4"  # per role
    assert issued == ["f", "f", "g", "f"]


def test_cache_forgets_a_role_and_is_bounded() -> None:
    clock = Clock()
    count = [0]

    def issue(c: FunctionConfig) -> Credentials:
        count[0] += 1
        return creds(clock.now, 3600.0, key=f"ASIA{count[0]}")

    cache = CredentialCache(issue, clock=clock, max_entries=3)
    cache(cfg())
    cache.forget(role_arn=cfg().role)
    assert cache.held() == {}
    assert cache(cfg()).access_key_id == "ASIA2"
    for i in range(10):
        cache(cfg(name=f"fn{i}"))
    assert len(cache.held()) <= 3


def test_a_function_without_a_role_gets_none() -> None:
    def assume(role_arn: str, session_name: str) -> object:
        raise AssertionError("not asked")

    assert credentials_via(assume)(cfg(role="")) is None  # type: ignore[arg-type]


@pytest.fixture
def iam(tmp_path: Path) -> IamService:
    svc = IamService.open_in(tmp_path, ACCOUNT, ("AKIAROOTROOTROOTROOT", "r" * 40))
    return svc


def test_real_sts_credentials_resolve_to_the_role_and_stop_when_it_is_deleted(iam: IamService) -> None:
    role = iam.create_role(ACCOUNT, "exec", TRUST)
    issue = credentials_via(lambda arn, name: assume_role_for_service(iam, "lambda.amazonaws.com", arn, name))
    cache = CredentialCache(issue)
    c = cache(cfg(role=role.arn))
    assert c is not None and c.access_key_id.startswith("ASIA")
    assert c.lifetime_s == 3600
    principal = iam.lookup(c.access_key_id)
    assert principal is not None and principal.arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/exec/f"
    assert principal.token_matches(c.session_token)

    iam.delete_role(ACCOUNT, "exec")
    assert iam.lookup(c.access_key_id) is None  # the old credentials stop working at once
    cache.forget(role_arn=role.arn)
    assert cache(cfg(role=role.arn)) is None  # and no environment gets new ones
    strict = credentials_via(lambda arn, name: assume_role_for_service(iam, "lambda.amazonaws.com", arn, name),
                             refuse_unassumable=True)
    with pytest.raises(AccessDenied):  # or, strictly, its start fails
        strict(cfg(role=role.arn))
    iam.close()


def test_a_role_that_does_not_trust_lambda_gives_no_credentials(iam: IamService) -> None:
    other = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    role = iam.create_role(ACCOUNT, "ec2only", other)
    issue = credentials_via(lambda arn, name: assume_role_for_service(iam, "lambda.amazonaws.com", arn, name))
    assert issue(cfg(role=role.arn)) is None
    assert issue(cfg(role=f"arn:aws:iam::{ACCOUNT}:role/never-made")) is None
    iam.close()


# -- what an environment does with them ---------------------------------------------------------
class _Inside:
    async def serve(self, sock: object, label: str, gate: object = None) -> object:
        raise AssertionError("no sandbox here")


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[tuple[SandboxSpec, SandboxOptions | None]]:
    specs: list[tuple[SandboxSpec, SandboxOptions | None]] = []

    async def start(spec: SandboxSpec, cgroups: object, options: SandboxOptions | None = None) -> object:
        specs.append((spec, options))
        raise SandboxError("stop here", sandbox_id=spec.sandbox_id)

    monkeypatch.setattr(Sandbox, "start", start)
    return specs


def _pool(tmp_path: Path) -> WorkerPool:
    (tmp_path / ("a" * 64)).mkdir(exist_ok=True)
    return WorkerPool(WorkerSettings(memory_budget_mb=1024), runtimes=RuntimeCatalog(),
                      code_dir=lambda sha: tmp_path / sha, logs=LogStore(tmp_path / "logs"),
                      cgroups=CgroupManager(root=str(tmp_path / "cg")), region="us-east-1")


async def test_an_environment_starts_with_its_credentials_and_the_inside_endpoint(
    tmp_path: Path, recorded: list[tuple[SandboxSpec, SandboxOptions | None]]
) -> None:
    pool = _pool(tmp_path)
    given = creds(time.time(), 3600.0, key="ASIAGIVEN")
    pool.credentials_with(lambda c: given)
    pool.serve_inside_with(_Inside())
    env = await pool.new_environment(cfg())
    with pytest.raises(EnvironmentStartFailed):
        await env.start("req-1")
    spec, options = recorded[0]
    assert options is not None and options.extra_listen_ports == (INSIDE_API_PORT,) == (9002,)
    assert spec.listen_port == 9001
    assert spec.env["AWS_ACCESS_KEY_ID"] == "ASIAGIVEN"
    assert spec.env["AWS_SECRET_ACCESS_KEY"] == "secret" and spec.env["AWS_SESSION_TOKEN"] == "token"
    assert spec.env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9002"
    assert env.retire_at == retire_at(given, 3)
    assert not env.retired(env.retire_at - 1) and env.retired(env.retire_at)
    await pool.shutdown()


async def test_without_hooks_nothing_is_added(tmp_path: Path, recorded: list[tuple[SandboxSpec, SandboxOptions | None]]) -> None:
    pool = _pool(tmp_path)
    env = await pool.new_environment(cfg())
    with pytest.raises(EnvironmentStartFailed):
        await env.start("req-1")
    spec, options = recorded[0]
    assert options is None or options.extra_listen_ports == ()
    assert not {"AWS_ACCESS_KEY_ID", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"} & set(spec.env)
    assert not env.retired()
    await pool.shutdown()


async def test_a_role_that_cannot_be_assumed_fails_the_start_before_any_sandbox(
    tmp_path: Path, recorded: list[tuple[SandboxSpec, SandboxOptions | None]]
) -> None:
    pool = _pool(tmp_path)

    def refuse(c: FunctionConfig) -> Credentials:
        raise AccessDenied("lambda.amazonaws.com is not authorized to perform: sts:AssumeRole")

    pool.credentials_with(refuse)
    env = await pool.new_environment(cfg())
    with pytest.raises(AccessDenied):
        await env.start("req-1")
    assert recorded == [] and env.state is EnvState.DEAD
    await pool.shutdown()


def _counting(clock: Clock, lifetime_s: float = 3600.0) -> tuple[list[str], CredentialCache]:
    issued: list[str] = []

    def issue(c: FunctionConfig) -> Credentials:
        issued.append(c.name)
        return creds(clock.now, lifetime_s, key=f"ASIA{len(issued)}")

    return issued, CredentialCache(issue, clock=clock)


async def test_a_prefetch_issues_off_the_loop_and_the_start_then_issues_nothing() -> None:
    clock = Clock()
    issued, cache = _counting(clock)
    cache.prefetch(cfg())
    cache.prefetch(cfg())  # one in flight per (function, role)
    await cache.wait_prefetches()
    assert issued == ["f"] and cache.prefetched == 1
    assert cache(cfg()).access_key_id == "ASIA1"
    assert cache.inline_issues == 0
    cache.prefetch(cfg())  # young enough: nothing to do
    await cache.wait_prefetches()
    assert issued == ["f"]
    cache.prefetch(cfg(role=""))  # no role, no credentials
    await cache.wait_prefetches()
    assert issued == ["f"]


async def test_a_used_session_gets_its_successor_ahead_of_need() -> None:
    clock = Clock()
    issued, cache = _counting(clock)
    first = cache(cfg())  # a miss: issued inline
    assert cache.inline_issues == 1
    clock.now += 900  # a quarter into its lifetime: still shared, its successor is prefetched
    assert cache(cfg()) is first
    await cache.wait_prefetches()
    assert len(issued) == 2
    clock.now += 300  # a third: the prefetched one takes over, no inline issue
    second = cache(cfg())
    assert second.access_key_id == "ASIA2" and cache.inline_issues == 1


async def test_a_prefetch_under_way_when_the_role_is_forgotten_is_not_kept() -> None:
    clock = Clock()
    issued, cache = _counting(clock)
    cache.prefetch(cfg())
    cache.forget(role_arn=cfg().role)
    await cache.wait_prefetches()
    assert len(issued) == 1 and cache.held() == {}


async def test_a_failing_prefetch_is_logged_and_the_start_issues_inline(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    calls = [0]

    def issue(c: FunctionConfig) -> Credentials:
        calls[0] += 1
        if calls[0] == 1:
            raise RuntimeError("iam.db is busy")
        return creds(clock.now, key="ASIAINLINE")

    cache = CredentialCache(issue, clock=clock)
    cache.prefetch(cfg())
    await cache.wait_prefetches()
    assert "prefetching role" in caplog.text
    assert cache(cfg()).access_key_id == "ASIAINLINE" and cache.inline_issues == 1


async def test_background_issues_are_bounded() -> None:
    clock = Clock()
    cache = CredentialCache(lambda c: creds(clock.now, key=f"ASIA{c.name}"), clock=clock, max_in_flight=2)
    for i in range(10):
        cache.prefetch(cfg(name=f"fn{i}"))
    assert len(cache._in_flight) == 2
    await cache.wait_prefetches()
    assert len(cache.held()) == 2


def test_a_held_session_iam_no_longer_knows_is_never_handed_out() -> None:
    clock = Clock()
    revoked: set[str] = set()
    issued: list[str] = []

    def issue(c: FunctionConfig) -> Credentials:
        issued.append(c.name)
        return creds(clock.now, key=f"ASIA{len(issued)}")

    cache = CredentialCache(issue, clock=clock, still_valid=lambda c: c.access_key_id not in revoked)
    first = cache(cfg())
    revoked.add(first.access_key_id)  # its role was deleted (and re-created): IAM refuses the key
    assert cache(cfg()).access_key_id == "ASIA2"


def test_with_real_iam_a_deleted_roles_held_session_is_not_reused(iam: IamService) -> None:
    iam.create_role(ACCOUNT, "exec", TRUST)

    cache = CredentialCache(
        credentials_via(lambda arn, name: assume_role_for_service(iam, "lambda.amazonaws.com", arn, name)),
        still_valid=known_to(iam.lookup))
    first = cache(cfg())
    assert first is not None and cache(cfg()) is first
    iam.delete_role(ACCOUNT, "exec")
    iam.create_role(ACCOUNT, "exec", TRUST)  # same name, new role: the old session stays dead
    second = cache(cfg())
    assert second is not None and second.access_key_id != first.access_key_id
    assert iam.lookup(second.access_key_id) is not None


async def test_prefetches_are_bounded_per_minute() -> None:
    clock = Clock(6000.0)
    cache = CredentialCache(lambda c: creds(clock.now, key=f"ASIA{c.name}"), clock=clock, max_prefetch_per_minute=3)
    for i in range(10):
        cache.prefetch(cfg(name=f"fn{i}"))
        await cache.wait_prefetches()
    assert cache.prefetched == 3
    clock.now += 60  # the next minute
    cache.prefetch(cfg(name="later"))
    await cache.wait_prefetches()
    assert cache.prefetched == 4


async def test_a_server_start_prefetches_its_functions_within_the_bounds() -> None:
    # Given 50 loaded functions (one without a role), 4 issues at a time and 30 a minute
    clock = Clock()
    issued: list[str] = []

    def issue(c: FunctionConfig) -> Credentials:
        issued.append(c.name)
        return creds(clock.now, key=f"ASIA{c.name}")

    cache = CredentialCache(issue, clock=clock, max_in_flight=4, max_prefetch_per_minute=30)
    loaded = [cfg(f"f{i}") for i in range(49)] + [cfg("norole", role="")]
    # When the server starts
    cache.prefetch_all(loaded)
    await cache.wait_prefetches()
    # Then the first 30 have their credentials ahead of their first start, the rest issue inline
    assert issued == [f"f{i}" for i in range(30)]
    assert cache(cfg("f0")).access_key_id == "ASIAf0" and cache(cfg("f29")).access_key_id == "ASIAf29"
    assert cache.inline_issues == 0
    cache(cfg("f30"))
    assert cache.inline_issues == 1


async def test_shutdown_stops_the_start_up_prefetch() -> None:
    clock = Clock()
    issued, cache = _counting(clock)
    cache.prefetch_all([cfg(f"f{i}") for i in range(100)])
    cache.stop_prefetch_all()
    await cache.wait_prefetches()
    assert issued == []
