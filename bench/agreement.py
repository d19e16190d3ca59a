"""Compare a method's conflict set with the engine's, and explain every difference.

The engine decides the lateral test on the WGS84 ellipsoid (to well under a metre).
The baselines approximate it: the planar ones (naive, STRtree) measure between buffered
footprints in one local projection — shapely's buffer is a polygon *inscribed* in the
true circle (8 segments a quarter: up to 0.48 % of the radius short) and the projection
stretches distances by up to ~0.1 % across the theatre; PostGIS's ``geography`` edges
are great-circle arcs on a sphere, not geodesics on the ellipsoid.  So they may differ
from the engine on pairs whose gap lies within a small tolerance of the minimum, and
only there:

    tolerance = 10 m + 0.5 % × (r_a + r_b) + 0.2 % × D_core

(D_core the engine's geodesic distance between the two cores, r the radii).  Every
disagreement is recomputed independently: the engine's gap from
:func:`deconflict.lateral.core_distance`, the pair's minima from the table, and the
time and altitude tests in plain floats.  A disagreement on a pair that is not
borderline, or that time or altitude should have decided, is a real discrepancy.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass, field

import numpy as np

from deconflict.geo import prepare
from deconflict.lateral import core_distance
from deconflict.model import Circle, Corridor, MinimaTable, Volume4D

from .common import Item, Key, Ref

TOL_ABS_M = 10.0
TOL_REL_RADIUS = 0.005
TOL_REL_DISTANCE = 0.002


@dataclass(frozen=True, slots=True)
class Disagreement:
    pair: Key
    side: str  # "engine only" or "method only"
    gap_m: float  # the engine's lateral gap
    minimum_m: float  # the pair's lateral minimum
    margin_m: float  # |gap - minimum|
    tolerance_m: float
    time_alt_conflict: bool  # separated neither in time nor in altitude (lateral decides)

    @property
    def borderline(self) -> bool:
        return self.time_alt_conflict and self.margin_m <= self.tolerance_m


@dataclass
class Agreement:
    method: str
    path: str  # "check" or "batch"
    size: int  # indexed volumes (check) or volumes in the plan (batch)
    runs: int  # checks compared (1 for a batch)
    engine_pairs: int
    method_pairs: int
    engine_only: int
    method_only: int
    borderline: int
    not_borderline: int
    worst_margin_m: float | None
    examples: list[Disagreement] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return self.engine_only == 0 and self.method_only == 0

    @property
    def agrees(self) -> bool:
        """Identical, or different only on borderline pairs."""
        return self.not_borderline == 0


def _radius(v: Volume4D) -> float:
    fp = v.footprint
    if isinstance(fp, Circle):
        return fp.radius_m
    if isinstance(fp, Corridor):
        return fp.half_width_m
    return 0.0


def engine_core_distance(va: Volume4D, vb: Volume4D) -> float:
    """The engine's geodesic distance between two footprints' cores.

    :func:`deconflict.geo.prepare` may store a footprint as several rows (a long route in
    pieces, mapped back by ``source``): the distance is the least over the pairs of rows.
    """
    table = prepare([va.footprint, vb.footprint])
    source = getattr(table, "source", None)
    if source is None:
        return core_distance(table, 0, table, 1)
    rows_a = np.nonzero(np.asarray(source) == 0)[0].tolist()
    rows_b = np.nonzero(np.asarray(source) == 1)[0].tolist()
    return min(core_distance(table, i, table, j) for i in rows_a for j in rows_b)


class Explainer:
    """Recomputes, for one pair of volumes, what the engine's rule says and why."""

    def __init__(self, items: Mapping[str, Item], minima: MinimaTable) -> None:
        self.items = items
        self.minima = minima

    def volume(self, ref: Ref) -> tuple[Volume4D, str]:
        item = self.items[ref[0]]
        return item.volumes[ref[1]], item.kind.value

    def explain(self, pair: Key, side: str) -> Disagreement:
        (va, ka), (vb, kb) = self.volume(pair[0]), self.volume(pair[1])
        m = self.minima.between(ka, kb)
        d_core = engine_core_distance(va, vb)
        ra, rb = _radius(va), _radius(vb)
        gap = max(0.0, d_core - ra - rb)
        start = max(va.window.start, vb.window.start)
        end = min(va.window.end, vb.window.end)
        t_gap = (start - end).total_seconds()
        time_ok = start < end or t_gap < m.time_s
        lo = max(va.altitude.lower_m, vb.altitude.lower_m)
        hi = min(va.altitude.upper_m, vb.altitude.upper_m)
        alt_ok = lo <= hi or lo - hi < m.vertical_m
        tolerance = TOL_ABS_M + TOL_REL_RADIUS * (ra + rb) + TOL_REL_DISTANCE * d_core
        return Disagreement(pair, side, gap, m.lateral_m, abs(gap - m.lateral_m), tolerance, time_ok and alt_ok)


def compare(
    method: str,
    path: str,
    size: int,
    runs: int,
    engine: Set[Key],
    other: Set[Key],
    explainer: Explainer,
    keep_examples: int = 5,
) -> Agreement:
    engine_only = engine - other
    method_only = other - engine
    found = [explainer.explain(p, "engine only") for p in sorted(engine_only)]
    found += [explainer.explain(p, "method only") for p in sorted(method_only)]
    borderline = [d for d in found if d.borderline]
    bad = [d for d in found if not d.borderline]
    worst = max((d.margin_m for d in found), default=None)
    examples = (
        sorted(bad, key=lambda d: -d.margin_m)[:keep_examples]
        + sorted(borderline, key=lambda d: -d.margin_m)[:keep_examples]
    )
    return Agreement(
        method,
        path,
        size,
        runs,
        len(engine),
        len(other),
        len(engine_only),
        len(method_only),
        len(borderline),
        len(bad),
        worst,
        examples,
    )
