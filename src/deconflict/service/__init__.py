"""The deconfliction service: the use cases, over a store, with an injected clock.

``Service(store, clock)`` is the one object the API, the CLI and the tests drive.  It
is assembled from mixins, one per area, each in its own module, each building on the
one before (items ← conflicts ← receipts ← messaging ← hotline ← liveness, incidents;
admin stands beside them):

* :mod:`.admin`     parties, users, signing keys, tokens, log-in, the agreement policy;
* :mod:`.items`     activities and zones: file, change, notify, cancel, read, the key rule;
* :mod:`.conflicts` conflicts: stored, recomputed, acknowledged, accepted, escalated;
* :mod:`.receipts`  notices and receipts (delivered / opened / acknowledged), the scheduler;
* :mod:`.messaging` (the hotline's base) drafting, documents and posting of catalogue messages;
* :mod:`.hotline`   threads and catalogue messages in each reader's language, their receipts;
* :mod:`.liveness`  heartbeats; a silent party is DOWN for everyone, its activities at worst case;
* :mod:`.incidents` incident reports, their timelines, comments, review and findings;
* :mod:`.dss`       the ASTM F3548-21 DSS interface (``/dss/v1``) over the same items:
  operational intent and constraint references, the key rule, USS availability, reports
  (:mod:`.dss_subscriptions`: subscriptions and notification indices);
* :mod:`.ledger`    the joint record: every write's changes as signed, hash-chained entries,
  checkpoints, proofs, export (:mod:`.replay` rebuilds the state from an export).

:mod:`.core` holds what they share: the write unit (lock → idempotency → index sync →
use case → events), principals and visibility rules.
"""

from __future__ import annotations

import os

from ..store import DEFAULT_URL, Store
from .admin import AUDIENCE, PARTY_ROLES, USER_ROLES, AdminMixin
from .bus import EventBus
from .clock import Clock, ManualClock, SystemClock
from .core import Idempotency, Principal
from .dss import DssMixin
from .errors import (
    AwarenessError,
    Forbidden,
    IdempotencyMismatch,
    LateNoticeRefused,
    NotAuthenticated,
    NotFound,
    ServiceError,
    StateConflict,
    VersionMismatch,
)
from .incidents import IncidentsMixin
from .items import ItemInput
from .ledger import LEDGER_CHECKPOINT_S, LedgerMixin

__all__ = [
    "AUDIENCE",
    "LEDGER_CHECKPOINT_S",
    "PARTY_ROLES",
    "USER_ROLES",
    "AwarenessError",
    "Clock",
    "EventBus",
    "Forbidden",
    "Idempotency",
    "IdempotencyMismatch",
    "ItemInput",
    "LateNoticeRefused",
    "ManualClock",
    "NotAuthenticated",
    "NotFound",
    "Principal",
    "Service",
    "ServiceError",
    "StateConflict",
    "SystemClock",
    "VersionMismatch",
    "database_url",
    "open_service",
]


class Service(LedgerMixin, AdminMixin, IncidentsMixin, DssMixin):
    """Every use case of the deconfliction mechanism."""


def database_url(url: str | None = None) -> str:
    """The database to use: ``url``, else ``$DECONFLICT_DATABASE_URL``, else ``sqlite:///deconflict.db``."""
    return url or os.environ.get("DECONFLICT_DATABASE_URL") or DEFAULT_URL


def open_service(url: str | None = None, *, clock: Clock | None = None, initialise: bool = True) -> Service:
    """Open (and by default create or upgrade) the database at ``url`` and return a service."""
    service = Service(Store(database_url(url)), clock if clock is not None else SystemClock())
    if initialise:
        service.initialise()
    return service
