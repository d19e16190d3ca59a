"""The service's foundation: principals, the write unit, the live index, events, documents.

Every state change goes through :meth:`ServiceBase._write`, which

1. takes the store's write lock (one writer across threads and processes),
2. replays a stored ``Idempotency-Key`` response instead of acting twice,
3. brings the in-memory conflict index up to date with every committed item
   (``items.rev`` > the last revision it saw — its own writes included, so a rolled
   back write never leaves a trace in the index),
4. runs the use case (which checks against the index and writes rows and events),
5. stores the idempotent response and appends every row the write changed to the joint
   record (``service/ledger.py``) in the same transaction, commits, and publishes the
   committed events on the in-process bus — still under the lock, so subscribers see
   sequence numbers in order.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pyproj import Geod
from sqlalchemy.engine import Connection, Row

from ..engine import Engine
from ..errors import DeconflictError, ValidationError
from ..model import (
    Activity,
    AltitudeBand,
    Circle,
    Corridor,
    Polygon,
    SeparationMinima,
    TimeWindow,
    Volume4D,
    Zone,
    ZoneKind,
)
from ..policy import Policy
from ..store import Store
from ..store.schema import (
    access_log,
    conflicts,
    events,
    idempotency,
    incidents,
    items,
    liveness,
    messages,
    parties,
    receipts,
    settings,
    thread_parties,
)
from ..wire import rfc3339, volumes_from_json
from .bus import EventBus
from .clock import Clock
from .errors import Forbidden, IdempotencyMismatch, NotFound

__all__ = ["Idempotency", "Principal", "ServiceBase", "new_id"]

LIVE_ACTIVITY = frozenset({"notified", "active", "nonconforming", "contingent"})
LIVE_ZONE = frozenset({"active"})
Body = dict[str, Any]
_STAGES = {
    "delivered": ("delivered_at", "delivered_to"),
    "opened": ("opened_at", "opened_by"),
    "acknowledged": ("acknowledged_at", "acknowledged_by"),
}
Result = tuple[int, Body]
_INSERT_EVENT = events.insert().returning(events.c.seq)
# the write unit's statements, built once (building a statement costs more than running it)
_POLICY = sa.select(settings.c.value).where(settings.c.key == "policy")
_MAX_REV = sa.select(sa.func.coalesce(sa.func.max(items.c.rev), 0))
_IDEMPOTENT = sa.select(idempotency).where(
    idempotency.c.user_id == sa.bindparam("user_id"), idempotency.c.key == sa.bindparam("key")
)
_CHANGED_SINCE = (
    sa.select(
        items.c.id,
        items.c.item_type,
        items.c.party_id,
        items.c.kind,
        items.c.state,
        items.c.volumes,
        items.c.minima,
        items.c.rev,
    )
    .where(items.c.rev > sa.bindparam("rev"))
    .order_by(items.c.rev)
)
_DOWN_PARTIES = sa.select(liveness.c.party_id).where(liveness.c.state == "down")
KEEP: Any = object()  # staged index change: the item stays indexed as it is


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is acting: a user (or machine client) of a party, with its scopes."""

    user_id: str
    party_id: str
    party_role: str  # member | mediator | observer
    role: str  # liaison | commander | read_only | client
    scopes: frozenset[str]
    language: str = "en"
    protocol: str = "native"  # native | f3548 (an F3548 DSS client: /dss/v1 only)

    def require(self, scope: str) -> None:
        if scope not in self.scopes:
            raise Forbidden("scope", f"this operation needs the scope {scope!r}, which the token does not carry")

    def require_member(self, what: str) -> None:
        if self.party_role != "member":
            raise Forbidden("party", f"only member parties {what}; {self.party_id!r} is a {self.party_role}")


@dataclass(frozen=True, slots=True)
class Idempotency:
    """An ``Idempotency-Key`` and a fingerprint of the request it came with."""

    key: str
    fingerprint: str

    @staticmethod
    def of(key: str, method: str, path: str, body: Any) -> Idempotency:
        if not key or len(key) > 200 or not key.isprintable():
            raise ValidationError("Idempotency-Key", "must be 1–200 printable characters")
        digest = hashlib.sha256(json.dumps([method, path, body], sort_keys=True, default=str).encode()).hexdigest()
        return Idempotency(key, digest)


def new_id(prefix: str, now: datetime) -> str:
    """A time-ordered id: sorting ids sorts by creation time (pagination relies on it)."""
    return f"{prefix}_{int(now.timestamp() * 1000):012x}{secrets.token_hex(5)}"


def new_version() -> str:
    """An opaque version (like an F3548 OVN): unguessable, changed on every write."""
    return secrets.token_urlsafe(16)


def to_model(row: Any) -> Activity | Zone:
    """The engine's view of a stored item."""
    r = row._mapping if isinstance(row, Row) else row
    volumes = volumes_from_json(r["volumes"])
    if r["item_type"] == "activity":
        return Activity(r["id"], r["party_id"], r["kind"], volumes)
    minima = r["minima"]
    own = SeparationMinima(minima["lateral_m"], minima["vertical_m"], minima["time_s"]) if minima else None
    return Zone(r["id"], r["party_id"], ZoneKind(r["kind"]), volumes, minima=own)


def bounding_box(volumes: Sequence[Volume4D]) -> tuple[float, float, float, float]:
    """A conservative lon/lat box (west, east, south, north; the whole longitude range
    when crossing ±180°)."""
    lons: list[float] = []
    lats: list[float] = []
    for v in volumes:
        fp = v.footprint
        if isinstance(fp, Circle):
            pad_lat = fp.radius_m / 110_000.0
            pad_lon = min(180.0, pad_lat / max(0.01, math.cos(math.radians(min(89.0, abs(fp.center[1]) + pad_lat)))))
            lons += [fp.center[0] - pad_lon, fp.center[0] + pad_lon]
            lats += [fp.center[1] - pad_lat, fp.center[1] + pad_lat]
        else:
            points = fp.vertices if isinstance(fp, Polygon) else fp.path
            pad = (fp.half_width_m / 110_000.0) * 3 if isinstance(fp, Corridor) else 0.0
            edges = [*points, points[0]] if isinstance(fp, Polygon) else list(points)
            south, north = _edge_latitudes(edges)
            lons += [p[0] - pad for p in points] + [p[0] + pad for p in points]
            lats += [south - pad, north + pad]
            if any(abs(a[0] - b[0]) > 180 for a, b in itertools.pairwise(points)):
                lons += [-180.0, 180.0]
            if isinstance(fp, Polygon) and _encircles_pole(edges):
                lons += [-180.0, 180.0]
                lats.append(90.0 if sum(p[1] for p in points) > 0 else -90.0)
    lo_lon, hi_lon = min(lons), max(lons)
    if lo_lon < -180 or hi_lon > 180:
        lo_lon, hi_lon = -180.0, 180.0
    return lo_lon, hi_lon, max(-90.0, min(lats)), min(90.0, max(lats))


_FLATTENING = 1 / 298.257223563  # WGS84
_EDGE_MARGIN_DEG = 1e-7  # rounding


def _edge_latitudes(points: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """The southmost and northmost latitudes reached by the geodesics joining consecutive
    ``points`` — not only at the points: a geodesic between two points at one latitude
    bows towards the pole (about 230 m over an 83 km edge at 60°N), and a box of the
    vertices alone would miss that strip.  Exact, by Clairaut's relation: an edge whose
    heading turns from poleward to equatorward passes its vertex, at reduced latitude
    ``acos(cos β₁ · |sin α₁|)``."""
    lats = [p[1] for p in points]
    for (lon1, lat1), (lon2, lat2) in itertools.pairwise(points):
        az12, az21, dist = _GEOD.inv(lon1, lat1, lon2, lat2)
        if dist < 0.01:  # the same point (to a centimetre): no heading to speak of
            continue
        start, end = math.cos(math.radians(az12)), -math.cos(math.radians(az21))  # northward components
        if (start > 0) == (end > 0) or start == 0 or end == 0:
            continue  # no turn: the ends are the extremes
        beta1 = math.atan((1 - _FLATTENING) * math.tan(math.radians(lat1)))
        beta_v = math.acos(min(1.0, abs(math.cos(beta1) * math.sin(math.radians(az12)))))
        lat_v = math.degrees(math.atan(math.tan(beta_v) / (1 - _FLATTENING)))
        lats.append(lat_v if start > 0 else -lat_v)
    return max(-90.0, min(lats) - _EDGE_MARGIN_DEG), min(90.0, max(lats) + _EDGE_MARGIN_DEG)


def _encircles_pole(ring: Sequence[tuple[float, float]]) -> bool:
    """Whether a closed ring winds around a pole (its longitudes, unwrapped, turn 360°)."""
    turn = 0.0
    for (lon1, _), (lon2, _) in itertools.pairwise(ring):
        turn += (lon2 - lon1 + 180.0) % 360.0 - 180.0
    return abs(turn) > 180.0


_GEOD = Geod(ellps="WGS84")
_MIN_BOX_DEG = 1e-4
_ENVELOPE_STEPS = 16  # vertices per side: a geodesic between close vertices sags by centimetres


def envelope(activity: Activity) -> Activity:
    """The worst case of an activity whose party cannot be reached (ASTM F3548 treats a
    down USS's intents the same way): one volume covering every volume's footprint (its
    bounding box, each side densified so the geodesic edges do not cut into the box),
    every altitude (lowest floor to highest ceiling) and its whole time span.  An
    activity whose box spans ±180° or reaches a pole keeps its own volumes (a box there
    is no polygon)."""
    west, east, south, north = bounding_box(activity.volumes)
    if east - west >= 180 or south <= -89.5 or north >= 89.5:
        return activity
    # a geodesic between two ring points on one parallel bows poleward by about
    # L²·tan(φ)/(8R): on the equatorward side that is into the box — move that side out by
    # twice as much (L: the ring's step along the parallel)
    for_lat = max(abs(south), abs(north))
    step_m = (east - west) / _ENVELOPE_STEPS * 111_320.0 * math.cos(math.radians(min(abs(south), abs(north))))
    sag_deg = 2 * step_m**2 * math.tan(math.radians(for_lat)) / (8 * 6_371_000.0) / 110_000.0
    south, north = max(-90.0, south - sag_deg), min(90.0, north + sag_deg)
    # a point (a circle of radius 0, a corridor of width 0 along a meridian or a parallel)
    # has a box without area: give it ten metres or so, so that the ring is a polygon
    if east - west < _MIN_BOX_DEG:
        west, east = west - _MIN_BOX_DEG, east + _MIN_BOX_DEG
    if north - south < _MIN_BOX_DEG:
        south, north = south - _MIN_BOX_DEG, north + _MIN_BOX_DEG
    # and a decimetre all round: a point on the box's edge meets the activity exactly, which
    # floating point may or may not see; a point just inside is seen
    west, east, south, north = west - 1e-6, east + 1e-6, south - 1e-6, north + 1e-6
    if west < -180 or east > 180 or south <= -89.5 or north >= 89.5:
        return activity
    ring: list[tuple[float, float]] = []
    for i in range(_ENVELOPE_STEPS):
        ring.append((west + (east - west) * i / _ENVELOPE_STEPS, south))
    for i in range(_ENVELOPE_STEPS):
        ring.append((east, south + (north - south) * i / _ENVELOPE_STEPS))
    for i in range(_ENVELOPE_STEPS):
        ring.append((east - (east - west) * i / _ENVELOPE_STEPS, north))
    for i in range(_ENVELOPE_STEPS):
        ring.append((west, north - (north - south) * i / _ENVELOPE_STEPS))
    band = AltitudeBand(
        min(v.altitude.lower_m for v in activity.volumes), max(v.altitude.upper_m for v in activity.volumes)
    )
    window = TimeWindow(min(v.window.start for v in activity.volumes), max(v.window.end for v in activity.volumes))
    return Activity(activity.id, activity.party, activity.kind, (Volume4D(Polygon(tuple(ring)), band, window),))


def is_live(item_type: str, state: str) -> bool:
    return state in (LIVE_ACTIVITY if item_type == "activity" else LIVE_ZONE)


class ServiceBase:
    """State and plumbing shared by the use cases (see the mixins in this package)."""

    def __init__(self, store: Store, clock: Clock, *, bus: EventBus | None = None, issuer: str = "deconflict") -> None:
        self.store = store
        self.clock = clock
        self.bus = bus if bus is not None else EventBus()
        self.issuer = issuer
        self.policy = Policy.default()
        self.engine = Engine(self.policy.minima)
        self._rev = 0
        self._policy_version: Any = None
        self._outbox: list[dict[str, Any]] = []
        self._party_rows: tuple[Connection, dict[str, Row[Any]]] | None = None
        self._staged: dict[str, tuple[int, Any]] = {}
        self._revs_written = self._revs_staged = 0
        # parties whose channel is DOWN: their activities are indexed at their worst case
        # (:func:`envelope`); None until read from the database
        self._down: frozenset[str] | None = None
        # (party, subject type, subject id) already marked delivered: spares the WebSocket a write per event
        self._delivered_seen: set[tuple[str, str, str]] = set()

    # --- the write unit -------------------------------------------------------------

    def _write(
        self, fn: Callable[[Connection], Result], *, principal: Principal | None = None, idem: Idempotency | None = None
    ) -> Result:
        with self.store._lock:
            self._outbox = []
            self._party_rows = None
            self._staged = {}
            self._revs_written = self._revs_staged = 0
            with self.store.write() as conn:
                self._ledger_begin(conn, fn, principal)
                if idem is not None and principal is not None:
                    stored = conn.execute(_IDEMPOTENT, {"user_id": principal.user_id, "key": idem.key}).first()
                    if stored is not None:
                        if stored.fingerprint != idem.fingerprint:
                            raise IdempotencyMismatch(
                                "Idempotency-Key", "was used before with a different request; use a new key"
                            )
                        return int(stored.status), dict(stored.body)
                self._sync(conn)
                status, body = fn(conn)
                if idem is not None and principal is not None:
                    conn.execute(
                        idempotency.insert(),
                        dict(
                            user_id=principal.user_id,
                            key=idem.key,
                            fingerprint=idem.fingerprint,
                            status=status,
                            body=body,
                            at=self.clock.now(),
                        ),
                    )
                self._ledger_append(conn)
            self._apply_staged()
            outbox, self._outbox = self._outbox, []
            self.bus.publish(outbox)
        return status, body

    # the joint record (service/ledger.py) records every write through these hooks
    def _ledger_begin(self, conn: Connection, fn: Callable[[Connection], Result], principal: Principal | None) -> None:
        """Hook: a write transaction began (the write lock is held); watch what it changes."""

    def _ledger_append(self, conn: Connection) -> None:
        """Hook: the use case is done; append what it changed to the record, in its transaction."""

    def _ledger_start(self, conn: Connection) -> bool:
        """Hook: start an empty record (its first key and genesis entry); whether it did."""
        return False

    def _stage(self, item_id: str, rev: int, model: Activity | Zone | object | None) -> None:
        """After commit, update the index with this write directly (``model``: index it;
        ``None``: drop it; :data:`KEEP`: leave it) rather than re-reading it at the next
        write.  Only when every revision the transaction wrote was staged — otherwise the
        next :meth:`_sync` reads them all back, which is always correct."""
        self._staged[item_id] = (rev, model)
        self._revs_staged += 1

    def _apply_staged(self) -> None:
        staged, self._staged = self._staged, {}
        if not staged or self._revs_staged != self._revs_written:
            return
        fresh = []
        for item_id, (_rev, model) in staged.items():
            if model is KEEP:
                continue
            if item_id in self.engine:
                self.engine.remove(item_id)
            if model is not None:
                fresh.append(self._indexed(model))
        self.engine.insert_many(fresh)
        self._rev = max(rev for rev, _ in staged.values())

    def _indexed(self, model: Activity | Zone | Any) -> Any:
        """What the index holds for ``model``: an activity of a DOWN party at its worst case."""
        if isinstance(model, Activity) and self._down and model.party in self._down:
            return envelope(model)
        return model

    def _sync(self, conn: Connection) -> None:
        """Bring the policy and the in-memory index up to date with the database (rebuilt
        whole when the policy or the set of DOWN parties changed elsewhere — rare)."""
        row = conn.execute(_POLICY).first()
        down = frozenset(conn.execute(_DOWN_PARTIES).scalars())
        if (row is not None and row.value != self._policy_version) or down != self._down:
            if row is not None:
                self.policy = Policy.from_json(row.value)
                self._policy_version = row.value
            self._down = down
            self.engine = Engine(self.policy.minima)
            self._rev = 0
        rows = conn.execute(_CHANGED_SINCE, {"rev": self._rev}).all()
        if not rows:
            return
        fresh = []
        for r in rows:
            if r.id in self.engine:
                self.engine.remove(r.id)
            if is_live(r.item_type, r.state):
                fresh.append(self._indexed(to_model(r)))
        self.engine.insert_many(fresh)
        self._rev = rows[-1].rev

    def _next_rev(self, conn: Connection) -> int:
        self._revs_written += 1
        return int(conn.execute(_MAX_REV).scalar_one()) + 1

    # --- parties and audiences ------------------------------------------------------

    def _parties(self, conn: Connection) -> dict[str, Row[Any]]:
        """The parties, read once per write (a write's many audience decisions share it)."""
        if self._party_rows is None or self._party_rows[0] is not conn:
            self._party_rows = (conn, {r.id: r for r in conn.execute(sa.select(parties)).all()})
        return self._party_rows[1]

    def _audience(self, conn: Connection, owners: Iterable[str], *, draft: bool = False) -> list[str]:
        """Parties that may see something owned by ``owners``: members and mediators, and
        observers when every owner shares with observers; a draft only its owner."""
        owners = list(owners)
        if draft:
            return owners
        known = self._parties(conn)
        shared = all(known[o].shares_with_observers for o in owners if o in known)
        return (
            sorted(
                pid for pid, p in known.items() if p.role in ("member", "mediator") or (p.role == "observer" and shared)
            )
            or owners
        )

    def _emit(
        self,
        conn: Connection,
        type_: str,
        audience: Sequence[str],
        payload: Body,
        *,
        subject: tuple[str, str] | None = None,
        user_id: str | None = None,
    ) -> None:
        at = self.clock.now()
        seq = conn.execute(
            _INSERT_EVENT,
            {
                "at": at,
                "type": type_,
                "audience": list(audience),
                "user_id": user_id,
                "subject_type": subject[0] if subject else None,
                "subject_id": subject[1] if subject else None,
                "payload": payload,
            },
        ).scalar_one()
        self._outbox.append(event_document(seq, at, type_, list(audience), user_id, subject, payload))

    def _log_access(
        self,
        conn: Connection,
        principal: Principal,
        action: str,
        subject: tuple[str, str] | None = None,
        detail: Body | None = None,
    ) -> None:
        conn.execute(
            access_log.insert(),
            dict(
                at=self.clock.now(),
                user_id=principal.user_id,
                party_id=principal.party_id,
                action=action,
                subject_type=subject[0] if subject else None,
                subject_id=subject[1] if subject else None,
                detail=detail,
            ),
        )

    def _open_receipts(
        self,
        conn: Connection,
        subject: tuple[str, str],
        parties: Sequence[str],
        precedence: str,
        deadline: datetime | None,
        level: int = 0,
    ) -> None:
        """One receipt per recipient party for a notice or conflict, due at ``deadline``.

        An F3548 USS (``protocol='f3548'``) has no acknowledgement in its protocol: its
        receipts carry no deadline, so they are recorded but never escalated."""
        now = self.clock.now()
        known = self._parties(conn) if deadline is not None else {}
        rows = [
            {
                "subject_type": subject[0],
                "subject_id": subject[1],
                "party_id": pid,
                "precedence": precedence,
                "created_at": now,
                "deadline": None if pid in known and known[pid].protocol == "f3548" else deadline,
                "level": level,
            }
            for pid in sorted(set(parties))
        ]
        if rows:
            conn.execute(receipts.insert(), rows)

    def _stamp(self, conn: Connection, principal: Principal, subject_type: str, subjects: Any, *stages: str) -> None:
        """Record on the receipts of ``principal``'s party that it reached ``stages``
        (``delivered``, ``opened``, ``acknowledged``) — each only the first time, with the
        user and the time.  ``subjects`` is one id, a list of ids or a subquery of ids."""
        where = [receipts.c.subject_type == subject_type, receipts.c.party_id == principal.party_id]
        where.append(
            receipts.c.subject_id == subjects if isinstance(subjects, str) else receipts.c.subject_id.in_(subjects)
        )
        now = self.clock.now()
        for stage in stages:
            at, by = _STAGES[stage]
            conn.execute(
                receipts.update().where(*where, receipts.c[at].is_(None)).values({at: now, by: principal.user_id})
            )

    # --- visibility -----------------------------------------------------------------

    def _can_see_item(self, conn: Connection, principal: Principal, row: Row[Any]) -> bool:
        if row.party_id == principal.party_id:
            return True
        if row.notified_at is None:  # a draft, or a draft cancelled before it was ever notified
            return False
        if principal.party_role == "observer":
            owner = self._parties(conn).get(row.party_id)
            return bool(owner is not None and owner.shares_with_observers)
        return True

    def _can_see_incident(self, conn: Connection, principal: Principal, row: Row[Any]) -> bool:
        """Incidents: every member and mediator; observers when the reporting party shares."""
        if principal.party_role != "observer" or row.party_id == principal.party_id:
            return True
        owner = self._parties(conn).get(row.party_id)
        return bool(owner is not None and owner.shares_with_observers)

    def _check_link(self, conn: Connection, principal: Principal, field: str, link_type: str, link_id: str) -> None:
        """Refuse (naming ``field``) a link to something that does not exist or that
        ``principal`` may not see — a message or incident may only point at what its
        sender can see (another party's draft is as good as absent)."""
        if link_type not in LINK_TYPES:
            raise ValidationError(f"{field}.type", f"must be one of {list(LINK_TYPES)}")
        found: bool
        if link_type in ("activity", "zone"):
            row = conn.execute(sa.select(items).where(items.c.id == link_id, items.c.item_type == link_type)).first()
            found = row is not None and self._can_see_item(conn, principal, row)
        elif link_type == "conflict":
            c = conn.execute(sa.select(conflicts).where(conflicts.c.id == link_id)).first()
            found = c is not None and (
                principal.party_role in ("member", "mediator") or principal.party_id in (c.party_a, c.party_b)
            )
        elif link_type == "incident":
            i = conn.execute(sa.select(incidents).where(incidents.c.id == link_id)).first()
            found = i is not None and self._can_see_incident(conn, principal, i)
        else:  # a thread, or a message: the caller's party must take part in the thread
            thread_id: Any = link_id
            if link_type == "message":
                thread_id = sa.select(messages.c.thread_id).where(messages.c.id == link_id).scalar_subquery()
            found = (
                conn.execute(
                    sa.select(thread_parties.c.party_id).where(
                        thread_parties.c.thread_id == thread_id, thread_parties.c.party_id == principal.party_id
                    )
                ).first()
                is not None
            )
        if not found:
            raise NotFound(f"{field}.id", f"no {link_type} {link_id!r} that {principal.party_id!r} can see")


#: What messages and incidents may be linked to.
LINK_TYPES = ("activity", "zone", "conflict", "incident", "thread", "message")


def event_document(
    seq: int,
    at: datetime,
    type_: str,
    audience: list[str],
    user_id: str | None,
    subject: tuple[str, str] | None,
    payload: Body,
) -> dict[str, Any]:
    return {
        "seq": seq,
        "at": rfc3339(at),
        "type": type_,
        "audience": audience,
        "user_id": user_id,
        "subject_type": subject[0] if subject else None,
        "subject_id": subject[1] if subject else None,
        "payload": payload,
    }


def reraise_as(prefix: str, error: DeconflictError) -> DeconflictError:
    """An engine error about ``items[0].…`` renamed to the request's own field."""
    field = error.field
    if field.startswith("items[0]."):
        field = field[len("items[0].") :]
    return type(error)(f"{prefix}{field}" if prefix else field, error.reason)
