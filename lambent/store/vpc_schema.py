"""Table definitions and numbered migrations of the VPC model's own database file (``vpc.db``):
VPCs, subnets, security groups and their rules, NAT gateways, VPC endpoints and the addresses
leased from subnets (network interfaces). Its own chain, like :mod:`lambent.store.iam_schema`:
append only, never edit an applied migration (``tests/unit/vpc/test_vpc_schema.py`` pins each
step's DDL in ``vpc_ddl.json``).

Every row carries the owning account; ids are EC2's (globally unique). Tags and id lists are JSON
text; CIDRs and addresses their canonical text.
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

vpcs = sa.Table(
    "vpcs",
    metadata,
    sa.Column("vpc_id", sa.String(32), primary_key=True),
    sa.Column("account_id", sa.String(12), nullable=False, index=True),
    sa.Column("cidr", sa.String(18), nullable=False),
    sa.Column("tags", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

subnets = sa.Table(
    "subnets",
    metadata,
    sa.Column("subnet_id", sa.String(32), primary_key=True),
    sa.Column("account_id", sa.String(12), nullable=False),
    sa.Column("vpc_id", sa.String(32), nullable=False, index=True),
    sa.Column("cidr", sa.String(18), nullable=False),
    sa.Column("availability_zone", sa.String(32), nullable=False),
    sa.Column("tags", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

security_groups = sa.Table(
    "security_groups",
    metadata,
    sa.Column("group_id", sa.String(32), primary_key=True),
    sa.Column("account_id", sa.String(12), nullable=False),
    sa.Column("vpc_id", sa.String(32), nullable=False, index=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("description", sa.String(255), nullable=False),
    sa.Column("tags", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.UniqueConstraint("vpc_id", "name"),
)

#: One atomic rule: a protocol and port range with one CIDR or one peer group.
security_group_rules = sa.Table(
    "security_group_rules",
    metadata,
    sa.Column("rule_id", sa.String(32), primary_key=True),
    sa.Column("group_id", sa.String(32), nullable=False, index=True),
    sa.Column("egress", sa.Boolean, nullable=False),
    sa.Column("protocol", sa.String(8), nullable=False),
    sa.Column("from_port", sa.Integer, nullable=True),
    sa.Column("to_port", sa.Integer, nullable=True),
    sa.Column("cidr", sa.String(18), nullable=True),
    sa.Column("peer_group_id", sa.String(32), nullable=True),
    sa.Column("peer_account_id", sa.String(12), nullable=True),
    sa.Column("description", sa.String(255), nullable=False),
)

nat_gateways = sa.Table(
    "nat_gateways",
    metadata,
    sa.Column("nat_gateway_id", sa.String(32), primary_key=True),
    sa.Column("account_id", sa.String(12), nullable=False),
    sa.Column("vpc_id", sa.String(32), nullable=False, index=True),
    sa.Column("subnet_id", sa.String(32), nullable=False),
    sa.Column("connectivity", sa.String(16), nullable=False),
    sa.Column("interface_id", sa.String(32), nullable=False),
    sa.Column("private_ip", sa.String(15), nullable=False),
    sa.Column("tags", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

vpc_endpoints = sa.Table(
    "vpc_endpoints",
    metadata,
    sa.Column("endpoint_id", sa.String(32), primary_key=True),
    sa.Column("account_id", sa.String(12), nullable=False),
    sa.Column("vpc_id", sa.String(32), nullable=False, index=True),
    sa.Column("service_name", sa.String(255), nullable=False),
    sa.Column("endpoint_type", sa.String(32), nullable=False),
    sa.Column("subnet_ids", sa.Text, nullable=False),
    sa.Column("group_ids", sa.Text, nullable=False),
    sa.Column("interface_ids", sa.Text, nullable=False),
    sa.Column("private_dns", sa.Boolean, nullable=False),
    sa.Column("policy", sa.Text, nullable=False),
    sa.Column("tags", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

#: An address leased from a subnet; ``address`` is unique per subnet.
network_interfaces = sa.Table(
    "network_interfaces",
    metadata,
    sa.Column("interface_id", sa.String(32), primary_key=True),
    sa.Column("account_id", sa.String(12), nullable=False),
    sa.Column("vpc_id", sa.String(32), nullable=False),
    sa.Column("subnet_id", sa.String(32), nullable=False),
    sa.Column("address", sa.String(15), nullable=False),
    sa.Column("interface_type", sa.String(16), nullable=False),
    sa.Column("availability_zone", sa.String(32), nullable=False),
    sa.Column("description", sa.String(255), nullable=False),
    sa.Column("group_ids", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.UniqueConstraint("subnet_id", "address"),
)


def _v1(conn: sa.Connection) -> None:
    metadata.create_all(
        conn,
        tables=[vpcs, subnets, security_groups, security_group_rules, nat_gateways, vpc_endpoints, network_interfaces],
    )


#: Migrations in order; index + 1 is the schema version they produce. Append only.
MIGRATIONS: list[Callable[[sa.Connection], None]] = [_v1]


def migrate_vpc(engine: sa.Engine) -> int:
    """Bring ``vpc.db`` to the newest schema version; returns that version."""
    return run_migrations(engine, schema_version, MIGRATIONS)
