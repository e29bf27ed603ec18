"""boto3 inside a function calls lambent exactly as far as the function's execution role allows
(issue 10): the environment gets the role's temporary credentials and ``AWS_ENDPOINT_URL`` naming
lambent's API as the sandbox reaches it (127.0.0.1:9002, its own private listener); deleting the
role ends what those credentials may do at once.

Needs the integrator's wiring (see lambent/api/inside.py and lambent/worker/credentials.py):
``WorkerPool.credentials_with`` and ``WorkerPool.serve_inside_with`` set by the server.
"""

from __future__ import annotations

import json
from typing import Any

from harness import Server, create_function, invoke_json, unique, zip_of

TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})

CALLER = """import json, os
import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

def handler(event, context):
    out = {'endpoint': os.environ.get('AWS_ENDPOINT_URL'),
           'key_prefix': os.environ.get('AWS_ACCESS_KEY_ID', '')[:4],
           'has_token': bool(os.environ.get('AWS_SESSION_TOKEN'))}
    cfg = Config(retries={'max_attempts': 0}, connect_timeout=5, read_timeout=30)
    out['identity'] = boto3.client('sts', config=cfg).get_caller_identity()['Arn']
    lam = boto3.client('lambda', config=cfg)
    for name in (event['allowed'], event['denied']):
        try:
            r = lam.invoke(FunctionName=name, Payload=b'{}')
            out[name] = json.loads(r['Payload'].read())
        except ClientError as e:
            out[name] = e.response['Error']['Code']
    return out
"""

CALLEE = "def handler(event, context):\n    return {'called': True}\n"


def _role(iam: Any, allowed_arn: str) -> str:
    name = unique("exec")
    arn: str = iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="invoke-one", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": allowed_arn}]}))
    return arn


def test_boto3_in_a_function_calls_lambent_as_far_as_its_role_allows(server: Server, lam: Any) -> None:
    iam = server.client("iam")
    allowed = create_function(lam, {"app.py": CALLEE})
    denied = create_function(lam, {"app.py": CALLEE})
    allowed_arn = lam.get_function(FunctionName=allowed)["Configuration"]["FunctionArn"]
    role_arn = _role(iam, allowed_arn)
    caller = unique()
    lam.create_function(FunctionName=caller, Runtime="python3.11", Role=role_arn, Handler="app.handler",
                        Code={"ZipFile": zip_of({"app.py": CALLER})}, Timeout=60, MemorySize=512)
    lam.get_waiter("function_active_v2").wait(FunctionName=caller, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})
    role_name = role_arn.rsplit("/", 1)[-1]

    # When the function calls lambent with boto3's defaults (credentials and endpoint from its environment)
    resp, out = invoke_json(lam, caller, {"allowed": allowed, "denied": denied})

    # Then it reached lambent's API through its sandbox's own listener, as its role
    assert "FunctionError" not in resp, out
    assert out["endpoint"] == "http://127.0.0.1:9002"
    assert out["key_prefix"] == "ASIA" and out["has_token"]
    assert out["identity"] == f"arn:aws:sts::000000000000:assumed-role/{role_name}/{caller}"
    # and its role's policy decided: one function allowed, the other not
    assert out[allowed] == {"called": True}
    assert out[denied] == "AccessDeniedException"

    # When the role's policy changes, the running environment's next call is decided by the new one
    iam.put_role_policy(RoleName=role_name, PolicyName="invoke-one", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "arn:aws:lambda:*:*:function:nothing"}]}))
    resp, out = invoke_json(lam, caller, {"allowed": allowed, "denied": denied})
    assert "FunctionError" not in resp, out
    assert out[allowed] == "AccessDeniedException" and out[denied] == "AccessDeniedException"

    # When the role is deleted, the warm environment's credentials stop working at once
    iam.delete_role_policy(RoleName=role_name, PolicyName="invoke-one")
    iam.delete_role(RoleName=role_name)
    resp, out = invoke_json(lam, caller, {"allowed": allowed, "denied": denied})
    assert resp.get("FunctionError") == "Unhandled", out
    assert out["errorType"] == "ClientError"
    assert "InvalidClientTokenId" in out["errorMessage"] or "UnrecognizedClient" in out["errorMessage"], out
