"""Where a ``lambent`` command that calls the server's API sends it, and whose keys sign it.

Resolved as the aws CLI resolves them, by botocore's own session (the same files, variables and
order), so one ``~/.aws`` set-up serves ``aws`` and ``lambent`` alike:

credentials, the first found wins
  1. ``--profile NAME`` (else ``AWS_PROFILE``): with ``--profile``, that profile only, as botocore
     does with an explicit profile (its keys, ``role_arn``/``source_profile``,
     ``credential_process``, SSO); ``AWS_ACCESS_KEY_ID`` and the rest are then ignored
  2. ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` (/ ``AWS_SESSION_TOKEN``)
  3. the profile (``AWS_PROFILE`` or ``default``) of ``~/.aws/credentials`` and ``~/.aws/config``
     (``AWS_SHARED_CREDENTIALS_FILE``, ``AWS_CONFIG_FILE``)
  4. for a local operator only: the server's root credentials as the server finds them
     (:mod:`lambent.credentials`: ``LAMBENT_ROOT_ACCESS_KEY_ID``/``_SECRET_ACCESS_KEY``, else the
     data dir's ``root-credentials`` file, ``--data-dir``/``LAMBENT_DATA_DIR``) — never when a
     profile is named or any ``AWS_*`` key is set, and never for an endpoint off the loopback
     interface (the root key signs nothing a remote server could replay against this one)

  EC2 instance metadata is never asked: an instance's role is not a lambent identity, and asking
  would wait on a link-local time-out before step 4.

endpoint
  ``--endpoint-url``, ``AWS_ENDPOINT_URL_LAMBENT``, ``AWS_ENDPOINT_URL``, the profile's
  ``services`` section (``lambent = endpoint_url = ...``), the profile's ``endpoint_url``, then the
  local server (``LAMBENT_HOST``/``LAMBENT_PORT``: http://127.0.0.1:9900).
  ``AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`` skips the variables and files, as in botocore.

region
  ``--region``, ``AWS_REGION``, ``AWS_DEFAULT_REGION`` or the profile's ``region``, then
  ``LAMBENT_REGION`` (``us-east-1``).

A :class:`Target` is resolved once per command; it holds frozen credentials (a command outlives
no session token it was given: an assumed role's last an hour, a ``deploy --watch`` less).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError

from lambent.api.models import client as model_client
from lambent.credentials import CREDENTIALS_FILE, CredentialsUnavailable, read_root_credentials
from lambent.errors import ClientError
from lambent.settings import Settings

#: The model's serviceId as botocore spells it in variable names and ``services`` sections.
SERVICE = "lambent"
_AWS_KEY_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


class TargetError(ClientError):
    """The command cannot tell whose credentials sign its requests, or where they go."""


class NoCredentials(TargetError):
    """Nothing in the chain gave credentials."""


@dataclass(frozen=True)
class Target:
    """One command's endpoint, region and credentials; ``source`` says where the keys came from."""

    endpoint_url: str
    region: str
    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)
    source: str = ""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags every API-calling command takes, named and meant as the aws CLI's."""
    parser.add_argument("--profile", default=None, help="sign with this profile of ~/.aws/config and ~/.aws/credentials "
                                                         "(without it: $AWS_ACCESS_KEY_ID..., then $AWS_PROFILE or default)")
    parser.add_argument("--endpoint-url", default=None,
                        help="the server (default $AWS_ENDPOINT_URL, the profile's endpoint_url, then "
                             "http://127.0.0.1:9900)")
    parser.add_argument("--region", default=None,
                        help="signing region (default $AWS_REGION, $AWS_DEFAULT_REGION, the profile's, $LAMBENT_REGION)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="a local server's data dir: its root-credentials are the last resort when no AWS "
                             "credentials are configured (default $LAMBENT_DATA_DIR or ./.lambent)")


def resolve_args(args: argparse.Namespace) -> Target:
    """:func:`resolve` with the flags of :func:`add_arguments`."""
    return resolve(profile=args.profile, endpoint_url=args.endpoint_url, region=args.region, data_dir=args.data_dir)


def resolve(*, profile: str | None = None, endpoint_url: str | None = None, region: str | None = None,
            data_dir: Path | None = None) -> Target:
    """The endpoint, region and credentials for one command (see the module docstring for the
    order); raises :class:`NoCredentials` or :class:`TargetError` with what to set."""
    try:
        settings = Settings.from_env(data_dir=data_dir)
    except (TypeError, ValueError) as exc:  # a malformed LAMBENT_* variable
        raise TargetError(f"cannot read lambent's settings: {exc}") from None
    try:
        session = botocore.session.Session(profile=profile)
        named = profile or session.get_config_variable("profile")
        endpoint = endpoint_url or _configured_endpoint(session) or local_url(settings)
        found_region = (region or os.environ.get("AWS_REGION") or session.get_config_variable("region")
                        or settings.region)
        resolver = session.get_component("credential_provider")
        resolver.remove("iam-role")
        creds = session.get_credentials()
        frozen = creds.get_frozen_credentials() if creds is not None else None
    except BotoCoreError as exc:  # ProfileNotFound, PartialCredentialsError, a failing credential_process ...
        raise TargetError(f"cannot load AWS credentials or configuration: {exc}") from None
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetError(f"endpoint {endpoint!r} is not an http:// or https:// URL")
    if frozen is not None and frozen.access_key and frozen.secret_key:
        return Target(endpoint, found_region, frozen.access_key, frozen.secret_key, frozen.token or None,
                      f"aws:{creds.method}" if creds is not None else "aws")
    if named:
        raise NoCredentials(f"no credentials: profile {named!r} has none (~/.aws/credentials, ~/.aws/config, "
                            "AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE)")
    if any(os.environ.get(name) for name in _AWS_KEY_VARIABLES):
        raise NoCredentials("no credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must both be set")
    return _local_root(settings, endpoint, found_region)


def client(target: Target, service: str, config: Config | None = None) -> Any:
    """A botocore client of ``service`` (botocore's models, or lambent's own such as ``lambent``)
    for ``target``: its endpoint, region and credentials."""
    return model_client(service, target.endpoint_url, target.access_key_id, target.secret_access_key, target.region,
                        config, session_token=target.session_token)


def _local_root(settings: Settings, endpoint: str, region: str) -> Target:
    """Step 4: the server's root key, for a server on this machine only."""
    path = settings.data_dir / CREDENTIALS_FILE
    hint = ("set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, use --profile NAME (or AWS_PROFILE), "
            "or aws configure")
    if not is_loopback(endpoint):
        raise NoCredentials(f"no credentials for {endpoint}: {hint} (a server's root-credentials file is "
                            "used only for a server on this machine)")
    try:
        root = read_root_credentials(settings)
    except CredentialsUnavailable as exc:
        raise NoCredentials(f"no credentials: {hint}; {exc}") from None
    if root is None:
        raise NoCredentials(f"no credentials: {hint}; or, as the local server's operator, point --data-dir "
                            f"at its data dir ({path} not found)")
    source = "lambent:env" if settings.root_access_key_id and settings.root_secret_access_key else f"lambent:{path}"
    return Target(endpoint, region, root.access_key_id, root.secret_access_key, None, source)


def _configured_endpoint(session: botocore.session.Session) -> str | None:
    """botocore's configured-endpoint order for ``lambent``: service variable, global variable,
    the profile's ``services`` section, the profile's ``endpoint_url``."""
    if session.get_config_variable("ignore_configured_endpoint_urls"):
        return None
    for name in (f"AWS_ENDPOINT_URL_{SERVICE.upper()}", "AWS_ENDPOINT_URL"):
        if os.environ.get(name):
            return os.environ[name]
    scoped: dict[str, Any] = session.get_scoped_config()
    section = scoped.get("services")
    if section:
        services: dict[str, Any] = session.full_config.get("services", {}).get(section, {})
        url = services.get(SERVICE, {}).get("endpoint_url") if isinstance(services.get(SERVICE), dict) else None
        if url:
            return str(url)
    url = scoped.get("endpoint_url")
    return str(url) if url else None


def local_url(settings: Settings) -> str:
    """The server this machine runs with these settings (a wildcard listen address means 127.0.0.1)."""
    host = settings.host
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return f"http://{host}:{settings.port}"
    if address.is_unspecified:
        address = ipaddress.ip_address("127.0.0.1" if address.version == 4 else "::1")
    return f"http://{address}:{settings.port}" if address.version == 4 else f"http://[{address}]:{settings.port}"


def is_loopback(endpoint_url: str) -> bool:
    """Whether the URL's host is this machine's loopback interface (``localhost``, 127/8, ::1)."""
    host = urlsplit(endpoint_url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
