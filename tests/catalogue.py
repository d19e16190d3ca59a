"""A catalogue of awkward pairs of footprints, shared by the tests.

Each :class:`Case` is two footprints and a lateral minimum.  Where the answer is known by
construction, ``expected`` (conflict or not) and/or ``expected_gap_m`` say so; otherwise
the reference (``tests/reference.py``) decides.  Shapes are built with GeographicLib
(``Geod.fwd``): a point reached from the midpoint of a geodesic edge along the edge's
perpendicular is at exactly that distance from the edge (for small distances), which
gives gaps known to the millimetre without any distance routine.

    >>> len({case.name for case in CASES}) == len(CASES)
    True
"""

from __future__ import annotations

from dataclasses import dataclass

from pyproj import Geod

from deconflict.model import Circle, Corridor, Footprint, Polygon

__all__ = ["CASES", "Case", "edge_offset", "offset", "regular_polygon"]

GEOD = Geod(ellps="WGS84")


@dataclass(frozen=True)
class Case:
    name: str
    a: Footprint
    b: Footprint
    lateral_m: float
    expected: bool | None = None
    expected_gap_m: float | None = None

    def __str__(self) -> str:
        return self.name


def offset(lon: float, lat: float, az: float, dist: float) -> tuple[float, float]:
    """The point ``dist`` metres from (lon, lat) along azimuth ``az``."""
    lon2, lat2, _ = GEOD.fwd(lon, lat, az, dist)
    return (float(lon2), float(lat2))


def edge_offset(
    p: tuple[float, float], q: tuple[float, float], dist: float, *, left: bool = True
) -> tuple[float, float]:
    """The point ``dist`` metres from the midpoint of geodesic ``p``–``q``, perpendicular to it
    (on the left of the direction of travel, or the right)."""
    az, _, d = GEOD.inv(p[0], p[1], q[0], q[1])
    mlon, mlat, back = GEOD.fwd(p[0], p[1], az, d / 2.0)
    heading = back + 180.0  # azimuth of the geodesic at its midpoint
    return offset(mlon, mlat, heading - 90.0 if left else heading + 90.0, dist)


def regular_polygon(lon: float, lat: float, radius_m: float, n: int, rotation: float = 0.0) -> Polygon:
    """A polygon whose ``n`` vertices lie ``radius_m`` from (lon, lat), counter-clockwise."""
    return Polygon(tuple(offset(lon, lat, rotation - 360.0 * k / n, radius_m) for k in range(n)))


def _cases() -> list[Case]:
    cases: list[Case] = []

    def add(
        name: str, a: Footprint, b: Footprint, lateral_m: float, expected: bool | None = None, gap: float | None = None
    ) -> None:
        cases.append(Case(name, a, b, lateral_m, expected, gap))

    # --- the antimeridian ----------------------------------------------------------------
    am_a = Polygon(((179.9, 10.0), (-179.9, 10.0), (-179.9, 10.2), (179.9, 10.2)))
    am_b = Polygon(((179.95, 10.1), (-179.8, 10.1), (-179.8, 10.3), (179.95, 10.3)))
    add("antimeridian polygons overlap", am_a, am_b, 0.0, True, 0.0)
    am_c = Polygon(((179.9, 10.3), (-179.9, 10.3), (-179.9, 10.5), (179.9, 10.5)))
    add("antimeridian polygons 11 km apart, L=12 km", am_a, am_c, 12_000.0, True)
    add("antimeridian polygons 11 km apart, L=10 km", am_a, am_c, 10_000.0, False)
    add("antimeridian polygon holds a circle at lon -180", am_a, Circle((-180.0, 10.1), 50.0), 0.0, True, 0.0)
    am_line = Corridor(((179.5, -20.0), (-179.5, -20.2)), 500.0)
    add("antimeridian corridor vs circle, L=50 km", am_line, Circle((180.0, -19.9), 1000.0), 50_000.0, True)
    add("antimeridian corridor vs circle, L=1 km", am_line, Circle((180.0, -19.9), 1000.0), 1_000.0, False)
    add(
        "antimeridian zero-width corridors cross",
        Corridor(((179.8, 5.0), (-179.8, 5.0)), 0.0),
        Corridor(((180.0, 4.9), (-180.0, 5.1)), 0.0),
        0.0,
        True,
        0.0,
    )
    p, q = (179.7, 30.0), (-179.6, 30.4)
    add(
        "antimeridian edge, circle 2 km off, r=500, L=1501",
        Corridor((p, q), 0.0),
        Circle(edge_offset(p, q, 2000.0), 500.0),
        1501.0,
        True,
        1500.0,
    )
    add(
        "antimeridian edge, circle 2 km off, r=500, L=1499",
        Corridor((p, q), 0.0),
        Circle(edge_offset(p, q, 2000.0), 500.0),
        1499.0,
        False,
        1500.0,
    )

    # --- the poles -----------------------------------------------------------------------
    cap = Polygon(tuple((float(lon), 88.0) for lon in range(-180, 180, 30)))
    add(
        "polygon around the North Pole holds a circle on the far side",
        cap,
        Circle((180.0, 89.5), 1000.0),
        0.0,
        True,
        0.0,
    )
    add("polygon around the North Pole holds the pole", cap, Circle((0.0, 90.0), 10_000.0), 0.0, True, 0.0)
    add("circle outside the polar polygon, L=200 km", cap, Circle((-165.0, 87.0), 5000.0), 200_000.0, True)
    add("circle outside the polar polygon, L=90 km", cap, Circle((-165.0, 87.0), 5000.0), 90_000.0, False)
    north = Polygon(
        tuple((float(lon), 86.5) for lon in range(0, 180, 45)) + tuple((float(lon), 86.5) for lon in range(-180, 0, 45))
    )
    az, _, d = GEOD.inv(0.0, 86.5, 45.0, 86.5)
    mid_lon, mid_lat, _ = GEOD.fwd(0.0, 86.5, az, d / 2.0)
    below = GEOD.inv(22.5, 85.0, mid_lon, mid_lat)[2]  # by symmetry the nearest point is the edge's midpoint
    add(
        "polar octagon vs point below an edge's midpoint, L=gap+1",
        north,
        Circle((22.5, 85.0), 0.0),
        below + 1.0,
        True,
        below,
    )
    add(
        "polar octagon vs point below an edge's midpoint, L=gap-1",
        north,
        Circle((22.5, 85.0), 0.0),
        below - 1.0,
        False,
        below,
    )
    pole_line = Corridor(((0.0, -89.0), (180.0, -89.0)), 0.0)
    add(
        "corridor across the South Pole vs point 1.1 km off, L=2 km",
        pole_line,
        Circle((90.0, -89.99), 0.0),
        2_000.0,
        True,
    )
    add(
        "corridor across the South Pole vs point 1.1 km off, L=500 m",
        pole_line,
        Circle((90.0, -89.99), 0.0),
        500.0,
        False,
    )
    add(
        "polygon near the pole, not around it",
        Polygon(((10.0, 89.0), (100.0, 89.0), (55.0, 89.8))),
        Circle((-125.0, 89.5), 1000.0),
        0.0,
        False,
    )

    add(
        "polygon with a vertex on the North Pole vs circle inside",
        Polygon(((0.0, 90.0), (0.0, 89.0), (90.0, 89.0))),
        Circle((45.0, 89.6), 100.0),
        0.0,
        True,
        0.0,
    )
    add(
        "circles on the North Pole given with different longitudes",
        Circle((0.0, 90.0), 0.0),
        Circle((123.0, 90.0), 0.0),
        0.0,
        True,
        0.0,
    )
    add("points at lon 180 and lon -180", Circle((180.0, 12.0), 0.0), Circle((-180.0, 12.0), 0.0), 0.0, True, 0.0)

    # --- zero width, zero radius ---------------------------------------------------------
    line = Corridor(((30.0, 40.0), (30.5, 40.3), (31.0, 40.1)), 0.0)
    add("zero-radius circle on a zero-width corridor's vertex", line, Circle((30.5, 40.3), 0.0), 0.0, True, 0.0)
    off = edge_offset((30.0, 40.0), (30.5, 40.3), 100.0)
    add("zero-radius circle 100 m from a zero-width corridor, L=150", line, Circle(off, 0.0), 150.0, True, 100.0)
    add("zero-radius circle 100 m from a zero-width corridor, L=50", line, Circle(off, 0.0), 50.0, False, 100.0)
    add("zero-radius circles at the same point", Circle((5.0, 5.0), 0.0), Circle((5.0, 5.0), 0.0), 0.0, True, 0.0)
    add(
        "zero-radius circles 1 m apart, L=0",
        Circle((5.0, 5.0), 0.0),
        Circle(offset(5.0, 5.0, 33.0, 1.0), 0.0),
        0.0,
        False,
        1.0,
    )

    # --- touching ------------------------------------------------------------------------
    sq = Polygon(((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)))
    add("polygons sharing an edge, L=0", sq, Polygon(((1.0, 0.0), (2.0, 0.0), (2.0, 1.0), (1.0, 1.0))), 0.0, True, 0.0)
    add("polygons sharing a vertex, L=0", sq, Polygon(((1.0, 1.0), (2.0, 1.0), (2.0, 2.0), (1.0, 2.0))), 0.0, True, 0.0)
    add("corridor starting on a polygon's vertex, L=0", sq, Corridor(((1.0, 1.0), (1.5, 1.5)), 0.0), 0.0, True, 0.0)
    small = Polygon(((0.0, 0.0), (0.01, 0.0), (0.01, 0.01), (0.0, 0.01)))
    add(
        "small polygons sharing an edge, L=0",
        small,
        Polygon(((0.01, 0.0), (0.02, 0.0), (0.02, 0.01), (0.01, 0.01))),
        0.0,
        True,
        0.0,
    )

    cw = Polygon(((0.0, 1.0), (1.0, 1.0), (1.0, 0.0), (0.0, 0.0), (0.0, 1.0)))  # clockwise, closed ring
    add("clockwise closed ring vs circle inside", cw, Circle((0.5, 0.5), 10.0), 0.0, True, 0.0)
    add(
        "clockwise closed ring vs circle 1 km off an edge, L=1001",
        cw,
        Circle(edge_offset((1.0, 1.0), (1.0, 0.0), 1000.0, left=True), 0.0),
        1001.0,
        True,
        1000.0,
    )

    # --- containment and crossings -------------------------------------------------------
    add("polygon inside a polygon", sq, Polygon(((0.2, 0.2), (0.4, 0.2), (0.3, 0.4))), 0.0, True, 0.0)
    add("corridor inside a polygon", sq, Corridor(((0.1, 0.1), (0.9, 0.8)), 10.0), 0.0, True, 0.0)
    add(
        "polygons crossing like a plus sign",
        Polygon(((-1.0, -0.1), (1.0, -0.1), (1.0, 0.1), (-1.0, 0.1))),
        Polygon(((-0.1, -1.0), (0.1, -1.0), (0.1, 1.0), (-0.1, 1.0))),
        0.0,
        True,
        0.0,
    )

    # --- circle vs corridor --------------------------------------------------------------
    route = Corridor(((-3.0, 51.0), (-2.0, 51.5), (-1.0, 51.2)), 2000.0)
    add("circle overlapping a corridor", route, Circle((-2.0, 51.45), 3000.0), 0.0, True, 0.0)
    c_off = edge_offset((-2.0, 51.5), (-1.0, 51.2), 10_000.0, left=False)
    add("circle 10 km off a corridor's centreline, L=6 km", route, Circle(c_off, 3000.0), 6000.0, True, 5000.0)
    add("circle 10 km off a corridor's centreline, L=4 km", route, Circle(c_off, 3000.0), 4000.0, False, 5000.0)

    # --- huge vs tiny --------------------------------------------------------------------
    huge = regular_polygon(45.0, -30.0, 250_000.0, 7)
    v0, v1 = huge.vertices[0], huge.vertices[1]
    inside = edge_offset(v0, v1, 20.0, left=True)  # counter-clockwise ring: the interior is on the left
    outside = edge_offset(v0, v1, 20.0, left=False)
    add("500 km polygon vs 10 m circle 20 m inside an edge", huge, Circle(inside, 5.0), 0.0, True, 0.0)
    add("500 km polygon vs 10 m circle 20 m outside an edge, L=0", huge, Circle(outside, 5.0), 0.0, False, 15.0)
    add("500 km polygon vs 10 m circle 20 m outside an edge, L=17", huge, Circle(outside, 5.0), 17.0, True, 15.0)
    add("500 km polygon vs 10 m circle 20 m outside an edge, L=13", huge, Circle(outside, 5.0), 13.0, False, 15.0)
    big_circle = Circle((-60.0, 10.0), 250_000.0)
    add("500 km circle vs 10 m square inside", big_circle, regular_polygon(-60.5, 10.5, 7.0, 4), 0.0, True, 0.0)

    # --- long and thin -------------------------------------------------------------------
    start = (100.0, 20.0)
    end = offset(*start, 70.0, 900_000.0)
    long_thin = Corridor((start, end), 10.0)
    tiny = Circle(edge_offset(start, end, 30.0), 5.0)
    add("900 km corridor, 10 m half-width, circle 15 m off, L=16", long_thin, tiny, 16.0, True, 15.0)
    add("900 km corridor, 10 m half-width, circle 15 m off, L=14", long_thin, tiny, 14.0, False, 15.0)
    add(
        "900 km corridor vs 900 km corridor crossing it",
        long_thin,
        Corridor((offset(*start, 0.0, 100_000.0), offset(*end, 180.0, 100_000.0)), 10.0),
        0.0,
        True,
        0.0,
    )

    # --- nearly parallel long geodesics --------------------------------------------------
    a0 = (10.0, 40.0)
    a1 = offset(*a0, 90.0, 800_000.0)
    *_, back = GEOD.fwd(a0[0], a0[1], 90.0, 800_000.0)
    b0 = offset(*a0, 0.0, 1000.0)  # perpendicular to A at its start
    b1 = offset(*a1, back + 180.0 - 90.0, 1300.0)  # perpendicular to A at its end, same side
    para_a, para_b = Corridor((a0, a1), 0.0), Corridor((b0, b1), 0.0)
    add("nearly parallel 800 km geodesics 1 km apart, L=1001", para_a, para_b, 1001.0, True, 1000.0)
    add("nearly parallel 800 km geodesics 1 km apart, L=999", para_a, para_b, 999.0, False, 1000.0)
    add(
        "nearly parallel 800 km corridors, 400 m half-widths, L=201",
        Corridor((a0, a1), 400.0),
        Corridor((b0, b1), 400.0),
        201.0,
        True,
        200.0,
    )

    # --- around the threshold, ±1 m ------------------------------------------------------
    c1 = (-70.0, -33.0)
    c2 = offset(*c1, 123.0, 25_000.0)
    add("circles 25 km apart, radii 5+8 km, L=12 001", Circle(c1, 5000.0), Circle(c2, 8000.0), 12_001.0, True, 12_000.0)
    add(
        "circles 25 km apart, radii 5+8 km, L=11 999", Circle(c1, 5000.0), Circle(c2, 8000.0), 11_999.0, False, 12_000.0
    )
    box = regular_polygon(-70.0, -33.0, 30_000.0, 5, rotation=10.0)
    w0, w1 = box.vertices[2], box.vertices[3]
    near = Circle(edge_offset(w0, w1, 3000.0, left=False), 1000.0)
    add("polygon edge vs circle, gap 2 km, L=2001", box, near, 2001.0, True, 2000.0)
    add("polygon edge vs circle, gap 2 km, L=1999", box, near, 1999.0, False, 2000.0)
    add(
        "polygon edge vs corridor, gap 2 km, L=2001",
        box,
        Corridor((near.center, offset(*near.center, 200.0, 5.0)), 1000.0),
        2001.0,
        None,
    )
    return cases


CASES: list[Case] = _cases()
