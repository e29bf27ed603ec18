"""The root credentials: one place that knows where they come from, for the server and the CLI.

From ``LAMBENT_ROOT_ACCESS_KEY_ID``/``LAMBENT_ROOT_SECRET_ACCESS_KEY`` (:class:`Settings`) if both
are set, else from the data dir's ``root-credentials`` file (mode 0600). The server generates that
file on its first start (:func:`load_root_credentials`); a client only reads it
(:func:`read_root_credentials`), through the same :class:`Settings` — so ``LAMBENT_DATA_DIR`` and
``--data-dir`` mean the same directory to both.
"""

from __future__ import annotations

import os
import secrets
import string
from dataclasses import dataclass

from lambent.settings import Settings

CREDENTIALS_FILE = "root-credentials"


@dataclass(frozen=True)
class RootCredentials:
    access_key_id: str
    secret_access_key: str
    generated: bool = False


class CredentialsUnavailable(Exception):
    """Neither the settings nor the data dir hold root credentials (a client's error, not AWS's)."""


def read_root_credentials(settings: Settings) -> RootCredentials | None:
    """The configured or stored credentials; None if there are none yet. Never writes."""
    if settings.root_access_key_id and settings.root_secret_access_key:
        return RootCredentials(settings.root_access_key_id, settings.root_secret_access_key)
    path = settings.data_dir / CREDENTIALS_FILE
    try:
        key, secret = path.read_text().split()[:2]
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise CredentialsUnavailable(f"{path} is not readable: {exc}") from None
    return RootCredentials(key, secret)


def load_root_credentials(settings: Settings) -> RootCredentials:
    """The server's: as :func:`read_root_credentials`, generating and storing them on first start."""
    found = read_root_credentials(settings)
    if found is not None:
        return found
    alphabet = string.ascii_uppercase + string.digits
    key = "LKIA" + "".join(secrets.choice(alphabet) for _ in range(16))
    secret = secrets.token_urlsafe(30)[:40]
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(settings.data_dir / CREDENTIALS_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"{key} {secret}\n")
    return RootCredentials(key, secret, generated=True)
