"""Presigned download URLs for deployment packages (GetFunction's ``Code.Location``).

AWS hands out a presigned S3 URL valid for 10 minutes; we hand out a URL on this server signed
with an HMAC of the root secret, valid for the same time, that needs no other credentials.
"""

from __future__ import annotations

import hashlib
import hmac
import time

URL_TTL_S = 600
PREFIX = "/_lambent/code/"


def _sig(secret: str, sha256_hex: str, expires: int) -> str:
    return hmac.new(secret.encode(), f"{sha256_hex}:{expires}".encode(), hashlib.sha256).hexdigest()


def presign_code_url(base_url: str, sha256_hex: str, secret: str, now: float | None = None) -> str:
    expires = int((now if now is not None else time.time()) + URL_TTL_S)
    return f"{base_url}{PREFIX}{sha256_hex}.zip?Expires={expires}&Signature={_sig(secret, sha256_hex, expires)}"


def check_code_url(sha256_hex: str, expires: str, signature: str, secret: str, now: float | None = None) -> bool:
    try:
        exp = int(expires)
    except ValueError:
        return False
    if exp < (now if now is not None else time.time()):
        return False
    return hmac.compare_digest(_sig(secret, sha256_hex, exp), signature)
