"""Activities (notifications) and zones: filing, changing, notifying, cancelling, reading.

Proof of awareness (after ASTM F3548's key/OVN rule): every item carries an opaque
``version`` that changes whenever its owner changes it.  To notify or change an
activity, a party presents a *key*: the versions of every other party's activity and
zone its activity conflicts with (by the agreed separation minima).  If one is missing
or stale the write is refused (409) with the list of objects not seen — ids, owners,
kinds and windows, *not* their versions: a version is learnt only by reading the object
(``GET /v1/activities/{id}``), and that read is recorded as the reader's party having
opened it.  So nobody commits an activity without having seen what it conflicts with,
and the record shows when they saw it.

Zones (bases, training areas, protected sites) need no key: a protected site must be
registrable at once, whatever is already planned around it.  Their conflicts are
detected and notified all the same.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from ..errors import DeconflictError, ValidationError
from ..model import (
    Activity,
    ActivityKind,
    Conflict,
    MinimaTable,
    SeparationMinima,
    Volume4D,
    Zone,
    ZoneKind,
)
from ..policy import Precedence
from ..store.schema import derived_dss_id, item_versions, items, notices, receipts
from ..wire import rfc3339, rfc3339_or_none, volumes_from_json, volumes_to_json
from .core import (
    KEEP,
    Body,
    Idempotency,
    Principal,
    Result,
    ServiceBase,
    bounding_box,
    is_live,
    new_id,
    new_version,
    reraise_as,
)
from .errors import AwarenessError, Forbidden, LateNoticeRefused, NotFound, StateConflict, VersionMismatch

__all__ = ["ItemInput", "ItemsMixin"]

# nonconforming and contingent are F3548's (reached through /dss/v1 only); both are live
ACTIVITY_STATES = ("draft", "notified", "active", "nonconforming", "contingent", "completed", "cancelled")
ZONE_STATES = ("active", "withdrawn", "expired")
ZONE_SUBTYPES = ("hospital", "school", "aid_warehouse", "shelter", "place_of_worship", "cultural_site", "other")
ZERO_MINIMA = MinimaTable()  # exact intersection: F3548 knows no separation minima
_TRANSITIONS = {
    "notify": ({"draft"}, "notified"),
    "activate": ({"notified"}, "active"),
    "complete": ({"notified", "active", "nonconforming", "contingent"}, "completed"),
    "cancel": ({"draft", "notified", "active", "nonconforming", "contingent"}, "cancelled"),
    "withdraw": ({"active"}, "withdrawn"),
}


@dataclass(frozen=True, slots=True)
class ItemInput:
    """What a party files: validated values (units converted at the edge)."""

    kind: str
    volumes: tuple[Volume4D, ...]
    title: str = ""
    priority: Precedence = Precedence.ROUTINE
    callsign: str | None = None
    contact: str | None = None
    notes: str | None = None
    subtype: str | None = None
    minima: SeparationMinima | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


def conflict_detail(c: Conflict, own_id: str) -> Body:
    """One pair of volumes in conflict, from the point of view of item ``own_id``."""
    mine, theirs = (c.a, c.b) if c.a.owner_id == own_id else (c.b, c.a)
    return {
        "volume": mine.index,
        "other_volume": theirs.index,
        "window_start": rfc3339(c.window_start),
        "window_end": rfc3339(c.window_end),
        "time_gap_s": c.time_gap_s,
        "lateral_gap_m": c.lateral_gap_m,
        "vertical_gap_m": c.vertical_gap_m,
        "vertical_overlap_m": c.vertical_overlap_m,
        "minima": {"lateral_m": c.minima.lateral_m, "vertical_m": c.minima.vertical_m, "time_s": c.minima.time_s},
        "breached": sorted(d.value for d in c.breached),
    }


class ItemsMixin(ServiceBase):
    # --- reading --------------------------------------------------------------------

    def item_document(self, row: Row[Any], principal: Principal | None, *, reveal_version: bool = False) -> Body:
        """The fields ``principal`` may see (``None``: everything, for the operator).

        Another party's ``version`` is shown only when the item is read on its own
        (``reveal_version``, :meth:`get_item` — a read recorded as *opened*): never in
        lists, notices, events or conflicts, so a key cannot be built without reading."""
        doc: Body = {
            "id": row.id,
            "type": row.item_type,
            "party": row.party_id,
            "kind": row.kind,
            "subtype": row.subtype,
            "state": row.state,
            "priority": row.priority,
            "title": row.title,
            "callsign": row.callsign,
            "contact": row.contact,
            "volumes": row.volumes,
            "time_start": rfc3339(row.time_start),
            "time_end": rfc3339(row.time_end),
            "version": row.version,
            "notified_at": rfc3339_or_none(row.notified_at),
            "late_by_s": row.late_by_s,
            "created_at": rfc3339(row.created_at),
            "updated_at": rfc3339(row.updated_at),
            "dss_id": row.dss_id,  # its entity id on /dss/v1 (ASTM F3548)
            "uss_base_url": row.uss_base_url,  # set when an F3548 USS manages it
        }
        if row.item_type == "zone":
            doc["minima"] = row.minima
        else:  # its party's channel is DOWN: the activity counts at its worst case
            doc["party_down"] = bool(self._down and row.party_id in self._down)
        if principal is None or principal.party_id == row.party_id:
            doc["notes"] = row.notes
        elif not reveal_version:
            del doc["version"]
        return doc

    def _load(self, conn: Connection, item_id: str, item_type: str, *, for_update: bool = False) -> Row[Any]:
        row = conn.execute(sa.select(items).where(items.c.id == item_id, items.c.item_type == item_type)).first()
        if row is None:
            raise NotFound("id", f"no {item_type} {item_id!r}")
        return row

    def get_item(self, principal: Principal, item_type: str, item_id: str) -> Body:
        """Read one item; a read of another party's item is logged and marks its notices opened."""
        principal.require(f"{'activities' if item_type == 'activity' else 'zones'}:read")

        def run(conn: Connection) -> Result:
            row = self._load(conn, item_id, item_type)
            if not self._can_see_item(conn, principal, row):
                raise NotFound("id", f"no {item_type} {item_id!r}")
            if row.party_id != principal.party_id:
                self._log_access(conn, principal, f"read_{item_type}", (item_type, item_id))
                self._mark_opened_notices(conn, principal, item_id)
            return 200, self.item_document(row, principal, reveal_version=True)

        return self._write(run)[1]

    def list_items(
        self,
        principal: Principal,
        item_type: str,
        *,
        party: str | None = None,
        state: Sequence[str] = (),
        kind: Sequence[str] = (),
        bbox: tuple[float, float, float, float] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Body:
        """A page of items visible to ``principal``, filtered, in creation order."""
        principal.require(f"{'activities' if item_type == 'activity' else 'zones'}:read")
        if not 1 <= limit <= 1000:
            raise ValidationError("limit", "must be between 1 and 1000")
        q = sa.select(items).where(items.c.item_type == item_type)
        if party is not None:
            q = q.where(items.c.party_id == party)
        if state:
            q = q.where(items.c.state.in_(list(state)))
        if kind:
            q = q.where(items.c.kind.in_(list(kind)))
        if bbox is not None:
            w, s, e, n = bbox
            q = q.where(items.c.lon_max >= w, items.c.lon_min <= e, items.c.lat_max >= s, items.c.lat_min <= n)
        if start is not None:
            q = q.where(items.c.time_end > start)
        if end is not None:
            q = q.where(items.c.time_start < end)
        if cursor is not None:
            q = q.where(items.c.id > cursor)
        # drafts (and drafts cancelled unnotified) are private: filter in SQL so pages stay full
        q = q.where(sa.or_(items.c.notified_at.is_not(None), items.c.party_id == principal.party_id))
        if principal.party_role == "observer":
            with self.store.read() as conn:
                sharing = [p.id for p in self._parties(conn).values() if p.shares_with_observers]
            q = q.where(sa.or_(items.c.party_id.in_(sharing), items.c.party_id == principal.party_id))
        q = q.order_by(items.c.id).limit(limit + 1)

        def run(conn: Connection) -> Result:
            rows = conn.execute(q).all()
            page = rows[:limit]
            others = [r.id for r in page if r.party_id != principal.party_id]
            if others:
                self._log_access(conn, principal, f"list_{item_type}", None, {"ids": others})
            body = {
                "items": [self.item_document(r, principal) for r in page],
                "next_cursor": page[-1].id if len(rows) > limit else None,
            }
            return 200, body

        return self._write(run)[1]

    # --- checking -------------------------------------------------------------------

    def _model(self, item_type: str, item_id: str, party: str, data: ItemInput) -> Activity | Zone:
        try:
            if item_type == "activity":
                return Activity(item_id, party, ActivityKind(data.kind), data.volumes)
            return Zone(item_id, party, ZoneKind(data.kind), data.volumes, minima=data.minima)
        except DeconflictError as e:
            raise reraise_as("", e) from None

    def _check(self, model: Activity | Zone) -> dict[str, list[Conflict]]:
        """Conflicts with other parties' live items, grouped by the other item's id."""
        try:
            found = self.engine.check(model)
        except DeconflictError as e:
            raise reraise_as("", e) from None
        grouped: dict[str, list[Conflict]] = {}
        for c in found:
            other = c.b.owner_id if c.a.owner_id == model.id else c.a.owner_id
            grouped.setdefault(other, []).append(c)
        return grouped

    def _intersecting(self, model: Activity | Zone) -> dict[str, list[Conflict]]:
        """Every live item whose volumes intersect ``model``'s exactly in 4D — the same
        party's included, no separation minima (F3548's "intersecting" entities), grouped
        by the other item's id.  A DOWN party's activities count at their envelope."""
        try:
            found = self.engine.check(model, include_same_party=True, minima=ZERO_MINIMA)
        except DeconflictError as e:
            raise reraise_as("", e) from None
        grouped: dict[str, list[Conflict]] = {}
        for c in found:
            other = c.b.owner_id if c.a.owner_id == model.id else c.a.owner_id
            grouped.setdefault(other, []).append(c)
        return grouped

    def _require_key(self, conn: Connection, found: Mapping[str, list[Conflict]], key: Sequence[str]) -> None:
        if not found:
            return
        rows = conn.execute(sa.select(items).where(items.c.id.in_(list(found)))).all()
        presented = set(key)
        missing = [
            {
                "id": r.id,
                "type": r.item_type,
                "party": r.party_id,
                "kind": r.kind,
                "title": r.title,
                "time_start": rfc3339(r.time_start),
                "time_end": rfc3339(r.time_end),
            }
            for r in sorted(rows, key=lambda r: r.id)
            if r.version not in presented
        ]
        if missing:
            raise AwarenessError(
                "key",
                f"does not hold the current version of {len(missing)} intersecting object(s); "
                "read each one (GET) to learn its version, then resubmit",
                missing,
            )

    def preview(self, principal: Principal, item_type: str, data: ItemInput) -> Body:
        """The conflicts ``data`` would have, without storing anything."""
        principal.require(f"{'activities' if item_type == 'activity' else 'zones'}:read")

        def run(conn: Connection) -> Result:
            model = self._model(item_type, "__preview__", principal.party_id, data)
            found = self._check(model)
            if found:  # only what the caller may see (an observer: the parties sharing with it)
                rows = conn.execute(sa.select(items).where(items.c.id.in_(list(found)))).all()
                shown = {r.id for r in rows if self._can_see_item(conn, principal, r)}
                found = {k: v for k, v in found.items() if k in shown}
            return 200, {"conflicts": self._conflict_previews(conn, model.id, found)}

        return self._write(run)[1]

    def _conflict_previews(self, conn: Connection, own_id: str, found: Mapping[str, list[Conflict]]) -> list[Body]:
        if not found:
            return []
        others = {r.id: r for r in conn.execute(sa.select(items).where(items.c.id.in_(list(found)))).all()}
        return [
            {
                "other": {
                    "id": oid,
                    "type": others[oid].item_type,
                    "party": others[oid].party_id,
                    "kind": others[oid].kind,
                    "title": others[oid].title,
                },
                "volumes": [conflict_detail(c, own_id) for c in cs],
            }
            for oid, cs in sorted(found.items())
        ]

    # --- writing --------------------------------------------------------------------

    def create_item(
        self,
        principal: Principal,
        item_type: str,
        data: ItemInput,
        *,
        state: str | None = None,
        key: Sequence[str] = (),
        idem: Idempotency | None = None,
    ) -> Result:
        """File an activity (``state`` draft or notified) or a zone (always active)."""
        scope = "activities:write" if item_type == "activity" else "zones:write"
        principal.require(scope)
        principal.require_member(f"file {item_type}s")
        _check_kind(item_type, data)
        if item_type == "activity":
            state = state or "draft"
            if state not in ("draft", "notified"):
                raise ValidationError("state", "a new activity is 'draft' or 'notified'")
        else:
            state = "active"

        def run(conn: Connection) -> Result:
            return 201, self._create(conn, principal, item_type, data, state, key)

        return self._write(run, principal=principal, idem=idem)

    def _create(
        self, conn: Connection, principal: Principal, item_type: str, data: ItemInput, state: str, key: Sequence[str]
    ) -> Body:
        now = self.clock.now()
        item_id = new_id("act" if item_type == "activity" else "zone", now)
        model = self._model(item_type, item_id, principal.party_id, data)
        found = self._check(model)
        if state == "draft":
            row = self._store_item(conn, principal, item_id, item_type, data, state, now, verdict=None, model=model)
            return {
                "item": self.item_document(row, principal),
                "conflicts": self._conflict_previews(conn, item_id, found),
                "notice": None,
            }
        if item_type == "activity":
            self._require_key(conn, found, key)
        verdict = self._verdict(data, now, None) if item_type == "activity" else None
        row = self._store_item(
            conn, principal, item_id, item_type, data, state, now, verdict=verdict, key=key, model=model
        )
        notice = self._notify(
            conn, principal, row, "notified" if item_type == "activity" else "created", verdict, first=True
        )
        stored = self._reconcile(conn, row, found, gone_reason="changed")
        return {"item": self.item_document(row, principal), "conflicts": stored, "notice": notice}

    def import_items(
        self,
        principal: Principal,
        entries: Sequence[tuple[str, ItemInput]],
        *,
        progress: Callable[[int], None] | None = None,
        idem: Idempotency | None = None,
    ) -> Result:
        """File many items at once — activities as drafts, zones active — all or nothing:
        the first bad one (named ``items[n]…``) rolls the whole import back."""
        for item_type, _data in entries:
            principal.require("activities:write" if item_type == "activity" else "zones:write")
        principal.require_member("import items")
        if len(entries) > 10_000:
            raise ValidationError("items", "at most 10,000 items per import")

        def run(conn: Connection) -> Result:
            created = []
            for n, (item_type, data) in enumerate(entries):
                try:
                    _check_kind(item_type, data)
                    body = self._create(
                        conn, principal, item_type, data, "draft" if item_type == "activity" else "active", ()
                    )
                except DeconflictError as e:
                    raise e.within(f"items[{n}]") from None
                created.append({"id": body["item"]["id"], "type": item_type, "conflicts": len(body["conflicts"])})
                if progress is not None:
                    progress(n + 1)
            return 201, {"created": created}

        return self._write(run, principal=principal, idem=idem)

    def update_item(
        self,
        principal: Principal,
        item_type: str,
        item_id: str,
        data: ItemInput,
        *,
        version: str,
        key: Sequence[str] = (),
        idem: Idempotency | None = None,
    ) -> Result:
        """Change an item (its owner only, at its current ``version``)."""
        principal.require("activities:write" if item_type == "activity" else "zones:write")
        _check_kind(item_type, data)

        def run(conn: Connection) -> Result:
            old = self._owned(conn, principal, item_type, item_id, version)
            if old.state not in ("draft", "notified", "active"):
                raise StateConflict("state", f"a {old.state} {item_type} cannot be changed")
            now = self.clock.now()
            model = self._model(item_type, item_id, principal.party_id, data)
            found = self._check(model)
            live = old.state != "draft"
            if live and item_type == "activity":
                self._require_key(conn, found, key)
            verdict = self._verdict(data, now, old) if live and item_type == "activity" else None
            row = self._store_item(
                conn,
                principal,
                item_id,
                item_type,
                data,
                old.state,
                now,
                verdict=verdict,
                old=old,
                key=key,
                model=model,
            )
            if not live:
                return 200, {
                    "item": self.item_document(row, principal),
                    "conflicts": self._conflict_previews(conn, item_id, found),
                    "notice": None,
                }
            notice = self._notify(conn, principal, row, "updated", verdict)
            stored = self._reconcile(conn, row, found, gone_reason="changed")
            return 200, {"item": self.item_document(row, principal), "conflicts": stored, "notice": notice}

        return self._write(run, principal=principal, idem=idem)

    def transition(
        self,
        principal: Principal,
        item_type: str,
        item_id: str,
        action: str,
        *,
        version: str,
        key: Sequence[str] = (),
        idem: Idempotency | None = None,
    ) -> Result:
        """notify / activate / complete / cancel an activity; withdraw a zone."""
        principal.require("activities:write" if item_type == "activity" else "zones:write")
        if action not in _TRANSITIONS or (item_type == "zone") != (action == "withdraw"):
            raise ValidationError("action", f"{action!r} is not an action on a {item_type}")
        allowed, target = _TRANSITIONS[action]

        def run(conn: Connection) -> Result:
            old = self._owned(conn, principal, item_type, item_id, version)
            if old.state not in allowed:
                raise StateConflict("state", f"cannot {action} a {old.state} {item_type}")
            now = self.clock.now()
            notice = None
            found: dict[str, list[Conflict]] = {}
            verdict = None
            if action == "notify":
                data = _input_of(old)
                found = self._check(self._model(item_type, item_id, principal.party_id, data))
                self._require_key(conn, found, key)
                verdict = self._verdict(data, now, None)
            # every change by the owner is a new version (the scheduler's moves are not: see tick)
            row = self._set_state(conn, principal, old, target, now, verdict=verdict, key=key)
            if action == "notify" or (action in ("cancel", "withdraw") and old.state != "draft"):
                notice = self._notify(conn, principal, row, target, verdict)
            stored: list[Body] = []
            if action != "activate":
                stored = self._reconcile(conn, row, found, gone_reason="changed" if action == "notify" else target)
            return 200, {"item": self.item_document(row, principal), "conflicts": stored, "notice": notice}

        return self._write(run, principal=principal, idem=idem)

    # --- internals ------------------------------------------------------------------

    def _owned(self, conn: Connection, principal: Principal, item_type: str, item_id: str, version: str) -> Row[Any]:
        row = self._load(conn, item_id, item_type)
        if row.party_id != principal.party_id:
            if self._can_see_item(conn, principal, row):
                raise Forbidden(
                    "id", f"{item_type} {item_id!r} belongs to {row.party_id!r}; a party writes only its own"
                )
            raise NotFound("id", f"no {item_type} {item_id!r}")
        if row.version != version:
            raise VersionMismatch(
                "version", f"{item_type} {item_id!r} has changed since version {version!r}", row.version
            )
        return row

    def _verdict(self, data: ItemInput, now: datetime, old: Row[Any] | None) -> Any:
        """Measure notice against the policy; refuse late notices where the policy says so.

        For a change, only volumes that are new or changed are measured (a change that
        only removes volumes or edits text gives no new notice to measure)."""
        fresh = list(data.volumes)
        if old is not None:
            before = {repr(v) for v in _input_of(old).volumes}
            fresh = [v for v in data.volumes if repr(v) not in before]
        if not fresh:
            return None
        starts = min(v.window.start for v in fresh)
        verdict = self.policy.notice_verdict(ActivityKind(data.kind), notified_at=now, starts_at=starts)
        if verdict.refused:
            raise LateNoticeRefused(
                "volumes",
                f"notice given {verdict.lead_s / 60:.1f} min before the start; the agreement requires "
                f"{verdict.required_s / 60:.0f} min for {data.kind} and refuses late notices",
                verdict.late_by_s,
                verdict.required_s,
            )
        return verdict

    def _store_item(
        self,
        conn: Connection,
        principal: Principal,
        item_id: str,
        item_type: str,
        data: ItemInput,
        state: str,
        now: datetime,
        *,
        verdict: Any,
        old: Row[Any] | None = None,
        key: Sequence[str] = (),
        model: Activity | Zone | None = None,
        dss: Mapping[str, Any] | None = None,
    ) -> Row[Any]:
        """Insert or update the item; ``model`` (the checked engine item) lets the index
        take the change straight after commit.  ``dss``: F3548 columns (``dss_id`` on
        insert, ``uss_base_url``, ``dss_subscription_id``) written by the DSS interface;
        a native insert gets the id derived from its own (:func:`derived_dss_id`)."""
        lo_lon, hi_lon, lo_lat, hi_lat = bounding_box(data.volumes)
        values: dict[str, Any] = {
            "kind": data.kind,
            "subtype": data.subtype,
            "state": state,
            "priority": Precedence(data.priority).value,
            "title": data.title,
            "callsign": data.callsign,
            "contact": data.contact,
            "notes": data.notes,
            "volumes": volumes_to_json(data.volumes),
            "minima": _minima_json(data.minima),
            "time_start": min(v.window.start for v in data.volumes),
            "time_end": max(v.window.end for v in data.volumes),
            "lon_min": lo_lon,
            "lon_max": hi_lon,
            "lat_min": lo_lat,
            "lat_max": hi_lat,
            "version": new_version(),
            "rev": self._next_rev(conn),
            "updated_at": now,
        }
        if verdict is not None:
            values["late_by_s"] = verdict.late_by_s
        if state != "draft" and (old is None or old.notified_at is None):
            values["notified_at"] = now
        values["version_no"] = 1 if old is None else old.version_no + 1
        extra = dict(dss or {})
        if old is None:
            extra.setdefault("dss_id", derived_dss_id(item_id))
        elif "dss_id" in extra and extra["dss_id"] != old.dss_id:
            raise ValueError("an item's dss_id never changes")
        values.update(extra)
        if old is None:
            values.update(
                id=item_id,
                item_type=item_type,
                party_id=principal.party_id,
                created_by=principal.user_id,
                created_at=now,
            )
            conn.execute(items.insert(), values)
        else:
            conn.execute(items.update().where(items.c.id == item_id).values(**values))
        if model is not None:
            self._stage(item_id, values["rev"], model if is_live(item_type, state) else None)
        row = self._record_version(conn, principal, item_id, now, key)
        self._entity_changed(conn, old, row)
        return row

    def _set_state(
        self,
        conn: Connection,
        principal: Principal | None,
        old: Row[Any],
        state: str,
        now: datetime,
        *,
        verdict: Any = None,
        new_version_too: bool = True,
        key: Sequence[str] = (),
    ) -> Row[Any]:
        # ``version_no`` (the F3548 ``version``) counts every change, a state change that
        # keeps the OVN (``new_version_too=False``) included
        values: dict[str, Any] = {
            "state": state,
            "rev": self._next_rev(conn),
            "updated_at": now,
            "version_no": old.version_no + 1,
        }
        if new_version_too:
            values["version"] = new_version()
        if state == "notified" and old.notified_at is None:
            values["notified_at"] = now
        if verdict is not None:
            values["late_by_s"] = verdict.late_by_s
        conn.execute(items.update().where(items.c.id == old.id).values(**values))
        if not is_live(old.item_type, state):
            self._stage(old.id, values["rev"], None)
        elif is_live(old.item_type, old.state):
            self._stage(old.id, values["rev"], KEEP)
        row = self._record_version(conn, principal, old.id, now, key, () if new_version_too else (old.version,))
        self._entity_changed(conn, old, row)
        return row

    def _entity_changed(self, conn: Connection, old: Row[Any] | None, new: Row[Any]) -> None:
        """Called inside the write after every stored change of an item (``old``: the row
        before, ``None`` for a new one), native or F3548.  A hook: the DSS interface counts
        the change in the notification index of every subscription it intersects
        (:mod:`.dss_subscriptions`)."""

    def _record_version(
        self,
        conn: Connection,
        principal: Principal | None,
        item_id: str,
        now: datetime,
        key: Sequence[str] = (),
        recorded: Sequence[str] = (),
    ) -> Row[Any]:
        """Keep the new version in the history, with the key presented for it (proof of
        awareness).  ``recorded``: versions already in the history (a state change that
        keeps the version records nothing new)."""
        row = conn.execute(sa.select(items).where(items.c.id == item_id)).one()
        if not recorded or row.version not in recorded:
            conn.execute(
                item_versions.insert(),
                dict(
                    item_id=item_id,
                    version=row.version,
                    state=row.state,
                    document=self.item_document(row, None) | {"key_presented": sorted(set(key))},
                    at=now,
                    by_user=principal.user_id if principal else "scheduler",
                ),
            )
        return row

    def _notify(
        self,
        conn: Connection,
        principal: Principal | None,
        row: Row[Any],
        change: str,
        verdict: Any,
        *,
        first: bool = False,
    ) -> Body:
        """A notice of ``row``'s new version to every other member party, with a receipt each."""
        now = self.clock.now()
        notice_id = new_id("ntc", now)
        precedence = Precedence(row.priority)
        conn.execute(
            notices.insert(),
            dict(
                id=notice_id,
                item_id=row.id,
                item_version=row.version,
                sender_party=row.party_id,
                change=change,
                precedence=precedence.value,
                lead_s=verdict.lead_s if verdict else None,
                required_s=verdict.required_s if verdict else None,
                late_by_s=verdict.late_by_s if verdict else None,
                at=now,
                by_user=principal.user_id if principal else "scheduler",
            ),
        )
        # earlier notices of this item are superseded: they no longer escalate (their
        # receipts stay, with whatever was delivered, opened or acknowledged)
        earlier = sa.select(notices.c.id).where(notices.c.item_id == row.id, notices.c.id != notice_id)
        if not first:
            conn.execute(
                receipts.update()
                .where(
                    receipts.c.subject_type == "notice",
                    receipts.c.subject_id.in_(earlier.scalar_subquery()),
                    receipts.c.acknowledged_at.is_(None),
                )
                .values(deadline=None)
            )
        known = self._parties(conn)
        recipients = sorted(pid for pid, p in known.items() if p.role == "member" and pid != row.party_id)
        deadline = self.policy.ack_deadline(precedence, at=now)
        self._open_receipts(conn, ("notice", notice_id), recipients, precedence.value, deadline)
        doc = {
            "id": notice_id,
            "item_id": row.id,
            "item_type": row.item_type,
            "item_version": row.version,
            "sender_party": row.party_id,
            "change": change,
            "precedence": precedence.value,
            "at": rfc3339(now),
            "deadline": rfc3339(deadline),
            "late_by_s": verdict.late_by_s if verdict else None,
            "lead_s": verdict.lead_s if verdict else None,
            "required_notice_s": verdict.required_s if verdict else None,
            "recipients": recipients,
        }
        self._emit(
            conn,
            f"{row.item_type}.{change}",
            self._audience(conn, [row.party_id]),
            {"notice": {k: v for k, v in doc.items() if k != "item_version"}, "item": self.item_document(row, _nobody)},
            subject=("notice", notice_id),
        )
        return doc

    def _mark_opened_notices(self, conn: Connection, principal: Principal, item_id: str) -> None:
        ids = sa.select(notices.c.id).where(notices.c.item_id == item_id).scalar_subquery()
        self._stamp(conn, principal, "notice", ids, "delivered", "opened")

    def _reconcile(
        self, conn: Connection, row: Row[Any], found: Mapping[str, list[Conflict]], *, gone_reason: str
    ) -> list[Body]:
        """Store the conflicts of ``row`` (:class:`~.conflicts.ConflictsMixin`, which builds on
        this class, does it; items alone cannot)."""
        raise TypeError(f"{type(self).__name__} stores no conflicts: use deconflict.service.Service")


# A principal that sees only shared fields (for event payloads sent to every party).
_nobody = Principal("", "", "observer", "read_only", frozenset())


def _check_kind(item_type: str, data: ItemInput) -> None:
    kinds = ActivityKind if item_type == "activity" else ZoneKind
    try:
        kinds(data.kind)
    except ValueError:
        raise ValidationError(
            "kind", f"unknown {item_type} kind {data.kind!r}; use one of {[k.value for k in kinds]}"
        ) from None
    if item_type == "zone" and data.subtype is not None and data.subtype not in ZONE_SUBTYPES:
        raise ValidationError("subtype", f"unknown zone subtype {data.subtype!r}; use one of {list(ZONE_SUBTYPES)}")
    if item_type == "activity" and data.minima is not None:
        raise ValidationError("minima", "only zones carry their own separation minima")


def _minima_json(m: SeparationMinima | None) -> dict[str, float] | None:
    if m is None:
        return None
    return {"lateral_m": m.lateral_m, "vertical_m": m.vertical_m, "time_s": m.time_s}


def _input_of(row: Row[Any]) -> ItemInput:
    m = row.minima
    return ItemInput(
        kind=row.kind,
        volumes=volumes_from_json(row.volumes),
        title=row.title,
        priority=Precedence(row.priority),
        callsign=row.callsign,
        contact=row.contact,
        notes=row.notes,
        subtype=row.subtype,
        minima=SeparationMinima(m["lateral_m"], m["vertical_m"], m["time_s"]) if m else None,
    )
