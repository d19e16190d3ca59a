"""Initial schema: parties, users, keys, items, conflicts, notices, receipts, events.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import deconflict.store.schema

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("at", deconflict.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("type", sa.String(length=48), nullable=False),
        sa.Column("audience", sa.JSON(), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("subject_type", sa.String(length=16), nullable=True),
        sa.Column("subject_id", sa.String(length=64), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_events")),
    )
    op.create_table(
        "idempotency",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("at", deconflict.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "key", name=op.f("pk_idempotency")),
    )
    op.create_table(
        "parties",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("shares_with_observers", sa.Boolean(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("created_at", deconflict.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_parties")),
    )
    op.create_table(
        "receipts",
        sa.Column("subject_type", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("party_id", sa.String(length=64), nullable=False),
        sa.Column("precedence", sa.String(length=16), nullable=False),
        sa.Column("created_at", deconflict.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deadline", deconflict.store.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("escalated_at", deconflict.store.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", deconflict.store.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("delivered_to", sa.String(length=64), nullable=True),
        sa.Column("opened_at", deconflict.store.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("opened_by", sa.String(length=64), nullable=True),
        sa.Column("acknowledged_at", deconflict.store.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("subject_type", "subject_id", "party_id", name=op.f("pk_receipts")),
    )
    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.create_index("ix_receipts_due", ["acknowledged_at", "deadline"], unique=False)
        batch_op.create_index("ix_receipts_party", ["party_id", "subject_type"], unique=False)

    op.create_table(
        "settings",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_at", deconflict.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_settings")),
    )
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(length=32), nullable=False),
        sa.Column("private_pem", sa.Text(), nullable=False),
        sa.Column("public_pem", sa.Text(), nullable=False),
        sa.Column("created_at", deconflict.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("retired_at", deconflict.store.schema.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_signing_keys")),
    )
    op.create_table(
        "trusted_issuers",
        sa.Column("issuer", sa.String(length=200), nullable=False),
        sa.Column("audience", sa.String(length=200), nullable=False),
        sa.Column("public_pem", sa.Text(), nullable=False),
        sa.Column("algorithms", sa.JSON(), nullable=False),
        sa.Column("party_claim", sa.String(length=64), nullable=False),
        sa.Column("created_at", deconflict.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("issuer", name=op.f("pk_trusted_issuers")),
    )
    op.create_table(
        "items",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("item_type", sa.String(length=8), nullable=False),
        sa.Column("party_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subtype", sa.String(length=32), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("callsign", sa.String(length=64), nullable=True),
        sa.Column("contact", sa.String(length=200), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("volumes", sa.JSON(), nullable=False),
        sa.Column("time_start", deconflict.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("time_end", deconflict.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lon_min", sa.Float(), nullable=False),
        sa.Column("lon_max", sa.Float(), nullable=False),
        sa.Column("lat_min", sa.Float(), nullable=False),
        sa.Column("lat_max", sa.Float(), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("rev", sa.BigInteger(), nullable=False),
        sa.Column("notified_at", deconflict.store.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("late_by_s", sa.Float(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", deconflict.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", deconflict.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["party_id"], ["parties.id"], name=op.f("fk_items_party_id_parties")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_items")),
    )
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.create_index("ix_items_party_state", ["party_id", "state"], unique=False)
        batch_op.create_index("ix_items_rev", ["rev"], unique=False)
        batch_op.create_index("ix_items_time", ["time_start", "time_end"], unique=False)

    op.create_table(
        "users",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("party_id", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("contact_rank", sa.Integer(), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", deconflict.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["party_id"], ["parties.id"], name=op.f("fk_users_party_id_parties")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_users_party_id"), ["party_id"], unique=False)

    op.create_table(
        "conflicts",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("item_a", sa.String(length=64), nullable=False),
        sa.Column("item_b", sa.String(length=64), nullable=False),
        sa.Column("party_a", sa.String(length=64), nullable=False),
        sa.Column("party_b", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("precedence", sa.String(length=16), nullable=False),
        sa.Column("version_a", sa.String(length=32), nullable=False),
        sa.Column("version_b", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("time_start", deconflict.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ack_a_by", sa.String(length=64), nullable=True),
        sa.Column("ack_a_at", deconflict.store.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ack_b_by", sa.String(length=64), nullable=True),
        sa.Column("ack_b_at", deconflict.store.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("accept_a_by", sa.String(length=64), nullable=True),
        sa.Column("accept_a_at", deconflict.store.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("accept_b_by", sa.String(length=64), nullable=True),
        sa.Column("accept_b_at", deconflict.store.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("escalated_at", deconflict.store.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("escalated_by", sa.String(length=64), nullable=True),
        sa.Column("resolution", sa.String(length=32), nullable=True),
        sa.Column("closed_at", deconflict.store.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", deconflict.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", deconflict.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["item_a"], ["items.id"], name=op.f("fk_conflicts_item_a_items")),
        sa.ForeignKeyConstraint(["item_b"], ["items.id"], name=op.f("fk_conflicts_item_b_items")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conflicts")),
    )
    with op.batch_alter_table("conflicts", schema=None) as batch_op:
        batch_op.create_index("ix_conflicts_items", ["item_a", "item_b"], unique=False)
        batch_op.create_index("ix_conflicts_state", ["state"], unique=False)

    op.create_table(
        "item_versions",
        sa.Column("item_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("at", deconflict.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("by_user", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"], name=op.f("fk_item_versions_item_id_items")),
        sa.PrimaryKeyConstraint("item_id", "version", name=op.f("pk_item_versions")),
    )
    op.create_table(
        "notices",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("item_id", sa.String(length=64), nullable=False),
        sa.Column("item_version", sa.String(length=32), nullable=False),
        sa.Column("sender_party", sa.String(length=64), nullable=False),
        sa.Column("change", sa.String(length=16), nullable=False),
        sa.Column("precedence", sa.String(length=16), nullable=False),
        sa.Column("lead_s", sa.Float(), nullable=True),
        sa.Column("required_s", sa.Float(), nullable=True),
        sa.Column("late_by_s", sa.Float(), nullable=True),
        sa.Column("at", deconflict.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("by_user", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"], name=op.f("fk_notices_item_id_items")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notices")),
    )
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notices_item_id"), ["item_id"], unique=False)

    op.create_table(
        "conflict_notes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("conflict_id", sa.String(length=64), nullable=False),
        sa.Column("party_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("at", deconflict.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conflict_id"], ["conflicts.id"], name=op.f("fk_conflict_notes_conflict_id_conflicts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conflict_notes")),
    )
    with op.batch_alter_table("conflict_notes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_conflict_notes_conflict_id"), ["conflict_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("conflict_notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conflict_notes_conflict_id"))

    op.drop_table("conflict_notes")
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notices_item_id"))

    op.drop_table("notices")
    op.drop_table("item_versions")
    with op.batch_alter_table("conflicts", schema=None) as batch_op:
        batch_op.drop_index("ix_conflicts_state")
        batch_op.drop_index("ix_conflicts_items")

    op.drop_table("conflicts")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_users_party_id"))

    op.drop_table("users")
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_index("ix_items_time")
        batch_op.drop_index("ix_items_rev")
        batch_op.drop_index("ix_items_party_state")

    op.drop_table("items")
    op.drop_table("trusted_issuers")
    op.drop_table("signing_keys")
    op.drop_table("settings")
    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.drop_index("ix_receipts_party")
        batch_op.drop_index("ix_receipts_due")

    op.drop_table("receipts")
    op.drop_table("parties")
    op.drop_table("idempotency")
    op.drop_table("events")
