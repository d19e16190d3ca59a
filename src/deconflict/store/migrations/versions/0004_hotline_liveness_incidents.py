"""The hotline (threads, messages, answered receipts), party liveness, incident reports.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import deconflict.store.schema

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "threads",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=True),
        sa.Column("link_type", sa.String(length=16), nullable=True),
        sa.Column("link_id", sa.String(length=64), nullable=True),
        sa.Column("system", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_party", sa.String(length=64), nullable=False),
        sa.Column("created_at", deconflict.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", deconflict.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_threads")),
    )
    with op.batch_alter_table("threads", schema=None) as batch_op:
        batch_op.create_index("ix_threads_link", ["link_type", "link_id"], unique=False)

    op.create_table(
        "incidents",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("party_id", sa.String(length=64), nullable=False),
        sa.Column("reported_by", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("occurred_at", deconflict.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("radius_m", sa.Float(), nullable=False),
        sa.Column("findings", sa.Text(), nullable=True),
        sa.Column("reviewed_at", deconflict.store.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reviewed_by", sa.String(length=64), nullable=True),
        sa.Column("closed_at", deconflict.store.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", deconflict.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", deconflict.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["party_id"], ["parties.id"], name=op.f("fk_incidents_party_id_parties")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
    )
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.create_index("ix_incidents_occurred", ["occurred_at"], unique=False)
        batch_op.create_index("ix_incidents_state", ["state"], unique=False)

    op.create_table(
        "liveness",
        sa.Column("party_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("since", deconflict.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", deconflict.store.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_seen_by", sa.String(length=64), nullable=True),
        sa.Column("outage_thread", sa.String(length=64), nullable=True),
        sa.Column("outages", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["party_id"], ["parties.id"], name=op.f("fk_liveness_party_id_parties")),
        sa.PrimaryKeyConstraint("party_id", name=op.f("pk_liveness")),
    )
    op.create_table(
        "messages",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("thread_id", sa.String(length=64), nullable=False),
        sa.Column("sender_party", sa.String(length=64), nullable=False),
        sa.Column("sender_user", sa.String(length=64), nullable=False),
        sa.Column("code", sa.Integer(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("precedence", sa.String(length=16), nullable=False),
        sa.Column("in_reply_to", sa.String(length=64), nullable=True),
        sa.Column("link_type", sa.String(length=16), nullable=True),
        sa.Column("link_id", sa.String(length=64), nullable=True),
        sa.Column("at", deconflict.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["thread_id"], ["threads.id"], name=op.f("fk_messages_thread_id_threads")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
    )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index("ix_messages_link", ["link_type", "link_id"], unique=False)
        batch_op.create_index("ix_messages_reply", ["in_reply_to"], unique=False)
        batch_op.create_index("ix_messages_thread", ["thread_id", "id"], unique=False)

    op.create_table(
        "thread_parties",
        sa.Column("thread_id", sa.String(length=64), nullable=False),
        sa.Column("party_id", sa.String(length=64), nullable=False),
        sa.Column("joined_at", deconflict.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("joined_via", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(["party_id"], ["parties.id"], name=op.f("fk_thread_parties_party_id_parties")),
        sa.ForeignKeyConstraint(["thread_id"], ["threads.id"], name=op.f("fk_thread_parties_thread_id_threads")),
        sa.PrimaryKeyConstraint("thread_id", "party_id", name=op.f("pk_thread_parties")),
    )
    with op.batch_alter_table("thread_parties", schema=None) as batch_op:
        batch_op.create_index("ix_thread_parties_party", ["party_id"], unique=False)

    op.create_table(
        "incident_links",
        sa.Column("incident_id", sa.String(length=64), nullable=False),
        sa.Column("link_type", sa.String(length=16), nullable=False),
        sa.Column("link_id", sa.String(length=64), nullable=False),
        sa.Column("added_by", sa.String(length=64), nullable=False),
        sa.Column("added_at", deconflict.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_incident_links_incident_id_incidents")
        ),
        sa.PrimaryKeyConstraint("incident_id", "link_type", "link_id", name=op.f("pk_incident_links")),
    )
    op.create_table(
        "incident_notes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("incident_id", sa.String(length=64), nullable=False),
        sa.Column("party_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("at", deconflict.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_incident_notes_incident_id_incidents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_notes")),
    )
    with op.batch_alter_table("incident_notes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_incident_notes_incident_id"), ["incident_id"], unique=False)

    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("answered_at", deconflict.store.schema.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("answered_by", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("answer_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.drop_column("answer_id")
        batch_op.drop_column("answered_by")
        batch_op.drop_column("answered_at")

    with op.batch_alter_table("incident_notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incident_notes_incident_id"))

    op.drop_table("incident_notes")
    op.drop_table("incident_links")
    with op.batch_alter_table("thread_parties", schema=None) as batch_op:
        batch_op.drop_index("ix_thread_parties_party")

    op.drop_table("thread_parties")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_thread")
        batch_op.drop_index("ix_messages_reply")
        batch_op.drop_index("ix_messages_link")

    op.drop_table("messages")
    op.drop_table("liveness")
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_index("ix_incidents_state")
        batch_op.drop_index("ix_incidents_occurred")

    op.drop_table("incidents")
    with op.batch_alter_table("threads", schema=None) as batch_op:
        batch_op.drop_index("ix_threads_link")

    op.drop_table("threads")
