"""The demo's scenario: who takes part and what they file over one day — pure values.

:func:`build` draws, for a seed and a moment ``now``, the same :class:`Scenario` every
time: five parties (two members, a UTM service supplier — a USS, the third member, which
speaks ASTM F3548-21 on ``/dss/v1`` — a mediator and an observer, all with generic,
invented names), their users, the agreement's policy, and the filings of the day in the order
they are made — the zones of both members (bases, training areas, restricted areas and
protected humanitarian sites: hospitals, schools, aid warehouses), then activities
(sorties, air corridors, convoys, maritime movements, humanitarian movements, sites and
exercises) starting from a few hours before ``now`` over the next day, each filed ahead
of its start by the notice the agreement asks (a few deliberately late).  Some
activities are drawn as *twins* of an earlier activity of the other member — the same
kind, nearly the same place and time — so the day holds conflicts for certain.  And
the USS's drone flights (:class:`Drone`): small circles low over the sea, 20–60 minutes
each, some flown and ended, some in the air (one of them off its plan), most planned
for the hours to come; a few drawn over or next to the members' low-level activities
and zones, and one next to another of its own, so that the F3548 key rule and the
agreement's conflicts both show.

The shapes come from :mod:`deconflict.scenario`'s generic theatre, moved to
:data:`CENTRE`: open ocean, far from any coast, so that no real territory is depicted.
Nothing here reads a clock, a file or a random source other than the seed.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..model import (
    Activity,
    ActivityKind,
    AltitudeBand,
    Circle,
    Corridor,
    Footprint,
    Polygon,
    TimeWindow,
    Volume4D,
    Zone,
    ZoneKind,
)
from ..policy import Policy, Precedence
from ..scenario import Theatre, default_minima, generate
from ..service import ItemInput

__all__ = [
    "CENTRE",
    "DRONE_CEILING_M",
    "HISTORY",
    "MEMBERS",
    "USS",
    "Drone",
    "Filing",
    "PartySpec",
    "Scenario",
    "UserSpec",
    "build",
    "demo_policy",
    "near",
    "offset",
    "position_of",
    "target",
]

#: Where the theatre lies (longitude, latitude): the open North Atlantic, about
#: 800 × 600 km of sea with no coast inside it — a stage, not a place.
CENTRE = (-40.0, 30.0)
#: How far back the day's filing begins (humanitarian movements need 48 h of notice).
HISTORY = timedelta(hours=56)
#: The member parties: ``(id, name, language, callsign words)``.
MEMBERS = (
    ("alpha", "Northern Coalition", "en", ("HERON", "KESTREL", "FALCON", "OSPREY", "PETREL")),
    ("bravo", "Southern Command", "ar", ("CEDAR", "OLIVE", "JUNIPER", "ACACIA", "TAMARISK")),
)
#: The UTM service supplier: ``(id, name, base URL)``.  It has no user: it acts on
#: ``/dss/v1`` with its client's token, as a USS does.
USS = ("skyway", "Skyway UTM (USS)", "https://skyway-utm.invalid/uss")
#: The USS's flights of the day: ``(what becomes of it, where it is drawn)``, in this
#: order — ``Ended``: flown and ended before ``now``; ``over``/``zone``: over a member's
#: low-level activity / zone (their key needed); ``near``: within the agreement's
#: separation of one, but not over it; ``own``: over the flight before it (its own key).
_DRONES = (
    ("Ended", "spread"),
    ("Ended", "over"),
    ("Ended", "spread"),
    ("Activated", "over"),
    ("Activated", "spread"),
    ("Activated", "zone"),
    ("Activated", "near"),
    ("Activated", "spread"),
    ("Nonconforming", "spread"),
    ("Accepted", "over"),
    ("Accepted", "spread"),
    ("Accepted", "zone"),
    ("Accepted", "spread"),
    ("Accepted", "near"),
    ("Accepted", "spread"),
    ("Accepted", "over"),
    ("Accepted", "spread"),
    ("Accepted", "own"),
    ("Accepted", "spread"),
    ("Accepted", "spread"),
)
#: A drone's ceiling (metres above the WGS84 ellipsoid, over the sea: above the surface).
DRONE_CEILING_M = 120.0

_ACTIVITY_LABEL = {
    ActivityKind.AIR_SORTIE: "Sortie",
    ActivityKind.AIR_CORRIDOR: "Air corridor",
    ActivityKind.GROUND_MOVEMENT: "Convoy",
    ActivityKind.MARITIME: "Maritime patrol",
    ActivityKind.STATIC_SITE: "Temporary site",
    ActivityKind.EXERCISE: "Exercise",
    ActivityKind.HUMANITARIAN_MOVEMENT: "Aid convoy",
}
_ZONE_LABEL = {
    ZoneKind.BASE: "Base",
    ZoneKind.TRAINING_AREA: "Training area",
    ZoneKind.RESTRICTED_AREA: "Restricted area",
}
_PROTECTED = (("hospital", "Field hospital"), ("school", "School"), ("aid_warehouse", "Aid warehouse"))
#: Kinds an activity may be a twin of (a moving activity whose copy is plausible).
_TWINNABLE = (
    ActivityKind.AIR_SORTIE,
    ActivityKind.AIR_CORRIDOR,
    ActivityKind.GROUND_MOVEMENT,
    ActivityKind.MARITIME,
)


@dataclass(frozen=True, slots=True)
class PartySpec:
    id: str
    name: str
    role: str  # member | mediator | observer
    language: str = "en"
    shares_with_observers: bool = False
    protocol: str = "native"  # native | f3548 (a USS)
    uss_base_url: str = ""  # a USS's base URL (F3548 ``uss_base_url``)


@dataclass(frozen=True, slots=True)
class UserSpec:
    id: str
    party: str
    role: str  # liaison | commander | read_only
    display_name: str
    language: str = "en"
    simulated: bool = False  # acted by the simulated liaison client; no password, no log-in


@dataclass(frozen=True, slots=True)
class Filing:
    """One item filed by ``user`` at ``at`` (activities notified, zones active)."""

    at: datetime
    user: str
    party: str
    item_type: str  # activity | zone
    data: ItemInput
    twin_of: int | None = None  # index (in Scenario.filings) of the activity it was drawn to conflict with


@dataclass(frozen=True, slots=True)
class Drone:
    """One flight of the USS: its operational intent (``entity``, a UUIDv4; one circle
    volume) and the writes its USS makes, ``steps``: ``(when, F3548 state)`` in order,
    ``"Ended"`` for the DELETE that ends it.  ``constraints``: its subscription asks for
    constraint notifications (so zones need a key too); ``placed``: where it was drawn
    (one of ``spread``, ``over``, ``zone``, ``near``, ``own``: see :data:`_DRONES`);
    ``near``: the index in :attr:`Scenario.filings` of the item it was drawn over or
    next to."""

    entity: str
    volume: Volume4D
    steps: tuple[tuple[datetime, str], ...]
    constraints: bool = False
    placed: str = "spread"  # spread | over | zone | near | own
    near: int | None = None

    @property
    def state(self) -> str:
        """Its last state once every step is written."""
        return self.steps[-1][1]


@dataclass(frozen=True, slots=True)
class Scenario:
    seed: int
    now: datetime
    parties: tuple[PartySpec, ...]
    users: tuple[UserSpec, ...]
    policy: dict[str, Any]
    filings: tuple[Filing, ...] = field(default=())
    drones: tuple[Drone, ...] = field(default=())

    @property
    def start(self) -> datetime:
        """When the day's history begins (the first filing)."""
        return min((f.at for f in self.filings), default=self.now)

    def users_of(self, party: str) -> list[UserSpec]:
        return [u for u in self.users if u.party == party]

    def user(self, user_id: str) -> UserSpec:
        return next(u for u in self.users if u.id == user_id)


def demo_policy() -> dict[str, Any]:
    """The agreement the demo runs under: the default one, with the separation minima of
    :func:`deconflict.scenario.default_minima` (per pair of kinds)."""
    return Policy(minima=default_minima()).to_json()


def _parties() -> tuple[PartySpec, ...]:
    (a, a_name, a_lang, _), (b, b_name, b_lang, _) = MEMBERS
    return (
        PartySpec(a, a_name, "member", a_lang, shares_with_observers=True),
        PartySpec(b, b_name, "member", b_lang),
        PartySpec(USS[0], USS[1], "member", "en", protocol="f3548", uss_base_url=USS[2]),
        PartySpec("mediator", "Joint Mediation Cell", "mediator", "en"),
        PartySpec("observer", "Field Observer Mission", "observer", "en"),
    )


def _users() -> tuple[UserSpec, ...]:
    out: list[UserSpec] = []
    for pid, name, language, _ in MEMBERS:
        out += [
            UserSpec(f"{pid}_liaison", pid, "liaison", f"{name} liaison officer", language),
            UserSpec(f"{pid}_commander", pid, "commander", f"{name} duty commander", language),
            UserSpec(f"{pid}_ops", pid, "commander", f"{name} operations cell (simulated)", language, simulated=True),
        ]
    out += [
        UserSpec("mediator_liaison", "mediator", "liaison", "Mediation duty officer"),
        UserSpec("observer_viewer", "observer", "read_only", "Observer"),
    ]
    return tuple(out)


def build(seed: int, activities: int, now: datetime) -> Scenario:
    """The scenario for ``seed``: ``activities`` activities (and about one zone for every
    ten of them, at least 12) filed over :data:`HISTORY` up to ``now`` (aware UTC)."""
    if activities < 1:
        raise ValueError("activities must be at least 1")
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    rng = random.Random(seed)
    now = now.replace(second=0, microsecond=0)
    day_start = now - timedelta(hours=3)
    policy = Policy.from_json(demo_policy())
    members = [m[0] for m in MEMBERS]
    words = {pid: w for pid, _, _, w in MEMBERS}
    theatre = Theatre(centre=CENTRE, start=day_start, zone_share=1.0, max_zones=10**6)

    n_zones = max(12, min(60, activities // 10))
    zones = [
        z for z in generate(n_zones, seed=seed, parties=members, theatre=theatre, id_prefix="z") if isinstance(z, Zone)
    ]
    drawn = [
        a
        for a in generate(
            activities * 2 + 8, seed=seed + 1, parties=members, theatre=theatre, horizon=1.0, zones=False, id_prefix="a"
        )
        if isinstance(a, Activity)
    ][:activities]

    filings: list[Filing] = []
    first_at = now - HISTORY
    protected = 0
    for n, z in enumerate(zones):
        if z.kind is ZoneKind.PROTECTED_SITE:
            subtype, label = _PROTECTED[protected % len(_PROTECTED)]
            protected += 1
            title = f"{label} {protected}"
        else:
            subtype, title = None, f"{_ZONE_LABEL[z.kind]} {z.party.upper()}-{n + 1}"
        data = ItemInput(kind=z.kind.value, volumes=z.volumes, title=title, subtype=subtype)
        filings.append(Filing(first_at + timedelta(minutes=n), f"{z.party}_liaison", z.party, "zone", data))

    callsign_no: dict[str, int] = dict.fromkeys(members, 10)
    acts: list[tuple[datetime, Activity]] = []
    twin_src: list[int | None] = []
    for i, drawn_activity in enumerate(drawn):
        a, twin = drawn_activity, None
        if i >= 8 and rng.random() < 0.12:
            candidates = [j for j, (_, b) in enumerate(acts) if b.kind in _TWINNABLE and b.party != a.party]
            if candidates:
                twin = rng.choice(candidates[-40:])
                a = _twin(rng, acts[twin][1], a.id, a.party)
        required = policy.min_notice_s[a.kind]
        begin = min(v.window.start for v in a.volumes)
        lead = required + rng.uniform(5 * 60, 3 * 3600)
        if a.kind is not ActivityKind.HUMANITARIAN_MOVEMENT and rng.random() < 0.05:
            lead = required * rng.uniform(0.3, 0.9)  # a late notice, accepted and marked late
        filed = begin - timedelta(seconds=lead)
        if filed > now - timedelta(minutes=2):  # filed some time ago, well ahead of the notice needed
            filed = now - timedelta(minutes=rng.uniform(2, 10 * 60))
        filed = max(filed, first_at + timedelta(hours=1))
        acts.append((filed, a))
        twin_src.append(twin)

    order = sorted(range(len(acts)), key=lambda k: (acts[k][0], k))
    position = {k: len(filings) + rank for rank, k in enumerate(order)}
    for k in order:
        filed, a = acts[k]
        callsign_no[a.party] += 1
        word = words[a.party][callsign_no[a.party] % len(words[a.party])]
        callsign = f"{word} {callsign_no[a.party]}"
        priority = Precedence.ROUTINE
        if a.kind is ActivityKind.HUMANITARIAN_MOVEMENT or rng.random() < 0.1:
            priority = Precedence.PRIORITY
        data = ItemInput(
            kind=a.kind.value,
            volumes=a.volumes,
            title=f"{_ACTIVITY_LABEL[a.kind]} {callsign}",
            callsign=callsign,
            priority=priority,
            contact=f"{a.party.upper()} operations, channel {1 + callsign_no[a.party] % 4}",
        )
        user = f"{a.party}_ops" if rng.random() < 0.3 else f"{a.party}_liaison"
        src = twin_src[k]
        filings.append(Filing(filed, user, a.party, "activity", data, position[src] if src is not None else None))
    drones = _drones(random.Random(f"{seed}:{USS[0]}"), now, filings)
    return Scenario(seed, now, _parties(), _users(), demo_policy(), tuple(filings), drones)


def _drones(rng: random.Random, now: datetime, filings: list[Filing]) -> tuple[Drone, ...]:
    """The USS's flights of :data:`_DRONES`, written over the last hours up to ``now``."""
    out: list[Drone] = []

    def minutes(lo: float, hi: float) -> timedelta:
        return timedelta(minutes=round(rng.uniform(lo, hi)))

    for final, placed in _DRONES:
        if final == "Ended":
            start = now - minutes(80, 200)
            end = start + minutes(20, 60)
            steps = [(start - minutes(10, 40), "Accepted"), (start, "Activated"), (end - minutes(2, 8), "Ended")]
        elif final == "Accepted":
            start = now + minutes(10, 240)
            end = start + minutes(20, 60)
            steps = [(now - minutes(5, 150), "Accepted")]
        else:  # in the air now, for at least another quarter of an hour
            start = now - minutes(6, 25)
            flown = (now - start) / timedelta(minutes=1)
            end = start + minutes(max(20.0, flown + 15), 60)
            steps = [(start - minutes(10, 40), "Accepted"), (start, "Activated")]
            if final == "Nonconforming":
                steps.append((start + minutes(2, flown - 2), "Nonconforming"))
        window = TimeWindow(start, end)
        radius = round(rng.uniform(200, 800), -1)
        lon0, lat0 = CENTRE
        centre = (round(lon0 + rng.uniform(-2.0, 2.0), 5), round(lat0 + rng.uniform(-1.4, 1.4), 5))
        near_index: int | None = None
        constraints = rng.random() < 0.25
        if placed == "own" and out:
            before = out[-1]
            centre = offset(rng, _centre_of(before.volume.footprint), rng.uniform(0, 150))
            window = TimeWindow(before.volume.window.start + minutes(5, 15), before.volume.window.end + minutes(5, 15))
            steps = [(min(before.steps[0][0] + minutes(3, 20), now - timedelta(minutes=1)), "Accepted")]
        elif placed != "spread":
            found = target(rng, filings, window, steps[0][0], zone=placed == "zone")
            if found is not None:
                near_index, point, reach = found
                centre = point if placed != "near" else offset(rng, point, reach + radius + rng.uniform(200, 700))
                constraints = constraints or placed == "zone"
            else:
                placed = "spread"
        entity = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        volume = Volume4D(Circle(centre, radius), AltitudeBand(0.0, DRONE_CEILING_M), window)
        out.append(Drone(entity, volume, tuple(steps), constraints, placed, near_index))
    return tuple(out)


def target(
    rng: random.Random, filings: Sequence[Filing], window: TimeWindow, before: datetime, *, zone: bool
) -> tuple[int, tuple[float, float], float] | None:
    """A member's low-level item (a zone, else an activity) filed before ``before`` with a
    volume live all through ``window``: ``(its index, a point of its outline, its reach
    from that point in metres)``, or ``None``."""
    candidates: list[tuple[int, Volume4D]] = []
    for n, f in enumerate(filings):
        if (f.item_type == "zone") != zone or f.at >= before:
            continue
        for v in f.data.volumes:
            if v.altitude.lower_m < DRONE_CEILING_M and v.window.start <= window.start and v.window.end >= window.end:
                candidates.append((n, v))
                break
    if not candidates:
        return None
    n, v = rng.choice(candidates)
    fp = v.footprint
    if isinstance(fp, Circle):  # somewhere inside it
        inside = rng.uniform(0, 0.7 * fp.radius_m)
        return n, offset(rng, fp.center, inside), fp.radius_m - inside
    if isinstance(fp, Polygon):
        return n, rng.choice(fp.vertices), 0.0
    return n, rng.choice(fp.path), fp.half_width_m


def _centre_of(fp: Footprint) -> tuple[float, float]:
    lat, lon = _position(fp)
    return (lon, lat)


def offset(rng: random.Random, point: tuple[float, float], metres: float) -> tuple[float, float]:
    """``point`` (lon, lat) moved ``metres`` in a random direction."""
    heading = rng.uniform(0, 2 * math.pi)
    lon, lat = point
    return (
        round(lon + metres * math.cos(heading) / (111_320.0 * math.cos(math.radians(lat))), 6),
        round(lat + metres * math.sin(heading) / 110_574.0, 6),
    )


def _twin(rng: random.Random, original: Activity, own_id: str, party: str) -> Activity:
    """An activity of ``party`` nearly where and when ``original`` is: a conflict for certain."""
    return Activity(own_id, party, original.kind, near(rng, original.volumes))


def near(rng: random.Random, volumes: tuple[Volume4D, ...]) -> tuple[Volume4D, ...]:
    """``volumes`` moved by up to 2 km and 10–40 minutes: within any agreed separation of them."""
    dx, dy = rng.uniform(-2_000.0, 2_000.0), rng.uniform(-2_000.0, 2_000.0)
    dt = timedelta(minutes=rng.choice((-40, -25, -10, 10, 25, 40)))
    return tuple(
        Volume4D(_moved(v.footprint, dx, dy), v.altitude, TimeWindow(v.window.start + dt, v.window.end + dt))
        for v in volumes
    )


def _moved(fp: Footprint, dx: float, dy: float) -> Footprint:
    def shift(p: tuple[float, float]) -> tuple[float, float]:
        lon, lat = p
        return (
            round(lon + dx / (111_320.0 * math.cos(math.radians(lat))), 7),
            round(lat + dy / 110_574.0, 7),
        )

    if isinstance(fp, Circle):
        return Circle(shift(fp.center), fp.radius_m)
    if isinstance(fp, Polygon):
        return Polygon(tuple(shift(p) for p in fp.vertices))
    return Corridor(tuple(shift(p) for p in fp.path), fp.half_width_m)


def position_of(data: ItemInput) -> tuple[float, float]:
    """A representative point (lat, lon) of an item: its first volume's centre or first vertex."""
    return _position(data.volumes[0].footprint)


def _position(fp: Footprint) -> tuple[float, float]:
    if isinstance(fp, Circle):
        lon, lat = fp.center
    elif isinstance(fp, Polygon):
        lon = sum(p[0] for p in fp.vertices) / len(fp.vertices)
        lat = sum(p[1] for p in fp.vertices) / len(fp.vertices)
    else:
        lon, lat = fp.path[len(fp.path) // 2]
    return (lat, lon)
