"""Which operation a request names, precomputed per service from the model.

rest protocols: HTTP method + path (+ the fixed query parameters some ``requestUri`` carry, like
``?List=ALL``), with the labels captured (also what :mod:`lambent.api.operations` names requests by); json:
the ``X-Amz-Target`` header (``<targetPrefix>.<Operation>``); query and ec2: the ``Action``
parameter.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote

from botocore.model import ServiceModel

_LABEL = re.compile(r"\{([^}]+?)(\+?)\}")


@dataclass(frozen=True)
class RestRoute:
    operation: str
    method: str
    regex: re.Pattern[str]
    labels: tuple[str, ...]
    fixed_query: frozenset[tuple[str, str]]
    #: the literal start of the path, checked before the regex (most routes fail on it cheaply)
    prefix: str


def _route(operation: str, method: str, request_uri: str) -> RestRoute:
    uri, _, query = request_uri.partition("?")
    labels: list[str] = []
    parts: list[str] = []
    pos = 0
    for m in _LABEL.finditer(uri):
        parts.append(re.escape(uri[pos : m.start()]))
        parts.append("(.+)" if m.group(2) else "([^/]+)")
        labels.append(m.group(1))
        pos = m.end()
    parts.append(re.escape(uri[pos:].rstrip("/")))
    regex = re.compile("^" + "".join(parts) + "/?$")
    first = _LABEL.search(uri)
    prefix = uri[: first.start()] if first else uri.rstrip("/")
    return RestRoute(
        operation, method, regex, tuple(labels), frozenset(parse_qsl(query, keep_blank_values=True)), prefix
    )


class RestRouter:
    """Routes of one rest service, by method; narrower routes (fixed query, longer literal) first."""

    def __init__(self, model: ServiceModel) -> None:
        by_method: dict[str, list[tuple[int, int, RestRoute]]] = {}
        for name in model.operation_names:
            http = model.operation_model(name).http
            uri = http.get("requestUri", "/")
            route = _route(name, http.get("method", "POST"), uri)
            literal = len(_LABEL.sub("", uri.partition("?")[0]))
            by_method.setdefault(route.method, []).append((len(route.fixed_query), literal, route))
        self._routes: dict[str, tuple[RestRoute, ...]] = {
            m: tuple(r for _, _, r in sorted(rs, key=lambda t: (-t[0], -t[1]))) for m, rs in by_method.items()
        }

    def match(
        self, method: str, path: str, query: Mapping[str, list[str]]
    ) -> tuple[str, dict[str, str]] | None:
        """(operation, decoded URI labels) for this request, or None."""
        for route in self._routes.get(method, ()):
            if not path.startswith(route.prefix):
                continue
            if route.fixed_query and not all(v in query.get(k, ()) or (v == "" and k in query) for k, v in route.fixed_query):
                continue
            m = route.regex.match(path)
            if m is not None:
                return route.operation, {name: unquote(v) for name, v in zip(route.labels, m.groups(), strict=True)}
        return None


class TargetRouter:
    """json protocol: ``X-Amz-Target: <targetPrefix>.<Operation>``."""

    def __init__(self, model: ServiceModel) -> None:
        prefix = model.metadata.get("targetPrefix", "")
        self._targets = {f"{prefix}.{name}": name for name in model.operation_names}

    def match(self, target: str | None) -> str | None:
        return self._targets.get(target) if target else None


class ActionRouter:
    """query and ec2 protocols: the ``Action`` parameter names the operation."""

    def __init__(self, model: ServiceModel) -> None:
        self._names = frozenset(model.operation_names)

    def match(self, action: str | None) -> str | None:
        return action if action in self._names else None
