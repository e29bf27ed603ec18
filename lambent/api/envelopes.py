"""The one place where lambent's errors become AWS error codes: one table per service.

Each table maps LambentError classes to the service's AWS code and HTTP status; a lookup walks the
exception's MRO (as Starlette finds exception handlers), so one entry covers a family and every
table ends in ``LambentError`` (its service-side failure). The codes are the ones the service's
botocore model declares, or AWS's common errors (docs: "Common Errors" of each API reference;
query services spell the SigV4 ones ``InvalidClientTokenId``/``SignatureDoesNotMatch``).

rest-json services (Lambda) answer with the ``x-amzn-ErrorType`` header and a JSON body holding
``Type`` and the message under the member name the botocore model gives the shape (``message`` or
``Message``); :mod:`lambent.api.protocols.errors` renders every protocol's envelope.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from starlette.responses import Response

from lambent import errors as e
from lambent.vpc import errors as vpc_errors


@dataclass(frozen=True)
class ErrorShape:
    code: str
    status: int
    message_key: str = "message"
    #: The body carries the throttle's ``Reason`` (Lambda's TooManyRequestsException models it).
    reason: bool = False
    #: The rest-json body carries ``Type`` (User/Service). AWS's answers recorded against Lambda
    #: carry it on every error of Lambda's model (e.g. 412 PreconditionFailedException: 149 bytes,
    #: exactly {"Type":"User","message":...}); AWS's front end, which refuses a request before
    #: Lambda sees it (SigV4, access denied), answers {"Message": ...} without it.
    typed: bool = True

    @property
    def type(self) -> str:
        return "Service" if self.status >= 500 else "User"


SHAPES: dict[type[e.LambentError], ErrorShape] = {
    e.ValidationError: ErrorShape("ValidationException", 400),
    e.PolicyLengthExceeded: ErrorShape("PolicyLengthExceededException", 400),
    # CloudWatch's refusals, were they ever raised by a Lambda operation: Lambda's nearest code
    e.InvalidParameterCombination: ErrorShape("InvalidParameterValueException", 400),
    e.MissingParameter: ErrorShape("InvalidParameterValueException", 400),
    e.InvalidNextToken: ErrorShape("InvalidParameterValueException", 400),
    e.InvalidParameterValue: ErrorShape("InvalidParameterValueException", 400),
    e.InvalidRequestContent: ErrorShape("InvalidRequestContentException", 400),
    e.UnsupportedMediaType: ErrorShape("UnsupportedMediaTypeException", 415),
    e.ResourceNotFound: ErrorShape("ResourceNotFoundException", 404, "Message"),
    e.NoSuchEntity: ErrorShape("ResourceNotFoundException", 404, "Message"),
    e.ResourceConflict: ErrorShape("ResourceConflictException", 409),
    e.EntityAlreadyExists: ErrorShape("ResourceConflictException", 409),
    e.DeleteConflict: ErrorShape("ResourceConflictException", 409),
    e.MalformedPolicyDocument: ErrorShape("InvalidParameterValueException", 400),
    # Lambda's modelled quota error (botocore's model gives it 402).
    e.LimitExceeded: ErrorShape("ServiceQuotaExceededException", 402, "Message"),
    e.PreconditionFailed: ErrorShape("PreconditionFailedException", 412),
    e.RequestTooLarge: ErrorShape("RequestTooLargeException", 413),
    e.RequestEntityTooLarge: ErrorShape("RequestEntityTooLargeException", 413),
    e.TooManyRequests: ErrorShape("TooManyRequestsException", 429, reason=True),
    e.UnknownOperation: ErrorShape("UnknownOperationException", 404),
    # botocore's retry handler treats RequestTimeoutException as transient (retried).
    e.RequestTimeout: ErrorShape("RequestTimeoutException", 408),
    e.RequestHeaderFieldsTooLarge: ErrorShape("RequestHeaderFieldsTooLargeException", 431),
    e.MissingAuthenticationToken: ErrorShape("MissingAuthenticationTokenException", 403, typed=False),
    e.IncompleteSignature: ErrorShape("IncompleteSignatureException", 403, typed=False),
    e.UnrecognizedClient: ErrorShape("UnrecognizedClientException", 403, typed=False),
    e.InvalidSignature: ErrorShape("InvalidSignatureException", 403, typed=False),
    e.AccessDenied: ErrorShape("AccessDeniedException", 403, "Message", typed=False),
    # One of AWS's common errors (not in Lambda's model): 403 outside STS.
    e.ExpiredToken: ErrorShape("ExpiredTokenException", 403, typed=False),
    e.AuthError: ErrorShape("AccessDeniedException", 403, "Message", typed=False),
    e.ClientError: ErrorShape("InvalidRequestContentException", 400),
    e.ResourceNotReady: ErrorShape("ResourceNotReadyException", 502),
    # AWS has no disk of ours to fill: ServiceException (500) is its code for a service-side failure.
    e.StorageFull: ErrorShape("ServiceException", 500, "Message"),
    e.ConstraintViolation: ErrorShape("ServiceException", 500, "Message"),
    e.DeliveryFailed: ErrorShape("ServiceException", 500, "Message"),
    # A sandbox that cannot start: AWS's Invoke errors name no more specific code for it.
    e.EnvironmentStartFailed: ErrorShape("ServiceException", 500, "Message"),
    # Invoke's VPC errors (botocore's model: 502 faults with Type and Message)
    e.SubnetIPAddressLimitReached: ErrorShape("SubnetIPAddressLimitReachedException", 502, "Message"),
    e.ENILimitReached: ErrorShape("ENILimitReachedException", 502, "Message"),
    e.VpcAccessFailed: ErrorShape("EC2UnexpectedException", 502, "Message"),
    e.ServiceError: ErrorShape("ServiceException", 500, "Message"),
    e.LambentError: ErrorShape("ServiceException", 500, "Message"),
}


#: Lambda's table (the lambent API speaks Lambda's envelope too).
LAMBDA: Mapping[type[e.LambentError], ErrorShape] = SHAPES

#: What every rest-json/json service answers before its own code runs (AWS's common errors).
_TRANSPORT: dict[type[e.LambentError], ErrorShape] = {
    e.UnknownOperation: ErrorShape("UnknownOperationException", 404),
    e.RequestTimeout: ErrorShape("RequestTimeoutException", 408),
    e.RequestHeaderFieldsTooLarge: SHAPES[e.RequestHeaderFieldsTooLarge],
    e.RequestTooLarge: ErrorShape("RequestEntityTooLargeException", 413),
    e.RequestEntityTooLarge: ErrorShape("RequestEntityTooLargeException", 413),
    e.MissingAuthenticationToken: SHAPES[e.MissingAuthenticationToken],
    e.IncompleteSignature: SHAPES[e.IncompleteSignature],
    e.UnrecognizedClient: SHAPES[e.UnrecognizedClient],
    e.InvalidSignature: SHAPES[e.InvalidSignature],
    e.ExpiredToken: SHAPES[e.ExpiredToken],
    e.AccessDenied: ErrorShape("AccessDeniedException", 403, "Message", typed=False),
    e.AuthError: ErrorShape("AccessDeniedException", 403, "Message", typed=False),
}

#: EventBridge Scheduler (rest-json): its model's six errors.
SCHEDULER: Mapping[type[e.LambentError], ErrorShape] = {
    **_TRANSPORT,
    e.ResourceNotFound: ErrorShape("ResourceNotFoundException", 404, "Message"),
    e.ResourceConflict: ErrorShape("ConflictException", 409, "Message"),
    e.TooManyRequests: ErrorShape("ThrottlingException", 429, "Message"),
    e.LimitExceeded: ErrorShape("ServiceQuotaExceededException", 402, "Message"),
    e.ClientError: ErrorShape("ValidationException", 400, "Message"),
    e.ResourceNotReady: ErrorShape("InternalServerException", 500, "Message"),
    e.LambentError: ErrorShape("InternalServerException", 500, "Message"),
}

#: CloudWatch Logs (json 1.1).
LOGS: Mapping[type[e.LambentError], ErrorShape] = {
    **_TRANSPORT,
    e.UnrecognizedClient: ErrorShape("UnrecognizedClientException", 403, typed=False),
    e.ValidationError: ErrorShape("ValidationException", 400),
    e.InvalidParameterValue: ErrorShape("InvalidParameterException", 400),
    e.MalformedPolicyDocument: ErrorShape("InvalidParameterException", 400),
    e.ResourceNotFound: ErrorShape("ResourceNotFoundException", 404),
    e.EntityAlreadyExists: ErrorShape("ResourceAlreadyExistsException", 409),
    e.ResourceConflict: ErrorShape("ConflictException", 409),
    e.PreconditionFailed: ErrorShape("OperationAbortedException", 409),
    e.LimitExceeded: ErrorShape("LimitExceededException", 400),
    e.TooManyRequests: ErrorShape("ThrottlingException", 400),
    e.ClientError: ErrorShape("InvalidParameterException", 400),
    e.ResourceNotReady: ErrorShape("ServiceUnavailableException", 503),
    e.LambentError: ErrorShape("InternalServerException", 500),
}

#: IAM and STS (query): AWS's common error spellings of the query protocol; IAM's modelled codes.
_QUERY: dict[type[e.LambentError], ErrorShape] = {
    e.UnknownOperation: ErrorShape("InvalidAction", 400),
    e.RequestTimeout: ErrorShape("RequestTimeoutException", 408),
    e.RequestHeaderFieldsTooLarge: SHAPES[e.RequestHeaderFieldsTooLarge],
    e.RequestTooLarge: ErrorShape("RequestEntityTooLargeException", 413),
    e.RequestEntityTooLarge: ErrorShape("RequestEntityTooLargeException", 413),
    e.MissingAuthenticationToken: ErrorShape("MissingAuthenticationToken", 403),
    e.IncompleteSignature: ErrorShape("IncompleteSignature", 400),
    e.UnrecognizedClient: ErrorShape("InvalidClientTokenId", 403),
    e.InvalidSignature: ErrorShape("SignatureDoesNotMatch", 403),
    # STS's model declares ExpiredTokenException (400) for AssumeRoleWithWebIdentity's token, which
    # lambent does not serve; an expired session token of the caller is ExpiredToken, 403, on both.
    e.ExpiredToken: ErrorShape("ExpiredToken", 403),
    e.AccessDenied: ErrorShape("AccessDenied", 403),
    e.AuthError: ErrorShape("AccessDenied", 403),
    e.TooManyRequests: ErrorShape("Throttling", 400),
    e.ValidationError: ErrorShape("ValidationError", 400),
    e.MalformedPolicyDocument: ErrorShape("MalformedPolicyDocument", 400),
    e.ResourceNotReady: ErrorShape("ServiceUnavailable", 503),
}

IAM: Mapping[type[e.LambentError], ErrorShape] = {
    **_QUERY,
    e.ResourceNotFound: ErrorShape("NoSuchEntity", 404),
    e.EntityAlreadyExists: ErrorShape("EntityAlreadyExists", 409),
    e.DeleteConflict: ErrorShape("DeleteConflict", 409),
    e.ResourceConflict: ErrorShape("ConcurrentModification", 409),
    e.LimitExceeded: ErrorShape("LimitExceeded", 409),
    e.InvalidParameterValue: ErrorShape("InvalidInput", 400),
    e.ClientError: ErrorShape("InvalidInput", 400),
    e.LambentError: ErrorShape("ServiceFailure", 500),
}

STS: Mapping[type[e.LambentError], ErrorShape] = {
    **_QUERY,
    # AssumeRole of a role that does not exist is "not authorized" on AWS, never a 404.
    e.ResourceNotFound: ErrorShape("AccessDenied", 403),
    e.LimitExceeded: ErrorShape("PackedPolicyTooLarge", 400),
    e.InvalidParameterValue: ErrorShape("InvalidParameterValue", 400),
    e.ClientError: ErrorShape("ValidationError", 400),
    e.LambentError: ErrorShape("InternalFailure", 500),
}

#: EC2 (ec2 protocol): the EC2 API reference's common client and server error codes.
EC2: Mapping[type[e.LambentError], ErrorShape] = {
    # the VPC model's own codes (InvalidVpcID.NotFound, DependencyViolation, ...): lambent/vpc/errors.py
    **{cls: ErrorShape(cls.code, cls.status) for cls in vpc_errors.EC2_ERRORS},
    e.UnknownOperation: ErrorShape("InvalidAction", 400),
    e.RequestTimeout: ErrorShape("RequestTimeoutException", 408),
    e.RequestHeaderFieldsTooLarge: SHAPES[e.RequestHeaderFieldsTooLarge],
    e.RequestTooLarge: ErrorShape("RequestEntityTooLargeException", 413),
    e.RequestEntityTooLarge: ErrorShape("RequestEntityTooLargeException", 413),
    e.MissingAuthenticationToken: ErrorShape("MissingAuthenticationToken", 401),
    e.IncompleteSignature: ErrorShape("IncompleteSignature", 400),
    e.UnrecognizedClient: ErrorShape("AuthFailure", 401),
    e.InvalidSignature: ErrorShape("SignatureDoesNotMatch", 403),
    e.ExpiredToken: ErrorShape("RequestExpired", 400),
    e.AccessDenied: ErrorShape("UnauthorizedOperation", 403),
    e.AuthError: ErrorShape("AuthFailure", 401),
    # EC2 answers RequestLimitExceeded with 503 (its throttle is retried like an outage).
    e.TooManyRequests: ErrorShape("RequestLimitExceeded", 503),
    e.ValidationError: ErrorShape("ValidationError", 400),
    e.ResourceConflict: ErrorShape("IdempotentParameterMismatch", 400),
    e.ClientError: ErrorShape("InvalidParameterValue", 400),
    e.ResourceNotReady: ErrorShape("Unavailable", 503),
    e.LambentError: ErrorShape("InternalError", 500),
}

CLOUDWATCH: dict[type[e.LambentError], ErrorShape] = {
    **_QUERY,
    e.InvalidParameterValue: ErrorShape("InvalidParameterValue", 400),
    e.InvalidParameterCombination: ErrorShape("InvalidParameterCombination", 400),
    e.MissingParameter: ErrorShape("MissingParameter", 400),
    e.InvalidNextToken: ErrorShape("InvalidNextToken", 400),
    e.LimitExceeded: ErrorShape("LimitExceeded", 400),
    e.ResourceNotFound: ErrorShape("ResourceNotFound", 404),
    e.ClientError: ErrorShape("InvalidParameterValue", 400),
    e.LambentError: ErrorShape("InternalServiceError", 500),
}

#: AWS X-Ray (rest-json): its model's two errors.
XRAY: Mapping[type[e.LambentError], ErrorShape] = {
    **_TRANSPORT,
    e.TooManyRequests: ErrorShape("ThrottledException", 429, "Message"),
    e.ClientError: ErrorShape("InvalidRequestException", 400, "Message"),
    e.LambentError: ErrorShape("InternalFailure", 500, "Message"),
}

#: service name (botocore's, or ``lambent``) -> its table.
TABLES: Mapping[str, Mapping[type[e.LambentError], ErrorShape]] = {
    "lambda": LAMBDA,
    "lambent": LAMBDA,
    "scheduler": SCHEDULER,
    "logs": LOGS,
    "iam": IAM,
    "sts": STS,
    "ec2": EC2,
    "cloudwatch": CLOUDWATCH,
    "xray": XRAY,
}


def table_for(service: str) -> Mapping[type[e.LambentError], ErrorShape]:
    """The table of ``service``; a service without one (a model served for tests) uses Lambda's."""
    return TABLES.get(service, LAMBDA)


def shape_for(exc: e.LambentError, service: str = "lambda") -> ErrorShape:
    """``exc``'s code and status in ``service``'s table: the entry of the nearest class in its MRO."""
    table = table_for(service)
    for cls in type(exc).__mro__:
        shape = table.get(cls)
        if shape is not None:
            return shape
    return table[e.LambentError]


def error_response(exc: e.LambentError, request_id: str | None = None) -> Response:
    """Lambda's envelope of ``exc`` as a Starlette response (used before a request is routed)."""
    shape = shape_for(exc)
    body: dict[str, str] = {"Type": shape.type} if shape.typed else {}
    body[shape.message_key] = exc.message
    headers = {"x-amzn-ErrorType": shape.code, "x-amzn-RequestId": request_id or str(uuid.uuid4())}
    if shape.reason and isinstance(exc, e.TooManyRequests):
        body["Reason"] = exc.reason
    return Response(json.dumps(body), status_code=shape.status, headers=headers, media_type="application/json")
