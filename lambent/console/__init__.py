"""The web console at ``/console``: a static single-page app that calls lambent's own AWS APIs.

The server only hands out a fixed set of static files (no templating, no data, no session): the
page holds the user's access key pair in the tab's ``sessionStorage`` and signs every request in
the browser with SigV4 (WebCrypto), so everything it shows comes through the signed, authorised
API path like any boto3 call would, and no secret ever travels to the server. The files are read
once at start into memory; a request names one of them exactly (no path is joined, so nothing
outside this package can be served).

Abuse cases: a path with ``..`` or an encoded slash names no file (404); any method but GET/HEAD is
refused (405); the page cannot be framed, loads scripts only from itself and sends no referrer
(the security headers below); the secret never leaves the tab (the tests check the requests the
browser sends). WebCrypto exists only in secure contexts (https, or http on localhost/127.0.0.1):
elsewhere the page says so instead of signing in.
"""

from __future__ import annotations

import json
from importlib import resources

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

__all__ = ["PREFIX", "Console"]

PREFIX = "/console"

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}

#: Same-origin only: the page talks to this server's API and nothing else.
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def _load_files() -> dict[str, tuple[bytes, str]]:
    root = resources.files(__package__).joinpath("static")
    files: dict[str, tuple[bytes, str]] = {}
    for entry in root.iterdir():
        suffix = "." + entry.name.rsplit(".", 1)[-1] if "." in entry.name else ""
        if entry.is_file() and suffix in _TYPES:
            files[entry.name] = (entry.read_bytes(), _TYPES[suffix])
    return files


class Console:
    """Serves ``/console/`` (index.html), its static files and ``/console/config.json`` (the
    region and account the page signs for: nothing secret). Scope: one per server."""

    def __init__(self, *, region: str, account_id: str) -> None:
        self._files = _load_files()
        config = {"region": region, "accountId": account_id}
        self._files["config.json"] = (json.dumps(config).encode(), "application/json")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        if scope["method"] not in ("GET", "HEAD"):
            await Response(b"Method Not Allowed", 405, headers={**_HEADERS, "Allow": "GET, HEAD"})(scope, receive, send)
            return
        if path == PREFIX:
            await Response(b"", 308, headers={**_HEADERS, "Location": PREFIX + "/"})(scope, receive, send)
            return
        name = path[len(PREFIX) + 1:] or "index.html"
        found = self._files.get(name)
        if found is None:
            await Response(b"Not Found", 404, headers=_HEADERS, media_type="text/plain")(scope, receive, send)
            return
        body, media_type = found
        await Response(b"" if scope["method"] == "HEAD" else body, 200, headers=_HEADERS,
                       media_type=media_type)(scope, receive, send)
