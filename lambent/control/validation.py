"""Field constraints of the Lambda API, with AWS's messages.

AWS reports model-constraint violations as ``ValidationException`` with a message such as
``1 validation error detected: Value '20000' at 'memorySize' failed to satisfy constraint: Member
must have value less than or equal to 10240``; several at once are joined with ``; ``. Semantic
problems (reserved environment keys, unsupported runtime, 4 KB environment) are
``InvalidParameterValueException``. Limits: https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from lambent.errors import InvalidParameterValue, ValidationError

MEMORY_MIN_MB, MEMORY_MAX_MB = 128, 10240
TIMEOUT_MIN_S, TIMEOUT_MAX_S = 1, 900
EPHEMERAL_MIN_MB, EPHEMERAL_MAX_MB = 512, 10240
HANDLER_PATTERN = r"[^\s]+"
ROLE_PATTERN = r"arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+"
ENV_KEY_PATTERN = r"[a-zA-Z]([a-zA-Z0-9_])+"
#: LoggingConfig's enums (botocore's ApplicationLogLevel, SystemLogLevel, LogFormat) and
#: SnapStart.ApplyOn's (SnapStartApplyOn).
LOG_FORMATS = ("JSON", "Text")
APPLICATION_LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
SYSTEM_LOG_LEVELS = ("DEBUG", "INFO", "WARN")
SNAP_START_APPLY_ON = ("PublishedVersions", "None")
#: Keys Lambda sets itself and refuses in Environment.Variables: the "Reserved environment
#: variables" of https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime
#: (TZ, which that table also names, is left overridable: AWS accepts it and lambent's default is
#: only a default). Matched exactly (case-sensitive), as AWS does.
RESERVED_ENV_KEYS = frozenset(
    {
        "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
    }
)


class Checker:
    """Collects constraint violations of one request and raises them together, as AWS does."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def fail(self, field: str, value: Any, constraint: str) -> None:
        shown = "null" if value is None else (json.dumps(value) if isinstance(value, (dict, list)) else str(value))
        self.errors.append(f"Value '{shown}' at '{field}' failed to satisfy constraint: {constraint}")

    def int_range(self, field: str, value: Any, lo: int, hi: int) -> None:
        if value is None:
            return
        if not isinstance(value, int) or isinstance(value, bool):
            self.fail(field, value, "Member must be an integer")
        elif value < lo:
            self.fail(field, value, f"Member must have value greater than or equal to {lo}")
        elif value > hi:
            self.fail(field, value, f"Member must have value less than or equal to {hi}")

    def string(self, field: str, value: Any, *, max_len: int, min_len: int = 0, pattern: str | None = None) -> None:
        if value is None:
            return
        if not isinstance(value, str):
            self.fail(field, value, "Member must be a string")
            return
        if len(value) > max_len:
            self.fail(field, value, f"Member must have length less than or equal to {max_len}")
        elif len(value) < min_len:
            self.fail(field, value, f"Member must have length greater than or equal to {min_len}")
        elif pattern is not None and not re.fullmatch(pattern, value):
            self.fail(field, value, f"Member must satisfy regular expression pattern: {pattern}")

    def enum(self, field: str, value: Any, allowed: Iterable[str]) -> None:
        allowed = list(allowed)
        if value is not None and value not in allowed:
            self.fail(field, value, f"Member must satisfy enum value set: [{', '.join(allowed)}]")

    def required(self, field: str, value: Any) -> None:
        if value is None:
            self.fail(field, None, "Member must not be null")

    def raise_if_any(self) -> None:
        if self.errors:
            n = len(self.errors)
            raise ValidationError(
                f"{n} validation error{'s' if n > 1 else ''} detected: " + "; ".join(self.errors)
            )


def check_environment(variables: Mapping[str, Any] | None, max_bytes: int) -> dict[str, str]:
    """Validate Environment.Variables; returns them as a plain dict."""
    if variables is None:
        return {}
    if not isinstance(variables, Mapping):
        raise InvalidParameterValue("Environment.Variables must be a map of strings.")
    out: dict[str, str] = {}
    for k, v in variables.items():
        if not isinstance(k, str) or not re.fullmatch(ENV_KEY_PATTERN, k):
            raise ValidationError(
                "1 validation error detected: Value at 'environment.variables' failed to satisfy constraint: "
                f"Map keys must satisfy constraint: [Member must satisfy regular expression pattern: {ENV_KEY_PATTERN}]"
            )
        if not isinstance(v, str):
            raise InvalidParameterValue(f"Environment variable {k} must be a string.")
        out[k] = v
    # in the order the request gives them (AWS's answers are not sorted: "AWS_REGION, AWS_ACCESS_KEY")
    reserved = [k for k in out if k in RESERVED_ENV_KEYS]
    if reserved:
        raise InvalidParameterValue(
            "Lambda was unable to configure your environment variables because the environment variables "
            "you have provided contains reserved keys that are currently not supported for modification. "
            f"Reserved keys used in this request: {', '.join(reserved)}"
        )
    measured = json.dumps(out, separators=(",", ":"))
    if len(measured.encode()) > max_bytes:
        raise InvalidParameterValue(
            "Lambda was unable to configure your environment variables because the environment variables "
            f"you have provided exceeded the 4KB limit. String measured: {measured}"
        )
    return out


def check_one_of(member: str, value: str | None, allowed: tuple[str, ...]) -> None:
    """A domain-side enum check (the API checks the wire first; this keeps a value that reaches the
    sandbox's environment, such as a log level, to the documented set whoever the caller is)."""
    if value is not None and value not in allowed:
        raise InvalidParameterValue(f"{member} {value!r} is not one of: {', '.join(allowed)}.")
