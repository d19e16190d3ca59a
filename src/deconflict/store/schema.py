"""The tables, as SQLAlchemy Core metadata: one schema for SQLite and PostgreSQL.

Migrations (``store/migrations``) create and upgrade it; a test checks that the
migrations and this metadata do not drift apart.  Times are stored as aware UTC
datetimes (SQLAlchemy's ``DateTime(timezone=True)``; on SQLite as ISO text, which
sorts correctly because every value is UTC).  JSON documents use the generic ``JSON``
type (``jsonb`` would be nicer on PostgreSQL, but one schema for both matters more).

Table by table:

* ``parties`` / ``users``: who takes part, and the people (and machine clients) acting
  for them.  ``users.contact_rank`` orders a party's escalation contacts.
* ``items``: activities and zones (``item_type``), their shared fields, private
  ``notes``, their volumes (wire JSON, WGS84 metres and UTC) and bounding box, the
  opaque ``version`` (changed on every write, like an F3548 OVN) and ``rev``, a global
  counter that lets every process bring its in-memory conflict index up to date.
* ``item_versions``: every version of every item, as it was (the history).
* ``conflicts`` / ``conflict_notes``: conflicts between two parties' items, their state
  and each side's acknowledgement/acceptance; comments and proposals.
* ``notices`` / ``receipts``: who was told what and when — delivered, opened,
  acknowledged, by whom — with deadlines and escalation levels.
* ``events``: the event stream (sequence numbers for WebSocket resume).
* ``idempotency``: stored responses of POSTs made with an ``Idempotency-Key``.
* ``access_log``: every read of another party's data (need-to-know).
* ``threads`` / ``thread_parties`` / ``messages``: the hotline — threads between parties,
  catalogue messages (code + canonical parameters, optional untranslated free text);
  their receipts are ``receipts`` rows with ``subject_type = 'message'``, which add
  ``answered`` (the response that closed the question) to delivered/opened/acknowledged.
* ``liveness``: each party's channel — last heartbeat, and whether it is up, down or
  not yet heard from.
* ``incidents`` / ``incident_links`` / ``incident_notes``: incident reports, what they
  are linked to (activities, zones, conflicts, messages, threads), comments and findings.
* ``settings``: the agreement policy, signing keys, trusted issuers, counters.
* ``ledger_entries``: the joint record — every state change as a signed, hash-chained
  entry (``seq``, time, actor, audience, canonical payload, ``prev`` hash and signature,
  the service key ``kid``, ``hash``, ``sig``); the payload is stored as JSON text (its
  ``payload_sha256`` covers its RFC 8785 canonical bytes).
* ``tree_heads``: signed Merkle tree heads (checkpoints) over the entries' hashes.
* ``ledger_keys``: the Ed25519 keys of the record — the service's (which countersigns
  every entry) and the parties'; ``private_key`` only for server-held keys, never in
  the record itself.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)

__all__ = [
    "access_log",
    "conflict_notes",
    "conflicts",
    "derived_dss_id",
    "dss_reports",
    "dss_subscriptions",
    "events",
    "idempotency",
    "incident_links",
    "incident_notes",
    "incidents",
    "item_versions",
    "items",
    "ledger_entries",
    "ledger_keys",
    "liveness",
    "messages",
    "metadata",
    "notices",
    "parties",
    "receipts",
    "settings",
    "signing_keys",
    "thread_parties",
    "threads",
    "tree_heads",
    "trusted_issuers",
    "users",
    "uss_availability",
    "uss_clients",
]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = 64


def derived_dss_id(item_id: str) -> str:
    """The F3548 entity id of a native item: a UUIDv4-shaped digest of its id (the
    version nibble 4, the variant 10xx), so that every item is addressable on /dss/v1."""
    h = bytearray(hashlib.sha256(item_id.encode()).digest()[:16])
    h[6] = (h[6] & 0x0F) | 0x40
    h[8] = (h[8] & 0x3F) | 0x80
    return str(uuid.UUID(bytes=bytes(h)))


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on both back-ends (SQLite keeps no offset: UTC is implied)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


TS = UTCDateTime()

settings = Table(
    "settings",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", JSON, nullable=False),
    Column("updated_at", TS, nullable=False),
)

parties = Table(
    "parties",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("role", String(16), nullable=False),  # member | mediator | observer
    Column("shares_with_observers", Boolean, nullable=False, default=False),
    Column("language", String(8), nullable=False, default="en"),
    # native | f3548: an F3548 USS reaches the mechanism through /dss/v1 only; it never
    # acknowledges (its receipts carry no deadline) and its liveness is arbitrated
    Column("protocol", String(8), nullable=False, default="native", server_default="native"),
    Column("created_at", TS, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("party_id", String(ID), ForeignKey("parties.id"), nullable=False, index=True),
    Column("role", String(16), nullable=False),  # liaison | commander | read_only | client
    Column("display_name", String(200), nullable=False),
    Column("language", String(8), nullable=False, default="en"),
    Column("password_hash", Text, nullable=True),
    Column("contact_rank", Integer, nullable=False, default=0),
    Column("scopes", JSON, nullable=True),  # machine clients: the scopes they may be given
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", TS, nullable=False),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(32), primary_key=True),
    Column("private_pem", Text, nullable=False),
    Column("public_pem", Text, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("retired_at", TS, nullable=True),
)

trusted_issuers = Table(
    "trusted_issuers",
    metadata,
    Column("issuer", String(200), primary_key=True),
    Column("audience", String(200), nullable=False),
    Column("public_pem", Text, nullable=False),
    Column("algorithms", JSON, nullable=False),
    Column("party_claim", String(64), nullable=False),
    # claim: the party is the token's ``party_claim``; sub: the party uss_clients binds
    # (issuer, sub) to — no binding, no access (F3548 tokens carry no party)
    Column("party_from", String(8), nullable=False, default="claim", server_default="claim"),
    Column("audiences", JSON, nullable=True),  # further accepted audiences (host names)
    Column("max_ttl_s", Float, nullable=True),  # refuse tokens living longer (exp - iat)
    Column("created_at", TS, nullable=False),
)

uss_clients = Table(
    "uss_clients",
    metadata,
    Column("issuer", String(200), primary_key=True),
    Column("sub", String(200), primary_key=True),
    Column("party_id", String(ID), ForeignKey("parties.id"), nullable=False),
    Column("created_at", TS, nullable=False),
)

items = Table(
    "items",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("item_type", String(8), nullable=False),  # activity | zone
    Column("party_id", String(ID), ForeignKey("parties.id"), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("subtype", String(32), nullable=True),  # zones: hospital, school, aid_warehouse …
    Column("state", String(16), nullable=False),
    Column("priority", String(16), nullable=False),
    Column("title", String(200), nullable=False),
    Column("callsign", String(64), nullable=True),
    Column("contact", String(200), nullable=True),
    Column("notes", Text, nullable=True),  # private to the owning party
    Column("volumes", JSON, nullable=False),
    Column("minima", JSON, nullable=True),  # zones: their own separation minima
    Column("time_start", TS, nullable=False),
    Column("time_end", TS, nullable=False),
    Column("lon_min", Float, nullable=False),
    Column("lon_max", Float, nullable=False),
    Column("lat_min", Float, nullable=False),
    Column("lat_max", Float, nullable=False),
    Column("version", String(32), nullable=False),
    Column("rev", BigInteger, nullable=False),
    Column("notified_at", TS, nullable=True),
    Column("late_by_s", Float, nullable=True),
    Column("created_by", String(ID), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    # ASTM F3548: the entity's UUID (client-chosen for DSS writes, derived from the id for
    # native items), its numeric version (+1 with every new ``version``, i.e. OVN), the
    # manager's base URL and the subscription the intent is bound to
    Column("dss_id", String(36), nullable=False),
    Column("version_no", Integer, nullable=False, default=1, server_default="1"),
    Column("uss_base_url", String(2048), nullable=True),
    Column("dss_subscription_id", String(36), nullable=True),
    Index("ix_items_rev", "rev"),
    Index("ix_items_dss_id", "dss_id", unique=True),
    Index("ix_items_dss_subscription", "dss_subscription_id"),
    Index("ix_items_party_state", "party_id", "state"),
    Index("ix_items_time", "time_start", "time_end"),
    Index("ix_items_state_start", "state", "time_start"),
    Index("ix_items_state_end", "state", "time_end"),
)

item_versions = Table(
    "item_versions",
    metadata,
    Column("item_id", String(ID), ForeignKey("items.id"), primary_key=True),
    Column("version", String(32), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("document", JSON, nullable=False),
    Column("at", TS, nullable=False),
    Column("by_user", String(ID), nullable=False),
)

conflicts = Table(
    "conflicts",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("item_a", String(ID), ForeignKey("items.id"), nullable=False),
    Column("item_b", String(ID), ForeignKey("items.id"), nullable=False),
    Column("party_a", String(ID), nullable=False),
    Column("party_b", String(ID), nullable=False),
    Column("state", String(16), nullable=False),
    Column("precedence", String(16), nullable=False),
    Column("version_a", String(32), nullable=False),
    Column("version_b", String(32), nullable=False),
    Column("detail", JSON, nullable=False),
    Column("time_start", TS, nullable=False),
    Column("ack_a_by", String(ID), nullable=True),
    Column("ack_a_at", TS, nullable=True),
    Column("ack_b_by", String(ID), nullable=True),
    Column("ack_b_at", TS, nullable=True),
    Column("accept_a_by", String(ID), nullable=True),
    Column("accept_a_at", TS, nullable=True),
    Column("accept_b_by", String(ID), nullable=True),
    Column("accept_b_at", TS, nullable=True),
    Column("escalated_at", TS, nullable=True),
    Column("escalated_by", String(ID), nullable=True),
    Column("resolution", String(32), nullable=True),
    Column("closed_at", TS, nullable=True),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    Index("ix_conflicts_items", "item_a", "item_b"),
    Index("ix_conflicts_item_b", "item_b"),
    Index("ix_conflicts_state", "state"),
)

conflict_notes = Table(
    "conflict_notes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("conflict_id", String(ID), ForeignKey("conflicts.id"), nullable=False, index=True),
    Column("party_id", String(ID), nullable=False),
    Column("user_id", String(ID), nullable=False),
    Column("kind", String(16), nullable=False),  # comment | proposal
    Column("text", Text, nullable=False),
    Column("at", TS, nullable=False),
)

notices = Table(
    "notices",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("item_id", String(ID), ForeignKey("items.id"), nullable=False, index=True),
    Column("item_version", String(32), nullable=False),
    Column("sender_party", String(ID), nullable=False),
    Column("change", String(16), nullable=False),  # notified | updated | cancelled | created …
    Column("precedence", String(16), nullable=False),
    Column("lead_s", Float, nullable=True),
    Column("required_s", Float, nullable=True),
    Column("late_by_s", Float, nullable=True),
    Column("at", TS, nullable=False),
    Column("by_user", String(ID), nullable=False),
)

receipts = Table(
    "receipts",
    metadata,
    Column("subject_type", String(16), primary_key=True),  # notice | conflict | message
    Column("subject_id", String(ID), primary_key=True),
    Column("party_id", String(ID), primary_key=True),
    Column("precedence", String(16), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("deadline", TS, nullable=True),
    Column("level", Integer, nullable=False, default=0),
    Column("escalated_at", TS, nullable=True),
    Column("delivered_at", TS, nullable=True),
    Column("delivered_to", String(ID), nullable=True),
    Column("opened_at", TS, nullable=True),
    Column("opened_by", String(ID), nullable=True),
    Column("acknowledged_at", TS, nullable=True),
    Column("acknowledged_by", String(ID), nullable=True),
    Column("answered_at", TS, nullable=True),  # messages: the response that closed the question
    Column("answered_by", String(ID), nullable=True),
    Column("answer_id", String(ID), nullable=True),
    Index("ix_receipts_due", "acknowledged_at", "deadline"),
    Index("ix_receipts_party", "party_id", "subject_type"),
)

events = Table(
    "events",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("at", TS, nullable=False),
    Column("type", String(48), nullable=False),
    Column("audience", JSON, nullable=False),  # list of party ids, or ["*"]
    Column("user_id", String(ID), nullable=True),  # when aimed at one person (escalation)
    Column("subject_type", String(16), nullable=True),
    Column("subject_id", String(ID), nullable=True),
    Column("payload", JSON, nullable=False),
)

idempotency = Table(
    "idempotency",
    metadata,
    Column("user_id", String(ID), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("status", Integer, nullable=False),
    Column("body", JSON, nullable=False),
    Column("at", TS, nullable=False),
)

access_log = Table(
    "access_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", TS, nullable=False),
    Column("user_id", String(ID), nullable=False),
    Column("party_id", String(ID), nullable=False),
    Column("action", String(32), nullable=False),
    Column("subject_type", String(16), nullable=True),
    Column("subject_id", String(ID), nullable=True),
    Column("detail", JSON, nullable=True),
    Index("ix_access_log_at", "at"),
)


threads = Table(
    "threads",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("subject", String(200), nullable=True),  # free text, untranslated
    Column("link_type", String(16), nullable=True),  # activity | zone | conflict | incident
    Column("link_id", String(ID), nullable=True),
    Column("system", Boolean, nullable=False, default=False),  # opened by the service (liveness alerts)
    Column("created_by", String(ID), nullable=False),
    Column("created_party", String(ID), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    Index("ix_threads_link", "link_type", "link_id"),
)

thread_parties = Table(
    "thread_parties",
    metadata,
    Column("thread_id", String(ID), ForeignKey("threads.id"), primary_key=True),
    Column("party_id", String(ID), ForeignKey("parties.id"), primary_key=True),
    Column("joined_at", TS, nullable=False),
    Column("joined_via", String(16), nullable=False),  # opened | addressed | escalation | system
    Index("ix_thread_parties_party", "party_id"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("thread_id", String(ID), ForeignKey("threads.id"), nullable=False),
    Column("sender_party", String(ID), nullable=False),  # "system" for the service's own alerts
    Column("sender_user", String(ID), nullable=False),
    Column("code", Integer, nullable=False),
    Column("params", JSON, nullable=False),  # canonical, language-neutral values
    Column("text", Text, nullable=True),  # free text: shown as is, marked untranslated
    Column("precedence", String(16), nullable=False),
    Column("in_reply_to", String(ID), nullable=True),
    Column("link_type", String(16), nullable=True),
    Column("link_id", String(ID), nullable=True),
    Column("at", TS, nullable=False),
    Index("ix_messages_thread", "thread_id", "id"),
    Index("ix_messages_reply", "in_reply_to"),
    Index("ix_messages_link", "link_type", "link_id"),
)

dss_subscriptions = Table(
    "dss_subscriptions",
    metadata,
    Column("id", String(36), primary_key=True),  # the client's UUIDv4
    Column("party_id", String(ID), ForeignKey("parties.id"), nullable=False),  # the manager
    Column("created_by", String(ID), nullable=False),
    Column("version", String(32), nullable=False),  # changes with the client's changes only
    Column("notification_index", Integer, nullable=False, default=0),
    Column("uss_base_url", String(2048), nullable=False),
    Column("notify_for_operational_intents", Boolean, nullable=False),
    Column("notify_for_constraints", Boolean, nullable=False),
    Column("implicit", Boolean, nullable=False),
    Column("volume", JSON, nullable=False),  # one Volume4D, wire JSON as items.volumes
    Column("time_start", TS, nullable=False),
    Column("time_end", TS, nullable=False),
    Column("lon_min", Float, nullable=False),
    Column("lon_max", Float, nullable=False),
    Column("lat_min", Float, nullable=False),
    Column("lat_max", Float, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    Index("ix_dss_subscriptions_party", "party_id"),
    Index("ix_dss_subscriptions_time", "time_start", "time_end"),
)

uss_availability = Table(
    "uss_availability",
    metadata,
    Column("uss_id", String(200), primary_key=True),
    Column("availability", String(8), nullable=False),  # Unknown | Normal | Down
    Column("version", String(32), nullable=False),
    Column("party_id", String(ID), ForeignKey("parties.id"), nullable=True),  # when uss_id is a party's
    Column("updated_at", TS, nullable=False),
    Column("updated_by", String(ID), nullable=False),
)

dss_reports = Table(
    "dss_reports",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("party_id", String(ID), ForeignKey("parties.id"), nullable=False),
    Column("reported_by", String(ID), nullable=False),
    Column("at", TS, nullable=False),
    Column("report", JSON, nullable=False),  # the ErrorReport, Authorization headers redacted
)

liveness = Table(
    "liveness",
    metadata,
    Column("party_id", String(ID), ForeignKey("parties.id"), primary_key=True),
    Column("state", String(8), nullable=False),  # unknown | up | down
    Column("since", TS, nullable=False),
    Column("last_seen_at", TS, nullable=True),
    Column("last_seen_by", String(ID), nullable=True),
    Column("outage_thread", String(ID), nullable=True),  # the alert thread of the current/last outage
    Column("outages", Integer, nullable=False, default=0),
)

incidents = Table(
    "incidents",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("party_id", String(ID), ForeignKey("parties.id"), nullable=False),  # the reporting party
    Column("reported_by", String(ID), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("state", String(16), nullable=False),  # open | under_review | closed
    Column("title", String(200), nullable=False),  # free text, untranslated
    Column("description", Text, nullable=True),
    Column("occurred_at", TS, nullable=False),
    Column("lat", Float, nullable=False),
    Column("lon", Float, nullable=False),
    Column("radius_m", Float, nullable=False),
    Column("findings", Text, nullable=True),
    Column("reviewed_at", TS, nullable=True),
    Column("reviewed_by", String(ID), nullable=True),
    Column("closed_at", TS, nullable=True),
    Column("closed_by", String(ID), nullable=True),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    Index("ix_incidents_state", "state"),
    Index("ix_incidents_occurred", "occurred_at"),
)

incident_links = Table(
    "incident_links",
    metadata,
    Column("incident_id", String(ID), ForeignKey("incidents.id"), primary_key=True),
    Column("link_type", String(16), primary_key=True),  # activity | zone | conflict | message | thread
    Column("link_id", String(ID), primary_key=True),
    Column("added_by", String(ID), nullable=False),
    Column("added_at", TS, nullable=False),
)

incident_notes = Table(
    "incident_notes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident_id", String(ID), ForeignKey("incidents.id"), nullable=False, index=True),
    Column("party_id", String(ID), nullable=False),
    Column("user_id", String(ID), nullable=False),
    Column("kind", String(16), nullable=False),  # comment | review | findings | reopen
    Column("text", Text, nullable=False),
    Column("at", TS, nullable=False),
)

SEQ = BigInteger().with_variant(Integer, "sqlite")

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("seq", SEQ, primary_key=True, autoincrement=False),  # assigned by the writer: 1, 2, 3 …
    Column("at", TS, nullable=False),
    Column("kind", String(8), nullable=False),  # row | private | request
    Column("party", String(ID), nullable=True),  # the actor (null: the service, the scheduler)
    Column("user", String(ID), nullable=True),
    Column("audience", JSON, nullable=False),  # ["*"] or the party ids that may see the payload
    Column("payload", Text, nullable=False),  # JSON text
    Column("payload_sha256", String(64), nullable=False),
    Column("prev", String(64), nullable=False),
    Column("prev_sig", String(128), nullable=False),
    Column("kid", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("sig", String(128), nullable=False),
)

tree_heads = Table(
    "tree_heads",
    metadata,
    Column("tree_size", SEQ, primary_key=True, autoincrement=False),
    Column("root", String(64), nullable=False),
    Column("at", TS, nullable=False),
    Column("kid", String(64), nullable=False),
    Column("sig", String(128), nullable=False),
)

ledger_keys = Table(
    "ledger_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("owner", String(ID), nullable=False),  # "service" or a party id
    Column("public_key", String(64), nullable=False),  # base64url, raw 32 bytes
    Column("private_key", Text, nullable=True),  # server-held keys only; never in the record
    Column("server_side", Boolean, nullable=False, default=False),
    Column("created_at", TS, nullable=False),
    Column("revoked_at", TS, nullable=True),
    Index("ix_ledger_keys_owner", "owner"),
)
