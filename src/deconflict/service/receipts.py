"""Notices, receipts and the scheduler: who was told, who opened it, who acknowledged it.

Every notice (an item's new version, sent to every other member party) and every
conflict (sent to both parties) has one receipt per recipient party recording

* ``delivered``  — first put in front of a user of that party (over the WebSocket,
  or in a list they fetched), and to whom;
* ``opened``     — first read in full by a user of that party, and by whom;
* ``acknowledged`` — explicitly acknowledged, by whom;

with a ``deadline`` set from the item's precedence and the agreed acknowledgement
times.  :meth:`ReceiptsMixin.tick` (run every second by the server's scheduler, or by
tests with a manual clock) escalates receipts past their deadline — level 1: the
party's next contact (its commander/approver with the lowest ``contact_rank``), level
2: the mediator — and moves activities through ``active`` and ``completed`` as their
windows begin and end.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from ..errors import ValidationError
from ..policy import ESCALATION_LADDER, Precedence
from ..store.schema import conflicts, items, notices, receipts, users
from ..wire import rfc3339, rfc3339_or_none
from .conflicts import ConflictsMixin
from .core import LIVE_ACTIVITY, Body, Idempotency, Principal, Result
from .errors import Forbidden, NotFound

__all__ = ["ReceiptsMixin"]


def receipt_document(r: Row[Any]) -> Body:
    return {
        "subject_type": r.subject_type,
        "subject_id": r.subject_id,
        "party": r.party_id,
        "precedence": r.precedence,
        "created_at": rfc3339_or_none(r.created_at),
        "deadline": rfc3339_or_none(r.deadline),
        "level": r.level,
        "escalated_to": ESCALATION_LADDER[r.level],
        "escalated_at": rfc3339_or_none(r.escalated_at),
        "delivered_at": rfc3339_or_none(r.delivered_at),
        "delivered_to": r.delivered_to,
        "opened_at": rfc3339_or_none(r.opened_at),
        "opened_by": r.opened_by,
        "acknowledged_at": rfc3339_or_none(r.acknowledged_at),
        "acknowledged_by": r.acknowledged_by,
    }


class ReceiptsMixin(ConflictsMixin):
    # --- notices received -----------------------------------------------------------

    def _notice_doc(self, n: Row[Any], receipt: Row[Any] | None) -> Body:
        return {
            "id": n.id,
            "item_id": n.item_id,
            # the version is the sender's to see; recipients learn it by reading the item
            "item_version": n.item_version if receipt is None else None,
            "sender_party": n.sender_party,
            "change": n.change,
            "precedence": n.precedence,
            "lead_s": n.lead_s,
            "required_notice_s": n.required_s,
            "late_by_s": n.late_by_s,
            "at": rfc3339(n.at),
            "by_user": n.by_user,
            "receipt": receipt_document(receipt) if receipt is not None else None,
        }

    def list_notices(
        self, principal: Principal, *, pending: bool = False, limit: int = 100, cursor: str | None = None
    ) -> Body:
        """Notices sent to the caller's party (newest last); fetching them marks them delivered."""
        principal.require("activities:read")
        if not 1 <= limit <= 1000:
            raise ValidationError("limit", "must be between 1 and 1000")

        def run(conn: Connection) -> Result:
            q = (
                sa.select(notices, receipts)
                .join(receipts, sa.and_(receipts.c.subject_type == "notice", receipts.c.subject_id == notices.c.id))
                .where(receipts.c.party_id == principal.party_id)
            )
            if pending:
                q = q.where(receipts.c.acknowledged_at.is_(None))
            if cursor is not None:
                q = q.where(notices.c.id > cursor)
            rows = conn.execute(q.order_by(notices.c.id).limit(limit + 1)).all()
            page = rows[:limit]
            ids = [r.id for r in page]
            if ids:
                self._stamp(conn, principal, "notice", ids, "delivered")
                rows2 = {
                    r.subject_id: r
                    for r in conn.execute(
                        sa.select(receipts).where(
                            receipts.c.subject_type == "notice",
                            receipts.c.subject_id.in_(ids),
                            receipts.c.party_id == principal.party_id,
                        )
                    ).all()
                }
            else:
                rows2 = {}
            return 200, {
                "notices": [self._notice_doc(r, rows2.get(r.id)) for r in page],
                "next_cursor": page[-1].id if len(rows) > limit else None,
            }

        return self._write(run)[1]

    def notice_action(
        self, principal: Principal, notice_id: str, action: str, *, idem: Idempotency | None = None
    ) -> Result:
        """``open`` or ``acknowledge`` a notice sent to the caller's party."""
        principal.require("activities:read" if action == "open" else "activities:write")
        if action not in ("open", "acknowledge"):
            raise ValidationError("action", f"unknown notice action {action!r}")

        def run(conn: Connection) -> Result:
            n = conn.execute(sa.select(notices).where(notices.c.id == notice_id)).first()
            mine_q = sa.select(receipts).where(
                receipts.c.subject_type == "notice",
                receipts.c.subject_id == notice_id,
                receipts.c.party_id == principal.party_id,
            )
            mine = conn.execute(mine_q).first()
            if n is None or mine is None:
                if n is not None and n.sender_party == principal.party_id:
                    return 200, self._notice_doc(n, None)
                raise NotFound("id", f"no notice {notice_id!r} for {principal.party_id!r}")
            stages = ("delivered", "opened", "acknowledged") if action == "acknowledge" else ("delivered", "opened")
            self._stamp(conn, principal, "notice", notice_id, *stages)
            fresh = conn.execute(mine_q).one()
            if action == "acknowledge":
                self._emit(
                    conn,
                    "notice.acknowledged",
                    [n.sender_party, principal.party_id],
                    {"notice_id": notice_id, "receipt": receipt_document(fresh)},
                    subject=("notice", notice_id),
                )
            return 200, self._notice_doc(n, fresh)

        return self._write(run, principal=principal, idem=idem if action == "acknowledge" else None)

    def receipts_for(self, principal: Principal, subject_type: str, subject_id: str) -> Body:
        """Receipts of an item's notices (its owner, the mediator) or of a conflict (its parties,
        the mediator): the answer to "were the people who could act told, and when?"."""
        principal.require("activities:read")

        def run(conn: Connection) -> Result:
            if subject_type == "activity" or subject_type == "zone":
                item = conn.execute(
                    sa.select(items).where(items.c.id == subject_id, items.c.item_type == subject_type)
                ).first()
                if item is None or not self._can_see_item(conn, principal, item):  # another party's draft: 404
                    raise NotFound("id", f"no {subject_type} {subject_id!r}")
                if item.party_id != principal.party_id and principal.party_role != "mediator":
                    raise Forbidden("id", "receipts of an item are shown to its owner and the mediator")
                rows = conn.execute(
                    sa.select(notices, receipts)
                    .join(receipts, sa.and_(receipts.c.subject_type == "notice", receipts.c.subject_id == notices.c.id))
                    .where(notices.c.item_id == subject_id)
                    .order_by(notices.c.id, receipts.c.party_id)
                ).all()
                by_notice: dict[str, Body] = {}
                for r in rows:
                    entry = by_notice.setdefault(r.id, self._notice_doc(r, None) | {"receipts": []})
                    entry.pop("receipt", None)
                    entry["receipts"].append(receipt_document(r))
                return 200, {"notices": list(by_notice.values())}
            c = self._visible_conflict(conn, principal, subject_id)
            if principal.party_id not in (c.party_a, c.party_b) and principal.party_role != "mediator":
                raise Forbidden("id", "receipts of a conflict are shown to its parties and the mediator")
            rows = conn.execute(
                sa.select(receipts)
                .where(receipts.c.subject_type == "conflict", receipts.c.subject_id == subject_id)
                .order_by(receipts.c.party_id)
            ).all()
            return 200, {"receipts": [receipt_document(r) for r in rows]}

        return self._write(run)[1]

    def mark_delivered(self, principal: Principal, subjects: Sequence[tuple[str, str]]) -> None:
        """Record that events about ``subjects`` reached ``principal``."""
        self.record_delivered(principal, self.claim_delivered(principal, subjects))

    def claim_delivered(self, principal: Principal, subjects: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
        """The ``subjects`` whose delivery to ``principal``'s party is not yet recorded, claimed
        for this caller: every WebSocket of a party receives the same events at the same
        moment, and only the first needs to write.  In memory only (no database, no lock
        wait): the WebSocket calls it on the event loop, then :meth:`record_delivered` in a
        worker thread only when something was claimed."""
        if len(self._delivered_seen) > 100_000:
            self._delivered_seen.clear()
        claimed: list[tuple[str, str]] = []
        for s in subjects:
            seen = (principal.party_id, s[0], s[1])
            if s[0] in ("notice", "conflict", "message") and seen not in self._delivered_seen:
                self._delivered_seen.add(seen)
                claimed.append((s[0], s[1]))
        return claimed

    def record_delivered(self, principal: Principal, claimed: Sequence[tuple[str, str]]) -> None:
        """Write the delivery of subjects :meth:`claim_delivered` returned (released if the write fails)."""
        if not claimed:
            return

        def run(conn: Connection) -> Result:
            for subject_type in {c[0] for c in claimed}:
                self._stamp(conn, principal, subject_type, [c[1] for c in claimed if c[0] == subject_type], "delivered")
            return 200, {}

        try:
            self._write(run)
        except BaseException:
            self._delivered_seen.difference_update((principal.party_id, *c) for c in claimed)
            raise

    # --- the scheduler --------------------------------------------------------------

    def tick(self) -> dict[str, int]:
        """Do what is due now: start and end activities, expire zones, escalate receipts."""

        def run(conn: Connection) -> Result:
            now = self.clock.now()
            counts = {"activated": 0, "completed": 0, "expired": 0, "escalated": 0}
            due = conn.execute(
                sa.select(items).where(
                    sa.or_(
                        sa.and_(
                            items.c.item_type == "activity",
                            items.c.state.in_(sorted(LIVE_ACTIVITY)),
                            items.c.time_end <= now,
                        ),
                        # an F3548 intent (it has a USS base URL) is activated by its USS
                        sa.and_(items.c.state == "notified", items.c.time_start <= now, items.c.uss_base_url.is_(None)),
                        sa.and_(items.c.item_type == "zone", items.c.state == "active", items.c.time_end <= now),
                    )
                )
            ).all()
            for row in due:
                if row.item_type == "zone":
                    target, counter = "expired", "expired"
                elif row.time_end <= now:
                    target, counter = "completed", "completed"
                else:
                    target, counter = "active", "activated"
                fresh = self._set_state(conn, None, row, target, now, new_version_too=False)
                if target != "active":
                    self._reconcile(conn, fresh, {}, gone_reason=target)
                self._emit(
                    conn,
                    f"{row.item_type}.{target}",
                    self._audience(conn, [row.party_id]),
                    {"item": {"id": row.id, "state": target, "party": row.party_id}},
                    subject=(row.item_type, row.id),
                )
                counts[counter] += 1
            overdue = conn.execute(
                sa.select(receipts).where(
                    receipts.c.acknowledged_at.is_(None),
                    receipts.c.deadline.is_not(None),
                    receipts.c.deadline <= now,
                    receipts.c.level < len(ESCALATION_LADDER) - 1,
                )
            ).all()
            for r in overdue:
                self._escalate(conn, r, now)
                counts["escalated"] += 1
            return 200, counts

        return self._write(run)[1]

    def _escalated(self, conn: Connection, r: Row[Any], level: int, now: Any) -> None:
        """Hook: a receipt ``r`` was just escalated to ``level`` (the hotline brings the
        mediator into a message's thread at level 2)."""

    def _escalate(self, conn: Connection, r: Row[Any], now: Any) -> None:
        level = r.level + 1
        deadline = self.policy.ack_deadline(Precedence(r.precedence), at=now) if level < 2 else None
        conn.execute(
            receipts.update()
            .where(
                receipts.c.subject_type == r.subject_type,
                receipts.c.subject_id == r.subject_id,
                receipts.c.party_id == r.party_id,
            )
            .values(level=level, deadline=deadline, escalated_at=now)
        )
        payload = {
            "subject_type": r.subject_type,
            "subject_id": r.subject_id,
            "party": r.party_id,
            "level": level,
            "escalated_to": ESCALATION_LADDER[level],
            "overdue_since": rfc3339(r.deadline),
            "deadline": rfc3339(deadline) if deadline else None,
        }
        known = self._parties(conn)
        if level == 1:
            contact = conn.execute(
                sa.select(users.c.id)
                .where(users.c.party_id == r.party_id, users.c.active.is_(True), users.c.role == "commander")
                .order_by(users.c.contact_rank, users.c.id)
                .limit(1)
            ).scalar()
            payload["contact"] = contact
            self._emit(
                conn,
                "escalation.next_contact",
                [r.party_id],
                payload,
                subject=(r.subject_type, r.subject_id),
                user_id=contact,
            )
        else:
            mediators = sorted(pid for pid, p in known.items() if p.role == "mediator")
            self._emit(
                conn,
                "escalation.mediator",
                sorted({r.party_id, *mediators}),
                payload,
                subject=(r.subject_type, r.subject_id),
            )
            if r.subject_type == "conflict":
                c = conn.execute(sa.select(conflicts).where(conflicts.c.id == r.subject_id)).first()
                if c is not None and c.state in ("open", "acknowledged"):
                    conn.execute(
                        conflicts.update()
                        .where(conflicts.c.id == c.id)
                        .values(state="escalated", escalated_at=now, escalated_by="scheduler", updated_at=now)
                    )
                    self._emit(
                        conn,
                        "conflict.escalated",
                        self._audience(conn, [c.party_a, c.party_b]),
                        {"conflict": self._conflict_doc(conn, c.id)},
                        subject=("conflict", c.id),
                    )
        self._escalated(conn, r, level, now)
