"""The timeline of an incident: what the store recorded around it, in time order, as
one viewer may see it — the answer to "who was told what, and when?".

What it gathers (``before_s`` before the occurrence to ``after_s`` after it; the
history of what the incident is *linked* to is shown whole, whatever the window):

* the items linked to the incident, the items of linked conflicts, and the items whose
  bounding box meets the incident's circle and whose time overlaps the window;
* every version of those items (created, notified, updated, cancelled …, with the
  lateness of the notice and the objects the owner proved it had seen), and the
  scheduler's moves (active, completed, expired);
* their notices (lead time, required notice, lateness) and, per recipient party, the
  receipt: delivered (to whom), opened (by whom), acknowledged (by whom), escalated;
* the conflicts involving them: opened, changed, acknowledged, accepted, escalated,
  resolved, commented — and their receipts;
* hotline messages, in the viewer's language, of the threads the viewer's party is in
  that are linked to those items, conflicts or the incident, or that mention them (and
  the service's own liveness alerts of the window); free text is marked untranslated;
* the incident's own report, links, comments and state changes.

Need-to-know holds throughout: another party's drafts and private notes never appear;
the versions (keys) of other parties' items are never shown; receipts are shown to the
party that sent the notice or message (all of them), to the party that received it (its
own), and to the mediator (all); a conflict's receipts to its two parties and the
mediator.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from ..store.schema import (
    conflicts,
    events,
    incident_links,
    incident_notes,
    item_versions,
    items,
    messages,
    notices,
    receipts,
    thread_parties,
    threads,
    users,
)
from ..wire import rfc3339, rfc3339_or_none
from .core import Body, Principal
from .errors import NotFound
from .hotline import HotlineMixin
from .receipts import receipt_document
from .timeline_entries import Timeline, actor, box, change, dur, link, mentions, parse, render, sees, side, told

__all__ = ["MAX_ENTRIES", "TimelineMixin"]

MAX_ENTRIES = 5_000
_STATE_ORDER = {"draft": 0, "notified": 1, "active": 2, "completed": 3, "cancelled": 4, "withdrawn": 5, "expired": 6}
_SCHEDULER_MOVES = ("activity.active", "activity.completed", "zone.expired")
_NOTE_EVENTS = {
    "comment": "incident.commented",
    "review": "incident.under_review",
    "findings": "incident.closed",
    "reopen": "incident.reopened",
}


class TimelineMixin(HotlineMixin):
    def _timeline(self, conn: Connection, principal: Principal, inc: Row[Any], before_s: float, after_s: float) -> Body:
        """The timeline of incident ``inc`` as ``principal`` may see it (see the module)."""
        links = [
            lk
            for lk in conn.execute(
                sa.select(incident_links)
                .where(incident_links.c.incident_id == inc.id)
                .order_by(incident_links.c.added_at, incident_links.c.link_type, incident_links.c.link_id)
            ).all()
            if self._link_visible(conn, principal, lk.link_type, lk.link_id)
        ]
        start = inc.occurred_at - timedelta(seconds=before_s)
        end = inc.occurred_at + timedelta(seconds=after_s)
        tl = Timeline(principal, start, end, inc.occurred_at, {lk.link_id for lk in links})
        of_type = {t: [lk.link_id for lk in links if lk.link_type == t] for t in ("activity", "zone", "conflict")}
        found_conflicts: dict[str, Row[Any]] = {}
        wanted = of_type["activity"] + of_type["zone"]
        if of_type["conflict"]:
            for c in conn.execute(sa.select(conflicts).where(conflicts.c.id.in_(of_type["conflict"]))).all():
                found_conflicts[c.id] = c
                wanted += [c.item_a, c.item_b]
                tl.linked |= {c.item_a, c.item_b}
        w, s, e, n = box(inc.lat, inc.lon, inc.radius_m)
        near = sa.and_(
            items.c.lon_max >= w,
            items.c.lon_min <= e,
            items.c.lat_max >= s,
            items.c.lat_min <= n,
            items.c.time_start <= end,
            items.c.time_end >= start,
        )
        found = {
            r.id: r
            for r in conn.execute(sa.select(items).where(sa.or_(items.c.id.in_(wanted), near))).all()
            if self._can_see_item(conn, principal, r)
        }
        if found:
            q = sa.select(conflicts).where(
                sa.or_(conflicts.c.item_a.in_(list(found)), conflicts.c.item_b.in_(list(found)))
            )
            for c in conn.execute(q).all():
                if c.id not in found_conflicts and self._conflict_visible(conn, principal, c.id):
                    found_conflicts[c.id] = c
        party_of = {u.id: u.party_id for u in conn.execute(sa.select(users.c.id, users.c.party_id)).all()}
        self._tl_versions(conn, tl, found)
        self._tl_notices(conn, tl, found)
        self._tl_conflicts(conn, tl, found_conflicts)
        refs = set(found) | set(found_conflicts) | {inc.id}
        threads_seen = self._tl_messages(
            conn,
            tl,
            refs,
            [lk.link_id for lk in links if lk.link_type == "thread"],
            [lk.link_id for lk in links if lk.link_type == "message"],
        )
        self._tl_incident(conn, tl, inc, links, party_of)
        ordered = [entry for *_, entry in sorted(tl.entries, key=lambda x: x[:3])]
        told = [doc for *_, doc in sorted(tl.told, key=lambda x: x[:2])]
        return {
            "window": {"start": rfc3339(start), "end": rfc3339(end), "before_s": before_s, "after_s": after_s},
            "as_of": rfc3339(self.clock.now()),
            "language": principal.language,
            "scope": {"items": sorted(found), "conflicts": sorted(found_conflicts), "threads": sorted(threads_seen)},
            "told": told,
            "entries": ordered[:MAX_ENTRIES],
            "truncated": len(ordered) > MAX_ENTRIES,
        }

    # --- visibility -----------------------------------------------------------------

    def _link_visible(self, conn: Connection, principal: Principal, link_type: str, link_id: str) -> bool:
        try:
            self._check_link(conn, principal, "link", link_type, link_id)
        except NotFound:
            return False
        return True

    def _conflict_visible(self, conn: Connection, principal: Principal, cid: str) -> bool:
        try:
            self._visible_conflict(conn, principal, cid)
        except NotFound:
            return False
        return True

    # --- items: versions and the scheduler's moves -----------------------------------

    def _tl_versions(self, conn: Connection, tl: Timeline, found: Mapping[str, Row[Any]]) -> None:
        if not found:
            return
        me = tl.principal
        rows = conn.execute(sa.select(item_versions).where(item_versions.c.item_id.in_(list(found)))).all()
        presented = {v for r in rows for v in (r.document or {}).get("key_presented", [])}
        seen_versions: dict[str, tuple[str, datetime]] = {}
        if presented:
            q = sa.select(item_versions.c.version, item_versions.c.item_id, item_versions.c.at).where(
                item_versions.c.version.in_(sorted(presented))
            )
            seen_versions = {r.version: (r.item_id, r.at) for r in conn.execute(q).all()}
        seen_items = {
            r.id: r
            for r in conn.execute(
                sa.select(items).where(items.c.id.in_(sorted({i for i, _ in seen_versions.values()})))
            ).all()
            if self._can_see_item(conn, me, r)
        }
        by_item: dict[str, list[Row[Any]]] = {}
        for r in rows:
            by_item.setdefault(r.item_id, []).append(r)
        for item_id, versions in by_item.items():
            item = found[item_id]
            own = item.party_id == me.party_id
            previous: str | None = None
            for v in sorted(versions, key=lambda r: (r.at, _STATE_ORDER.get(r.state, 9))):
                what = change(item.item_type, previous, v.state)
                previous = v.state
                if (v.state == "draft" and not own) or not tl.keep(v.at, item_id):
                    continue
                doc = v.document or {}
                aware = [
                    {
                        "item": seen_versions[k][0],
                        "party": seen_items[seen_versions[k][0]].party_id,
                        "version_of": rfc3339(seen_versions[k][1]),
                    }
                    for k in sorted(doc.get("key_presented", []))
                    if k in seen_versions and seen_versions[k][0] in seen_items
                ]
                detail: Body = {
                    "change": what,
                    "state": v.state,
                    "kind": doc.get("kind"),
                    "title": doc.get("title"),
                    "callsign": doc.get("callsign"),
                    "priority": doc.get("priority"),
                    "time_start": doc.get("time_start"),
                    "time_end": doc.get("time_end"),
                    "notified_at": doc.get("notified_at"),
                    "late_by_s": doc.get("late_by_s"),
                    "aware_of": aware,
                }
                if own:  # the owner's own record: its version and private notes
                    detail |= {"version": v.version, "notes": doc.get("notes")}
                summary = f"{item.party_id} {item.item_type} {doc.get('title')!r} {what}"
                if what == "notified" and doc.get("late_by_s"):
                    summary += f" — notice late by {dur(doc.get('late_by_s'))}"
                if aware:
                    summary += f"; had seen {', '.join(a['item'] for a in aware)}"
                tl.add(
                    v.at,
                    "item",
                    f"{item.item_type}.{what}",
                    item.party_id,
                    v.by_user,
                    (item.item_type, item_id),
                    summary,
                    detail,
                )
        moves = conn.execute(
            sa.select(events)
            .where(events.c.subject_id.in_(list(found)), events.c.type.in_(_SCHEDULER_MOVES))
            .order_by(events.c.seq)
        ).all()
        for ev in moves:
            item = found[ev.subject_id]
            if sees(me, ev) and tl.keep(ev.at, item.id):
                state = ev.type.split(".", 1)[1]
                summary = f"{item.party_id} {item.item_type} {item.title!r} became {state} (by the schedule)"
                tl.add(
                    ev.at,
                    "item",
                    ev.type,
                    item.party_id,
                    "scheduler",
                    (item.item_type, item.id),
                    summary,
                    {"state": state},
                )

    # --- notices and receipts ----------------------------------------------------------

    def _tl_notices(self, conn: Connection, tl: Timeline, found: Mapping[str, Row[Any]]) -> None:
        if not found:
            return
        rows = [
            n
            for n in conn.execute(
                sa.select(notices).where(notices.c.item_id.in_(list(found))).order_by(notices.c.at, notices.c.id)
            ).all()
            if tl.keep(n.at, n.item_id)
        ]
        labels = {}
        for n in rows:
            item = found[n.item_id]
            labels[n.id] = (
                frozenset({n.sender_party}),
                f"notice of {n.sender_party} {item.item_type} {item.title!r} ({n.change})",
                (n.item_id,),
            )
        told = self._tl_receipts(conn, tl, "notice", labels)
        for n in rows:
            item = found[n.item_id]
            docs, recipients = told.get(n.id, ([], []))
            timing = f"lead {dur(n.lead_s)}, required {dur(n.required_s)}" if n.required_s is not None else ""
            if n.late_by_s:
                timing += f", LATE by {dur(n.late_by_s)}"
            elif n.required_s is not None:
                timing += ", on time"
            summary = (
                f"{n.sender_party} sent notice ({n.change}, {n.precedence}) of {item.item_type} {item.title!r} "
                f"to {', '.join(recipients) or 'nobody'}" + (f"; {timing}" if timing else "")
            )
            detail = {
                "item": {"id": item.id, "type": item.item_type, "title": item.title},
                "change": n.change,
                "precedence": n.precedence,
                "lead_s": n.lead_s,
                "required_s": n.required_s,
                "late_by_s": n.late_by_s,
                "recipients": recipients,
                "receipts": docs,
            }
            tl.add(n.at, "notice", "notice.sent", n.sender_party, n.by_user, ("notice", n.id), summary, detail)
            tl.told.append(
                (
                    n.at,
                    len(tl.told),
                    {
                        "subject": {"type": "notice", "id": n.id},
                        "at": rfc3339(n.at),
                        "about": summary,
                        "receipts": docs,
                    },
                )
            )

    def _tl_receipts(
        self,
        conn: Connection,
        tl: Timeline,
        subject_type: str,
        subjects: Mapping[str, tuple[frozenset[str], str, tuple[str, ...]]],
    ) -> dict[str, tuple[list[Body], list[str]]]:
        """Receipt stages (and escalations) of ``subjects`` as entries; returns, per subject,
        the receipt documents the viewer may see and every recipient party.  ``subjects``:
        id → (parties that see every receipt, label, related ids for :meth:`Timeline.keep`)."""
        if not subjects:
            return {}
        me = tl.principal
        ids = sorted(subjects)
        out: dict[str, tuple[list[Body], list[str]]] = {i: ([], []) for i in ids}

        def may_see(sid: str, party: str) -> bool:
            return me.party_role == "mediator" or me.party_id == party or me.party_id in subjects[sid][0]

        rows = conn.execute(
            sa.select(receipts)
            .where(receipts.c.subject_type == subject_type, receipts.c.subject_id.in_(ids))
            .order_by(receipts.c.subject_id, receipts.c.party_id)
        ).all()
        for r in rows:
            out[r.subject_id][1].append(r.party_id)
            if not may_see(r.subject_id, r.party_id):
                continue
            _, label, related = subjects[r.subject_id]
            line = told(tl, r, self.clock.now())
            out[r.subject_id][0].append(
                receipt_document(r)
                | {"answered_at": rfc3339_or_none(r.answered_at), "answered_by": r.answered_by, "status": line}
            )
            subject = (subject_type, r.subject_id)
            for at, user, verb in (
                (r.delivered_at, r.delivered_to, "delivered to"),
                (r.opened_at, r.opened_by, "opened by"),
                (r.acknowledged_at, r.acknowledged_by, "acknowledged by"),
                (r.answered_at, r.answered_by, "answered by"),
            ):
                if at is not None and tl.keep(at, r.subject_id, *related):
                    stage = verb.split()[0]
                    tl.add(
                        at,
                        "receipt",
                        f"receipt.{stage}",
                        r.party_id,
                        user,
                        subject,
                        f"{label} {verb} {r.party_id} ({user})",
                        {"stage": stage, "status": line},
                    )
        escalations = conn.execute(
            sa.select(events)
            .where(
                events.c.subject_type == subject_type, events.c.subject_id.in_(ids), events.c.type.like("escalation.%")
            )
            .order_by(events.c.seq)
        ).all()
        for ev in escalations:
            p = ev.payload or {}
            party = str(p.get("party", ""))
            _, label, related = subjects[ev.subject_id]
            if not may_see(ev.subject_id, party) or not tl.keep(ev.at, ev.subject_id, *related):
                continue
            contact = p.get("contact") if me.party_role == "mediator" or me.party_id == party else None
            to = str(p.get("escalated_to", ""))
            summary = (
                f"{label}: {party} had not acknowledged by {tl.hm(parse(p.get('overdue_since')))} — escalated to {to}"
            )
            if contact:
                summary += f" ({contact})"
            detail = {
                "level": p.get("level"),
                "escalated_to": to,
                "contact": contact,
                "overdue_since": p.get("overdue_since"),
            }
            tl.add(
                ev.at, "receipt", "receipt.escalated", party, contact, (subject_type, ev.subject_id), summary, detail
            )
        return out

    # --- conflicts ------------------------------------------------------------------------

    def _tl_conflicts(self, conn: Connection, tl: Timeline, found: Mapping[str, Row[Any]]) -> None:
        if not found:
            return
        me = tl.principal
        both = {c.item_a for c in found.values()} | {c.item_b for c in found.values()}
        titles = {
            r.id: r.title
            for r in conn.execute(sa.select(items.c.id, items.c.title).where(items.c.id.in_(sorted(both)))).all()
        }
        labels = {
            c.id: (
                frozenset({c.party_a, c.party_b}),
                f"conflict {c.party_a} {titles.get(c.item_a)!r} × {c.party_b} {titles.get(c.item_b)!r}",
                (c.item_a, c.item_b),
            )
            for c in found.values()
        }
        rows = conn.execute(
            sa.select(events)
            .where(
                events.c.subject_type == "conflict",
                events.c.subject_id.in_(sorted(found)),
                events.c.type.like("conflict.%"),
            )
            .order_by(events.c.seq)
        ).all()
        for ev in rows:
            c = found[ev.subject_id]
            label = labels[c.id][1]
            if not sees(me, ev) or not tl.keep(ev.at, c.id, c.item_a, c.item_b):
                continue
            doc = (ev.payload or {}).get("conflict") or {}
            what = ev.type.split(".", 1)[1]
            party, user, summary = None, None, f"{label}: {what}"
            if what == "opened":
                summary = f"{label} opened ({doc.get('precedence')}, from {tl.hm(parse(doc.get('time_start')))})"
                party = c.party_a
            elif what == "updated":
                summary = f"{label} changed (an item changed; acknowledgements start over)"
            elif what in ("acknowledged", "accepted"):
                party, user = actor(doc, "acknowledged" if what == "acknowledged" else "accepted")
                summary = f"{label} {what} by {party} ({user})"
            elif what == "escalated":
                user = doc.get("escalated_by")
                party = _user_party(conn, user) if user else None
                summary = f"{label} escalated to the mediator" + (f" by {party} ({user})" if user else "")
            elif what == "resolved":
                summary = f"{label} resolved ({doc.get('resolution')})"
            elif what in ("comment", "proposal"):
                notes = doc.get("notes") or []
                if notes:
                    last = notes[-1]
                    party, user = last.get("party"), last.get("user")
                    verb = "proposed" if what == "proposal" else "commented"
                    summary = f"{party} ({user}) {verb} on {label}: {last.get('text')}"
            detail = {
                "state": doc.get("state"),
                "precedence": doc.get("precedence"),
                "a": side(doc, "a"),
                "b": side(doc, "b"),
            }
            tl.add(ev.at, "conflict", ev.type, party, user, ("conflict", c.id), summary, detail)
        told = self._tl_receipts(conn, tl, "conflict", labels)
        for cid, (docs, _) in told.items():
            c = found[cid]
            tl.told.append(
                (
                    c.created_at,
                    len(tl.told),
                    {
                        "subject": {"type": "conflict", "id": cid},
                        "at": rfc3339(c.created_at),
                        "about": labels[cid][1],
                        "receipts": docs,
                    },
                )
            )

    # --- hotline messages ------------------------------------------------------------------

    def _tl_messages(
        self, conn: Connection, tl: Timeline, refs: set[str], linked_threads: list[str], linked_messages: list[str]
    ) -> set[str]:
        me = tl.principal
        mine = sa.select(thread_parties.c.thread_id).where(thread_parties.c.party_id == me.party_id)
        when = sa.or_(
            messages.c.at.between(tl.start, tl.end),
            messages.c.thread_id.in_(linked_threads),
            messages.c.id.in_(linked_messages),
        )
        rows = conn.execute(
            sa.select(messages)
            .where(messages.c.thread_id.in_(mine), when)
            .order_by(messages.c.at, messages.c.id)
            .limit(MAX_ENTRIES)
        ).all()
        if not rows:
            return set()
        thread_rows = {
            t.id: t
            for t in conn.execute(sa.select(threads).where(threads.c.id.in_(sorted({m.thread_id for m in rows})))).all()
        }

        def relevant(m: Row[Any]) -> bool:
            t = thread_rows[m.thread_id]
            return (
                m.id in linked_messages
                or m.thread_id in linked_threads
                or m.link_id in refs
                or t.link_id in refs
                or bool(t.system)
                or bool(mentions(m.params, refs))
            )

        kept = [m for m in rows if relevant(m)]
        labels = {
            m.id: (frozenset({m.sender_party}), f"message {m.code} from {m.sender_party}", (m.thread_id,)) for m in kept
        }
        told = self._tl_receipts(conn, tl, "message", labels)
        for m in kept:
            text, direction, translated = render(m.code, m.params, me.language)
            summary = f"{m.sender_party} ({m.sender_user}): {text}"
            if m.text:
                summary += f' — free text, untranslated: "{m.text}"'
            docs, recipients = told.get(m.id, ([], []))
            t = thread_rows[m.thread_id]
            detail = {
                "thread": {
                    "id": t.id,
                    "subject": t.subject,
                    "link": link(t.link_type, t.link_id),
                    "system": bool(t.system),
                },
                "code": m.code,
                "params": m.params,
                "precedence": m.precedence,
                "language": me.language,
                "direction": direction,
                "text": text,
                "translated": translated,
                "free_text": m.text,
                "untranslated": m.text is not None,
                "in_reply_to": m.in_reply_to,
                "link": link(m.link_type, m.link_id),
                "recipients": recipients,
                "receipts": docs,
            }
            tl.add(m.at, "message", "message", m.sender_party, m.sender_user, ("message", m.id), summary, detail)
            if docs:
                tl.told.append(
                    (
                        m.at,
                        len(tl.told),
                        {
                            "subject": {"type": "message", "id": m.id},
                            "at": rfc3339(m.at),
                            "about": summary,
                            "receipts": docs,
                        },
                    )
                )
        return {m.thread_id for m in kept}

    # --- the incident itself ----------------------------------------------------------------

    def _tl_incident(
        self, conn: Connection, tl: Timeline, inc: Row[Any], links: Iterable[Row[Any]], party_of: Mapping[str, str]
    ) -> None:
        subject = ("incident", inc.id)
        kind = inc.kind.replace("_", " ")
        where = f"{inc.lat:.5f}, {inc.lon:.5f} (radius {inc.radius_m:,.0f} m)"
        tl.add(
            inc.occurred_at,
            "incident",
            "incident.occurred",
            inc.party_id,
            None,
            subject,
            f"{kind} at {where}: {inc.title}",
            {"kind": inc.kind, "position": {"lat": inc.lat, "lon": inc.lon}, "radius_m": inc.radius_m},
        )
        initial = [{"type": lk.link_type, "id": lk.link_id} for lk in links if lk.added_at <= inc.created_at]
        tl.add(
            inc.created_at,
            "incident",
            "incident.reported",
            inc.party_id,
            inc.reported_by,
            subject,
            f"{inc.party_id} ({inc.reported_by}) reported {kind}: {inc.title}",
            {"kind": inc.kind, "title": inc.title, "description": inc.description, "links": initial},
        )
        for lk in links:
            if lk.added_at > inc.created_at:
                party = party_of.get(lk.added_by)
                tl.add(
                    lk.added_at,
                    "incident",
                    "incident.linked",
                    party,
                    lk.added_by,
                    subject,
                    f"{party} ({lk.added_by}) linked {lk.link_type} {lk.link_id}",
                    {"link": {"type": lk.link_type, "id": lk.link_id}},
                )
        notes = conn.execute(
            sa.select(incident_notes).where(incident_notes.c.incident_id == inc.id).order_by(incident_notes.c.id)
        ).all()
        verbs = {
            "comment": "commented",
            "review": "took the incident under review",
            "findings": "closed the incident with findings",
            "reopen": "reopened the incident",
        }
        for note in notes:
            summary = f"{note.party_id} ({note.user_id}) {verbs.get(note.kind, note.kind)}" + (
                f": {note.text}" if note.text else ""
            )
            tl.add(
                note.at,
                "incident",
                _NOTE_EVENTS.get(note.kind, f"incident.{note.kind}"),
                note.party_id,
                note.user_id,
                subject,
                summary,
                {"kind": note.kind, "text": note.text},
            )


def _user_party(conn: Connection, user: str) -> str | None:
    return conn.execute(sa.select(users.c.party_id).where(users.c.id == user)).scalar()
