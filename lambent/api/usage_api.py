"""``GET /usage`` (lambent's API, operation ``GetUsage``, IAM action ``lambent:GetUsage``): the
usage rows ``lambent usage --format json`` prints, from the running server.

Signed like every API call (SigV4, service ``lambent``) and authorised by the dispatcher; the
query parameters (``by``, ``since``, ``until``, ``function``) are bounded by the model and checked
again by :func:`lambent.billing.http.usage_json` (400 InvalidParameterValueException for a bad
one). The rows are read from ``usage.db`` in a worker thread, read-only.

Each account reads its own usage: records carry the account that owns the function, and a caller
sees its account's (records made before accounts are the server account's). A ``FunctionName``
that is another account's ARN reads that account's records of it, once authorisation (the
function's resource policy and the caller's identity policy) let the caller name it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from lambent import arns
from lambent.api.dispatch import Call
from lambent.api.services import LAMBENT
from lambent.billing.http import usage_json
from lambent.billing.aggregate import AccountScope

#: model member -> the endpoint's query parameter
_QUERY = {"By": "by", "Since": "since", "Until": "until", "FunctionName": "function"}


@LAMBENT.register("GetUsage")
async def get_usage(call: Call) -> dict[str, Any]:
    p = call.platform
    account = call.principal.account_id
    query = {_QUERY[k]: str(v) for k, v in call.params.items() if k in _QUERY and v is not None}
    if "function" in query:
        key = p.functions.ref(query["function"], account_id=account)[0]
        query["function"], account = arns.key_name(key), arns.key_account(key)
    scope = AccountScope(account=account, unowned=p.settings.account_id)
    return await asyncio.to_thread(usage_json, p.usage_store.path, query, p.prices, time.time(), scope)
