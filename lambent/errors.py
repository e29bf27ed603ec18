"""lambent's error tree. Domain code raises these; :mod:`lambent.api.envelopes` alone maps them to
AWS error shapes (type, HTTP status, body) by walking each class's MRO, so one entry serves a family.

    LambentError
    ├── ClientError                    the caller did something wrong
    │   ├── ValidationError            a field breaks its model constraint (pattern, range, enum, length)
    │   ├── InvalidParameterValue      a value is well-formed but not acceptable here
    │   ├── InvalidRequestContent      the body is not the JSON the operation expects
    │   ├── UnsupportedMediaType
    │   ├── ResourceNotFound
    │   │   └── NoSuchEntity           IAM: no user/role/policy of that name (404)
    │   ├── ResourceConflict           already exists / wrong state for the operation
    │   │   ├── EntityAlreadyExists    IAM: an entity of that name exists (409)
    │   │   └── DeleteConflict         IAM: the entity still has attachments (409)
    │   ├── MalformedPolicyDocument    IAM/STS: a policy document that does not parse or validate
    │   ├── LimitExceeded              IAM: a quota (entities, attachments, versions) is reached
    │   ├── PreconditionFailed         RevisionId / CodeSha256 precondition did not hold
    │   ├── RequestTooLarge            Invoke payload over the limit
    │   ├── RequestEntityTooLarge      CreateFunction/UpdateFunctionCode body over the limit
    │   ├── TooManyRequests            throttled; carries an AWS ThrottleReason
    │   ├── UnknownOperation           no route for the method and path
    │   ├── RequestTimeout             the body did not arrive in time (408)
    │   ├── RequestHeaderFieldsTooLarge  too many / too large headers (431)
    │   └── AuthError                  SigV4 failures, all 403
    │       ├── MissingAuthenticationToken
    │       ├── IncompleteSignature
    │       ├── UnrecognizedClient     unknown access key
    │       ├── InvalidSignature       wrong signature or expired timestamp
    │       ├── ExpiredToken           the session token of temporary credentials has expired
    │       └── AccessDenied           a resource of another account, or a policy denies the call
    ├── ServiceError                   lambent itself failed (500)
    │   ├── StorageFull                the data directory is out of space (ENOSPC)
    │   ├── ConstraintViolation        a statement broke a database constraint (lambent.store)
    │   ├── EnvironmentStartFailed     an execution environment's sandbox could not be set up
    │   ├── VpcAccessFailed            a VPC function's environment could not join its VPC (502)
    │   │   ├── SubnetIPAddressLimitReached  every subnet of its VpcConfig is out of addresses
    │   │   └── ENILimitReached        the host's cap on VPC interfaces is reached
    │   └── DeliveryFailed             an async result could not reach its destination or DLQ
    └── ResourceNotReady               the function cannot run yet / any more (502)
"""

from __future__ import annotations


class LambentError(Exception):
    """Root of every error lambent raises on purpose. ``message`` is what the caller sees."""

    def __init__(self, message: str, **context: object) -> None:
        super().__init__(message)
        self.message = message
        #: Extra context (function ARN, request id, hint) for logs; never sent to the caller.
        self.context = context


class ClientError(LambentError):
    pass


class ValidationError(ClientError):
    pass


class InvalidParameterValue(ClientError):
    pass


class InvalidRequestContent(ClientError):
    pass


class UnsupportedMediaType(ClientError):
    pass


class ResourceNotFound(ClientError):
    pass


class ResourceConflict(ClientError):
    pass


class PreconditionFailed(ClientError):
    pass


class RequestTooLarge(ClientError):
    pass


class RequestEntityTooLarge(ClientError):
    pass


class UnknownOperation(ClientError):
    pass


class TooManyRequests(ClientError):
    def __init__(self, message: str, reason: str, **context: object) -> None:
        super().__init__(message, **context)
        #: One of AWS's ThrottleReason values.
        self.reason = reason


class AuthError(ClientError):
    pass


class MissingAuthenticationToken(AuthError):
    pass


class IncompleteSignature(AuthError):
    pass


class UnrecognizedClient(AuthError):
    pass


class InvalidSignature(AuthError):
    pass


class ServiceError(LambentError):
    pass


class ResourceNotReady(LambentError):
    pass


class StorageFull(ServiceError):
    """The data directory has no room for a write that would grow lambent's state (ENOSPC, or
    free space below ``storage.min_free_bytes``). Deletes and state changes use the reserve."""


class RequestTimeout(ClientError):
    pass


class RequestHeaderFieldsTooLarge(ClientError):
    pass


class AccessDenied(AuthError):
    """A request for a resource of another account (AWS: 403 AccessDeniedException)."""


class NoSuchEntity(ResourceNotFound):
    """IAM: the user, role, policy or access key named does not exist (404 NoSuchEntity)."""


class EntityAlreadyExists(ResourceConflict):
    """IAM: an entity of that name already exists (409 EntityAlreadyExists)."""


class DeleteConflict(ResourceConflict):
    """IAM: the entity cannot be deleted while it has attachments (409 DeleteConflict)."""


class MalformedPolicyDocument(ClientError):
    """A policy document that is not JSON, or breaks the policy grammar (400 MalformedPolicyDocument)."""


class LimitExceeded(ClientError):
    """IAM: a quota is reached (entities, attached policies, policy versions, keys) (409 LimitExceeded)."""


class ExpiredToken(AuthError):
    """The session token of temporary credentials has expired (STS: 400 ExpiredTokenException;
    other services answer 403 ExpiredTokenException, one of AWS's common errors)."""


class ConstraintViolation(ServiceError):
    """A statement broke a database constraint: caught by the store module that expects it (an
    alias's second InProgress deployment); anywhere else a lambent bug, answered 500. Raised by
    :mod:`lambent.store` (defined here so that the whole tree, and its one table, is in one place)."""


class EnvironmentStartFailed(ServiceError):
    """The sandbox of a new execution environment could not be started (bwrap, cgroups, mounts),
    or its Runtime API endpoint could not be opened: lambent's failure, not the function's
    (Lambda: 500 ServiceException). The caller sees only :data:`SERVICE_FAILURE_MESSAGE`; the
    cause (function ARN, request id, sandbox hint) is logged once where it is translated."""


class DeliveryFailed(ServiceError):
    """An asynchronous invocation record or a dead letter could not be handed to its destination
    (SQS, SNS, EventBridge, Lambda): boto3/botocore's errors translated where lambent calls them.
    ``retryable``: whether another try may succeed (throttles, 5xx, connection errors) or not (the
    queue does not exist, access denied, a malformed target). ``code`` is the remote AWS error code."""

    def __init__(self, message: str, *, retryable: bool = True, code: str = "", **context: object) -> None:
        super().__init__(message, **context)
        self.retryable = retryable
        self.code = code


class VpcAccessFailed(ServiceError):
    """Lambda could not set up VPC access for an environment (EC2UnexpectedException, 502): the
    server has no VPC data plane (its network is off), or Linux refused. ``reason_code`` is
    Lambda's StateReasonCode for it."""

    reason_code = "InternalError"


class SubnetIPAddressLimitReached(VpcAccessFailed):
    """Every subnet of the function's VpcConfig is out of addresses (502); ``subnet_id`` in context."""

    reason_code = "SubnetOutOfIPAddresses"


class ENILimitReached(VpcAccessFailed):
    """The host's cap on VPC network interfaces (``worker.vpc_interfaces_max``) is reached (502)."""

    reason_code = "EniLimitExceeded"


#: What a caller is told of a service-side failure (AWS's wording of ServiceException); the cause
#: stays in lambent's log (it names host paths and bwrap's output).
SERVICE_FAILURE_MESSAGE = "The Lambda service encountered an internal error."


class PolicyLengthExceeded(InvalidParameterValue):
    """A function's resource-based policy would exceed 20480 bytes (PolicyLengthExceededException, 400)."""


class InvalidParameterCombination(InvalidParameterValue):
    """CloudWatch: parameters that cannot be given together (or a request over a datapoint limit)."""


class MissingParameter(InvalidParameterValue):
    """CloudWatch: a parameter the request needs is missing."""


class InvalidNextToken(InvalidParameterValue):
    """CloudWatch: a NextToken this server did not hand out."""
