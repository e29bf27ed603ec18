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
from lambent.errors import InvalidParameterValue, ResourceNotFound
from lambent.store.invoke_configs import InvokeConfigStore

_DESTINATION = re.compile(r"^arn:aws[a-zA-Z-]*:(lambda|sqs|sns|events):[a-z0-9-]*:\d{12}:.+$")
_LAMBDA_DESTINATION = re.compile(
    r"^arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z0-9-]*):(?P<account>\d{12}):function:(?P<name>[a-zA-Z0-9-_]+)(:[^:]+)?$"
)


@dataclass(frozen=True)
class EventInvokeConfig:
    function: str
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

    def __init__(self, functions: FunctionService, store: InvokeConfigStore) -> None:
        self.functions = functions
        self.store = store
        self._configs: dict[tuple[str, str], EventInvokeConfig] = {
            (f, q): EventInvokeConfig(**c) for f, q, c in store.all()
        }
        functions.on_change(self._function_changed)

    def _function_changed(self, name: str) -> None:
        if name not in {e.name for e in self.functions.entries()}:
            for key in [k for k in self._configs if k[0] == name]:
                del self._configs[key]
            self.store.delete(name)

    def _target(self, name: str, qualifier: str | None) -> str:
        q = qualifier or arns.LATEST
        self.functions.resolve(name, q)  # 404 for an unknown version or alias
        return q

    def _check_lambda_destination(self, name: str, arn: str | None) -> None:
        """A Lambda destination must be a function of this account and region that exists, and
        not the function itself; AWS refuses others at Put time with these messages."""
        m = _LAMBDA_DESTINATION.match(arn or "")
        if m is None:
            return
        settings = self.functions.settings
        target = m.group("name")
        if (m.group("region"), m.group("account")) != (settings.region, settings.account_id) or not any(
            e.name == target for e in self.functions.entries()
        ):
            raise InvalidParameterValue(f"The destination ARN {arn} is invalid.")
        if target == name:
            raise InvalidParameterValue("You can't specify the function as a destination for itself.")

    def lookup(self, name: str, qualifier: str | None) -> EventInvokeConfig | None:
        """The configuration an asynchronous invoke with this qualifier uses (hot path)."""
        return self._configs.get((name, qualifier or arns.LATEST))

    def get(self, name: str, qualifier: str | None) -> EventInvokeConfig:
        q = self._target(name, qualifier)
        cfg = self._configs.get((name, q))
        if cfg is None:
            raise ResourceNotFound(
                f"The function {self.functions.arn(name, q)} doesn't have an EventInvokeConfig"
            )
        return cfg

    def list(self, name: str) -> list[EventInvokeConfig]:
        self.functions.entry(name)
        return sorted((c for (f, _), c in self._configs.items() if f == name), key=lambda c: c.qualifier)

    async def put(self, name: str, qualifier: str | None, *, merge: bool, **fields: Any) -> EventInvokeConfig:
        q = self._target(name, qualifier)
        for destination in (fields.get("on_success"), fields.get("on_failure")):
            check_destination(destination)
            self._check_lambda_destination(name, destination)
        current = self._configs.get((name, q))
        if merge:
            if current is None:
                raise ResourceNotFound(
                    f"The function {self.functions.arn(name, q)} doesn't have an EventInvokeConfig"
                )
            base = current.to_json()
            base.update({k: v for k, v in fields.items() if v is not None})
            base["last_modified"] = time.time()
            cfg = EventInvokeConfig(**base)
        else:
            cfg = EventInvokeConfig(name, q, time.time(), **fields)
        await asyncio.to_thread(self.store.put, name, q, cfg.to_json())
        self._configs[(name, q)] = cfg
        return cfg

    async def delete(self, name: str, qualifier: str | None) -> None:
        cfg = self.get(name, qualifier)
        await asyncio.to_thread(self.store.delete, name, cfg.qualifier)
        del self._configs[(name, cfg.qualifier)]
