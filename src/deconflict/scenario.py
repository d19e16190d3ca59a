"""Reproducible, seeded scenarios for a generic, fictional theatre (demo and benchmarks).

The theatre is a rectangle of about 800 × 600 km centred on an arbitrary point
(longitude 38°, latitude 35° by default); its western strip plays the sea.  Nothing
here names or models a real place.

:func:`generate` returns a list of :class:`~deconflict.model.Activity` and
:class:`~deconflict.model.Zone` values holding exactly ``n_volumes`` volumes in all:

* air sorties — a circle (5–30 km radius) or a small polygon, 1–4 h, high bands;
* air corridors — geodesic line strings 50–300 km long, half-width 2–10 km, 2–12 h;
* ground movements (convoys) — routes 20–150 km, half-width 0.2–1 km, 0–100 m, 3–12 h;
* maritime movements — sea routes or station-keeping circles, 0–30 m, 4–24 h;
* humanitarian movements — ground routes, 0–100 m, 2–10 h;
* temporary static sites — small circles, 0–300 m, 1–7 days;
* exercises — polygons 10–60 km across, 0–3 km, 1–3 days;
* zones — bases, training areas, protected sites, restricted areas: small polygons or
  circles valid for long windows (most for the whole horizon).

An activity owns 1–4 volumes (consecutive legs in time).  To keep the density
realistic as ``n_volumes`` grows, activities are spread over a horizon that grows with
it (``volumes_per_day``, 5 000 by default) and the number of zones is capped
(``max_zones``, 3 000).  The same arguments always give the same scenario.

    >>> items = generate(200, seed=1)
    >>> sum(len(i.volumes) for i in items)
    200
    >>> generate(200, seed=1) == items
    True
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import numpy as np
from pyproj import Geod

from .model import (
    Activity,
    ActivityKind,
    AltitudeBand,
    Circle,
    Corridor,
    Footprint,
    MinimaTable,
    Polygon,
    SeparationMinima,
    TimeWindow,
    Volume4D,
    Zone,
    ZoneKind,
)

__all__ = ["Theatre", "default_minima", "generate", "horizon_days"]

_GEOD = Geod(ellps="WGS84")
_MINUTE = 60.0
_HOUR = 3600.0
_DAY = 86400.0

#: Share of activities of each kind (drawn per activity, not per volume).
_ACTIVITY_MIX: tuple[tuple[ActivityKind, float], ...] = (
    (ActivityKind.AIR_SORTIE, 0.36),
    (ActivityKind.AIR_CORRIDOR, 0.06),
    (ActivityKind.GROUND_MOVEMENT, 0.32),
    (ActivityKind.MARITIME, 0.08),
    (ActivityKind.HUMANITARIAN_MOVEMENT, 0.10),
    (ActivityKind.STATIC_SITE, 0.075),
    (ActivityKind.EXERCISE, 0.005),
)

_ZONE_MIX: tuple[tuple[ZoneKind, float], ...] = (
    (ZoneKind.BASE, 0.25),
    (ZoneKind.TRAINING_AREA, 0.15),
    (ZoneKind.PROTECTED_SITE, 0.45),
    (ZoneKind.RESTRICTED_AREA, 0.15),
)

#: How many volumes an activity owns: 1 (55 %), 2 (25 %), 3 (12 %), 4 (8 %).
_LEGS = (1, 2, 3, 4)
_LEG_WEIGHTS = (0.55, 0.25, 0.12, 0.08)


@dataclass(frozen=True, slots=True)
class Theatre:
    """Where and how densely a scenario is drawn.

    ``width_m``/``height_m`` span the theatre east-west/north-south about ``centre``;
    the western ``sea_fraction`` of it is sea (maritime movements only go there, ground
    movements never do).  Activities start uniformly over the horizon
    (``n_volumes / volumes_per_day`` days, at least one); zones are
    ``zone_share × n_volumes`` of the volumes, at most ``max_zones``.
    """

    centre: tuple[float, float] = (38.0, 35.0)
    width_m: float = 800_000.0
    height_m: float = 600_000.0
    sea_fraction: float = 0.2
    start: datetime = field(default_factory=lambda: datetime(2030, 1, 1, tzinfo=UTC))
    volumes_per_day: float = 5_000.0
    zone_share: float = 0.03
    max_zones: int = 3_000


def horizon_days(n_volumes: int, theatre: Theatre = Theatre()) -> float:
    """Length of the planning horizon over which ``n_volumes`` volumes are spread."""
    return max(1.0, n_volumes / theatre.volumes_per_day)


def default_minima() -> MinimaTable:
    """Plausible separation minima per pair of kinds (lateral m, vertical m, time s).

    Air against air 9 km / 300 m; air against protected sites 5 km / 1 000 m / 10 min;
    ground against ground 500 m / 50 m / 5 min; humanitarian movements get wider
    margins (2 km and 30 min from ground traffic, 5 km / 500 m / 10 min from aircraft);
    every other pair 1 km / 150 m / 0 s.
    """
    air = (ActivityKind.AIR_SORTIE, ActivityKind.AIR_CORRIDOR)
    surface = (ActivityKind.GROUND_MOVEMENT, ActivityKind.STATIC_SITE)
    pairs: dict[tuple[str, str], SeparationMinima] = {}

    def put(kinds_a: Sequence[str], kinds_b: Sequence[str], minima: SeparationMinima) -> None:
        for a in kinds_a:
            for b in kinds_b:
                pairs[(a, b)] = minima

    hum = (ActivityKind.HUMANITARIAN_MOVEMENT,)
    put(air, air, SeparationMinima(9_000, 300, 0))
    put(air, (ZoneKind.PROTECTED_SITE,), SeparationMinima(5_000, 1_000, 600))
    put(air, (ZoneKind.RESTRICTED_AREA,), SeparationMinima(5_000, 300, 0))
    put(air, (ZoneKind.BASE,), SeparationMinima(3_000, 300, 0))
    put(air, (ZoneKind.TRAINING_AREA, ActivityKind.EXERCISE), SeparationMinima(3_000, 300, 0))
    put(air, hum, SeparationMinima(5_000, 500, 600))
    put(air, (*surface, ActivityKind.MARITIME), SeparationMinima(2_000, 300, 0))
    put(surface, surface, SeparationMinima(500, 50, 300))
    put(surface, hum, SeparationMinima(2_000, 100, 1_800))
    put(hum, hum, SeparationMinima(1_000, 50, 600))
    put(hum, (ZoneKind.PROTECTED_SITE, ZoneKind.BASE), SeparationMinima(1_000, 100, 0))
    put(hum, (ActivityKind.EXERCISE, ZoneKind.TRAINING_AREA, ZoneKind.RESTRICTED_AREA), SeparationMinima(2_000, 100, 0))
    put(surface, (ZoneKind.PROTECTED_SITE,), SeparationMinima(1_000, 100, 0))
    put(surface, (ZoneKind.BASE,), SeparationMinima(200, 0, 0))
    put((ActivityKind.MARITIME,), (ActivityKind.MARITIME,), SeparationMinima(2_000, 0, 600))
    return MinimaTable(SeparationMinima(1_000, 150, 0), pairs)


# --- drawing shapes in the theatre plane (metres east/north of the centre) ---------------

_Shape = tuple[str, list[tuple[float, float]], float]  # ("circle"|"polygon"|"corridor", xy, radius)


class _Draw:
    """Random shapes in theatre-plane metres; converted to lon/lat in bulk afterwards."""

    def __init__(self, rng: random.Random, theatre: Theatre) -> None:
        self.rng = rng
        self.half_w = theatre.width_m / 2.0
        self.half_h = theatre.height_m / 2.0
        self.sea_edge = -self.half_w + theatre.sea_fraction * theatre.width_m

    def point(self, where: str = "any", margin: float = 0.0) -> tuple[float, float]:
        u = self.rng.uniform
        lo_x = -self.half_w + margin
        hi_x = self.half_w - margin
        if where == "land":
            lo_x = self.sea_edge + margin
        elif where == "sea":
            hi_x = self.sea_edge - margin
        return (u(lo_x, max(lo_x, hi_x)), u(-self.half_h + margin, self.half_h - margin))

    def clamp(self, x: float, y: float, where: str) -> tuple[float, float]:
        lo_x, hi_x = -self.half_w, self.half_w
        if where == "land":
            lo_x = self.sea_edge
        elif where == "sea":
            hi_x = self.sea_edge
        return (min(max(x, lo_x), hi_x), min(max(y, -self.half_h), self.half_h))

    def polygon(self, cx: float, cy: float, radius: float) -> list[tuple[float, float]]:
        """A star-shaped (hence simple) polygon of 4–9 vertices about (cx, cy)."""
        rng = self.rng
        count = rng.randint(4, 9)
        step = 2.0 * math.pi / count
        phase = rng.uniform(0.0, step)
        out = []
        for k in range(count):
            a = phase + k * step + rng.uniform(-0.3, 0.3) * step
            r = radius * rng.uniform(0.6, 1.0)
            out.append((cx + r * math.cos(a), cy + r * math.sin(a)))
        return out

    def route(self, start: tuple[float, float], length: float, where: str, max_leg: float) -> list[tuple[float, float]]:
        """A wandering line string of about ``length`` metres from ``start``."""
        rng = self.rng
        legs = max(1, min(12, math.ceil(length / max_leg)))
        heading = rng.uniform(0.0, 2.0 * math.pi)
        x, y = start
        out = [(x, y)]
        for _ in range(legs):
            heading += rng.uniform(-0.6, 0.6)
            step = length / legs
            nx, ny = self.clamp(x + step * math.cos(heading), y + step * math.sin(heading), where)
            if abs(nx - x) + abs(ny - y) < 1.0:  # pinned against the edge: turn back
                heading += math.pi
                nx, ny = self.clamp(x + step * math.cos(heading), y + step * math.sin(heading), where)
            x, y = nx, ny
            out.append((x, y))
        return out


def _rounded(value: float, step: float) -> float:
    return round(value / step) * step


@dataclass(slots=True)
class _Leg:
    shape: _Shape
    lower: float
    upper: float
    t0: float  # seconds after the theatre's start
    t1: float


@dataclass(slots=True)
class _Plan:
    id: str
    party: str
    kind: ActivityKind | ZoneKind
    legs: list[_Leg]


def _legs_in_time(rng: random.Random, begin: float, total: float, count: int) -> list[tuple[float, float]]:
    """Split ``[begin, begin + total)`` into ``count`` consecutive windows (whole minutes)."""
    cuts = sorted(rng.uniform(0.15, 0.85) * total for _ in range(count - 1))
    bounds = [begin, *(begin + c for c in cuts), begin + total]
    out = []
    for a, b in itertools.pairwise(bounds):
        t0, t1 = _rounded(a, _MINUTE), _rounded(b, _MINUTE)
        out.append((t0, max(t1, t0 + _MINUTE)))
    return out


def _activity(draw: _Draw, kind: ActivityKind, begin: float, legs: int) -> list[_Leg]:
    rng = draw.rng
    u = rng.uniform
    km = 1_000.0
    out: list[_Leg] = []
    if kind is ActivityKind.AIR_SORTIE:
        windows = _legs_in_time(rng, begin, u(1.0, 4.0) * _HOUR, legs)
        x, y = draw.point()
        for t0, t1 in windows:
            lower = _rounded(u(1_500.0, 9_000.0), 100.0)
            upper = lower + _rounded(u(600.0, 3_000.0), 100.0)
            if rng.random() < 0.75:
                shape: _Shape = ("circle", [(x, y)], _rounded(u(5.0, 30.0) * km, 100.0))
            else:
                shape = ("polygon", draw.polygon(x, y, u(5.0, 20.0) * km), 0.0)
            out.append(_Leg(shape, lower, upper, t0, t1))
            a = u(0.0, 2.0 * math.pi)
            x, y = draw.clamp(x + u(20.0, 80.0) * km * math.cos(a), y + u(20.0, 80.0) * km * math.sin(a), "any")
    elif kind is ActivityKind.AIR_CORRIDOR:
        windows = _legs_in_time(rng, begin, u(2.0, 12.0) * _HOUR, legs)
        path = draw.route(draw.point(), u(50.0, 300.0) * km, "any", 60.0 * km)
        half_width = _rounded(u(2.0, 10.0) * km, 100.0)
        lower = _rounded(u(600.0, 6_000.0), 100.0)
        upper = lower + _rounded(u(300.0, 2_000.0), 100.0)
        for t0, t1 in windows:  # the same corridor, opened in successive slots
            out.append(_Leg(("corridor", path, half_width), lower, upper, t0, t1))
    elif kind in (ActivityKind.GROUND_MOVEMENT, ActivityKind.HUMANITARIAN_MOVEMENT):
        ground = kind is ActivityKind.GROUND_MOVEMENT
        hours = u(3.0, 12.0) if ground else u(2.0, 10.0)
        windows = _legs_in_time(rng, begin, hours * _HOUR, legs)
        total = u(20.0, 150.0) * km if ground else u(20.0, 100.0) * km
        pos = draw.point("land")
        half_width = _rounded(u(200.0, 1_000.0), 10.0)
        for t0, t1 in windows:
            path = draw.route(pos, total / legs, "land", 15.0 * km)
            out.append(_Leg(("corridor", path, half_width), 0.0, 100.0, t0, t1))
            pos = path[-1]
    elif kind is ActivityKind.MARITIME:
        windows = _legs_in_time(rng, begin, u(4.0, 24.0) * _HOUR, legs)
        pos = draw.point("sea")
        for t0, t1 in windows:
            if rng.random() < 0.7:
                path = draw.route(pos, u(20.0, 200.0) * km / legs, "sea", 40.0 * km)
                shape = ("corridor", path, _rounded(u(500.0, 3_000.0), 10.0))
                pos = path[-1]
            else:
                shape = ("circle", [pos], _rounded(u(2.0, 10.0) * km, 100.0))
            out.append(_Leg(shape, 0.0, 30.0, t0, t1))
    elif kind is ActivityKind.STATIC_SITE:
        windows = _legs_in_time(rng, begin, u(1.0, 7.0) * _DAY, legs)
        x, y = draw.point("land")
        radius = _rounded(u(200.0, 2_000.0), 10.0)
        upper = _rounded(u(50.0, 300.0), 10.0)
        for t0, t1 in windows:
            out.append(_Leg(("circle", [(x, y)], radius), 0.0, upper, t0, t1))
    else:  # exercise
        windows = _legs_in_time(rng, begin, u(1.0, 3.0) * _DAY, legs)
        x, y = draw.point("land", margin=30.0 * km)
        for t0, t1 in windows:
            upper = _rounded(u(300.0, 3_000.0), 100.0)
            out.append(_Leg(("polygon", draw.polygon(x, y, u(5.0, 30.0) * km), 0.0), 0.0, upper, t0, t1))
            x, y = draw.clamp(x + u(-15.0, 15.0) * km, y + u(-15.0, 15.0) * km, "land")
    return out


def _zone(draw: _Draw, kind: ZoneKind, horizon: float) -> _Leg:
    rng = draw.rng
    u = rng.uniform
    km = 1_000.0
    if rng.random() < 0.7:  # standing: the whole horizon and beyond
        t0 = -_rounded(u(0.0, 30.0), 1.0) * _DAY
        t1 = horizon + _rounded(u(1.0, 30.0), 1.0) * _DAY
    else:
        length = _rounded(u(7.0, 90.0), 1.0) * _DAY
        t0 = _rounded(u(-length, horizon), _HOUR)
        t1 = t0 + length
    x, y = draw.point("land", margin=5.0 * km)
    shape: _Shape
    if kind is ZoneKind.BASE:
        shape = ("circle", [(x, y)], _rounded(u(1.0, 5.0) * km, 100.0))
        lower, upper = 0.0, 300.0
    elif kind is ZoneKind.TRAINING_AREA:
        shape = ("polygon", draw.polygon(x, y, u(2.5, 15.0) * km), 0.0)
        lower, upper = 0.0, _rounded(u(500.0, 3_000.0), 100.0)
    elif kind is ZoneKind.PROTECTED_SITE:
        if rng.random() < 0.5:
            shape = ("polygon", draw.polygon(x, y, u(100.0, 1_000.0)), 0.0)
        else:
            shape = ("circle", [(x, y)], _rounded(u(100.0, 1_000.0), 10.0))
        lower, upper = 0.0, _rounded(u(100.0, 300.0), 10.0)
    else:
        shape = ("circle", [(x, y)], _rounded(u(3.0, 15.0) * km, 100.0))
        lower, upper = 0.0, _rounded(u(1_000.0, 4_000.0), 100.0)
    return _Leg(shape, lower, upper, t0, t1)


_K = TypeVar("_K", ActivityKind, ZoneKind)


def _pick(rng: random.Random, mix: Sequence[tuple[_K, float]]) -> Callable[[], _K]:
    kinds = [k for k, _ in mix]
    cum: list[float] = []
    total = 0.0
    for _, w in mix:
        total += w
        cum.append(total)
    return lambda: rng.choices(kinds, cum_weights=cum)[0]


def generate(
    n_volumes: int,
    seed: int = 0,
    parties: Sequence[str] = ("alpha", "bravo"),
    *,
    theatre: Theatre = Theatre(),
    horizon: float | None = None,
    zones: bool = True,
    id_prefix: str | None = None,
) -> list[Activity | Zone]:
    """A scenario of exactly ``n_volumes`` volumes, the same for the same arguments.

    ``horizon`` (days) overrides :func:`horizon_days` — draw fresh activities over the
    horizon of another scenario with it; ``zones=False`` draws activities only.
    Identifiers are ``f"{id_prefix}{kind}-{n}"`` (``id_prefix`` defaults to
    ``f"s{seed}-"``), so scenarios of different seeds never share an id.
    """
    if n_volumes < 0:
        raise ValueError("n_volumes must be >= 0")
    if not parties:
        raise ValueError("parties must name at least one party")
    rng = random.Random(seed)
    draw = _Draw(rng, theatre)
    prefix = f"s{seed}-" if id_prefix is None else id_prefix
    span = (horizon if horizon is not None else horizon_days(n_volumes, theatre)) * _DAY
    party_list = list(parties)

    plans: list[_Plan] = []
    n_zones = min(theatre.max_zones, round(theatre.zone_share * n_volumes)) if zones else 0
    pick_zone = _pick(rng, _ZONE_MIX)
    for z in range(n_zones):
        zone_kind = pick_zone()
        leg = _zone(draw, zone_kind, span)
        plans.append(_Plan(f"{prefix}{zone_kind.value}-{z}", rng.choice(party_list), zone_kind, [leg]))

    remaining = n_volumes - n_zones
    pick_activity = _pick(rng, _ACTIVITY_MIX)
    n = 0
    while remaining > 0:
        kind = pick_activity()
        legs = min(remaining, rng.choices(_LEGS, weights=_LEG_WEIGHTS)[0])
        begin = _rounded(rng.uniform(0.0, span), _MINUTE)
        party = rng.choice(party_list)
        plans.append(_Plan(f"{prefix}{kind.value}-{n}", party, kind, _activity(draw, kind, begin, legs)))
        remaining -= legs
        n += 1
    return _build(plans, theatre)


def _build(plans: list[_Plan], theatre: Theatre) -> list[Activity | Zone]:
    """Convert every plane coordinate to lon/lat at once, then make the model values."""
    xs: list[float] = []
    ys: list[float] = []
    for plan in plans:
        for leg in plan.legs:
            for x, y in leg.shape[1]:
                xs.append(x)
                ys.append(y)
    px = np.asarray(xs, dtype=np.float64)
    py = np.asarray(ys, dtype=np.float64)
    # Theatre plane → ellipsoid: azimuthal equidistant about the centre, by geodesics.
    az = np.degrees(np.arctan2(px, py))
    dist = np.hypot(px, py)
    clon, clat = theatre.centre
    lon, lat, _ = _GEOD.fwd(np.full_like(px, clon), np.full_like(px, clat), az, dist)
    lon_l: list[float] = np.round(np.asarray(lon, dtype=np.float64), 7).tolist()
    lat_l: list[float] = np.round(np.asarray(lat, dtype=np.float64), 7).tolist()

    base = theatre.start
    times: dict[float, datetime] = {}

    def at(seconds: float) -> datetime:
        t = times.get(seconds)
        if t is None:
            t = times[seconds] = base + timedelta(seconds=seconds)
        return t

    out: list[Activity | Zone] = []
    k = 0
    for plan in plans:
        volumes = []
        for leg in plan.legs:
            form, pts, radius = leg.shape
            coords = tuple(zip(lon_l[k : k + len(pts)], lat_l[k : k + len(pts)], strict=True))
            k += len(pts)
            footprint: Footprint
            if form == "circle":
                footprint = Circle(coords[0], radius)
            elif form == "polygon":
                footprint = Polygon(coords)
            else:
                footprint = Corridor(coords, radius)
            volumes.append(Volume4D(footprint, AltitudeBand(leg.lower, leg.upper), TimeWindow(at(leg.t0), at(leg.t1))))
        if isinstance(plan.kind, ZoneKind):
            out.append(Zone(plan.id, plan.party, plan.kind, tuple(volumes)))
        else:
            out.append(Activity(plan.id, plan.party, plan.kind, tuple(volumes)))
    return out
