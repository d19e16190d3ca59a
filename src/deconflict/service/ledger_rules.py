"""Who may see each entry of the joint record: the service's need-to-know rules, per table.

The rules are the ones the service applies when it answers reads (:mod:`.core`'s
``_audience``, ``_can_see_item``, ``_can_see_incident``; a thread's parties), decided
for a row as it is when the write that changed it commits:

=====================================================  ==========================================================
table                                                  audience
=====================================================  ==========================================================
``items``, ``item_versions``                           the owner alone while a draft (never notified); then the
                                                       members and mediators, and the observers when the owner
                                                       shares with observers
``notices``                                            the sender's audience (as its item's)
``receipts``                                           the parties of the subject — a notice's sender, a
                                                       conflict's two parties, a message thread's parties — the
                                                       receipt's own party, and the mediators
``conflicts``, ``conflict_notes``                      both parties' audience (observers when both share)
``events``                                             the event's own audience
``threads``, ``thread_parties``, ``messages``          the thread's parties
``incidents``, ``incident_links``, ``incident_notes``  as incidents are seen: members, mediators, the reporter,
                                                       observers when the reporter shares
``access_log``                                         the party that read, and the mediators
``dss_subscriptions``, ``dss_reports``                 the USS that owns or sent it, and the mediators
everything else (parties, users, settings, liveness,   everyone (``["*"]``)
keys, trusted issuers, USS clients, USS availability)
=====================================================  ==========================================================

A sensitive value (:data:`~deconflict.service.ledger_capture.SENSITIVE`) goes to its
owner alone, as the live service shows private notes and versions to their owner
only.  Every recorded table must have a rule here: the module refuses to load
otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..store.schema import conflicts, incidents, items, messages, notices, thread_parties
from .core import ServiceBase
from .ledger_capture import LEDGERED, Row

__all__ = ["Audiences"]

EVERYONE = ["*"]
_PARENTS = frozenset({"items", "conflicts", "incidents", "notices", "messages"})
_PUBLIC = frozenset(
    {
        "parties",
        "users",
        "settings",
        "liveness",
        "ledger_keys",
        "signing_keys",
        "trusted_issuers",
        "uss_clients",
        "uss_availability",
    }
)


class Audiences:
    """Audiences for the rows of one write (related rows read once, then remembered)."""

    def __init__(self, service: ServiceBase, conn: Connection) -> None:
        self.service = service
        self.conn = conn
        self._rows: dict[tuple[str, Any], Row | None] = {}
        self._threads: dict[str, list[str]] = {}

    def know(self, table: str, row: Row) -> None:
        """``row`` of ``table`` as this write left it (spares reading it again for its children)."""
        if table in _PARENTS:
            self._rows[(table, row["id"])] = row

    def of(self, table: str, row: Row) -> list[str]:
        """Who may see ``row`` of ``table`` (``["*"]``: everyone)."""
        if table in _PUBLIC:
            return EVERYONE
        audience: list[str] = getattr(self, _RULES[table])(row)
        if "*" in audience:
            return EVERYONE
        return sorted(set(audience)) or sorted(self._mediators()) or EVERYONE  # (an orphan row)

    def owner(self, table: str, owner_column: str, row: Row) -> str | None:
        """The party owning a sensitive value of ``row`` (``"item"``: its item's party)."""
        if owner_column == "item":
            item = self._row("items", items, row["item_id"])
            return str(item["party_id"]) if item is not None else None
        value = row[owner_column]
        return str(value) if value is not None else None

    def private(self, owner: str | None, audience: list[str]) -> list[str]:
        """A sensitive value's audience: its owner alone, as in the live service (private
        notes are the owner's; another party learns a version only by reading the item,
        which is itself recorded).  A value with no owner goes to the mediators."""
        if owner is not None:
            return [owner]
        return sorted(self._mediators()) or audience

    # --- the rules ----------------------------------------------------------------------

    def _mediators(self) -> list[str]:
        return [pid for pid, p in self.service._parties(self.conn).items() if p.role == "mediator"]

    def _with_mediators(self, parties: list[str]) -> list[str]:
        return sorted(set(parties) | set(self._mediators()))

    def _row(self, name: str, table: sa.Table, key: Any) -> Row | None:
        if (name, key) not in self._rows:
            found = self.conn.execute(sa.select(table).where(table.c.id == key)).first()
            self._rows[(name, key)] = found._mapping if found is not None else None
        return self._rows[(name, key)]

    def _via(self, name: str, table: sa.Table, key: Any, rule: Callable[[Row], list[str]]) -> list[str]:
        parent = self._row(name, table, key)
        return rule(parent) if parent is not None else self._mediators()

    def _item_version(self, r: Row) -> list[str]:
        return self._via("items", items, r["item_id"], self._item)

    def _notice(self, r: Row) -> list[str]:
        return self.service._audience(self.conn, [r["sender_party"]])

    def _conflict_note(self, r: Row) -> list[str]:
        return self._via("conflicts", conflicts, r["conflict_id"], self._conflict)

    def _event(self, r: Row) -> list[str]:
        return list(r["audience"])

    def _thread_row(self, r: Row) -> list[str]:
        return self._thread(r["id"])

    def _in_thread(self, r: Row) -> list[str]:
        return self._thread(r["thread_id"])

    def _of_incident(self, r: Row) -> list[str]:
        return self._via("incidents", incidents, r["incident_id"], self._incident)

    def _access(self, r: Row) -> list[str]:
        return self._with_mediators([r["party_id"]])

    def _item(self, r: Row) -> list[str]:
        if r["notified_at"] is None:  # a draft (or one cancelled before it was ever notified)
            return [r["party_id"]]
        return self.service._audience(self.conn, [r["party_id"]])

    def _conflict(self, r: Row) -> list[str]:
        return self.service._audience(self.conn, [r["party_a"], r["party_b"]])

    def _incident(self, r: Row) -> list[str]:
        return [*self.service._audience(self.conn, [r["party_id"]]), r["party_id"]]

    def _thread(self, thread_id: str) -> list[str]:
        if thread_id not in self._threads:
            self._threads[thread_id] = sorted(
                self.conn.execute(
                    sa.select(thread_parties.c.party_id).where(thread_parties.c.thread_id == thread_id)
                ).scalars()
            )
        return self._threads[thread_id]

    def _receipt(self, r: Row) -> list[str]:
        subject, sid = r["subject_type"], r["subject_id"]
        parties = [r["party_id"]]
        if subject == "notice":
            notice = self._row("notices", notices, sid)
            parties += [notice["sender_party"]] if notice is not None else []
        elif subject == "conflict":
            conflict = self._row("conflicts", conflicts, sid)
            parties += [conflict["party_a"], conflict["party_b"]] if conflict is not None else []
        elif subject == "message":
            message = self._row("messages", messages, sid)
            parties += self._thread(message["thread_id"]) if message is not None else []
        return self._with_mediators(parties)


_RULES = {
    "items": "_item",
    "item_versions": "_item_version",
    "notices": "_notice",
    "receipts": "_receipt",
    "conflicts": "_conflict",
    "conflict_notes": "_conflict_note",
    "events": "_event",
    "threads": "_thread_row",
    "thread_parties": "_in_thread",
    "messages": "_in_thread",
    "incidents": "_incident",
    "incident_links": "_of_incident",
    "incident_notes": "_of_incident",
    "access_log": "_access",
    "dss_subscriptions": "_access",
    "dss_reports": "_access",
}
_MISSING = sorted(set(LEDGERED) - _PUBLIC - set(_RULES))
if _MISSING:  # a new table must say who may see its rows before it can be recorded
    raise RuntimeError(f"the joint record has no need-to-know rule for {_MISSING}: add one in ledger_rules.py")
