"""Lateral gaps between prepared footprints, decided exactly against a minimum.

The gap between footprints A and B is ``max(0, D - r_a - r_b)`` where D is the geodesic
distance between their cores (see :mod:`deconflict.geo`).  It is computed in two stages.

**Fast stage (vectorised over all pairs).**  Each pair is projected with an azimuthal
equidistant (AEQD) projection about a point between the two footprints' centres (the
normalised mean of their normals), built from GeographicLib inverse solutions (azimuth,
distance).  In an AEQD projection the radial scale is 1 and the transverse scale ``s/m12`` is ≥ 1, so every
projected distance is ≥ the true geodesic distance and ≤ it times
``k = 1 + ρ²/(6R²)`` (ρ the farthest vertex from the centre).  Edges are stored split
into ≤ 5 km geodesic pieces, so the straight chords shapely measures differ from the
projected edges by at most ``δ = ρ·step²/(4R²)``.  Hence the projected distance ``Dp``
brackets the truth within ``ε = Dp(k-1) + 2δ`` (with a 1.5 safety factor on k).  Pairs
whose ``Dp`` is farther than ε from the threshold are decided here.

**Refinement (the rare undecided pairs, and reported gaps whose ε exceeds 1 m).**  The
projection is re-centred on the geodesic midpoint of the current nearest points and the
cores are split into ≤ 1 km pieces; this is repeated until the distance stops changing.
At the fixed point the nearest pair lies on a geodesic through the projection centre,
which the projection keeps exactly, so the result is the geodesic distance to well
under a centimetre for footprints up to ~1 000 km across.  The test suite compares
this against a slow, independent reference (tests/reference.py).

Closed-set rule: a pair *breaches* the lateral minimum L when ``gap < L`` or the
footprints touch (``gap == 0``).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import shapely

from .geo import (
    DENSIFY_STEP_M,
    GEOD,
    LINE,
    POINT,
    POLYGON,
    R_LOW_M,
    FootprintTable,
    densify,
    midpoint,
    project,
    ranges,
    unit_normals,
    unproject,
)

__all__ = ["REFINE_STEP_M", "lateral_gaps"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
BOOL = npt.NDArray[np.bool_]

REFINE_STEP_M = 1_000.0
_R_ERR = 6_330_000.0  # radius used in error bounds, below every radius of curvature
_REPORT_TOLERANCE_M = 1.0


def _geometries(kind: npt.NDArray[np.int8], pair_of_vertex: I64, x: F64, y: F64, count: int) -> npt.NDArray[np.object_]:
    """One shapely geometry per pair from projected vertices grouped by pair id."""
    out = np.empty(count, dtype=object)
    vkind = kind[pair_of_vertex]
    xy = np.column_stack([x, y])
    for code in (POINT, LINE, POLYGON):
        sel = vkind == code
        if not sel.any():
            continue
        owners = pair_of_vertex[sel]  # non-decreasing: vertices come grouped by pair
        change = np.ones(len(owners), dtype=bool)
        np.not_equal(owners[1:], owners[:-1], out=change[1:])
        rows, compact = owners[change], np.cumsum(change) - 1
        if code == POINT:
            out[rows] = shapely.points(xy[sel])
        elif code == LINE:
            out[rows] = shapely.linestrings(xy[sel], indices=compact)
        else:
            out[rows] = shapely.polygons(shapely.linearrings(xy[sel], indices=compact))
    return out


def _sides(
    a: FootprintTable, pa: I64, b: FootprintTable, pb: I64, clon: F64, clat: F64
) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.object_], F64]:
    """Project the cores of ``a[pa]`` and ``b[pb]`` about per-pair centres (one
    GeographicLib call for both sides); return both geometries and each pair's ρ."""
    count = len(pa)
    idx_a, idx_b = ranges(a.off[pa], a.n[pa]), ranges(b.off[pb], b.n[pb])
    pair_a = np.repeat(np.arange(count), a.n[pa])
    pair_b = np.repeat(np.arange(count), b.n[pb])
    pair = np.concatenate([pair_a, pair_b])
    x, y, s = project(
        clon[pair],
        clat[pair],
        np.concatenate([a.lon[idx_a], b.lon[idx_b]]),
        np.concatenate([a.lat[idx_a], b.lat[idx_b]]),
    )
    rho = np.zeros(count)
    np.maximum.at(rho, pair, s)
    cut = len(pair_a)
    ga = _geometries(a.kind[pa], pair_a, x[:cut], y[:cut], count)
    gb = _geometries(b.kind[pb], pair_b, x[cut:], y[cut:], count)
    return ga, gb, rho


def _between(a: FootprintTable, pa: I64, b: FootprintTable, pb: I64) -> tuple[F64, F64]:
    """A point between two footprints' centres (normalised mean of their normals).

    Any centre is correct — the error bounds use the actual distances from it — and this
    one costs no geodesic computation.
    """
    n = unit_normals(a.clon[pa], a.clat[pa]) + unit_normals(b.clon[pb], b.clat[pb])
    n /= np.maximum(np.linalg.norm(n, axis=1), 1e-12)[:, None]
    lat = np.degrees(np.arcsin(np.clip(n[:, 2], -1.0, 1.0)))
    lon = np.degrees(np.arctan2(n[:, 1], n[:, 0]))
    return lon, lat


def _one_core(t: FootprintTable, i: int) -> tuple[int, F64, F64]:
    lon, lat = t.vertices(i)
    kind = np.array([t.kind[i]], dtype=np.int8)
    _, _, dlon, dlat = densify(kind, np.zeros(1, np.int64), np.array([len(lon)], np.int64), lon, lat, REFINE_STEP_M)
    return int(t.kind[i]), dlon, dlat


def _core_geometry(kind: int, x: F64, y: F64) -> shapely.Geometry:
    if kind == POINT:
        return shapely.Point(x[0], y[0])
    if kind == LINE:
        return shapely.LineString(np.column_stack([x, y]))
    return shapely.Polygon(np.column_stack([x, y]))


def core_distance(a: FootprintTable, i: int, b: FootprintTable, j: int) -> float:
    """Geodesic distance between the cores of ``a[i]`` and ``b[j]`` (the refinement stage)."""
    ka, lon_a, lat_a = _one_core(a, i)
    kb, lon_b, lat_b = _one_core(b, j)
    c = midpoint(a.clon[i : i + 1], a.clat[i : i + 1], b.clon[j : j + 1], b.clat[j : j + 1])
    clon, clat = float(c[0][0]), float(c[1][0])
    previous = np.inf
    distance = np.inf
    for _ in range(8):
        xa, ya, _ = project(clon, clat, lon_a, lat_a)
        xb, yb, _ = project(clon, clat, lon_b, lat_b)
        ga, gb = _core_geometry(ka, xa, ya), _core_geometry(kb, xb, yb)
        distance = float(shapely.distance(ga, gb))
        if distance == 0.0 or abs(previous - distance) < 1e-4:
            break
        previous = distance
        (px, py), (qx, qy) = shapely.get_coordinates(shapely.shortest_line(ga, gb))
        plon, plat = unproject(clon, clat, np.array([px]), np.array([py]))
        qlon, qlat = unproject(clon, clat, np.array([qx]), np.array([qy]))
        mlon, mlat = midpoint(plon, plat, qlon, qlat)
        clon, clat = float(mlon[0]), float(mlat[0])
    return distance


def lateral_gaps(a: FootprintTable, ia: I64, b: FootprintTable, ib: I64, minimum: F64) -> tuple[BOOL, F64]:
    """For each pair ``(a[ia[k]], b[ib[k]])``: does it breach ``minimum[k]``, and its gap.

    The gap is exact (within 1 m) wherever the pair breaches; for pairs that do not, it
    is a lower bound.
    """
    count = len(ia)
    ra, rb = a.radius[ia], b.radius[ib]
    breach = np.zeros(count, dtype=bool)
    # cheapest first: a geodesic of length s turns the normal by at most s / R_LOW_M, so
    # the chord between centre normals bounds the centre distance from below
    chord = np.linalg.norm(unit_normals(a.clon[ia], a.clat[ia]) - unit_normals(b.clon[ib], b.clat[ib]), axis=1)
    gap = chord * R_LOW_M - a.rho[ia] - b.rho[ib] - 1e-3  # a millimetre for rounding
    near = gap <= minimum
    # two circles: the gap is the centres' geodesic distance less the radii, exactly
    points = np.nonzero(near & (a.kind[ia] == POINT) & (b.kind[ib] == POINT))[0]
    if len(points):
        pa, pb = ia[points], ib[points]
        _, _, dc = GEOD.inv(a.clon[pa], a.clat[pa], b.clon[pb], b.clat[pb])
        gap[points] = np.maximum(0.0, np.asarray(dc) - ra[points] - rb[points])
        breach[points] = (gap[points] < minimum[points]) | (gap[points] <= 0.0)
        near[points] = False

    rest = np.nonzero(near)[0]
    if not len(rest):
        return breach, gap
    pa, pb = ia[rest], ib[rest]
    clon, clat = _between(a, pa, b, pb)
    ga, gb, rho = _sides(a, pa, b, pb, clon, clat)
    dp = shapely.distance(ga, gb)
    eps = dp * 1.5 * rho**2 / (6.0 * _R_ERR**2) + 2.0 * rho * DENSIFY_STEP_M**2 / (4.0 * _R_ERR**2) + 1e-3
    gp = dp - ra[rest] - rb[rest]
    lim = minimum[rest]
    touching = gp <= 0.0
    clear_no = ~touching & (gp - eps > lim)
    clear_yes = (touching & (eps < 0.1)) | (gp + eps < lim)
    gap[rest] = np.maximum(gp, 0.0)
    breach[rest] = clear_yes
    undecided = ~clear_no & ~clear_yes
    imprecise = clear_yes & ~touching & (eps > _REPORT_TOLERANCE_M)
    for k in np.nonzero(undecided | imprecise)[0]:
        d = core_distance(a, int(pa[k]), b, int(pb[k]))
        g = max(0.0, d - float(ra[rest[k]]) - float(rb[rest[k]]))
        gap[rest[k]] = g
        breach[rest[k]] = (g < lim[k]) or g <= 0.0
    return breach, gap
