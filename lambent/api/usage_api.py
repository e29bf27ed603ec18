"""``GET /usage`` (lambent's API, operation ``GetUsage``, IAM action ``lambent:GetUsage``): the
usage rows ``lambent usage --format json`` prints, from the running server.

Signed like every API call (SigV4, service ``lambent``) and authorised by the dispatcher; the
query parameters (``by``, ``since``, ``until``, ``function``) are bounded by the model and checked
again by :func:`lambent.billing.http.usage_json` (400 InvalidParameterValueException for a bad
one). The rows are read from ``usage.db`` in a worker thread, read-only.

Abuse case: usage records carry no account yet, so a principal of another account than the
server's (one made with ``lambent accounts create``) would read every tenant's usage: it is refused
(AccessDeniedException) whatever its policies say (docs/parity.md).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from lambent.api.dispatch import Call
from lambent.api.services import LAMBENT
from lambent.billing.http import usage_json
from lambent.errors import AccessDenied

#: model member -> the endpoint's query parameter
_QUERY = {"By": "by", "Since": "since", "Until": "until", "FunctionName": "function"}


@LAMBENT.register("GetUsage")
async def get_usage(call: Call) -> dict[str, Any]:
    p = call.platform
    if call.principal.account_id != p.settings.account_id:
        raise AccessDenied("usage is reported to the server's own account only", resource="usage")
    query = {_QUERY[k]: str(v) for k, v in call.params.items() if k in _QUERY and v is not None}
    if "function" in query:
        query["function"] = p.functions.ref(query["function"], account_id=call.principal.account_id)[0]
    return await asyncio.to_thread(usage_json, p.usage_store.path, query, p.prices, time.time())
