"""Naming a request that no route serves, from botocore's service model.

A request whose method and path match an operation of the AWS API that lambent does not
implement (yet) gets ``UnknownOperationException`` naming that operation, instead of a bare 404;
anything else is named by its method and path.
"""

from __future__ import annotations

import re
from functools import cache
from urllib.parse import parse_qsl

import botocore.session
from botocore.exceptions import UnknownServiceError

from lambent.errors import UnknownOperation


@cache
def _patterns(service: str) -> tuple[tuple[str, re.Pattern[str], frozenset[tuple[str, str]], str], ...]:
    """(HTTP method, path regex, fixed query parameters, operation name) of every REST operation
    of ``service``; those with fixed query parameters (``?List=ALL``) first, as they are narrower."""
    try:
        model = botocore.session.get_session().get_service_model(service)
    except UnknownServiceError:
        return ()
    out = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        uri, _, query = http.get("requestUri", "/").partition("?")
        regex = re.sub(r"\\\{[^}]+\\\+\\\}", ".+", re.sub(r"\\\{[^}+]+\\\}", "[^/]+", re.escape(uri)))
        fixed = frozenset(parse_qsl(query, keep_blank_values=True))
        out.append((http.get("method", "POST"), re.compile(f"^{regex}/?$"), fixed, name))
    return tuple(sorted(out, key=lambda o: -len(o[2])))


def operation_of(service: str, method: str, path: str, query: str = "") -> str | None:
    """The model's operation for this method, path and query string, if any."""
    given = set(parse_qsl(query, keep_blank_values=True))
    for m, regex, fixed, name in _patterns(service):
        if m == method and fixed <= given and regex.match(path):
            return name
    return None


def unknown_operation(service: str, method: str, path: str, query: str = "") -> UnknownOperation:
    name = operation_of(service, method, path, query)
    if name is not None:
        return UnknownOperation(
            f"The {service} operation {name} is not implemented by this lambent server yet "
            "(docs/parity.md lists what is)."
        )
    return UnknownOperation(f"No {service} operation matches {method} {path}.")
