"""Wire shapes of the Lambda API (2015-03-31), built from the control plane's domain values.

Member names and formats follow botocore's service model (``FunctionConfiguration`` etc.).
"""

from __future__ import annotations

import hashlib
from functools import cache
from typing import Any

from lambent.control.model import FunctionConfig


@cache
def runtime_version_arn(region: str, runtime: str) -> str:
    """AWS names the runtime build a function runs on ``arn:aws:lambda:REGION::runtime:<64 hex>``;
    lambent has one build per runtime on a host, so the id is stable per runtime name."""
    return f"arn:aws:lambda:{region}::runtime:{hashlib.sha256(runtime.encode()).hexdigest()}"


def function_configuration(cfg: FunctionConfig, arn: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "FunctionName": cfg.name,
        "FunctionArn": arn,
        "Runtime": cfg.runtime,
        "Role": cfg.role,
        "Handler": cfg.handler,
        "CodeSize": cfg.code_size,
        "Description": cfg.description,
        "Timeout": cfg.timeout_s,
        "MemorySize": cfg.memory_mb,
        "LastModified": cfg.last_modified,
        "CodeSha256": cfg.code_sha256_b64,
        "Version": cfg.version,
        "TracingConfig": {"Mode": cfg.tracing_mode},
        "RevisionId": cfg.revision_id,
        "State": cfg.state.value,
        "PackageType": cfg.package_type,
        "Architectures": list(cfg.architectures),
        "EphemeralStorage": {"Size": cfg.ephemeral_storage_mb},
        "SnapStart": {"ApplyOn": cfg.snap_start_apply_on, "OptimizationStatus": "Off"},
        "LoggingConfig": {"LogFormat": cfg.log_format, "LogGroup": cfg.log_group_name},
        "RuntimeVersionConfig": {"RuntimeVersionArn": runtime_version_arn(arn.split(":", 4)[3], cfg.runtime)},
    }
    if cfg.log_format == "JSON":
        # AWS reports the log levels of JSON-format functions only (INFO unless set); a Text one has none.
        out["LoggingConfig"].update(
            ApplicationLogLevel=cfg.application_log_level or "INFO", SystemLogLevel=cfg.system_log_level or "INFO"
        )
    if cfg.environment is not None:  # given empty: AWS echoes {"Variables": {}}
        out["Environment"] = {"Variables": dict(cfg.environment)}
    if cfg.vpc_config is not None:  # given (even empty, after a removal): AWS reports the shape
        vpc = cfg.vpc_config
        out["VpcConfig"] = {"SubnetIds": list(vpc.subnet_ids), "SecurityGroupIds": list(vpc.security_group_ids),
                            "VpcId": vpc.vpc_id, "Ipv6AllowedForDualStack": vpc.ipv6_allowed_for_dual_stack}
    if cfg.dead_letter_arn:
        out["DeadLetterConfig"] = {"TargetArn": cfg.dead_letter_arn}
    if cfg.state_reason:
        out["StateReason"] = cfg.state_reason
    if cfg.state_reason_code:
        out["StateReasonCode"] = cfg.state_reason_code
    if cfg.last_update_status is not None:
        out["LastUpdateStatus"] = cfg.last_update_status.value
    if cfg.last_update_status_reason:
        out["LastUpdateStatusReason"] = cfg.last_update_status_reason
    if cfg.last_update_status_reason_code:
        out["LastUpdateStatusReasonCode"] = cfg.last_update_status_reason_code
    return out


#: Members AWS leaves out of ListFunctions and ListVersionsByFunction entries (recorded answers).
_NOT_IN_LISTS = ("State", "StateReason", "StateReasonCode", "LastUpdateStatus", "LastUpdateStatusReason",
                 "LastUpdateStatusReasonCode", "RuntimeVersionConfig")


def list_entry(cfg: FunctionConfig, arn: str) -> dict[str, Any]:
    out = function_configuration(cfg, arn)
    for key in _NOT_IN_LISTS:
        out.pop(key, None)
    return out
