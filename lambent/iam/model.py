"""IAM's values: accounts, users, access keys, roles, policies and the principal a request acts as.

Frozen dataclasses; every secret field is ``repr=False`` so a logged value never shows one. Names
follow AWS's IAM API reference (https://docs.aws.amazon.com/IAM/latest/APIReference/), times are
epoch seconds (``*_at``), durations carry their unit (``max_session_s``).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from enum import StrEnum

#: AWS's partition; lambent serves one.
PARTITION = "aws"
#: The "account" of AWS managed policies in their ARNs (arn:aws:iam::aws:policy/...).
AWS_OWNED = "aws"


class KeyStatus(StrEnum):
    ACTIVE = "Active"
    INACTIVE = "Inactive"


class PrincipalKind(StrEnum):
    ROOT = "root"
    USER = "user"
    ASSUMED_ROLE = "assumed-role"


class OwnerKind(StrEnum):
    """Who an inline policy or an attachment belongs to."""

    USER = "user"
    ROLE = "role"


@dataclass(frozen=True)
class Account:
    account_id: str
    name: str
    created_at: float

    @property
    def root_arn(self) -> str:
        return f"arn:{PARTITION}:iam::{self.account_id}:root"


@dataclass(frozen=True)
class User:
    account_id: str
    name: str
    user_id: str
    path: str
    created_at: float
    tags: tuple[tuple[str, str], ...] = ()

    @property
    def arn(self) -> str:
        return f"arn:{PARTITION}:iam::{self.account_id}:user{self.path}{self.name}"


@dataclass(frozen=True)
class AccessKey:
    """A long-term key pair: an IAM user's (``user_name``) or an account root's (``user_name`` None)."""

    access_key_id: str
    account_id: str
    user_name: str | None
    status: KeyStatus
    created_at: float
    secret_access_key: str = field(repr=False)


@dataclass(frozen=True)
class Role:
    account_id: str
    name: str
    role_id: str
    path: str
    assume_role_policy: str
    created_at: float
    description: str = ""
    max_session_s: int = 3600
    tags: tuple[tuple[str, str], ...] = ()

    @property
    def arn(self) -> str:
        return f"arn:{PARTITION}:iam::{self.account_id}:role{self.path}{self.name}"


@dataclass(frozen=True)
class PolicyVersion:
    version_id: str
    document: str
    created_at: float


@dataclass(frozen=True)
class ManagedPolicy:
    """A customer managed policy (``account_id`` an account) or an AWS managed one (``AWS_OWNED``)."""

    account_id: str
    name: str
    policy_id: str
    path: str
    default_version: str
    versions: tuple[PolicyVersion, ...]
    created_at: float
    updated_at: float
    description: str = ""
    next_version: int = 2

    @property
    def arn(self) -> str:
        return f"arn:{PARTITION}:iam::{self.account_id}:policy{self.path}{self.name}"

    def version(self, version_id: str) -> PolicyVersion | None:
        return next((v for v in self.versions if v.version_id == version_id), None)

    @property
    def document(self) -> str:
        """The default version's document: what the policy grants."""
        found = self.version(self.default_version)
        return found.document if found is not None else ""


@dataclass(frozen=True)
class Session:
    """Temporary credentials of an assumed role (STS AssumeRole). Only a SHA-256 of the session
    token is kept: the token is compared, never shown again."""

    access_key_id: str
    account_id: str
    role_name: str
    role_id: str
    role_arn: str
    session_name: str
    expires_at: float
    created_at: float
    secret_access_key: str = field(repr=False)
    token_sha256: str = field(repr=False)

    @property
    def arn(self) -> str:
        return f"arn:{PARTITION}:sts::{self.account_id}:assumed-role/{self.role_name}/{self.session_name}"

    @property
    def assumed_role_id(self) -> str:
        return f"{self.role_id}:{self.session_name}"


@dataclass(frozen=True)
class Principal:
    """Who a request acts as, found by its access key (what the SigV4 verifier needs to check the
    signature, and what authorisation and GetCallerIdentity need to know)."""

    kind: PrincipalKind
    account_id: str
    arn: str
    #: GetCallerIdentity's UserId: the account id (root), AIDA... (user), AROA...:session (role).
    user_id: str
    #: The user's or role's name; empty for the root.
    name: str
    access_key_id: str
    secret_access_key: str = field(repr=False)
    #: SHA-256 (hex) of the session token temporary credentials must present; None for long-term keys.
    token_sha256: str | None = field(default=None, repr=False)
    expires_at: float | None = None
    #: The role's ARN (arn:aws:iam::...:role/...) for an assumed-role principal.
    role_arn: str | None = None

    def token_matches(self, token: str | None) -> bool:
        """Whether ``token`` (X-Amz-Security-Token) is the one these credentials need: none for
        long-term keys, exactly the issued one (compared in constant time) for temporary ones."""
        if self.token_sha256 is None:
            return not token
        if not token:
            return False
        return hmac.compare_digest(token_digest(token), self.token_sha256)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
