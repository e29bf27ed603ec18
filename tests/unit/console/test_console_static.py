"""The console's static file server: a fixed set of files, GET/HEAD only, security headers on
every answer, nothing outside the package reachable by any spelling of a path."""

from __future__ import annotations

from typing import Any

import pytest

from lambent.console import Console


async def _get(path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": [], "query_string": b""}
    await Console(region="eu-west-1", account_id="123456789012")(scope, receive, send)
    start = sent[0]
    headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], headers, body


async def test_index_and_assets_are_served_with_their_types_and_security_headers() -> None:
    status, headers, body = await _get("/console/")
    assert status == 200 and b"console.js" in body
    assert headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY" and headers["referrer-policy"] == "no-referrer"
    for name, kind in (("console.js", "text/javascript"), ("sigv4.js", "text/javascript"), ("api.js", "text/javascript"),
                       ("console.css", "text/css")):
        status, headers, _ = await _get(f"/console/{name}")
        assert status == 200 and headers["content-type"].startswith(kind), name


async def test_config_names_the_region_and_account_and_nothing_secret() -> None:
    status, _, body = await _get("/console/config.json")
    assert status == 200 and body == b'{"region": "eu-west-1", "accountId": "123456789012"}'


async def test_the_bare_prefix_redirects_to_the_index() -> None:
    status, headers, _ = await _get("/console")
    assert status == 308 and headers["location"] == "/console/"


@pytest.mark.parametrize("path", ["/console/../settings.py", "/console/..%2fsettings.py", "/console/static/console.js",
                                  "/console/__init__.py", "/console//etc/passwd", "/console/console.js/", "/console/.."])
async def test_no_other_path_names_a_file(path: str) -> None:
    status, headers, _ = await _get(path)
    assert status == 404 and "content-security-policy" in headers


async def test_only_get_and_head(method: str = "POST") -> None:
    status, headers, _ = await _get("/console/", "POST")
    assert status == 405 and headers["allow"] == "GET, HEAD"
    status, _, body = await _get("/console/", "HEAD")
    assert status == 200 and body == b""
