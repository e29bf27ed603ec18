"""A metric series' identity: account, namespace, metric name and dimension set (CloudWatch's
"metric", which lives in one AWS account: two accounts' ``AWS/Lambda Invocations FunctionName=f``
are two series, and each account reads only its own).

Dimensions are kept sorted by name, so ``{"b": 1, "a": 2}`` and ``{"a": 2, "b": 1}`` are the same
series, as on CloudWatch; their text form (JSON list of ``[name, value]`` pairs) is the key the
archive stores.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

Dimensions = tuple[tuple[str, str], ...]


def dimensions(pairs: Mapping[str, str] | Iterable[tuple[str, str]]) -> Dimensions:
    items = pairs.items() if isinstance(pairs, Mapping) else pairs
    return tuple(sorted((str(k), str(v)) for k, v in items))


#: The account of a series built without one: the server's account (MetricsService.account),
#: which the service puts in its place (:meth:`Series.in_account`).
UNSET_ACCOUNT = ""


@dataclass(frozen=True, slots=True)
class Series:
    namespace: str
    name: str
    dims: Dimensions = ()
    #: the AWS account the series belongs to (12 digits); UNSET_ACCOUNT: the server's
    account: str = UNSET_ACCOUNT

    def in_account(self, account: str) -> Series:
        """This series in ``account`` if it has none yet (else itself)."""
        if self.account != UNSET_ACCOUNT:
            return self
        return Series(self.namespace, self.name, self.dims, account)

    @property
    def dims_key(self) -> str:
        return dims_text(self.dims)

    def matches(self, namespace: str | None, name: str | None,
                filters: Iterable[tuple[str, str | None]]) -> bool:
        """ListMetrics' filter: namespace and name if given; every filter's dimension present
        (with that value when one is given)."""
        if namespace is not None and self.namespace != namespace:
            return False
        if name is not None and self.name != name:
            return False
        own = dict(self.dims)
        for key, value in filters:
            if key not in own or (value is not None and own[key] != value):
                return False
        return True


def dims_text(dims: Dimensions) -> str:
    return json.dumps([list(pair) for pair in dims], separators=(",", ":"))


def dims_from_text(text: str) -> Dimensions:
    return tuple((str(k), str(v)) for k, v in json.loads(text))
