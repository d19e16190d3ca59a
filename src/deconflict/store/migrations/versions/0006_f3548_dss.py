"""ASTM F3548 DSS interface: entity ids and numeric versions of items, USS clients,
availability, subscriptions, reports; the protocol of a party; F3548 trusted issuers.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import deconflict.store.schema
from deconflict.store.schema import derived_dss_id

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TS = deconflict.store.schema.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("parties", schema=None) as batch_op:
        batch_op.add_column(sa.Column("protocol", sa.String(length=8), server_default="native", nullable=False))
    with op.batch_alter_table("trusted_issuers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("party_from", sa.String(length=8), server_default="claim", nullable=False))
        batch_op.add_column(sa.Column("audiences", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("max_ttl_s", sa.Float(), nullable=True))

    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dss_id", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("version_no", sa.Integer(), server_default="1", nullable=False))
        batch_op.add_column(sa.Column("uss_base_url", sa.String(length=2048), nullable=True))
        batch_op.add_column(sa.Column("dss_subscription_id", sa.String(length=36), nullable=True))
    conn = op.get_bind()
    items = sa.table("items", sa.column("id", sa.String), sa.column("dss_id", sa.String), sa.column("version_no"))
    versions = sa.table("item_versions", sa.column("item_id", sa.String))
    counts = {
        item_id: n
        for item_id, n in conn.execute(sa.select(versions.c.item_id, sa.func.count()).group_by(versions.c.item_id))
    }
    for (item_id,) in conn.execute(sa.select(items.c.id)).all():
        conn.execute(
            items.update()
            .where(items.c.id == item_id)
            .values(dss_id=derived_dss_id(item_id), version_no=max(1, counts.get(item_id, 1)))
        )
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.alter_column("dss_id", existing_type=sa.String(length=36), nullable=False)
        batch_op.create_index("ix_items_dss_id", ["dss_id"], unique=True)
        batch_op.create_index("ix_items_dss_subscription", ["dss_subscription_id"], unique=False)

    op.create_table(
        "uss_clients",
        sa.Column("issuer", sa.String(length=200), nullable=False),
        sa.Column("sub", sa.String(length=200), nullable=False),
        sa.Column("party_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["party_id"], ["parties.id"], name=op.f("fk_uss_clients_party_id_parties")),
        sa.PrimaryKeyConstraint("issuer", "sub", name=op.f("pk_uss_clients")),
    )
    op.create_table(
        "dss_subscriptions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("party_id", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("notification_index", sa.Integer(), nullable=False),
        sa.Column("uss_base_url", sa.String(length=2048), nullable=False),
        sa.Column("notify_for_operational_intents", sa.Boolean(), nullable=False),
        sa.Column("notify_for_constraints", sa.Boolean(), nullable=False),
        sa.Column("implicit", sa.Boolean(), nullable=False),
        sa.Column("volume", sa.JSON(), nullable=False),
        sa.Column("time_start", TS, nullable=False),
        sa.Column("time_end", TS, nullable=False),
        sa.Column("lon_min", sa.Float(), nullable=False),
        sa.Column("lon_max", sa.Float(), nullable=False),
        sa.Column("lat_min", sa.Float(), nullable=False),
        sa.Column("lat_max", sa.Float(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["party_id"], ["parties.id"], name=op.f("fk_dss_subscriptions_party_id_parties")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dss_subscriptions")),
    )
    with op.batch_alter_table("dss_subscriptions", schema=None) as batch_op:
        batch_op.create_index("ix_dss_subscriptions_party", ["party_id"], unique=False)
        batch_op.create_index("ix_dss_subscriptions_time", ["time_start", "time_end"], unique=False)
    op.create_table(
        "uss_availability",
        sa.Column("uss_id", sa.String(length=200), nullable=False),
        sa.Column("availability", sa.String(length=8), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("party_id", sa.String(length=64), nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["party_id"], ["parties.id"], name=op.f("fk_uss_availability_party_id_parties")),
        sa.PrimaryKeyConstraint("uss_id", name=op.f("pk_uss_availability")),
    )
    op.create_table(
        "dss_reports",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("party_id", sa.String(length=64), nullable=False),
        sa.Column("reported_by", sa.String(length=64), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["party_id"], ["parties.id"], name=op.f("fk_dss_reports_party_id_parties")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dss_reports")),
    )


def downgrade() -> None:
    op.drop_table("dss_reports")
    op.drop_table("uss_availability")
    with op.batch_alter_table("dss_subscriptions", schema=None) as batch_op:
        batch_op.drop_index("ix_dss_subscriptions_time")
        batch_op.drop_index("ix_dss_subscriptions_party")
    op.drop_table("dss_subscriptions")
    op.drop_table("uss_clients")
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_index("ix_items_dss_subscription")
        batch_op.drop_index("ix_items_dss_id")
        batch_op.drop_column("dss_subscription_id")
        batch_op.drop_column("uss_base_url")
        batch_op.drop_column("version_no")
        batch_op.drop_column("dss_id")
    with op.batch_alter_table("trusted_issuers", schema=None) as batch_op:
        batch_op.drop_column("max_ttl_s")
        batch_op.drop_column("audiences")
        batch_op.drop_column("party_from")
    with op.batch_alter_table("parties", schema=None) as batch_op:
        batch_op.drop_column("protocol")
