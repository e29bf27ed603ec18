"""botocore-format service models of lambent's own APIs (``<service>/<apiVersion>/service-2.json``).

The protocol layer serves them like botocore's own (:mod:`lambent.api.protocols.model` searches
this directory first); a client needs nothing but botocore and this directory::

    session = botocore.session.Session()
    session.get_component("data_loader").search_paths.append(str(MODELS_DIR))
    client = session.create_client("lambent", endpoint_url="http://127.0.0.1:9900", region_name="us-east-1")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import botocore.session
from botocore.config import Config

MODELS_DIR = Path(__file__).resolve().parent


def client(
    service: str, endpoint_url: str, access_key: str, secret_key: str, region: str, config: Config | None = None,
    *, session_token: str | None = None,
) -> Any:
    """A botocore client of one of lambent's own services (``lambent``), signed with these keys
    (and ``session_token``: temporary credentials from STS or a role profile)."""
    session = botocore.session.Session()
    loader = session.get_component("data_loader")
    if str(MODELS_DIR) not in loader.search_paths:
        loader.search_paths.append(str(MODELS_DIR))
    return session.create_client(
        service, endpoint_url=endpoint_url, region_name=region, aws_access_key_id=access_key,
        aws_secret_access_key=secret_key, aws_session_token=session_token, config=config,
    )
