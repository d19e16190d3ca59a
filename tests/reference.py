"""A slow, obviously-correct reference for the 4D conflict rule, independent of the engine.

Nothing here imports :mod:`deconflict.geo` or :mod:`deconflict.lateral`: every lateral
distance is computed from scratch with GeographicLib (through :class:`pyproj.Geod`) by
brute force — sample, then golden-section search — over the footprints' *cores*:

* a circle is a point core with its radius,
* a corridor a polyline core (geodesic segments between consecutive points) with its
  half-width,
* a polygon a polygon core (geodesic edges, interior included) with radius 0.

The distance ``D`` between two cores is the smallest of

* 0 when a vertex of one core lies inside the other (polygon) core — decided by the winding
  number computed from the azimuths at the point towards consecutive vertices, which is
  exact for geodesic edges as long as the point is not on an edge (and then the segment
  distances below are 0 anyway);
* the vertex-to-vertex distances (``Geod.inv``);
* the vertex-to-segment and segment-to-segment distances, found by sampling the segment
  parameter(s) and refining the best sample by golden-section search.  Points on a
  segment are ``Geod.fwd`` from its first point along its azimuth, so they lie exactly
  on the geodesic.  Segment pairs whose triangle-inequality lower bound
  (midpoint distance minus half lengths) cannot beat the best distance found so far are
  skipped — that prunes work, never the answer.

The gap is then ``max(0, D - r_a - r_b)``.  The result is accurate to well under a
millimetre for footprints up to ~1 000 km across (see ``tests/test_reference.py``).

The time, vertical and lateral decisions follow the rule stated in
:mod:`deconflict.model`, computed exactly (time with integer microseconds, altitudes with
rational arithmetic).  The minima are the table's for the two kinds, unless a zone of the
pair carries its own (:func:`applied_minima`)::

    >>> from deconflict.model import Circle
    >>> round(core_distance(Circle((0.0, 0.0), 0.0), Circle((0.0, 1.0), 0.0)), 3)
    110574.389
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from fractions import Fraction

import numpy as np
import numpy.typing as npt
from pyproj import Geod

from deconflict.model import (
    Activity,
    Circle,
    Corridor,
    MinimaTable,
    Polygon,
    SeparationMinima,
    Volume4D,
    VolumeRef,
    Zone,
)

__all__ = [
    "GEOD",
    "TOUCH_M",
    "Core",
    "RefDecision",
    "applied_minima",
    "core_distance",
    "core_of",
    "distances_to_segment",
    "lateral_gap",
    "point_in_polygon",
    "point_segment_distance",
    "reference_all_conflicts",
    "reference_all_pairs",
    "reference_conflict",
    "segment_segment_distance",
]

F64 = npt.NDArray[np.float64]

GEOD = Geod(ellps="WGS84")

#: Gaps at or below this are "touching" for the reference (its own numerical noise is
#: about a micrometre).
TOUCH_M = 1e-3

_INVPHI = (math.sqrt(5.0) - 1.0) / 2.0
_SAMPLES = 33
_ITERATIONS = 45


# --- geodesic primitives, vectorised over rows --------------------------------------------


def _inv(lon1: F64, lat1: F64, lon2: F64, lat2: F64) -> tuple[F64, F64]:
    """Forward azimuth at the first point and geodesic distance, element-wise (any shape)."""
    a, b, c, d = np.broadcast_arrays(lon1, lat1, lon2, lat2)
    az, _, dist = GEOD.inv(a.ravel(), b.ravel(), c.ravel(), d.ravel())
    return np.asarray(az, dtype=np.float64).reshape(a.shape), np.asarray(dist, dtype=np.float64).reshape(a.shape)


def _fwd(lon: F64, lat: F64, az: F64, dist: F64) -> tuple[F64, F64]:
    """Point reached from (lon, lat) going ``dist`` metres along azimuth ``az`` (any shape)."""
    a, b, c, d = np.broadcast_arrays(lon, lat, az, dist)
    lon2, lat2, _ = GEOD.fwd(a.ravel(), b.ravel(), c.ravel(), d.ravel())
    return np.asarray(lon2, dtype=np.float64).reshape(a.shape), np.asarray(lat2, dtype=np.float64).reshape(a.shape)


def _minimise(f: Callable[[F64], F64], rows: int) -> F64:
    """Minimum over t in [0, 1] of ``f`` for each row: sample, then golden-section refine.

    ``f`` maps an array ``t`` of shape ``(rows, k)`` to values of the same shape.  Every
    value returned is a value ``f`` actually took, so it is an upper bound of the true
    minimum, and the search drives it down to it.
    """
    ts = np.linspace(0.0, 1.0, _SAMPLES)
    values = f(np.broadcast_to(ts, (rows, _SAMPLES)).copy())
    best = values.min(axis=1)
    k = values.argmin(axis=1)
    lo = ts[np.maximum(k - 1, 0)]
    hi = ts[np.minimum(k + 1, _SAMPLES - 1)]
    c = hi - _INVPHI * (hi - lo)
    d = lo + _INVPHI * (hi - lo)
    fc = f(c[:, None])[:, 0]
    fd = f(d[:, None])[:, 0]
    best = np.minimum(best, np.minimum(fc, fd))
    for _ in range(_ITERATIONS):
        left = fc < fd  # the minimum is in [lo, d]
        hi = np.where(left, d, hi)
        lo = np.where(left, lo, c)
        x = np.where(left, hi - _INVPHI * (hi - lo), lo + _INVPHI * (hi - lo))
        fx = f(x[:, None])[:, 0]
        best = np.minimum(best, fx)
        c, fc, d, fd = (
            np.where(left, x, d),
            np.where(left, fx, fd),
            np.where(left, c, x),
            np.where(left, fc, fx),
        )
    return best


@dataclass(frozen=True)
class _Segments:
    """Geodesic segments: first point, azimuth there, length; plus their midpoints."""

    lon1: F64
    lat1: F64
    az: F64
    length: F64

    @classmethod
    def between(cls, lon1: F64, lat1: F64, lon2: F64, lat2: F64) -> _Segments:
        az, length = _inv(lon1, lat1, lon2, lat2)
        return cls(np.asarray(lon1, float), np.asarray(lat1, float), az, length)

    def at(self, t: F64) -> tuple[F64, F64]:
        """Points at parameter ``t`` (shape ``(rows, k)``) along each row's segment."""
        return _fwd(self.lon1[:, None], self.lat1[:, None], self.az[:, None], self.length[:, None] * t)

    def take(self, rows: npt.NDArray[np.int64]) -> _Segments:
        return _Segments(self.lon1[rows], self.lat1[rows], self.az[rows], self.length[rows])

    def midpoints(self) -> tuple[F64, F64]:
        return _fwd(self.lon1, self.lat1, self.az, self.length / 2.0)

    def __len__(self) -> int:
        return len(self.lon1)


def point_segment_distance(plon: F64, plat: F64, seg: _Segments) -> F64:
    """Geodesic distance from point ``k`` to segment ``k``, for every row ``k``."""
    plon = np.asarray(plon, dtype=np.float64)
    plat = np.asarray(plat, dtype=np.float64)

    def f(t: F64) -> F64:
        lon, lat = seg.at(t)
        return _inv(plon[:, None], plat[:, None], lon, lat)[1]

    return _minimise(f, len(seg))


def distances_to_segment(lon: F64, lat: F64, p: tuple[float, float], q: tuple[float, float]) -> F64:
    """Geodesic distance from each point to the one geodesic segment ``p``–``q``."""
    lon = np.asarray(lon, dtype=np.float64)
    seg = _Segments.between(
        np.full(len(lon), p[0]), np.full(len(lon), p[1]), np.full(len(lon), q[0]), np.full(len(lon), q[1])
    )
    return point_segment_distance(lon, np.asarray(lat, dtype=np.float64), seg)


def segment_segment_distance(s1: _Segments, s2: _Segments) -> F64:
    """Geodesic distance between segment ``k`` of ``s1`` and segment ``k`` of ``s2``."""

    def f(t: F64) -> F64:
        lon, lat = s1.at(t)
        rows, k = t.shape
        other = s2.take(np.repeat(np.arange(rows), k))
        return point_segment_distance(lon.ravel(), lat.ravel(), other).reshape(rows, k)

    return _minimise(f, len(s1))


# --- cores --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Core:
    """A footprint's core: ``kind`` is ``"point"``, ``"line"`` or ``"polygon"``."""

    kind: str
    lon: F64
    lat: F64
    radius: float

    def segments(self) -> _Segments | None:
        if self.kind == "point":
            return None
        if self.kind == "line":
            return _Segments.between(self.lon[:-1], self.lat[:-1], self.lon[1:], self.lat[1:])
        return _Segments.between(self.lon, self.lat, np.roll(self.lon, -1), np.roll(self.lat, -1))


def core_of(footprint: Circle | Corridor | Polygon) -> Core:
    if isinstance(footprint, Circle):
        lon, lat = [footprint.center[0]], [footprint.center[1]]
        return Core("point", np.array(lon), np.array(lat), footprint.radius_m)
    if isinstance(footprint, Corridor):
        pts = np.array(footprint.path, dtype=np.float64)
        return Core("line", pts[:, 0].copy(), pts[:, 1].copy(), footprint.half_width_m)
    if isinstance(footprint, Polygon):
        pts = np.array(footprint.vertices, dtype=np.float64)
        return Core("polygon", pts[:, 0].copy(), pts[:, 1].copy(), 0.0)
    raise TypeError(f"not a footprint: {footprint!r}")


def point_in_polygon(plon: float, plat: float, polygon: Core) -> bool:
    """Is the point inside the polygon core?  Winding number from azimuths at the point.

    Along a geodesic edge not through the point, the azimuth at the point towards the
    moving end turns monotonically by less than 180°, so the wrapped difference of the
    azimuths towards the edge's ends is the exact turn; their sum over the ring is 360°
    times the winding number.  Points farther from every vertex than the perimeter are
    outside without asking (a point inside is within half the perimeter of any vertex).
    """
    assert polygon.kind == "polygon"
    az, dist = _inv(np.full(len(polygon.lon), plon), np.full(len(polygon.lat), plat), polygon.lon, polygon.lat)
    if np.any(dist == 0.0):
        return True  # on a vertex: on the boundary, which belongs to the polygon
    seg = polygon.segments()
    assert seg is not None
    if dist.min() > seg.length.sum():
        return False
    turn = (np.roll(az, -1) - az + 180.0) % 360.0 - 180.0
    return bool(abs(turn.sum()) > 180.0)


def _min_vertex_distance(a: Core, b: Core) -> float:
    _, d = _inv(a.lon[:, None], a.lat[:, None], b.lon[None, :], b.lat[None, :])
    return float(d.min())


def _refine_in_rounds(lower: F64, best: float, cutoff: float, compute: Callable[[npt.NDArray[np.int64]], F64]) -> float:
    """Branch and bound: compute exact values for the candidates (in order of their lower
    bound) whose lower bound is below both the best value found so far and ``cutoff``."""
    order = np.argsort(lower, kind="stable")
    done = 0
    batch = 8
    while done < len(order):
        rows = order[done : done + batch]
        rows = rows[lower[rows] < min(best, cutoff)]
        if not len(rows):
            break
        best = min(best, float(compute(rows).min()))
        done += batch
        batch *= 2
    return best


def _vertex_segment(best: float, cutoff: float, pts: Core, seg: _Segments | None) -> float:
    if seg is None or not len(seg):
        return best
    mlon, mlat = seg.midpoints()
    pi = np.repeat(np.arange(len(pts.lon)), len(seg))
    si = np.tile(np.arange(len(seg)), len(pts.lon))
    _, dm = _inv(pts.lon[pi], pts.lat[pi], mlon[si], mlat[si])
    lower = dm - seg.length[si] / 2.0

    def compute(rows: npt.NDArray[np.int64]) -> F64:
        return point_segment_distance(pts.lon[pi[rows]], pts.lat[pi[rows]], seg.take(si[rows]))

    return _refine_in_rounds(lower, best, cutoff, compute)


def _segment_segment(best: float, cutoff: float, sa: _Segments, sb: _Segments) -> float:
    alon, alat = sa.midpoints()
    blon, blat = sb.midpoints()
    ai = np.repeat(np.arange(len(sa)), len(sb))
    bi = np.tile(np.arange(len(sb)), len(sa))
    _, dm = _inv(alon[ai], alat[ai], blon[bi], blat[bi])
    lower = dm - sa.length[ai] / 2.0 - sb.length[bi] / 2.0

    def compute(rows: npt.NDArray[np.int64]) -> F64:
        return segment_segment_distance(sa.take(ai[rows]), sb.take(bi[rows]))

    return _refine_in_rounds(lower, best, cutoff, compute)


def core_distance_of(a: Core, b: Core, cutoff: float = math.inf) -> float:
    """Geodesic distance between two cores (0 when they intersect).

    With a finite ``cutoff`` the result is exact when the distance is below the cutoff;
    otherwise it is only known to be at least the cutoff (pieces that cannot come closer
    than the cutoff are not searched).
    """
    if b.kind == "polygon" and any(point_in_polygon(x, y, b) for x, y in zip(a.lon, a.lat, strict=True)):
        return 0.0
    if a.kind == "polygon" and any(point_in_polygon(x, y, a) for x, y in zip(b.lon, b.lat, strict=True)):
        return 0.0
    best = _min_vertex_distance(a, b)
    if best == 0.0:
        return 0.0
    sa, sb = a.segments(), b.segments()
    best = _vertex_segment(best, cutoff, a, sb)
    best = _vertex_segment(best, cutoff, b, sa)
    if sa is not None and sb is not None:
        best = _segment_segment(best, cutoff, sa, sb)
    return best


def core_distance(fa: Circle | Corridor | Polygon, fb: Circle | Corridor | Polygon) -> float:
    """Geodesic distance between the cores of two footprints."""
    return core_distance_of(core_of(fa), core_of(fb))


def lateral_gap(fa: Circle | Corridor | Polygon, fb: Circle | Corridor | Polygon) -> float:
    """The lateral gap ``max(0, D - r_a - r_b)`` between two footprints."""
    ca, cb = core_of(fa), core_of(fb)
    return max(0.0, core_distance_of(ca, cb) - ca.radius - cb.radius)


# --- the 4D rule --------------------------------------------------------------------------


@dataclass(frozen=True)
class RefDecision:
    """The reference's verdict on one pair of volumes.

    ``lateral_gap_m`` is ``None`` when the pair is separated in time or altitude and
    the lateral gap was not needed (unless asked for).  It is exact when it is below the
    lateral minimum + 1 m, or when asked for with ``always_lateral``; otherwise
    (``lateral_exact`` false) it is only known to be at least the minimum + 1 m.
    """

    conflict: bool
    time_breach: bool
    vertical_breach: bool
    lateral_breach: bool | None
    time_gap_s: float
    vertical_gap_m: float
    vertical_overlap_m: float
    lateral_gap_m: float | None
    minima: SeparationMinima
    lateral_exact: bool = True

    def borderline(self, tolerance_m: float = 0.5) -> bool:
        """Is the lateral gap within ``tolerance_m`` of the lateral minimum (too close to call)?"""
        return self.lateral_gap_m is not None and abs(self.lateral_gap_m - self.minima.lateral_m) <= tolerance_m


def _micros(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def applied_minima(
    kind_a: str,
    kind_b: str,
    table: MinimaTable,
    own_a: SeparationMinima | None = None,
    own_b: SeparationMinima | None = None,
) -> SeparationMinima:
    """The minima for a pair: a zone's own replace the table's; of two zones' own, the
    larger in each dimension."""
    if own_a is None and own_b is None:
        return table.between(str(kind_a), str(kind_b))
    if own_a is None:
        assert own_b is not None
        return own_b
    if own_b is None:
        return own_a
    return SeparationMinima(
        max(own_a.lateral_m, own_b.lateral_m),
        max(own_a.vertical_m, own_b.vertical_m),
        max(own_a.time_s, own_b.time_s),
    )


def _own(item: Activity | Zone) -> SeparationMinima | None:
    return item.minima if isinstance(item, Zone) else None


def reference_conflict(
    vol_a: Volume4D,
    kind_a: str,
    vol_b: Volume4D,
    kind_b: str,
    minima: MinimaTable | SeparationMinima,
    *,
    always_lateral: bool = False,
    own_a: SeparationMinima | None = None,
    own_b: SeparationMinima | None = None,
) -> RefDecision:
    """Decide one pair of volumes by the rule in :mod:`deconflict.model`'s docstring.

    ``own_a``/``own_b`` are the own minima of a zone owning that volume (if any): they
    replace the table's (:func:`applied_minima`).  A plain :class:`SeparationMinima` as
    ``minima`` is used as it is.
    """
    if isinstance(minima, SeparationMinima):
        m = minima
    else:
        m = applied_minima(str(kind_a), str(kind_b), minima, own_a, own_b)

    # time: half-open windows
    start = max(vol_a.window.start, vol_b.window.start)
    end = min(vol_a.window.end, vol_b.window.end)
    overlap = start < end
    gap_us = 0 if overlap else _micros(start - end)
    time_breach = overlap or Fraction(gap_us, 1_000_000) < Fraction(m.time_s)

    # altitude: closed bands
    lo = max(Fraction(vol_a.altitude.lower_m), Fraction(vol_b.altitude.lower_m))
    hi = min(Fraction(vol_a.altitude.upper_m), Fraction(vol_b.altitude.upper_m))
    share = lo <= hi
    vgap = Fraction(0) if share else lo - hi
    vertical_breach = share or vgap < Fraction(m.vertical_m)

    gap: float | None = None
    lateral_breach: bool | None = None
    exact = True
    if always_lateral or (time_breach and vertical_breach):
        ca, cb = core_of(vol_a.footprint), core_of(vol_b.footprint)
        cutoff = math.inf if always_lateral else m.lateral_m + ca.radius + cb.radius + 1.0
        distance = core_distance_of(ca, cb, cutoff)
        exact = distance < cutoff
        gap = max(0.0, distance - ca.radius - cb.radius)
        lateral_breach = gap < m.lateral_m or gap <= TOUCH_M
    return RefDecision(
        conflict=bool(time_breach and vertical_breach and lateral_breach),
        time_breach=time_breach,
        vertical_breach=vertical_breach,
        lateral_breach=lateral_breach,
        time_gap_s=gap_us / 1e6,
        vertical_gap_m=float(vgap),
        vertical_overlap_m=float(max(Fraction(0), hi - lo)),
        lateral_gap_m=gap,
        minima=m,
        lateral_exact=exact,
    )


def _key(a: VolumeRef, b: VolumeRef) -> tuple[VolumeRef, VolumeRef]:
    return (a, b) if a <= b else (b, a)


def reference_all_pairs(
    items: Iterable[Activity | Zone],
    minima_table: MinimaTable,
    include_same_party: bool = False,
    *,
    always_lateral: bool = False,
) -> dict[tuple[VolumeRef, VolumeRef], RefDecision]:
    """The verdict on every pair of volumes the rule applies to (different owners, and
    different parties unless ``include_same_party``), keyed in canonical order."""
    vols = [(item, k, v) for item in items for k, v in enumerate(item.volumes)]
    out: dict[tuple[VolumeRef, VolumeRef], RefDecision] = {}
    for i, (item_a, ka, va) in enumerate(vols):
        for item_b, kb, vb in vols[i + 1 :]:
            if item_a.id == item_b.id:
                continue
            if not include_same_party and item_a.party == item_b.party:
                continue
            decision = reference_conflict(
                va,
                item_a.kind,
                vb,
                item_b.kind,
                minima_table,
                always_lateral=always_lateral,
                own_a=_own(item_a),
                own_b=_own(item_b),
            )
            out[_key(VolumeRef(item_a.id, ka), VolumeRef(item_b.id, kb))] = decision
    return out


def reference_all_conflicts(
    items: Iterable[Activity | Zone],
    minima_table: MinimaTable,
    include_same_party: bool = False,
) -> dict[tuple[VolumeRef, VolumeRef], RefDecision]:
    """Brute force: every conflicting pair, keyed in canonical order."""
    return {k: d for k, d in reference_all_pairs(items, minima_table, include_same_party).items() if d.conflict}
