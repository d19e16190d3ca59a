"""Conflicts: stored when they arise, kept current, acknowledged, accepted, escalated.

States::

    open ──(both sides acknowledge)──▶ acknowledged
      │  ╲                               │
      │   ╲──(either side escalates, or ─┴─▶ escalated  (the mediator comments and proposes)
      │        its deadline passes twice)
      ├──(both sides' approvers accept)──▶ accepted     (proceed as planned, knowingly)
      └──(an item changes or ends and ───▶ resolved     (recomputed automatically)
           the conflict is gone)

A change to either item that leaves the conflict in place returns it to ``open`` (an
escalated one stays escalated): the acknowledgements and acceptances were given for
the old versions.  The mediator comments and proposes; only the parties decide.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from ..errors import ValidationError
from ..model import Conflict
from ..policy import Precedence
from ..store.schema import conflict_notes, conflicts, items, receipts
from ..wire import rfc3339, rfc3339_or_none
from .core import Body, Idempotency, Principal, Result, new_id
from .errors import Forbidden, NotFound, StateConflict
from .items import ItemsMixin, conflict_detail

__all__ = ["CLOSED", "ConflictsMixin"]

CLOSED = frozenset({"resolved"})
_MIN_DEADLINE = timedelta(seconds=60)


class ConflictsMixin(ItemsMixin):
    def _reconcile(
        self, conn: Connection, row: Row[Any], found: Mapping[str, list[Conflict]], *, gone_reason: str
    ) -> list[Body]:
        """Make the stored conflicts of item ``row`` match ``found`` (the engine's answer)."""
        now = self.clock.now()
        existing = {
            (c.item_b if c.item_a == row.id else c.item_a): c
            for c in conn.execute(
                sa.select(conflicts).where(
                    sa.or_(conflicts.c.item_a == row.id, conflicts.c.item_b == row.id),
                    conflicts.c.state.not_in(list(CLOSED)),
                )
            ).all()
        }
        others = (
            {r.id: r for r in conn.execute(sa.select(items).where(items.c.id.in_(list(found)))).all()} if found else {}
        )
        out: list[Body] = []
        for other_id, pairs in sorted(found.items()):
            other = others[other_id]
            detail = [conflict_detail(c, row.id) for c in pairs]
            start = min(c.window_start for c in pairs)
            precedence = Precedence.highest(Precedence(row.priority), Precedence(other.priority))
            current = existing.pop(other_id, None)
            if current is None:
                cid = new_id("cfl", now)
                conn.execute(
                    conflicts.insert(),
                    dict(
                        id=cid,
                        item_a=row.id,
                        item_b=other_id,
                        party_a=row.party_id,
                        party_b=other.party_id,
                        state="open",
                        precedence=precedence.value,
                        version_a=row.version,
                        version_b=other.version,
                        detail=detail,
                        time_start=start,
                        created_at=now,
                        updated_at=now,
                    ),
                )
                self._conflict_receipts(conn, cid, (row.party_id, other.party_id), precedence, start, now)
                event = "conflict.opened"
            else:
                cid = current.id
                mine_is_a = current.item_a == row.id
                values: dict[str, Any] = {
                    "detail": detail if mine_is_a else [_swap(d) for d in detail],
                    "precedence": precedence.value,
                    "time_start": start,
                    "updated_at": now,
                    ("version_a" if mine_is_a else "version_b"): row.version,
                    "state": "escalated" if current.state == "escalated" else "open",
                }
                for side in ("a", "b"):
                    values |= {
                        f"ack_{side}_by": None,
                        f"ack_{side}_at": None,
                        f"accept_{side}_by": None,
                        f"accept_{side}_at": None,
                    }
                conn.execute(conflicts.update().where(conflicts.c.id == cid).values(**values))
                conn.execute(
                    receipts.delete().where(receipts.c.subject_type == "conflict", receipts.c.subject_id == cid)
                )
                for pid in (current.party_a, current.party_b):
                    self._delivered_seen.discard((pid, "conflict", cid))
                self._conflict_receipts(
                    conn,
                    cid,
                    (current.party_a, current.party_b),
                    precedence,
                    start,
                    now,
                    level=2 if current.state == "escalated" else 0,
                )
                event = "conflict.updated"
            doc = self._conflict_doc(conn, cid)
            self._emit(
                conn,
                event,
                self._audience(conn, [row.party_id, other.party_id]),
                {"conflict": doc},
                subject=("conflict", cid),
            )
            out.append(doc)
        for current in existing.values():
            conn.execute(
                conflicts.update()
                .where(conflicts.c.id == current.id)
                .values(state="resolved", resolution=gone_reason, closed_at=now, updated_at=now)
            )
            conn.execute(
                receipts.update()
                .where(receipts.c.subject_type == "conflict", receipts.c.subject_id == current.id)
                .values(deadline=None)
            )
            doc = self._conflict_doc(conn, current.id)
            self._emit(
                conn,
                "conflict.resolved",
                self._audience(conn, [current.party_a, current.party_b]),
                {"conflict": doc},
                subject=("conflict", current.id),
            )
        return out

    def _conflict_receipts(
        self,
        conn: Connection,
        cid: str,
        parties: Sequence[str],
        precedence: Precedence,
        start: datetime,
        now: datetime,
        *,
        level: int = 0,
    ) -> None:
        deadline = min(self.policy.ack_deadline(precedence, at=now), max(start, now + _MIN_DEADLINE))
        self._open_receipts(conn, ("conflict", cid), parties, precedence.value, None if level >= 2 else deadline, level)

    def _conflict_doc(self, conn: Connection, cid: str) -> Body:
        [doc] = self._conflict_docs(conn, [cid])
        return doc

    def _conflict_docs(self, conn: Connection, ids: Sequence[str]) -> list[Body]:
        """The documents of conflicts ``ids`` (all exist), in that order: three queries for the lot."""
        rows = {r.id: r for r in conn.execute(sa.select(conflicts).where(conflicts.c.id.in_(list(ids)))).all()}
        item_ids = {i for r in rows.values() for i in (r.item_a, r.item_b)}
        both = {r.id: r for r in conn.execute(sa.select(items).where(items.c.id.in_(sorted(item_ids)))).all()}
        notes: dict[str, list[Row[Any]]] = {}
        for n in conn.execute(
            sa.select(conflict_notes).where(conflict_notes.c.conflict_id.in_(list(ids))).order_by(conflict_notes.c.id)
        ).all():
            notes.setdefault(n.conflict_id, []).append(n)
        return [self._one_conflict_doc(rows[cid], both, notes.get(cid, [])) for cid in ids]

    def _one_conflict_doc(self, c: Row[Any], both: dict[str, Row[Any]], notes: list[Row[Any]]) -> Body:
        def side(item_id: str, party: str, s: str) -> Body:
            it = both[item_id]
            return {
                "item": {
                    "id": it.id,
                    "type": it.item_type,
                    "kind": it.kind,
                    "title": it.title,
                    "callsign": it.callsign,
                    "state": it.state,
                },
                "party": party,
                "acknowledged_by": getattr(c, f"ack_{s}_by"),
                "acknowledged_at": rfc3339_or_none(getattr(c, f"ack_{s}_at")),
                "accepted_by": getattr(c, f"accept_{s}_by"),
                "accepted_at": rfc3339_or_none(getattr(c, f"accept_{s}_at")),
            }

        return {
            "id": c.id,
            "state": c.state,
            "precedence": c.precedence,
            "a": side(c.item_a, c.party_a, "a"),
            "b": side(c.item_b, c.party_b, "b"),
            "volumes": c.detail,
            "time_start": rfc3339(c.time_start),
            # a party of the conflict is DOWN: its activity counts at its worst case
            "worst_case": bool(self._down and (c.party_a in self._down or c.party_b in self._down)),
            "escalated_at": rfc3339_or_none(c.escalated_at),
            "escalated_by": c.escalated_by,
            "resolution": c.resolution,
            "closed_at": rfc3339_or_none(c.closed_at),
            "created_at": rfc3339(c.created_at),
            "updated_at": rfc3339(c.updated_at),
            "notes": [
                {"party": n.party_id, "user": n.user_id, "kind": n.kind, "text": n.text, "at": rfc3339(n.at)}
                for n in notes
            ],
        }

    # --- reading --------------------------------------------------------------------

    def _visible_conflict(self, conn: Connection, principal: Principal, cid: str) -> Row[Any]:
        c = conn.execute(sa.select(conflicts).where(conflicts.c.id == cid)).first()
        if c is None:
            raise NotFound("id", f"no conflict {cid!r}")
        if principal.party_id in (c.party_a, c.party_b) or principal.party_role == "mediator":
            return c
        if principal.party_role == "member":
            return c  # members see the shared picture
        known = self._parties(conn)
        if all(known[p].shares_with_observers for p in (c.party_a, c.party_b) if p in known):
            return c
        raise NotFound("id", f"no conflict {cid!r}")

    def get_conflict(self, principal: Principal, cid: str) -> Body:
        principal.require("conflicts:read")

        def run(conn: Connection) -> Result:
            c = self._visible_conflict(conn, principal, cid)
            self._log_access(conn, principal, "read_conflict", ("conflict", cid))
            if principal.party_id in (c.party_a, c.party_b):
                self._stamp(conn, principal, "conflict", cid, "delivered", "opened")
            return 200, self._conflict_doc(conn, cid)

        return self._write(run)[1]

    def list_conflicts(
        self,
        principal: Principal,
        *,
        state: Sequence[str] = (),
        party: str | None = None,
        item: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Body:
        principal.require("conflicts:read")
        if not 1 <= limit <= 1000:
            raise ValidationError("limit", "must be between 1 and 1000")
        q = sa.select(conflicts.c.id, conflicts.c.party_a, conflicts.c.party_b)
        if state:
            q = q.where(conflicts.c.state.in_(list(state)))
        if party is not None:
            q = q.where(sa.or_(conflicts.c.party_a == party, conflicts.c.party_b == party))
        if item is not None:
            q = q.where(sa.or_(conflicts.c.item_a == item, conflicts.c.item_b == item))
        if cursor is not None:
            q = q.where(conflicts.c.id > cursor)
        if principal.party_role == "observer":
            with self.store.read() as conn:
                sharing = [p.id for p in self._parties(conn).values() if p.shares_with_observers]
            q = q.where(conflicts.c.party_a.in_(sharing), conflicts.c.party_b.in_(sharing))
        q = q.order_by(conflicts.c.id).limit(limit + 1)

        def run(conn: Connection) -> Result:
            rows = conn.execute(q).all()
            page = rows[:limit]
            if page:
                self._log_access(conn, principal, "list_conflicts", None, {"ids": [r.id for r in page]})
            return 200, {
                "conflicts": self._conflict_docs(conn, [r.id for r in page]),
                "next_cursor": page[-1].id if len(rows) > limit else None,
            }

        return self._write(run)[1]

    # --- deciding -------------------------------------------------------------------

    def _side(self, principal: Principal, c: Row[Any]) -> str:
        if principal.party_id == c.party_a:
            return "a"
        if principal.party_id == c.party_b:
            return "b"
        raise Forbidden("id", f"conflict {c.id!r} is between {c.party_a!r} and {c.party_b!r}; only they decide on it")

    def conflict_action(
        self,
        principal: Principal,
        cid: str,
        action: str,
        *,
        text: str | None = None,
        idem: Idempotency | None = None,
    ) -> Result:
        """acknowledge / accept / escalate (a party to the conflict), comment / propose (those
        and the mediator)."""
        principal.require("conflicts:write")
        if action not in ("acknowledge", "accept", "escalate", "comment", "propose"):
            raise ValidationError("action", f"unknown conflict action {action!r}")
        if action in ("comment", "propose"):
            if not text or not text.strip():
                raise ValidationError("text", "a comment or proposal needs text")
            if len(text) > 4000:
                raise ValidationError("text", "at most 4000 characters")

        def run(conn: Connection) -> Result:
            c = self._visible_conflict(conn, principal, cid)
            now = self.clock.now()
            if action in ("comment", "propose"):
                if principal.party_role != "mediator":
                    self._side(principal, c)
                conn.execute(
                    conflict_notes.insert(),
                    dict(
                        conflict_id=cid,
                        party_id=principal.party_id,
                        user_id=principal.user_id,
                        kind="proposal" if action == "propose" else "comment",
                        text=text,
                        at=now,
                    ),
                )
                conn.execute(conflicts.update().where(conflicts.c.id == cid).values(updated_at=now))
                return self._after(conn, cid, c, f"conflict.{'proposal' if action == 'propose' else 'comment'}")
            side = self._side(principal, c)
            if c.state in CLOSED:
                raise StateConflict("state", f"conflict {cid!r} is {c.state}")
            values: dict[str, Any] = {"updated_at": now}
            if action in ("acknowledge", "accept"):
                if action == "accept" and principal.role not in ("commander",):
                    raise Forbidden("role", "accepting a conflict (agreeing to proceed) needs a commander/approver")
                if getattr(c, f"ack_{side}_at") is None:
                    values |= {f"ack_{side}_by": principal.user_id, f"ack_{side}_at": now}
                if action == "accept":
                    if c.state == "accepted":
                        raise StateConflict("state", f"conflict {cid!r} is already accepted by both sides")
                    values |= {f"accept_{side}_by": principal.user_id, f"accept_{side}_at": now}
                self._stamp(conn, principal, "conflict", cid, "delivered", "opened", "acknowledged")
                merged = {
                    k: values.get(k, getattr(c, k)) for k in ("ack_a_at", "ack_b_at", "accept_a_at", "accept_b_at")
                }
                if merged["accept_a_at"] and merged["accept_b_at"]:
                    values["state"] = "accepted"
                    conn.execute(
                        receipts.update()
                        .where(receipts.c.subject_type == "conflict", receipts.c.subject_id == cid)
                        .values(deadline=None)
                    )
                elif merged["ack_a_at"] and merged["ack_b_at"] and c.state == "open":
                    values["state"] = "acknowledged"
            else:  # escalate
                if c.state in ("escalated", "accepted"):
                    raise StateConflict("state", f"conflict {cid!r} is {c.state}; it cannot be escalated")
                values |= {"state": "escalated", "escalated_at": now, "escalated_by": principal.user_id}
                conn.execute(
                    receipts.update()
                    .where(receipts.c.subject_type == "conflict", receipts.c.subject_id == cid)
                    .values(level=2, deadline=None, escalated_at=now)
                )
            conn.execute(conflicts.update().where(conflicts.c.id == cid).values(**values))
            event = {
                "acknowledge": "conflict.acknowledged",
                "accept": "conflict.accepted",
                "escalate": "conflict.escalated",
            }[action]
            return self._after(conn, cid, c, event)

        return self._write(run, principal=principal, idem=idem)

    def _after(self, conn: Connection, cid: str, c: Row[Any], event: str) -> Result:
        doc = self._conflict_doc(conn, cid)
        self._emit(
            conn, event, self._audience(conn, [c.party_a, c.party_b]), {"conflict": doc}, subject=("conflict", cid)
        )
        return 200, doc


def _swap(d: Body) -> Body:
    return d | {"volume": d["other_volume"], "other_volume": d["volume"]}
