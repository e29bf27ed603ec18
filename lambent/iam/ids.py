"""Identifiers and secrets in AWS's formats, from :mod:`secrets` (a CSPRNG).

Unique ids (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-unique-ids):
a four-letter prefix naming the kind (AIDA user, AROA role, ANPA managed policy, AKIA access key,
ASIA temporary access key) and upper-case base32 characters; access key ids are 20 characters,
the other ids 21, secret access keys 40.
"""

from __future__ import annotations

import re
import secrets
import string

_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"

USER_PREFIX = "AIDA"
ROLE_PREFIX = "AROA"
POLICY_PREFIX = "ANPA"
ACCESS_KEY_PREFIX = "AKIA"
TEMPORARY_KEY_PREFIX = "ASIA"

ACCOUNT_ID_RE = re.compile(r"^\d{12}$")


def _random(prefix: str, length: int) -> str:
    return prefix + "".join(secrets.choice(_BASE32) for _ in range(length - len(prefix)))


def user_id() -> str:
    return _random(USER_PREFIX, 21)


def role_id() -> str:
    return _random(ROLE_PREFIX, 21)


def policy_id() -> str:
    return _random(POLICY_PREFIX, 21)


def access_key_id() -> str:
    return _random(ACCESS_KEY_PREFIX, 20)


def temporary_access_key_id() -> str:
    return _random(TEMPORARY_KEY_PREFIX, 20)


def secret_access_key() -> str:
    return "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))


def session_token() -> str:
    # 96 random bytes, base64url: long enough to be unguessable, shaped like AWS's opaque tokens
    return secrets.token_urlsafe(96)


def account_id() -> str:
    """A random 12-digit account id (the leading digit is not 0, so it never looks like the
    default 000000000000)."""
    return str(secrets.randbelow(9 * 10**11) + 10**11)
