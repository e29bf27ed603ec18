"""Execution-role credentials of each execution environment, and when an environment must retire.

Lambda gives a function its role's temporary credentials as environment variables set at init
(``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``;
https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime).
Environment variables of a running process cannot be changed from outside, so credentials are
not refreshed in place: an environment is *retired* (takes no new invocation; the pool destroys
it and the next invoke starts a new one with fresh credentials) before its credentials could
expire under an invocation, as AWS replaces environments whose credentials are outdated
(https://docs.aws.amazon.com/lambda/latest/dg/lambda-intro-execution-role.html: updating a
function "forces running instances of your function, which have outdated credentials, to stop
and be replaced"). :func:`retire_at` is the latest of: two thirds into the credentials' lifetime,
and their expiry minus the function's timeout and a margin (an invocation taken just before
retirement still ends with valid credentials).

:class:`CredentialCache` issues one session per (function, role) and shares it with the
environments started in the first third of its lifetime, so a function that cold-starts in a
loop cannot exhaust the account's live-session quota; every environment gets at least a third
of a lifetime of use. Issuing (STS: the secret sealed with AES-GCM, a row written to iam.db) is
kept off the cold-start path: :meth:`CredentialCache.prefetch` issues in a worker thread, ahead
of need — when a function is created or changed (the platform's change hook) and, for a function
still starting environments, once its shared session is a quarter into its lifetime, so the
session that replaces it at a third is ready; at server start, for the functions it loaded
(:meth:`CredentialCache.prefetch_all`), so the first cold starts after a restart find theirs. Only a
start that finds nothing young (a prefetch not finished yet, or refused) issues inline, as before. A deleted role gets no new credentials
(the issuer refuses; see :func:`credentials_via`) and its old ones stop working because IAM's
lookup refuses a deleted role's sessions; a held session is handed out only while ``still_valid``
says IAM still knows it (a dict lookup), so an environment never starts with revoked credentials;
:meth:`CredentialCache.forget` drops what the cache holds for a role or a function, and a
prefetch that was under way when it was called is not kept.

Abuse case: a function that cold-starts in a loop (or many functions created in a loop) cannot
make the cache issue without bound: one session per (function, role) per third of a lifetime,
at most ``max_in_flight`` background issues at once and ``max_prefetch_per_minute`` in a minute
(more are skipped: the start then issues inline, as before), at most ``max_entries`` held. The
per-minute bound keeps functions created (and deleted) in a loop, never invoked, from filling
the account's live-session quota (10,000) with prefetched sessions: 120 a minute is 7,200 an hour.

The issuer is given as a callable (:data:`CredentialsFor`), so this package needs no IAM.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from lambent.control.model import FunctionConfig
from lambent.errors import AccessDenied, ExpiredToken

__all__ = ["CredentialCache", "Credentials", "CredentialsFor", "IssuedLike", "credentials_via", "known_to", "retire_at"]

log = logging.getLogger(__name__)

#: An invocation taken right before retirement must still end this long before expiry.
EXPIRY_MARGIN_S = 60.0
#: A held session is shared until this fraction of its lifetime...
SHARE_FRACTION = 1 / 3
#: ...and its successor is issued in the background from this fraction on, when it is used.
REFRESH_FRACTION = 1 / 4


@dataclass(frozen=True)
class Credentials:
    """Temporary credentials of an execution role; times are wall-clock epoch seconds."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str = field(repr=False)
    issued_at: float
    expires_at: float

    def __post_init__(self) -> None:
        if not (self.access_key_id and self.secret_access_key and self.session_token):
            raise ValueError("credentials need a key id, a secret and a session token")
        if self.expires_at <= self.issued_at:
            raise ValueError("credentials must expire after they were issued")

    @property
    def lifetime_s(self) -> float:
        return self.expires_at - self.issued_at

    def env(self) -> dict[str, str]:
        """The environment variables Lambda sets for them."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_SESSION_TOKEN": self.session_token,
        }


#: Credentials for a function's execution role, or None when it runs without any.
CredentialsFor = Callable[[FunctionConfig], "Credentials | None"]


def retire_at(creds: Credentials, timeout_s: float) -> float:
    """When an environment holding ``creds`` must stop taking invocations (wall clock)."""
    at_two_thirds = creds.issued_at + creds.lifetime_s * 2 / 3
    last_safe_start = creds.expires_at - timeout_s - EXPIRY_MARGIN_S
    return min(at_two_thirds, last_safe_start)


class _SessionLike(Protocol):
    @property
    def access_key_id(self) -> str: ...
    @property
    def secret_access_key(self) -> str: ...
    @property
    def created_at(self) -> float: ...
    @property
    def expires_at(self) -> float: ...


class IssuedLike(Protocol):
    """What STS issues (``lambent.iam.sts.IssuedCredentials``)."""

    @property
    def session(self) -> _SessionLike: ...
    @property
    def session_token(self) -> str: ...


def credentials_via(assume: Callable[[str, str], IssuedLike], *, refuse_unassumable: bool = False) -> CredentialsFor:
    """A :data:`CredentialsFor` from ``assume(role_arn, session_name)``, e.g.
    ``lambda arn, name: sts.assume_role_for_service(iam, "lambda.amazonaws.com", arn, name)``.
    The session is named after the function, as Lambda's; a function without a role gets None.
    A role ``assume`` refuses (AccessDenied: it does not exist, was deleted, or does not trust
    Lambda) gives None too (the environment runs without credentials, logged), or, with
    ``refuse_unassumable``, the refusal propagates and the start fails."""

    def credentials_for(cfg: FunctionConfig) -> Credentials | None:
        if not cfg.role:
            return None
        try:
            issued = assume(cfg.role, cfg.name)
        except AccessDenied:
            if refuse_unassumable:
                raise
            log.warning("function %s: role %s cannot be assumed; its environment gets no credentials",
                        cfg.name, cfg.role)
            return None
        s = issued.session
        return Credentials(s.access_key_id, s.secret_access_key, issued.session_token, s.created_at, s.expires_at)

    return credentials_for


def known_to(lookup: Callable[[str], object | None]) -> Callable[[Credentials], bool]:
    """``still_valid`` for :class:`CredentialCache` from an access-key lookup (``IamService.lookup``):
    credentials are valid while the lookup knows their key (not revoked, not expired)."""

    def still_valid(creds: Credentials) -> bool:
        try:
            return lookup(creds.access_key_id) is not None
        except ExpiredToken:
            return False

    return still_valid


class CredentialCache:
    """Shares one session per (function, role) while it is young (first third of its
    lifetime), issued ahead of need in the background. Scope: one per server; event-loop only
    (the issuer itself runs on a worker thread for prefetches)."""

    def __init__(self, issue: CredentialsFor, *, clock: Callable[[], float] = time.time, max_entries: int = 4096,
                 still_valid: Callable[[Credentials], bool] | None = None, max_in_flight: int = 32,
                 max_prefetch_per_minute: int = 120) -> None:
        self._issue = issue
        self._clock = clock
        self._max_entries = max_entries
        self._still_valid = still_valid
        self._max_in_flight = max_in_flight
        self._held: dict[tuple[str, str], Credentials] = {}
        self._in_flight: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._max_per_minute = max_prefetch_per_minute
        #: (the minute, prefetches started in it): a fixed window.
        self._window: tuple[int, int] = (0, 0)
        #: Bumped by forget(): a prefetch started before it does not keep what it issued.
        self._generation = 0
        #: Issues made inline on a start (a miss) and in the background (for tests and benchmarks).
        self.inline_issues = 0
        self.prefetched = 0
        #: The start-up prefetch of every loaded function (prefetch_all), while it runs.
        self._warming: asyncio.Task[None] | None = None

    def _usable(self, creds: Credentials, now: float, fraction: float = SHARE_FRACTION) -> bool:
        return now < creds.issued_at + creds.lifetime_s * fraction and (
            self._still_valid is None or self._still_valid(creds))

    def __call__(self, cfg: FunctionConfig) -> Credentials | None:
        key = (cfg.key, cfg.role)
        now = self._clock()
        held = self._held.get(key)
        if held is not None and self._usable(held, now):
            if now >= held.issued_at + held.lifetime_s * REFRESH_FRACTION:
                self.prefetch(cfg)  # its successor, ready before this one stops being shared
            return held
        self.inline_issues += 1
        creds = self._issue(cfg)
        if creds is None:
            self._held.pop(key, None)
            return None
        self._keep(key, creds, now)
        return creds

    def prefetch(self, cfg: FunctionConfig) -> None:
        """Issue ``cfg``'s credentials in the background (a worker thread), unless a session
        young enough not to need a successor is held, one is being issued already, or
        ``max_in_flight`` are. Without a running event loop: nothing."""
        if not cfg.role:
            return
        key = (cfg.key, cfg.role)
        held = self._held.get(key)
        if key in self._in_flight or len(self._in_flight) >= self._max_in_flight:
            return
        now = self._clock()
        if held is not None and self._usable(held, now, REFRESH_FRACTION):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        minute, started = self._window
        if int(now // 60) != minute:
            minute, started = int(now // 60), 0
        if started >= self._max_per_minute:
            return
        self._window = (minute, started + 1)
        task = loop.create_task(self._fetch(key, cfg, self._generation))
        self._in_flight[key] = task

        def done(t: asyncio.Task[None]) -> None:
            if self._in_flight.get(key) is t:
                del self._in_flight[key]

        task.add_done_callback(done)

    def _window_spent(self) -> bool:
        minute, started = self._window
        return int(self._clock() // 60) == minute and started >= self._max_per_minute

    def prefetch_all(self, cfgs: Iterable[FunctionConfig]) -> None:
        """Prefetch each of ``cfgs`` in the background (a server start: the functions it loaded),
        ``max_in_flight`` at a time and within the per-minute bound: past it the rest issue
        inline at their first start, as before. Without a running event loop: nothing."""
        todo = [c for c in cfgs if c.role]
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return

        async def run() -> None:
            for cfg in todo:
                while len(self._in_flight) >= self._max_in_flight:
                    await asyncio.wait(list(self._in_flight.values()), return_when=asyncio.FIRST_COMPLETED)
                if self._window_spent():
                    return
                self.prefetch(cfg)

        if todo:
            self._warming = loop.create_task(run(), name="credentials-prefetch-all")

    async def _fetch(self, key: tuple[str, str], cfg: FunctionConfig, generation: int) -> None:
        try:
            creds = await asyncio.to_thread(self._issue, cfg)
        except Exception as exc:  # noqa: BLE001 - a refused prefetch only means the start issues inline
            log.warning("function %s: prefetching role %s's credentials failed: %s", cfg.name, cfg.role, exc)
            return
        if generation != self._generation:
            return  # forgotten meanwhile (role or function deleted or changed)
        self.prefetched += 1
        if creds is None:
            self._held.pop(key, None)
            return
        self._keep(key, creds, self._clock())

    def stop_prefetch_all(self) -> None:
        """Start no more of :meth:`prefetch_all`'s issues (shutdown; those under way finish)."""
        if self._warming is not None:
            self._warming.cancel()

    async def wait_prefetches(self) -> None:
        """Wait for the background issues under way (tests, benchmarks, shutdown)."""
        if self._warming is not None:
            await asyncio.gather(self._warming, return_exceptions=True)
            self._warming = None
        while self._in_flight:
            await asyncio.gather(*list(self._in_flight.values()), return_exceptions=True)

    def _keep(self, key: tuple[str, str], creds: Credentials, now: float) -> None:
        held = self._held.get(key)
        if held is not None and held.issued_at > creds.issued_at:
            return  # a younger one is held already
        if key not in self._held and len(self._held) >= self._max_entries:
            self._drop_stale(now)
        self._held[key] = creds

    def forget(self, role_arn: str | None = None, function_name: str | None = None) -> None:
        """Drop what is held for a role (deleted or changed) or a function (deleted)."""
        self._generation += 1
        for key in [k for k in self._held if k[1] == role_arn or k[0] == function_name]:
            del self._held[key]

    def _drop_stale(self, now: float) -> None:
        for key, creds in list(self._held.items()):
            if now >= creds.issued_at + creds.lifetime_s * SHARE_FRACTION:
                del self._held[key]
        while len(self._held) >= self._max_entries:
            del self._held[next(iter(self._held))]

    def held(self) -> Mapping[tuple[str, str], Credentials]:
        return dict(self._held)
