"""Domain values of the control plane: snake_case, frozen, independent of the wire format."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from lambent.arns import FunctionKey as FunctionKey
from lambent.arns import function_key


class State(StrEnum):
    PENDING = "Pending"
    ACTIVE = "Active"
    INACTIVE = "Inactive"
    FAILED = "Failed"


class UpdateStatus(StrEnum):
    SUCCESSFUL = "Successful"
    FAILED = "Failed"
    IN_PROGRESS = "InProgress"


@dataclass(frozen=True)
class VpcConfig:
    """A function's ``VpcConfig``: the subnets its environments take addresses in and the security
    groups of those addresses, all of ``vpc_id`` in ``account_id`` (the function's account).
    No subnet: the configuration was given empty (a function taken out of its VPC); AWS then
    reports the empty shape, where a function never given one reports none."""

    subnet_ids: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()
    vpc_id: str = ""
    account_id: str = ""
    ipv6_allowed_for_dual_stack: bool = False

    @property
    def attached(self) -> bool:
        """Whether environments join the VPC (an empty configuration leaves them on the default network)."""
        return bool(self.subnet_ids)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> VpcConfig:
        return cls(tuple(d.get("subnet_ids") or ()), tuple(d.get("security_group_ids") or ()),
                   str(d.get("vpc_id") or ""), str(d.get("account_id") or ""),
                   bool(d.get("ipv6_allowed_for_dual_stack")))


@dataclass(frozen=True)
class FunctionConfig:
    """One version's configuration (``$LATEST`` or a published number). Replaced, never mutated."""

    name: str
    runtime: str
    role: str
    handler: str
    code_hash_hex: str
    code_sha256_b64: str
    code_size: int
    last_modified: str
    revision_id: str
    version: str = "$LATEST"
    #: The owning account (with ``name``, the function's identity: :attr:`key`).
    account_id: str = ""
    description: str = ""
    timeout_s: int = 3
    memory_mb: int = 128
    ephemeral_storage_mb: int = 512
    environment: dict[str, str] | None = None
    architectures: tuple[str, ...] = ("x86_64",)
    tracing_mode: str = "PassThrough"
    log_format: str = "Text"
    log_group: str | None = None
    #: LoggingConfig.ApplicationLogLevel / SystemLogLevel: set (AWS's default INFO) only while
    #: log_format is JSON, None otherwise (functions.settle_log_levels).
    application_log_level: str | None = None
    system_log_level: str | None = None
    #: SnapStart.ApplyOn ("None" or "PublishedVersions"); kept when an update does not give it.
    snap_start_apply_on: str = "None"
    #: DeadLetterConfig.TargetArn: where failed asynchronous events go (SQS queue or SNS topic).
    dead_letter_arn: str | None = None
    #: VpcConfig (None: never given; see VpcConfig.attached). Versions keep it.
    vpc_config: VpcConfig | None = None
    state: State = State.PENDING
    state_reason: str | None = "The function is being created."
    state_reason_code: str | None = "Creating"
    last_update_status: UpdateStatus | None = None
    last_update_status_reason: str | None = None
    last_update_status_reason_code: str | None = None
    package_type: str = "Zip"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> FunctionKey:
        """The function's identity (account and name): what every map of functions is keyed by."""
        return function_key(self.account_id, self.name)

    @property
    def log_group_name(self) -> str:
        return self.log_group or f"/aws/lambda/{self.name}"

    @property
    def environment_revision(self) -> str:
        """The revision its execution environments are keyed by (the pool's key): ``revision_id``,
        except after changes that touch nothing an environment runs with — AddPermission /
        RemovePermission give the version a new RevisionId, as on AWS, but its warm environments
        stay valid (FunctionService.set_revision records both ids; any other change gives a
        fresh ``revision_id`` and so a new key)."""
        if self.extra.get("permission_revision") == self.revision_id:
            return str(self.extra.get("environment_revision") or self.revision_id)
        return self.revision_id

    def replace(self, **changes: Any) -> FunctionConfig:
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["architectures"] = list(self.architectures)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> FunctionConfig:
        d = dict(d)
        d["architectures"] = tuple(d.get("architectures") or ("x86_64",))
        d["state"] = State(d["state"])
        if d.get("vpc_config") is not None:
            d["vpc_config"] = VpcConfig.from_json(d["vpc_config"])
        if d.get("last_update_status"):
            d["last_update_status"] = UpdateStatus(d["last_update_status"])
        if d.get("log_format") == "JSON":  # rows written before the levels were kept: AWS's defaults
            d.setdefault("application_log_level", "INFO")
            d.setdefault("system_log_level", "INFO")
        return cls(**d)


@dataclass(frozen=True)
class CodeInfo:
    """A stored deployment package."""

    sha256_hex: str
    sha256_b64: str
    size: int
    unzipped_size: int


@dataclass(frozen=True)
class Alias:
    """A stable name for a version, optionally sending ``additional_weight`` of the traffic to
    ``additional_version`` (https://docs.aws.amazon.com/lambda/latest/dg/configuring-alias-routing.html)."""

    function: str
    name: str
    function_version: str
    revision_id: str
    description: str = ""
    additional_version: str | None = None
    additional_weight: float = 0.0

    def replace(self, **changes: Any) -> Alias:
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Alias:
        return cls(**d)

    def pick_version(self, u: float) -> str:
        """The version one invocation runs, for a uniform draw ``u`` in [0, 1)."""
        if self.additional_version is not None and u < self.additional_weight:
            return self.additional_version
        return self.function_version
