"""Table definitions and numbered migrations of IAM's own database file (``iam.db``): accounts,
users, long-term access keys, roles, inline and managed policies, attachments and STS sessions;
from step 2, Lambda functions' resource-based policies (one per function and qualifier).
Its own chain, like :mod:`lambent.store.queue_schema`: append only, never edit an applied
migration (``tests/unit/iam/test_iam_schema.py`` pins each step's DDL).

Secrets (``secret_sealed``) are AES-GCM sealed by the IAM domain before they reach this file;
session tokens are kept only as their SHA-256. Names are unique per account case-insensitively,
as IAM's are: ``name_key`` is the lower-cased name, ``name`` the spelling the caller chose.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from lambent.store.schema import run_migrations

metadata = sa.MetaData()

schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True),
)

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("account_id", sa.String(12), primary_key=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.Float, nullable=False),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("account_id", sa.String(12), primary_key=True),
    sa.Column("name_key", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("user_id", sa.String(32), nullable=False, unique=True),
    sa.Column("path", sa.String(512), nullable=False),
    sa.Column("tags", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

access_keys = sa.Table(
    "access_keys",
    metadata,
    sa.Column("access_key_id", sa.String(32), primary_key=True),
    sa.Column("account_id", sa.String(12), nullable=False, index=True),
    #: NULL: the account root's key pair
    sa.Column("user_key", sa.String(64), nullable=True),
    sa.Column("secret_sealed", sa.LargeBinary, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

roles = sa.Table(
    "roles",
    metadata,
    sa.Column("account_id", sa.String(12), primary_key=True),
    sa.Column("name_key", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("role_id", sa.String(32), nullable=False, unique=True),
    sa.Column("path", sa.String(512), nullable=False),
    sa.Column("assume_role_policy", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("max_session_s", sa.Integer, nullable=False),
    sa.Column("tags", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

inline_policies = sa.Table(
    "inline_policies",
    metadata,
    sa.Column("account_id", sa.String(12), primary_key=True),
    #: "user" or "role"
    sa.Column("owner_kind", sa.String(8), primary_key=True),
    sa.Column("owner_key", sa.String(64), primary_key=True),
    sa.Column("policy_name", sa.String(128), primary_key=True),
    sa.Column("document", sa.Text, nullable=False),
)

managed_policies = sa.Table(
    "managed_policies",
    metadata,
    sa.Column("account_id", sa.String(12), primary_key=True),
    sa.Column("name_key", sa.String(128), primary_key=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("policy_id", sa.String(32), nullable=False, unique=True),
    sa.Column("path", sa.String(512), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("default_version", sa.String(16), nullable=False),
    sa.Column("next_version", sa.Integer, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

policy_versions = sa.Table(
    "policy_versions",
    metadata,
    sa.Column("account_id", sa.String(12), primary_key=True),
    sa.Column("policy_key", sa.String(128), primary_key=True),
    sa.Column("version_id", sa.String(16), primary_key=True),
    sa.Column("document", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

attachments = sa.Table(
    "attachments",
    metadata,
    sa.Column("account_id", sa.String(12), primary_key=True),
    sa.Column("owner_kind", sa.String(8), primary_key=True),
    sa.Column("owner_key", sa.String(64), primary_key=True),
    sa.Column("policy_arn", sa.String(2048), primary_key=True),
)

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("access_key_id", sa.String(32), primary_key=True),
    sa.Column("account_id", sa.String(12), nullable=False),
    sa.Column("role_key", sa.String(64), nullable=False),
    sa.Column("role_name", sa.String(64), nullable=False),
    sa.Column("role_id", sa.String(32), nullable=False),
    sa.Column("role_arn", sa.String(2048), nullable=False),
    sa.Column("session_name", sa.String(64), nullable=False),
    sa.Column("secret_sealed", sa.LargeBinary, nullable=False),
    sa.Column("token_sha256", sa.String(64), nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False, index=True),
    sa.Column("created_at", sa.Float, nullable=False),
)

#: A Lambda function's resource-based policy (AddPermission/RemovePermission/GetPolicy), one per
#: (function, qualifier); qualifier "" is the unqualified function. Deleted with the function
#: (lambent.iam.function_policies).
function_policies = sa.Table(
    "function_policies",
    metadata,
    sa.Column("account_id", sa.String(12), primary_key=True),
    sa.Column("function_name", sa.String(64), primary_key=True),
    sa.Column("qualifier", sa.String(128), primary_key=True),
    sa.Column("revision_id", sa.String(36), nullable=False),
    sa.Column("document", sa.Text, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)


def _i1(conn: sa.Connection) -> None:
    metadata.create_all(
        conn,
        tables=[accounts, users, access_keys, roles, inline_policies, managed_policies, policy_versions, attachments, sessions],
    )


def _i2(conn: sa.Connection) -> None:
    metadata.create_all(conn, tables=[function_policies])


#: Migrations in order; index + 1 is the schema version they produce. Append only.
MIGRATIONS: list[Callable[[sa.Connection], None]] = [_i1, _i2]


def migrate_iam(engine: sa.Engine) -> int:
    """Bring ``iam.db`` to the newest schema version; returns that version."""
    return run_migrations(engine, schema_version, MIGRATIONS)
