"""Geodesy on the WGS84 ellipsoid, footprint preparation and validation.

Every distance here is a geodesic distance on the WGS84 ellipsoid computed by
GeographicLib (through :class:`pyproj.Geod`); nothing is measured in degrees.

Footprints are reduced to a *core* and a *radius*: a circle is a point core with its
radius, a corridor a line core (geodesic segments) with its half-width, a polygon a
polygon core (geodesic edges) with radius 0.  Because the ellipsoid is a length space,
the gap between two footprints is exactly ``max(0, D - r_a - r_b)`` where ``D`` is the
distance between the cores — no buffering, no approximation.

Cores are stored *densified*: edges longer than :data:`DENSIFY_STEP_M` are split along
their geodesic, so that a straight chord in a local azimuthal-equidistant projection
stays within centimetres of the true edge (see :mod:`deconflict.lateral`).

:func:`prepare` turns many :class:`~deconflict.model.Footprint` values into one columnar
:class:`FootprintTable` with numpy (one GeographicLib call per step, not per shape), and
refuses, naming the field, self-intersecting or zero-area polygons and footprints wider
than :attr:`Limits.max_footprint_m`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import shapely
from pyproj import Geod

from .errors import FootprintTooLargeError, InvalidFootprintError
from .model import Circle, Corridor, Footprint, Polygon, finite

__all__ = [
    "DENSIFY_STEP_M",
    "GEOD",
    "LINE",
    "POINT",
    "POLYGON",
    "R_LOW_M",
    "FootprintTable",
    "Limits",
    "densify",
    "midpoint",
    "prepare",
    "project",
    "ranges",
    "unit_normals",
    "unproject",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

GEOD = Geod(ellps="WGS84")

#: A lower bound of the ellipsoid's radii of curvature (meridional radius at the
#: equator is a(1-e^2) = 6 335 439 m).  A geodesic of length s turns the surface normal
#: by at most s / R_LOW_M radians, which makes unit-normal bounding boxes conservative.
R_LOW_M = 6_335_000.0

#: Longest geodesic edge kept undivided in a stored core.
DENSIFY_STEP_M = 5_000.0

POINT, LINE, POLYGON = 0, 1, 2


@dataclass(frozen=True, slots=True)
class Limits:
    """Validation limits.  ``max_footprint_m`` caps a footprint's width (the diameter of
    the smallest geodesic circle about its centre that holds it)."""

    max_footprint_m: float = 1_000_000.0
    max_vertices: int = 10_000

    def __post_init__(self) -> None:
        if finite(self.max_footprint_m, "max_footprint_m") <= 0:
            raise InvalidFootprintError("max_footprint_m", "must be > 0")
        if isinstance(self.max_vertices, bool) or not isinstance(self.max_vertices, int) or self.max_vertices < 3:
            raise InvalidFootprintError("max_vertices", "must be an integer >= 3")


@dataclass(frozen=True, slots=True)
class FootprintTable:
    """Columnar, validated footprints.  Row ``i``'s core vertices are
    ``lon[off[i]:off[i]+n[i]]``, ``lat[…]`` (densified; polygons not closed).  A route is
    split into several rows (see :data:`PIECE_EDGES`); ``source`` maps rows to inputs."""

    kind: npt.NDArray[np.int8]
    radius: F64
    clon: F64
    clat: F64
    rho: F64  # cap radius: every point of the footprint is within rho of (clon, clat)
    off: I64
    n: I64
    lon: F64
    lat: F64
    source: I64  # which input footprint each row (a whole core, or a piece of a route) is

    def __len__(self) -> int:
        return len(self.kind)

    def vertices(self, i: int) -> tuple[F64, F64]:
        a, b = int(self.off[i]), int(self.off[i] + self.n[i])
        return self.lon[a:b], self.lat[a:b]


def ranges(starts: I64, counts: I64) -> I64:
    """Concatenate ``arange(starts[i], starts[i] + counts[i])`` for every ``i``, without a loop.

    >>> ranges(np.array([5, 0]), np.array([2, 3])).tolist()
    [5, 6, 0, 1, 2]
    """
    total = int(counts.sum())
    firsts = np.cumsum(counts) - counts
    return np.repeat(starts - firsts, counts) + np.arange(total, dtype=np.int64)


def project(clon: F64 | float, clat: F64 | float, lon: F64, lat: F64) -> tuple[F64, F64, F64]:
    """Azimuthal equidistant projection about (clon, clat), computed with geodesics.

    Returns ``x``, ``y`` (metres) and ``s`` the geodesic distance from the centre, which
    the projection preserves exactly.
    """
    clon_a = np.broadcast_to(np.asarray(clon, dtype=np.float64), lon.shape)
    clat_a = np.broadcast_to(np.asarray(clat, dtype=np.float64), lon.shape)
    az, _, s = GEOD.inv(clon_a, clat_a, lon, lat)
    rad = np.radians(az)
    return s * np.sin(rad), s * np.cos(rad), np.asarray(s, dtype=np.float64)


def unproject(clon: float, clat: float, x: F64, y: F64) -> tuple[F64, F64]:
    """Inverse of :func:`project`."""
    az = np.degrees(np.arctan2(x, y))
    s = np.hypot(x, y)
    lon, lat, _ = GEOD.fwd(np.full_like(s, clon), np.full_like(s, clat), az, s)
    return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)


def midpoint(lon1: F64, lat1: F64, lon2: F64, lat2: F64) -> tuple[F64, F64]:
    """Geodesic midpoints, element-wise."""
    az, _, d = GEOD.inv(lon1, lat1, lon2, lat2)
    lon, lat, _ = GEOD.fwd(lon1, lat1, az, np.asarray(d) / 2.0)
    return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)


def unit_normals(lon: F64, lat: F64) -> F64:
    """Unit vectors of the ellipsoid normal at each point, shape (n, 3)."""
    lo, la = np.radians(lon), np.radians(lat)
    cl = np.cos(la)
    return np.column_stack([cl * np.cos(lo), cl * np.sin(lo), np.sin(la)])


def densify(kind: npt.NDArray[np.int8], off: I64, n: I64, lon: F64, lat: F64, step: float) -> tuple[I64, I64, F64, F64]:
    """Split every geodesic edge longer than ``step`` along its geodesic.

    Works on many cores at once; returns the new ``off``, ``n``, ``lon``, ``lat``.
    """
    total = len(lon)
    owner = np.repeat(np.arange(len(n)), n)
    pos = np.arange(total) - off[owner]
    last = pos == n[owner] - 1
    owner_kind = kind[owner]
    has_edge = (owner_kind == POLYGON) | ((owner_kind == LINE) & ~last)
    nxt = np.where(last, off[owner], np.arange(total) + 1)
    start = np.nonzero(has_edge)[0]
    end = nxt[start]
    az = np.zeros(total)
    dist = np.zeros(total)
    if len(start):
        a, _, d = GEOD.inv(lon[start], lat[start], lon[end], lat[end])
        az[start], dist[start] = a, d
    emit = np.ones(total, dtype=np.int64)
    emit[start] = np.maximum(1, np.ceil(dist[start] / step)).astype(np.int64)
    rep = np.repeat(np.arange(total), emit)
    first = np.cumsum(emit) - emit
    k = np.arange(len(rep)) - np.repeat(first, emit)
    new_lon = lon[rep].copy()
    new_lat = lat[rep].copy()
    inner = k > 0
    if inner.any():
        r = rep[inner]
        flon, flat, _ = GEOD.fwd(lon[r], lat[r], az[r], dist[r] * k[inner] / emit[r])
        new_lon[inner], new_lat[inner] = flon, flat
    new_n = np.bincount(owner, weights=emit, minlength=len(n)).astype(np.int64)
    new_off = np.cumsum(new_n) - new_n
    return new_off, new_n, new_lon, new_lat


def _flatten(footprints: Sequence[Footprint]) -> tuple[npt.NDArray[np.int8], F64, I64, F64, F64]:
    kinds = np.empty(len(footprints), dtype=np.int8)
    radius = np.empty(len(footprints))
    counts = np.empty(len(footprints), dtype=np.int64)
    coords: list[tuple[float, float]] = []
    for i, fp in enumerate(footprints):
        if isinstance(fp, Circle):
            kinds[i], radius[i], counts[i] = POINT, fp.radius_m, 1
            coords.append(fp.center)
        elif isinstance(fp, Corridor):
            kinds[i], radius[i], counts[i] = LINE, fp.half_width_m, len(fp.path)
            coords.extend(fp.path)
        elif isinstance(fp, Polygon):
            kinds[i], radius[i], counts[i] = POLYGON, 0.0, len(fp.vertices)
            coords.extend(fp.vertices)
        else:
            raise InvalidFootprintError(f"[{i}]", "must be a Circle, Polygon or Corridor")
    xy = np.array(coords, dtype=np.float64).reshape(-1, 2)
    return kinds, radius, counts, xy[:, 0].copy(), xy[:, 1].copy()


def prepare(
    footprints: Sequence[Footprint],
    limits: Limits = Limits(),
    fields: Sequence[str] | None = None,
) -> FootprintTable:
    """Validate and prepare footprints; ``fields[i]`` names footprint ``i`` in errors.

    Raises :class:`InvalidFootprintError` or :class:`FootprintTooLargeError` for the first
    bad footprint; nothing is returned then.
    """

    def name(i: int) -> str:
        return fields[i] if fields is not None else f"footprints[{i}]"

    kind, radius, counts, lon, lat = _flatten(footprints)
    for i in np.nonzero(counts > limits.max_vertices)[0]:
        raise InvalidFootprintError(name(int(i)), f"{counts[i]} vertices exceed the limit of {limits.max_vertices}")
    off = np.cumsum(counts) - counts
    off, n, lon, lat = densify(kind, off, counts, lon, lat, DENSIFY_STEP_M)
    clon, clat, core_rho, x, y = _caps(off, n, lon, lat)
    for i in np.nonzero(~np.isfinite(clon))[0]:
        raise FootprintTooLargeError(name(int(i)), "footprint wraps around the globe")
    rho = core_rho + radius
    for i in np.nonzero(2.0 * rho > limits.max_footprint_m)[0]:
        raise FootprintTooLargeError(
            name(int(i)),
            f"{2.0 * rho[i] / 1000.0:.1f} km across exceeds the cap of {limits.max_footprint_m / 1000.0:.1f} km",
        )
    _check_polygons(kind, off, n, x, y, name)
    return _pieces(kind, radius, clon, clat, rho, off, n, lon, lat)


def _caps(off: I64, n: I64, lon: F64, lat: F64) -> tuple[F64, F64, F64, F64, F64]:
    """Centre (normalised mean normal) and core radius of each core, and the vertices
    projected about their own core's centre.  A centre is NaN where the normals cancel."""
    owner = np.repeat(np.arange(len(n)), n)
    sums = np.zeros((len(n), 3))
    np.add.at(sums, owner, unit_normals(lon, lat))
    norm = np.linalg.norm(sums, axis=1)
    bad = norm < 1e-9 * np.maximum(n, 1)
    centre = sums / np.where(bad, np.nan, norm)[:, None]
    clat = np.degrees(np.arcsin(np.clip(centre[:, 2], -1.0, 1.0)))
    clon = np.degrees(np.arctan2(centre[:, 1], centre[:, 0]))
    clon[np.abs(clat) > 90.0 - 1e-9] = 0.0
    if bad.any():
        return clon, clat, np.zeros(len(n)), lon * 0.0, lat * 0.0
    x, y, s = project(clon[owner], clat[owner], lon, lat)
    core_rho = np.zeros(len(n))
    np.maximum.at(core_rho, owner, s)
    return clon, clat, core_rho, x, y


#: Corridor routes are indexed in pieces of at most this many (≤ 5 km) edges, each with
#: its own tight cap: a 300 km route would otherwise be a 150 km-radius cap that meets
#: everything along its length.  The union of the pieces' buffers is the corridor.
PIECE_EDGES = 4


def _pieces(
    kind: npt.NDArray[np.int8], radius: F64, clon: F64, clat: F64, rho: F64, off: I64, n: I64, lon: F64, lat: F64
) -> FootprintTable:
    """Split line cores into pieces (sharing end points); other cores stay whole."""
    line = kind == LINE
    edges = np.where(line, n - 1, 0)
    count = np.where(line, -(-edges // PIECE_EDGES), 1)
    source = np.repeat(np.arange(len(n), dtype=np.int64), count)
    if len(source) == len(n):
        return FootprintTable(kind, radius, clon, clat, rho, off, n, lon, lat, source)
    k = np.arange(len(source)) - np.repeat(np.cumsum(count) - count, count)
    piece_line = line[source]
    first = np.where(piece_line, k * PIECE_EDGES, 0)
    size = np.where(piece_line, np.minimum(PIECE_EDGES, edges[source] - first) + 1, n[source])
    idx = ranges(off[source] + first, size)
    new_off = np.cumsum(size) - size
    plon, plat = lon[idx], lat[idx]
    pclon, pclat, prho, _, _ = _caps(new_off, size, plon, plat)
    # whole cores keep their own centre; pieces get theirs
    pclon = np.where(piece_line, pclon, clon[source])
    pclat = np.where(piece_line, pclat, clat[source])
    prho = np.where(piece_line, prho + radius[source], rho[source])
    return FootprintTable(kind[source], radius[source], pclon, pclat, prho, new_off, size, plon, plat, source)


def _check_polygons(kind: npt.NDArray[np.int8], off: I64, n: I64, x: F64, y: F64, name: object) -> None:
    rows = np.nonzero(kind == POLYGON)[0]
    if not len(rows):
        return
    idx = ranges(off[rows], n[rows])
    ring_ids = np.repeat(np.arange(len(rows)), n[rows])
    rings = shapely.linearrings(np.column_stack([x[idx], y[idx]]), indices=ring_ids)
    polys = shapely.polygons(rings)
    valid = shapely.is_valid(polys)
    area = shapely.area(polys)
    # Every vertex on one geodesic (which the projection bends a little): no interior at all.
    hull = shapely.convex_hull(polys)
    flat = ~valid & (shapely.area(hull) < np.maximum(1.0, 1e-7 * shapely.length(hull) ** 2))
    assert callable(name)
    for j in np.nonzero(~valid & ~flat)[0]:
        reason = shapely.is_valid_reason(polys[j])
        if "Self-intersection" in reason or "Ring Self-intersection" in reason:
            raise InvalidFootprintError(
                f"{name(int(rows[j]))}.vertices", "polygon edges cross each other (self-intersection)"
            )
        raise InvalidFootprintError(f"{name(int(rows[j]))}.vertices", f"invalid polygon: {reason}")
    for j in np.nonzero(flat | (area < 1.0))[0]:
        raise InvalidFootprintError(
            f"{name(int(rows[j]))}.vertices", f"degenerate polygon: area {area[j]:.3g} m² (collinear vertices?)"
        )
