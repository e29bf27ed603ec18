"""FunctionEventInvokeConfig: retries, event age and destinations per version or alias.

https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-configuring.html — a
configuration belongs to one qualifier (``$LATEST`` when none is given); Put replaces it,
Update merges into it. Destinations may be a Lambda function, an SQS queue, an SNS topic or an
EventBridge event bus.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from dataclasses import dataclass
from typing import Any

from lambent import arns
from lambent.control.functions import FunctionService
from lambent.control.updates import InvokeConfigUpdate, or_current
from lambent.errors import InvalidParameterValue, ResourceNotFound
from lambent.store.invoke_configs import InvokeConfigStore

_DESTINATION = re.compile(r"^arn:aws[a-zA-Z-]*:(lambda|sqs|sns|events):[a-z0-9-]*:\d{12}:.+$")
_LAMBDA_DESTINATION = re.compile(
    r"^arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z0-9-]*):(?P<account>\d{12}):function:(?P<name>[a-zA-Z0-9-_]+)(:[^:]+)?$"
)


@dataclass(frozen=True)
class EventInvokeConfig:
    #: The function's key (``ACCOUNT:function:NAME``).
    function: arns.FunctionKey
    qualifier: str
    last_modified: float
    max_retry_attempts: int | None = None
    max_event_age_s: int | None = None
    on_success: str | None = None
    on_failure: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def check_destination(arn: str | None) -> None:
    if arn and not _DESTINATION.match(arn):
        raise InvalidParameterValue(f"The destination ARN {arn} is invalid.")


class EventInvokeConfigs:
    """Scope: one per server; an in-memory cache written through to the store."""

    def __init__(self, functions: FunctionService, store: InvokeConfigStore, *, load: bool = True) -> None:
        """No I/O when ``load=False``: no configuration is known until :meth:`load`."""
        self.functions = functions
        self.store = store
        self._configs: dict[tuple[arns.FunctionKey, str], EventInvokeConfig] = {}
        self._loaded = False
        functions.on_change(self._function_changed)
        if load:  # transitional: remove (and the flag) when Platform.start() awaits load()
            self._adopt(self._read())

    async def load(self) -> None:
        """Read the configurations from the store (once; later calls do nothing)."""
        if not self._loaded:
            self._adopt(await asyncio.to_thread(self._read))

    def _read(self) -> dict[tuple[arns.FunctionKey, str], EventInvokeConfig]:
        # The row's key is the function's (a config written before accounts names it by its name).
        return {(arns.FunctionKey(f), q): EventInvokeConfig(**{**c, "function": f}) for f, q, c in self.store.all()}

    def _adopt(self, configs: dict[tuple[arns.FunctionKey, str], EventInvokeConfig]) -> None:
        if not self._loaded:
            self._configs, self._loaded = configs, True

    def _function_changed(self, name: arns.FunctionKey) -> None:
        if self.functions.registry.get(name) is None:
            for key in [k for k in self._configs if k[0] == name]:
                del self._configs[key]
            self.store.delete(name)

    def _target(self, name: arns.FunctionKey, qualifier: str | None) -> str:
        q = qualifier or arns.LATEST
        self.functions.resolve(name, q)  # 404 for an unknown version or alias
        return q

    def _check_lambda_destination(self, name: arns.FunctionKey, arn: str | None) -> None:
        """A Lambda destination must be a function of this account and region that exists, and
        not the function itself; AWS refuses others at Put time with these messages."""
        m = _LAMBDA_DESTINATION.match(arn or "")
        if m is None:
            return
        settings = self.functions.settings
        account = arns.key_account(name)
        target = arns.function_key(account, m.group("name"))
        if (m.group("region"), m.group("account")) != (settings.region, account) or (
            self.functions.registry.get(target) is None
        ):
            raise InvalidParameterValue(f"The destination ARN {arn} is invalid.")
        if target == name:
            raise InvalidParameterValue("You can't specify the function as a destination for itself.")

    def lookup(self, name: arns.FunctionKey, qualifier: str | None) -> EventInvokeConfig | None:
        """The configuration an asynchronous invoke with this qualifier uses (hot path)."""
        return self._configs.get((name, qualifier or arns.LATEST))

    def get(self, name: arns.FunctionKey, qualifier: str | None) -> EventInvokeConfig:
        q = self._target(name, qualifier)
        cfg = self._configs.get((name, q))
        if cfg is None:
            raise ResourceNotFound(
                f"The function {self.functions.arn(name, q)} doesn't have an EventInvokeConfig"
            )
        return cfg

    def list(self, name: arns.FunctionKey) -> list[EventInvokeConfig]:
        self.functions.entry(name)
        return sorted((c for (f, _), c in self._configs.items() if f == name), key=lambda c: c.qualifier)

    async def put(self, name: arns.FunctionKey, qualifier: str | None, update: InvokeConfigUpdate) -> EventInvokeConfig:
        """PutFunctionEventInvokeConfig: replace the qualifier's configuration; a member not given is unset."""
        q = self._target(name, qualifier)
        self._check_destinations(name, update)
        cfg = EventInvokeConfig(
            name, q, time.time(),
            max_retry_attempts=or_current(update.maximum_retry_attempts, None),
            max_event_age_s=or_current(update.maximum_event_age_s, None),
            on_success=or_current(update.on_success, None),
            on_failure=or_current(update.on_failure, None),
        )
        return await self._write(cfg)

    async def update(self, name: arns.FunctionKey, qualifier: str | None, update: InvokeConfigUpdate) -> EventInvokeConfig:
        """UpdateFunctionEventInvokeConfig: merge into the existing configuration (404 if none);
        a member not given is kept, one given as None is unset."""
        q = self._target(name, qualifier)
        self._check_destinations(name, update)
        current = self._configs.get((name, q))
        if current is None:
            raise ResourceNotFound(f"The function {self.functions.arn(name, q)} doesn't have an EventInvokeConfig")
        cfg = dataclasses.replace(
            current, last_modified=time.time(),
            max_retry_attempts=or_current(update.maximum_retry_attempts, current.max_retry_attempts),
            max_event_age_s=or_current(update.maximum_event_age_s, current.max_event_age_s),
            on_success=or_current(update.on_success, current.on_success),
            on_failure=or_current(update.on_failure, current.on_failure),
        )
        return await self._write(cfg)

    def _check_destinations(self, name: arns.FunctionKey, update: InvokeConfigUpdate) -> None:
        for destination in (update.on_success, update.on_failure):
            if isinstance(destination, str):
                check_destination(destination)
                self._check_lambda_destination(name, destination)

    async def _write(self, cfg: EventInvokeConfig) -> EventInvokeConfig:
        await asyncio.to_thread(self.store.put, cfg.function, cfg.qualifier, cfg.to_json())
        self._configs[(cfg.function, cfg.qualifier)] = cfg
        return cfg

    async def delete(self, name: arns.FunctionKey, qualifier: str | None) -> None:
        cfg = self.get(name, qualifier)
        await asyncio.to_thread(self.store.delete, name, cfg.qualifier)
        del self._configs[(name, cfg.qualifier)]
