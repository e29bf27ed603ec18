"""The one place where lambent's errors become AWS error responses.

rest-json services (Lambda) answer with the ``x-amzn-ErrorType`` header and a JSON body holding
``Type`` and the message under the member name the botocore model gives the shape (``message`` or
``Message``). The table is walked along each exception's MRO, so one entry covers a family.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from starlette.responses import Response

from lambent import errors as e


@dataclass(frozen=True)
class ErrorShape:
    code: str
    status: int
    message_key: str = "message"

    @property
    def type(self) -> str:
        return "Service" if self.status >= 500 else "User"


SHAPES: dict[type[e.LambentError], ErrorShape] = {
    e.ValidationError: ErrorShape("ValidationException", 400),
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
    e.TooManyRequests: ErrorShape("TooManyRequestsException", 429),
    e.UnknownOperation: ErrorShape("UnknownOperationException", 404),
    # botocore's retry handler treats RequestTimeoutException as transient (retried).
    e.RequestTimeout: ErrorShape("RequestTimeoutException", 408),
    e.RequestHeaderFieldsTooLarge: ErrorShape("RequestHeaderFieldsTooLargeException", 431),
    e.MissingAuthenticationToken: ErrorShape("MissingAuthenticationTokenException", 403),
    e.IncompleteSignature: ErrorShape("IncompleteSignatureException", 403),
    e.UnrecognizedClient: ErrorShape("UnrecognizedClientException", 403),
    e.InvalidSignature: ErrorShape("InvalidSignatureException", 403),
    e.AccessDenied: ErrorShape("AccessDeniedException", 403, "Message"),
    # One of AWS's common errors (not in Lambda's model): 403 outside STS.
    e.ExpiredToken: ErrorShape("ExpiredTokenException", 403),
    e.AuthError: ErrorShape("AccessDeniedException", 403),
    e.ClientError: ErrorShape("InvalidRequestContentException", 400),
    e.ResourceNotReady: ErrorShape("ResourceNotReadyException", 502),
    # AWS has no disk of ours to fill: ServiceException (500) is its code for a service-side failure.
    e.StorageFull: ErrorShape("ServiceException", 500, "Message"),
    e.ServiceError: ErrorShape("ServiceException", 500, "Message"),
    e.LambentError: ErrorShape("ServiceException", 500, "Message"),
}


def shape_for(exc: e.LambentError) -> ErrorShape:
    for cls in type(exc).__mro__:
        shape = SHAPES.get(cls)
        if shape is not None:
            return shape
    return SHAPES[e.LambentError]


def error_response(exc: e.LambentError, request_id: str | None = None) -> Response:
    shape = shape_for(exc)
    body: dict[str, str] = {"Type": shape.type, shape.message_key: exc.message}
    headers = {"x-amzn-ErrorType": shape.code, "x-amzn-RequestId": request_id or str(uuid.uuid4())}
    if isinstance(exc, e.TooManyRequests):
        body["Reason"] = exc.reason
    return Response(json.dumps(body), status_code=shape.status, headers=headers, media_type="application/json")
