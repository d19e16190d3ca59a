"""Incident reports: what happened, where and when, what it is linked to; comments,
review and findings; and the *timeline* the service assembles around it.

An incident (near miss, unplanned encounter, violation of an agreed zone, strike on a
notified site, other) is reported by a member or mediator party with a time, a position
and a radius, and optionally linked to activities, zones, conflicts, hotline threads and
messages.  Its states::

    open ──review──▶ under_review ──close (findings)──▶ closed
                          ▲                               │
                          └─────────── reopen ────────────┘

The mediator reviews, closes and reopens; where no mediator party exists, the involved
member parties review and the reporting party's commander closes and reopens.  The
involved parties (the reporter, the owners of linked items, the parties of linked
conflicts and threads) and the mediator comment and add links.

The timeline (:mod:`.timeline`) answers "who was told what, and when?" from the record.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from ..errors import ValidationError
from ..store.schema import conflicts, incident_links, incident_notes, incidents, items, messages, thread_parties
from ..wire import rfc3339, rfc3339_or_none
from .core import Body, Idempotency, Principal, Result, new_id
from .errors import Forbidden, NotFound, StateConflict
from .timeline import TimelineMixin

__all__ = ["INCIDENT_ACTIONS", "INCIDENT_KINDS", "INCIDENT_LINK_TYPES", "INCIDENT_STATES", "IncidentsMixin"]

INCIDENT_KINDS = ("near_miss", "unplanned_encounter", "zone_violation", "strike_on_notified_site", "other")
INCIDENT_STATES = ("open", "under_review", "closed")
INCIDENT_LINK_TYPES = ("activity", "zone", "conflict", "message", "thread")
INCIDENT_ACTIONS = ("comment", "review", "close", "reopen")
DEFAULT_RADIUS_M = 5_000.0
DEFAULT_BEFORE_S = 86_400.0
DEFAULT_AFTER_S = 7_200.0
MAX_SPAN_S = 7 * 86_400.0
MAX_RADIUS_M = 100_000.0
MAX_LINKS = 100
#: how far in the future (by the service's clock) an occurrence may be placed: reporters' clocks drift
FUTURE_TOLERANCE = timedelta(minutes=2)
_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
# action: (states it applies to, the state it leads to, the note kind it records)
_MOVES = {
    "review": (("open",), "under_review", "review"),
    "close": (("under_review",), "closed", "findings"),
    "reopen": (("closed",), "under_review", "reopen"),
}

Link = tuple[int, str, str]  # (index in the request, type, id)


class IncidentsMixin(TimelineMixin):
    # --- reporting ------------------------------------------------------------------

    def report_incident(
        self,
        principal: Principal,
        kind: str,
        title: str,
        occurred_at: datetime,
        position: Mapping[str, Any],
        *,
        radius_m: float = DEFAULT_RADIUS_M,
        description: str | None = None,
        links: Sequence[Mapping[str, Any]] = (),
        idem: Idempotency | None = None,
    ) -> Result:
        """Report an incident (a member or the mediator); it starts ``open``."""
        principal.require("incidents:write")
        if principal.party_role not in ("member", "mediator"):
            raise Forbidden(
                "party", f"only member and mediator parties report incidents; {principal.party_id!r} is not"
            )
        if kind not in INCIDENT_KINDS:
            raise ValidationError("kind", f"unknown incident kind {kind!r}; use one of {list(INCIDENT_KINDS)}")
        title = _text("title", title, 200, one_line=True)
        description = _text("description", description, 4000, required=False) if description is not None else None
        lat, lon = _position(position)
        radius = _radius(radius_m)
        when = _occurred(occurred_at, self.clock.now())
        wanted = _links(links)

        def run(conn: Connection) -> Result:
            now = self.clock.now()
            for i, t, lid in wanted:
                self._check_link(conn, principal, f"links[{i}]", t, lid)
            iid = new_id("inc", now)
            conn.execute(
                incidents.insert(),
                dict(
                    id=iid,
                    party_id=principal.party_id,
                    reported_by=principal.user_id,
                    kind=kind,
                    state="open",
                    title=title,
                    description=description,
                    occurred_at=when,
                    lat=lat,
                    lon=lon,
                    radius_m=radius,
                    created_at=now,
                    updated_at=now,
                ),
            )
            self._add_links(conn, principal, iid, wanted, now)
            row = self._incident(conn, principal, iid)
            self._emit(
                conn,
                "incident.reported",
                self._audience(conn, [row.party_id]),
                {"incident": _summary(row), "links": [{"type": t, "id": lid} for _, t, lid in wanted]},
                subject=("incident", iid),
            )
            return 201, self._incident_doc(conn, principal, row)

        return self._write(run, principal=principal, idem=idem)

    def link_incident(
        self,
        principal: Principal,
        incident_id: str,
        links: Sequence[Mapping[str, Any]],
        *,
        idem: Idempotency | None = None,
    ) -> Result:
        """Link more activities, zones, conflicts, threads or messages (an involved party or
        the mediator; not once the incident is closed).  Links already there are kept once."""
        principal.require("incidents:write")
        wanted = _links(links)
        if not wanted:
            raise ValidationError("links", "give at least one link")

        def run(conn: Connection) -> Result:
            row = self._incident(conn, principal, incident_id)
            self._require_involved(conn, principal, row, "add links to")
            if row.state == "closed":
                raise StateConflict("state", f"incident {incident_id!r} is closed; reopen it first")
            for i, t, lid in wanted:
                self._check_link(conn, principal, f"links[{i}]", t, lid)
            now = self.clock.now()
            added = self._add_links(conn, principal, incident_id, wanted, now)
            if added:
                conn.execute(incidents.update().where(incidents.c.id == incident_id).values(updated_at=now))
                self._emit(
                    conn,
                    "incident.linked",
                    self._audience(conn, [row.party_id]),
                    {"incident_id": incident_id, "links": [{"type": t, "id": lid} for t, lid in added]},
                    subject=("incident", incident_id),
                )
            return 200, self._incident_doc(conn, principal, self._incident(conn, principal, incident_id))

        return self._write(run, principal=principal, idem=idem)

    def incident_action(
        self,
        principal: Principal,
        incident_id: str,
        action: str,
        *,
        text: str | None = None,
        idem: Idempotency | None = None,
    ) -> Result:
        """``comment`` (involved parties, the mediator), ``review`` (open → under_review),
        ``close`` (under_review → closed, with the findings as ``text``), ``reopen``
        (closed → under_review)."""
        principal.require("incidents:write")
        if action not in INCIDENT_ACTIONS:
            raise ValidationError("action", f"unknown incident action {action!r}; use one of {list(INCIDENT_ACTIONS)}")
        required = action in ("comment", "close")
        if text is None and required:
            raise ValidationError("text", "closing needs the findings" if action == "close" else "a comment needs text")
        what = "the findings" if action == "close" else "the text"
        note = _text("text", text, 4000, required=required, what=what) if text is not None else ""

        def run(conn: Connection) -> Result:
            row = self._incident(conn, principal, incident_id)
            now = self.clock.now()
            if action == "comment":
                self._require_involved(conn, principal, row, "comment on")
                if row.state == "closed":
                    raise StateConflict("state", f"incident {incident_id!r} is closed; reopen it to comment")
                self._note(conn, principal, incident_id, "comment", note, now)
                conn.execute(incidents.update().where(incidents.c.id == incident_id).values(updated_at=now))
                self._emit(
                    conn,
                    "incident.commented",
                    self._audience(conn, [row.party_id]),
                    {
                        "incident_id": incident_id,
                        "note": {"party": principal.party_id, "user": principal.user_id, "text": note},
                    },
                    subject=("incident", incident_id),
                )
                return 200, self._incident_doc(conn, principal, self._incident(conn, principal, incident_id))
            self._require_role(conn, principal, row, action)
            allowed, target, kind = _MOVES[action]
            if row.state not in allowed:
                raise StateConflict("state", f"cannot {action} an incident that is {row.state}")
            values: dict[str, Any] = {"state": target, "updated_at": now}
            if action == "review":
                values |= {"reviewed_at": now, "reviewed_by": principal.user_id}
            elif action == "close":
                values |= {"findings": note, "closed_at": now, "closed_by": principal.user_id}
            else:
                values |= {"findings": None, "closed_at": None, "closed_by": None}
            conn.execute(incidents.update().where(incidents.c.id == incident_id).values(**values))
            self._note(conn, principal, incident_id, kind, note, now)
            self._emit(
                conn,
                "incident.state_changed",
                self._audience(conn, [row.party_id]),
                {
                    "incident_id": incident_id,
                    "from": row.state,
                    "to": target,
                    "action": action,
                    "by": principal.user_id,
                    "party": principal.party_id,
                    "text": note,
                },
                subject=("incident", incident_id),
            )
            return 200, self._incident_doc(conn, principal, self._incident(conn, principal, incident_id))

        return self._write(run, principal=principal, idem=idem)

    # --- reading --------------------------------------------------------------------

    def get_incident(self, principal: Principal, incident_id: str) -> Body:
        """One incident with its links (those the caller may see) and notes; a read of
        another party's report is logged."""
        principal.require("incidents:read")

        def run(conn: Connection) -> Result:
            row = self._incident(conn, principal, incident_id)
            if row.party_id != principal.party_id:
                self._log_access(conn, principal, "read_incident", ("incident", incident_id))
            return 200, self._incident_doc(conn, principal, row)

        return self._write(run)[1]

    def incident_timeline(
        self,
        principal: Principal,
        incident_id: str,
        *,
        before_s: float = DEFAULT_BEFORE_S,
        after_s: float = DEFAULT_AFTER_S,
    ) -> Body:
        """Everything recorded around the incident, in time order, as ``principal`` may see
        it (:mod:`.timeline`); the read is logged."""
        principal.require("incidents:read")
        before, after = _span("before_s", before_s), _span("after_s", after_s)

        def run(conn: Connection) -> Result:
            row = self._incident(conn, principal, incident_id)
            body = {"incident": self._incident_doc(conn, principal, row)} | self._timeline(
                conn, principal, row, before, after
            )
            detail = {"before_s": before, "after_s": after, "entries": len(body["entries"])}
            self._log_access(conn, principal, "read_incident_timeline", ("incident", incident_id), detail)
            return 200, body

        return self._write(run)[1]

    def list_incidents(
        self,
        principal: Principal,
        *,
        state: Sequence[str] = (),
        party: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Body:
        """A page of the incidents ``principal`` may see, oldest report first."""
        principal.require("incidents:read")
        if not 1 <= limit <= 1000:
            raise ValidationError("limit", "must be between 1 and 1000")
        for s in state:
            if s not in INCIDENT_STATES:
                raise ValidationError("state", f"unknown incident state {s!r}; use one of {list(INCIDENT_STATES)}")
        q = sa.select(incidents)
        if state:
            q = q.where(incidents.c.state.in_(list(state)))
        if party is not None:
            q = q.where(incidents.c.party_id == party)
        if cursor is not None:
            q = q.where(incidents.c.id > cursor)

        def run(conn: Connection) -> Result:
            query = q
            if principal.party_role == "observer":
                sharing = [p.id for p in self._parties(conn).values() if p.shares_with_observers]
                query = query.where(
                    sa.or_(incidents.c.party_id.in_(sharing), incidents.c.party_id == principal.party_id)
                )
            rows = conn.execute(query.order_by(incidents.c.id).limit(limit + 1)).all()
            page = rows[:limit]
            others = [r.id for r in page if r.party_id != principal.party_id]
            if others:
                self._log_access(conn, principal, "list_incidents", None, {"ids": others})
            return 200, {
                "incidents": [self._incident_doc(conn, principal, r) for r in page],
                "next_cursor": page[-1].id if len(rows) > limit else None,
            }

        return self._write(run)[1]

    # --- internals ------------------------------------------------------------------

    def _incident(self, conn: Connection, principal: Principal, incident_id: str) -> Row[Any]:
        row = conn.execute(sa.select(incidents).where(incidents.c.id == incident_id)).first()
        if row is None or not self._can_see_incident(conn, principal, row):
            raise NotFound("id", f"no incident {incident_id!r}")
        return row

    def _incident_doc(self, conn: Connection, principal: Principal, row: Row[Any]) -> Body:
        links = conn.execute(
            sa.select(incident_links)
            .where(incident_links.c.incident_id == row.id)
            .order_by(incident_links.c.added_at, incident_links.c.link_type, incident_links.c.link_id)
        ).all()
        notes = conn.execute(
            sa.select(incident_notes).where(incident_notes.c.incident_id == row.id).order_by(incident_notes.c.id)
        ).all()
        return _summary(row) | {
            "reported_by": row.reported_by,
            "description": row.description,
            "findings": row.findings,
            "reviewed_at": rfc3339_or_none(row.reviewed_at),
            "reviewed_by": row.reviewed_by,
            "closed_at": rfc3339_or_none(row.closed_at),
            "closed_by": row.closed_by,
            "created_at": rfc3339(row.created_at),
            "updated_at": rfc3339(row.updated_at),
            # a link the caller may not see (a thread it is not in) is left out, not named
            "links": [
                {"type": lk.link_type, "id": lk.link_id, "added_by": lk.added_by, "added_at": rfc3339(lk.added_at)}
                for lk in links
                if self._link_visible(conn, principal, lk.link_type, lk.link_id)
            ],
            "notes": [
                {
                    "id": n.id,
                    "party": n.party_id,
                    "user": n.user_id,
                    "kind": n.kind,
                    "text": n.text,
                    "at": rfc3339(n.at),
                }
                for n in notes
            ],
        }

    def _add_links(
        self, conn: Connection, principal: Principal, incident_id: str, wanted: Sequence[Link], now: datetime
    ) -> list[tuple[str, str]]:
        have = {
            (r.link_type, r.link_id)
            for r in conn.execute(
                sa.select(incident_links.c.link_type, incident_links.c.link_id).where(
                    incident_links.c.incident_id == incident_id
                )
            ).all()
        }
        fresh = [(t, lid) for _, t, lid in wanted if (t, lid) not in have]
        if fresh:
            conn.execute(
                incident_links.insert(),
                [
                    dict(incident_id=incident_id, link_type=t, link_id=lid, added_by=principal.user_id, added_at=now)
                    for t, lid in fresh
                ],
            )
        return fresh

    def _note(
        self, conn: Connection, principal: Principal, incident_id: str, kind: str, text: str, now: datetime
    ) -> None:
        conn.execute(
            incident_notes.insert(),
            dict(
                incident_id=incident_id,
                party_id=principal.party_id,
                user_id=principal.user_id,
                kind=kind,
                text=text,
                at=now,
            ),
        )

    def _involved(self, conn: Connection, row: Row[Any]) -> set[str]:
        """The reporting party, the owners of linked items, the parties of linked conflicts
        and the member parties of linked threads (and of linked messages' threads)."""
        found = {row.party_id}
        links = conn.execute(sa.select(incident_links).where(incident_links.c.incident_id == row.id)).all()
        ids = {t: [lk.link_id for lk in links if lk.link_type == t] for t in INCIDENT_LINK_TYPES}
        if ids["activity"] or ids["zone"]:
            q = sa.select(items.c.party_id).where(items.c.id.in_(ids["activity"] + ids["zone"]))
            found |= set(conn.execute(q).scalars())
        if ids["conflict"]:
            for c in conn.execute(sa.select(conflicts).where(conflicts.c.id.in_(ids["conflict"]))).all():
                found |= {c.party_a, c.party_b}
        thread_ids = list(ids["thread"])
        if ids["message"]:
            q = sa.select(messages.c.thread_id).where(messages.c.id.in_(ids["message"]))
            thread_ids += list(conn.execute(q).scalars())
        if thread_ids:
            q = sa.select(thread_parties.c.party_id).where(thread_parties.c.thread_id.in_(thread_ids))
            found |= set(conn.execute(q).scalars())
        known = self._parties(conn)
        return {p for p in found if p in known and known[p].role == "member"}

    def _has_mediator(self, conn: Connection) -> bool:
        return any(p.role == "mediator" for p in self._parties(conn).values())

    def _require_involved(self, conn: Connection, principal: Principal, row: Row[Any], what: str) -> None:
        if principal.party_role == "mediator" or principal.party_id in self._involved(conn, row):
            return
        raise Forbidden("party", f"only the parties involved in incident {row.id!r} and the mediator {what} it")

    def _require_role(self, conn: Connection, principal: Principal, row: Row[Any], action: str) -> None:
        if principal.party_role == "mediator":
            return
        if self._has_mediator(conn):
            raise Forbidden("party", f"the mediator is the one to {action} an incident")
        if action == "review":
            if principal.party_id in self._involved(conn, row):
                return
            raise Forbidden("party", f"only the parties involved in incident {row.id!r} review it")
        if principal.party_id == row.party_id and principal.role == "commander":
            return
        raise Forbidden(
            "role",
            f"with no mediator party, a commander of the reporting party ({row.party_id!r}) is the one to {action} it",
        )


def _summary(row: Row[Any]) -> Body:
    """The incident's shared fields (event payloads carry these)."""
    return {
        "id": row.id,
        "party": row.party_id,
        "kind": row.kind,
        "state": row.state,
        "title": row.title,
        "occurred_at": rfc3339(row.occurred_at),
        "position": {"lat": row.lat, "lon": row.lon},
        "radius_m": row.radius_m,
    }


def _text(field: str, value: Any, limit: int, *, one_line: bool = False, required: bool = True, what: str = "") -> str:
    if not isinstance(value, str):
        raise ValidationError(field, "must be a string")
    if "\x00" in value:
        raise ValidationError(field, "must not contain NUL characters")
    if one_line and not value.isprintable():
        raise ValidationError(field, "must be printable characters on one line")
    if not one_line and any(not (ch.isprintable() or ch in "\n\r\t") for ch in value):
        raise ValidationError(field, "must be printable characters (line breaks and tabs allowed)")
    text: str = value.strip()
    if required and not text:
        raise ValidationError(field, f"{what} must not be empty" if what else "must not be empty")
    if len(text) > limit:
        raise ValidationError(field, f"at most {limit} characters ({len(text)} given)")
    return text


def _number(field: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationError(field, "must be a finite number")
    return float(value)


def _position(position: Any) -> tuple[float, float]:
    if not isinstance(position, Mapping):
        raise ValidationError("position", "must be an object {lat, lon} in degrees (WGS 84)")
    for name in position:
        if name not in ("lat", "lon"):
            raise ValidationError(f"position.{name}", "unknown field; give lat and lon")
    out = []
    for name, bound in (("lat", 90.0), ("lon", 180.0)):
        if name not in position:
            raise ValidationError(f"position.{name}", "is required")
        v = _number(f"position.{name}", position[name])
        if not -bound <= v <= bound:
            raise ValidationError(f"position.{name}", f"must be between -{bound:g} and {bound:g} degrees")
        out.append(v)
    return out[0], out[1]


def _radius(value: Any) -> float:
    r = _number("radius_m", value)
    if not 0 <= r <= MAX_RADIUS_M:
        raise ValidationError("radius_m", f"must be between 0 and {MAX_RADIUS_M:,.0f} m")
    return r


def _span(field: str, value: Any) -> float:
    s = _number(field, value)
    if not 0 <= s <= MAX_SPAN_S:
        raise ValidationError(field, f"must be between 0 and {MAX_SPAN_S:,.0f} s (7 days)")
    return s


def _occurred(value: Any, now: datetime) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError("occurred_at", "must be a date-time with a time zone (Z or ±hh:mm)")
    try:
        when = value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValidationError("occurred_at", "is out of range") from None
    if when < _EARLIEST:
        raise ValidationError("occurred_at", f"must be after {rfc3339(_EARLIEST)}")
    if when > now + FUTURE_TOLERANCE:
        raise ValidationError("occurred_at", f"is in the future (the service's time is {rfc3339(now)})")
    return when


def _links(links: Any) -> list[Link]:
    if not isinstance(links, Sequence) or isinstance(links, str):
        raise ValidationError("links", "must be a list of {type, id}")
    if len(links) > MAX_LINKS:
        raise ValidationError("links", f"at most {MAX_LINKS} links")
    out: list[Link] = []
    seen: set[tuple[str, str]] = set()
    for i, link in enumerate(links):
        if not isinstance(link, Mapping):
            raise ValidationError(f"links[{i}]", "must be an object {type, id}")
        t, lid = link.get("type"), link.get("id")
        if t not in INCIDENT_LINK_TYPES:
            raise ValidationError(f"links[{i}].type", f"must be one of {list(INCIDENT_LINK_TYPES)}")
        if not isinstance(lid, str) or not 1 <= len(lid) <= 64 or not lid.isprintable():
            raise ValidationError(f"links[{i}].id", "must be an id of 1–64 printable characters")
        if (t, lid) not in seen:
            seen.add((t, lid))
            out.append((i, t, lid))
    return out
