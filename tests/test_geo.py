"""Footprint preparation: validation on the ellipsoid, densification, centre and cap radius."""

from __future__ import annotations

import contextlib
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod

from catalogue import CASES, offset, regular_polygon
from deconflict import (
    Circle,
    Corridor,
    FootprintTooLargeError,
    InvalidFootprintError,
    InvalidNumberError,
    Limits,
    Polygon,
    ValidationError,
)
from deconflict.geo import (
    DENSIFY_STEP_M,
    LINE,
    POINT,
    POLYGON,
    FootprintTable,
    densify,
    midpoint,
    prepare,
    project,
    unproject,
)

GEOD = Geod(ellps="WGS84")


def distances(lon: np.ndarray, lat: np.ndarray, clon: float, clat: float) -> np.ndarray:
    _, _, d = GEOD.inv(np.full(len(lon), clon), np.full(len(lat), clat), lon, lat)
    return np.asarray(d)


def edge_lengths(lon: np.ndarray, lat: np.ndarray, closed: bool) -> np.ndarray:
    if closed:
        lon2, lat2 = np.roll(lon, -1), np.roll(lat, -1)
    else:
        lon, lat, lon2, lat2 = lon[:-1], lat[:-1], lon[1:], lat[1:]
    _, _, d = GEOD.inv(lon, lat, lon2, lat2)
    return np.asarray(d)


# --- validation ---------------------------------------------------------------------------


def test_bow_tie_polygon_is_refused() -> None:
    bow_tie = Polygon(((0.0, 0.0), (1.0, 1.0), (1.0, 0.0), (0.0, 1.0)))
    with pytest.raises(InvalidFootprintError) as e:
        prepare([Circle((0.0, 0.0), 10.0), bow_tie])
    assert e.value.field == "footprints[1].vertices"
    assert "self-intersection" in e.value.reason


def test_bow_tie_is_named_by_the_given_field() -> None:
    bow_tie = Polygon(((10.0, 10.0), (10.1, 10.1), (10.1, 10.0), (10.0, 10.1)))
    with pytest.raises(InvalidFootprintError) as e:
        prepare([bow_tie], fields=["items[3].volumes[2].footprint"])
    assert e.value.field == "items[3].volumes[2].footprint.vertices"


def test_polygon_with_a_spike_back_along_an_edge_is_refused() -> None:
    with pytest.raises(InvalidFootprintError) as e:
        prepare([Polygon(((0.0, 0.0), (1.0, 0.0), (0.5, 0.0), (0.5, 1.0)))])
    assert e.value.field == "footprints[0].vertices"


@pytest.mark.parametrize(
    "vertices",
    [
        ((0.0, 0.0), (0.0, 1.0), (0.0, 2.0)),  # along a meridian
        ((-1.0, 0.0), (0.0, 0.0), (2.0, 0.0)),  # along the equator
        ((179.5, 0.0), (-179.9, 0.0), (-179.0, 0.0), (179.8, 0.0)),  # along the equator, across 180
    ],
)
def test_collinear_polygon_is_refused_as_degenerate(vertices: tuple[tuple[float, float], ...]) -> None:
    with pytest.raises(InvalidFootprintError) as e:
        prepare([Polygon(vertices)])
    assert e.value.field == "footprints[0].vertices"
    assert "degenerate polygon" in e.value.reason


def test_polygon_along_one_geodesic_is_refused_as_degenerate() -> None:
    p = (10.0, 60.0)
    q, r = offset(*p, 80.0, 200_000.0), offset(*p, 80.0, 400_000.0)
    with pytest.raises(InvalidFootprintError) as e:
        prepare([Polygon((p, q, r))])
    assert "degenerate polygon" in e.value.reason


def test_tiny_area_polygon_is_refused() -> None:
    with pytest.raises(InvalidFootprintError) as e:
        prepare([Polygon(((0.0, 0.0), (1e-6, 0.0), (0.0, 1e-6)))])
    assert e.value.field == "footprints[0].vertices"
    assert "degenerate polygon: area" in e.value.reason


@pytest.mark.parametrize(
    "footprint",
    [
        Circle((20.0, 40.0), 500_001.0),
        Corridor(((0.0, 0.0), (10.0, 0.0)), 0.0),  # 1 113 km long
        Corridor(((0.0, 0.0), (8.0, 0.0)), 70_000.0),  # 890 km + 2 × 70 km
        regular_polygon(0.0, 89.0, 520_000.0, 6),
    ],
)
def test_footprint_over_the_cap_is_refused(footprint: Circle | Corridor | Polygon) -> None:
    with pytest.raises(FootprintTooLargeError) as e:
        prepare([Circle((0.0, 0.0), 1.0), footprint])
    assert e.value.field == "footprints[1]"
    assert "exceeds the cap of 1000.0 km" in e.value.reason


def test_cap_is_configurable_and_inclusive() -> None:
    limits = Limits(max_footprint_m=10_000.0)
    prepare([Circle((0.0, 0.0), 5_000.0)], limits)
    with pytest.raises(FootprintTooLargeError) as e:
        prepare([Circle((0.0, 0.0), 5_000.5)], limits)
    assert "10.0 km across exceeds the cap of 10.0 km" in e.value.reason


def test_footprint_around_the_globe_is_refused() -> None:
    with pytest.raises(FootprintTooLargeError):
        prepare([Corridor(((0.0, 0.0), (90.0, 0.0), (180.0, 0.0), (-90.0, 0.0), (0.0, 0.0)), 0.0)])


def test_max_vertices() -> None:
    poly = regular_polygon(0.0, 0.0, 1000.0, 6)
    with pytest.raises(InvalidFootprintError) as e:
        prepare([poly], Limits(max_vertices=5), fields=["zone"])
    assert e.value.field == "zone"
    assert "6 vertices exceed the limit of 5" in e.value.reason
    assert len(prepare([poly], Limits(max_vertices=6))) == 1
    long_path = Corridor(tuple((0.001 * k, 0.0) for k in range(8)), 1.0)
    with pytest.raises(InvalidFootprintError):
        prepare([long_path], Limits(max_vertices=7))


def test_limits_are_validated() -> None:
    for bad in (0.0, -1.0):
        with pytest.raises(InvalidFootprintError) as e:
            Limits(max_footprint_m=bad)
        assert e.value.field == "max_footprint_m"
    with pytest.raises(InvalidNumberError) as e2:
        Limits(max_footprint_m=math.nan)
    assert e2.value.field == "max_footprint_m"
    for bad_n in (2, 0, -5, 3.5, "10", None, True):
        with pytest.raises(InvalidFootprintError) as e:
            Limits(max_vertices=bad_n)  # type: ignore[arg-type]
        assert e.value.field == "max_vertices" and ">= 3" in e.value.reason


@settings(max_examples=100, deadline=None)
@given(
    st.one_of(st.floats(), st.integers(), st.text(max_size=3), st.none()),
    st.one_of(st.floats(), st.integers(), st.text(max_size=3), st.none()),
)
def test_fuzz_limits(max_footprint: object, max_vertices: object) -> None:
    with contextlib.suppress(ValidationError):
        Limits(max_footprint, max_vertices)  # type: ignore[arg-type]


def test_not_a_footprint_is_refused() -> None:
    with pytest.raises(InvalidFootprintError):
        prepare([Circle((0.0, 0.0), 1.0), (0.0, 0.0)])  # type: ignore[list-item]


# --- densification ------------------------------------------------------------------------


def _rows(table: FootprintTable, i: int) -> list[int]:
    """The rows of input footprint ``i`` (a route may be split into several pieces)."""
    return np.flatnonzero(table.source == i).tolist()


def _core(table: FootprintTable, i: int) -> tuple[np.ndarray, np.ndarray]:
    """Input footprint ``i``'s stored core, pieces joined (they share their end points)."""
    lons: list[float] = []
    lats: list[float] = []
    for row in _rows(table, i):
        lon, lat = table.vertices(row)
        if lons and (lons[-1], lats[-1]) == (lon[0], lat[0]):
            lon, lat = lon[1:], lat[1:]
        lons.extend(lon.tolist())
        lats.extend(lat.tolist())
    return np.array(lons), np.array(lats)


def test_edges_are_densified_to_the_step_along_the_geodesic() -> None:
    poly = Polygon(((0.0, 0.0), (1.0, 0.0), (1.0, 1.0)))
    line = Corridor(((179.0, 60.0), (-178.0, 61.0), (-177.5, 61.0)), 100.0)
    table = prepare([Circle((3.0, 3.0), 10.0), poly, line])
    assert sorted(set(table.source.tolist())) == [0, 1, 2]
    assert [int(table.kind[r]) for r in _rows(table, 0)] == [POINT]
    assert [int(table.kind[r]) for r in _rows(table, 1)] == [POLYGON]
    assert {int(table.kind[r]) for r in _rows(table, 2)} == {LINE}
    assert int(table.n[_rows(table, 0)[0]]) == 1
    for i, fp, closed in ((1, poly, True), (2, line, False)):
        lon, lat = _core(table, i)
        pieces = edge_lengths(lon, lat, closed)
        assert pieces.max() <= DENSIFY_STEP_M + 1e-6
        original = np.array(fp.vertices if isinstance(fp, Polygon) else fp.path)
        # the original vertices are kept, in order
        kept = [int(np.flatnonzero((lon == x) & (lat == y))[0]) for x, y in original]
        assert kept == sorted(kept) and kept[0] == 0
        # the inserted points lie on the geodesic: the pieces add up to the edge's length
        assert pieces.sum() == pytest.approx(edge_lengths(original[:, 0], original[:, 1], closed).sum(), abs=1e-4)


def test_densify_several_cores_at_once() -> None:
    kind = np.array([POINT, LINE, POLYGON], dtype=np.int8)
    n = np.array([1, 2, 3], dtype=np.int64)
    off = np.cumsum(n) - n
    lon = np.array([5.0, 0.0, 0.0, 10.0, 10.1, 10.0])
    lat = np.array([5.0, 0.0, 0.1, 10.0, 10.0, 10.1])
    new_off, new_n, new_lon, new_lat = densify(kind, off, n, lon, lat, 1000.0)
    assert new_n[0] == 1 and (new_lon[0], new_lat[0]) == (5.0, 5.0)
    assert new_n[1] == math.ceil(GEOD.inv(0.0, 0.0, 0.0, 0.1)[2] / 1000.0) + 1
    assert new_off.tolist() == [0, new_n[0], new_n[0] + new_n[1]]
    for i, closed in ((1, False), (2, True)):
        a, b = new_off[i], new_off[i] + new_n[i]
        assert edge_lengths(new_lon[a:b], new_lat[a:b], closed).max() <= 1000.0 + 1e-6


def test_short_edges_are_left_alone() -> None:
    poly = Polygon(((0.0, 0.0), (0.01, 0.0), (0.01, 0.01), (0.0, 0.01)))
    lon, lat = prepare([poly]).vertices(0)
    assert list(zip(lon.tolist(), lat.tolist(), strict=True)) == list(poly.vertices)


# --- centre and cap radius ----------------------------------------------------------------


@pytest.mark.parametrize(
    "footprint",
    [
        Circle((12.0, 34.0), 2500.0),
        Corridor(((179.5, -10.0), (-179.5, -10.5), (-179.0, -9.0)), 3000.0),
        Polygon(((179.9, 10.0), (-179.9, 10.0), (-179.9, 10.2), (179.9, 10.2))),
        Polygon(tuple((float(lon), 88.0) for lon in range(-180, 180, 30))),
        Polygon(((0.0, -90.0), (0.0, -89.0), (90.0, -89.0))),
        regular_polygon(-60.0, 45.0, 450_000.0, 9),
        Corridor(((0.0, 89.0), (180.0, 89.0)), 0.0),
    ],
    ids=[
        "circle",
        "corridor-antimeridian",
        "polygon-antimeridian",
        "polygon-north-pole",
        "polygon-south-pole-vertex",
        "900-km",
        "corridor-over-pole",
    ],
)
def test_cap_holds_the_whole_footprint(footprint: Circle | Corridor | Polygon) -> None:
    table = prepare([footprint])
    assert set(table.source.tolist()) == {0}
    lon_all, lat_all = _core(table, 0)
    original = (
        footprint.vertices
        if isinstance(footprint, Polygon)
        else footprint.path
        if isinstance(footprint, Corridor)
        else (footprint.center,)
    )
    assert {(x, y) for x, y in original} <= set(zip(lon_all.tolist(), lat_all.tolist(), strict=True))
    for row in _rows(table, 0):
        clon, clat, rho = float(table.clon[row]), float(table.clat[row]), float(table.rho[row])
        assert -180.0 <= clon <= 180.0 and -90.0 <= clat <= 90.0
        lon, lat = table.vertices(row)
        radius = float(table.radius[row])
        far = distances(lon, lat, clon, clat).max() + radius
        assert far <= rho + 1e-6
        assert far == pytest.approx(rho, abs=1e-6)  # the cap is tight
        if len(lon) > 1:
            # points on the edges, between the stored vertices, are inside the cap too
            closed = int(table.kind[row]) == POLYGON
            lon2, lat2 = (np.roll(lon, -1), np.roll(lat, -1)) if closed else (lon[1:], lat[1:])
            lon1, lat1 = (lon, lat) if closed else (lon[:-1], lat[:-1])
            mlon, mlat = midpoint(lon1, lat1, lon2, lat2)
            assert distances(mlon, mlat, clon, clat).max() + radius <= rho + 1e-6


def test_cap_of_antimeridian_polygon_is_small() -> None:
    table = prepare([Polygon(((179.9, 10.0), (-179.9, 10.0), (-179.9, 10.2), (179.9, 10.2)))])
    assert abs(abs(float(table.clon[0])) - 180.0) < 0.01
    assert float(table.clat[0]) == pytest.approx(10.1, abs=0.01)
    assert float(table.rho[0]) < 20_000.0


def test_cap_of_polar_polygon_is_centred_on_the_pole() -> None:
    table = prepare([Polygon(tuple((float(lon), 88.0) for lon in range(-180, 180, 30)))])
    assert float(table.clat[0]) == pytest.approx(90.0, abs=1e-6)
    assert float(table.rho[0]) == pytest.approx(GEOD.inv(0.0, 90.0, 0.0, 88.0)[2], rel=1e-3)


def test_catalogue_footprints_prepare_and_their_caps_hold_their_vertices() -> None:
    shapes = [fp for case in CASES for fp in (case.a, case.b)]
    table = prepare(shapes)
    assert sorted(set(table.source.tolist())) == list(range(len(shapes)))
    assert np.all(np.diff(table.source) >= 0)  # rows stay in input order
    for row in range(len(table)):
        lon, lat = table.vertices(row)
        d = distances(lon, lat, float(table.clon[row]), float(table.clat[row]))
        assert d.max() + table.radius[row] <= table.rho[row] + 1e-6


def test_a_long_route_is_split_into_pieces_with_tight_caps() -> None:
    start = (100.0, 20.0)
    route = Corridor((start, offset(*start, 70.0, 600_000.0)), 50.0)
    table = prepare([Circle((0.0, 0.0), 1.0), route])
    rows = _rows(table, 1)
    assert len(rows) > 1
    assert all(float(table.rho[r]) < 100_000.0 for r in rows)
    assert all(float(table.radius[r]) == 50.0 for r in rows)


# --- projection helpers -------------------------------------------------------------------


def test_project_preserves_distance_from_the_centre_and_round_trips() -> None:
    lon = np.array([179.5, -179.5, 0.0, 45.0])
    lat = np.array([-30.0, -31.0, -89.0, -80.0])
    for clon, clat in ((180.0, -30.5), (0.0, -90.0), (30.0, -85.0)):
        x, y, s = project(clon, clat, lon, lat)
        assert np.allclose(np.hypot(x, y), s)
        assert np.allclose(s, distances(lon, lat, clon, clat))
        blon, blat = unproject(clon, clat, x, y)
        assert np.allclose(distances(lon, lat, 0.0, 0.0), distances(blon, blat, 0.0, 0.0), atol=1e-6)
        _, _, back = GEOD.inv(lon, lat, blon, blat)
        assert np.max(back) < 1e-6


def test_midpoint_is_halfway_along_the_geodesic() -> None:
    lon1, lat1 = np.array([179.0, 0.0]), np.array([0.0, 89.0])
    lon2, lat2 = np.array([-179.0, 180.0]), np.array([1.0, 89.0])
    mlon, mlat = midpoint(lon1, lat1, lon2, lat2)
    _, _, total = GEOD.inv(lon1, lat1, lon2, lat2)
    _, _, d1 = GEOD.inv(lon1, lat1, mlon, mlat)
    _, _, d2 = GEOD.inv(mlon, mlat, lon2, lat2)
    assert np.allclose(d1, total / 2, atol=1e-6) and np.allclose(d2, total / 2, atol=1e-6)
    assert mlat[1] == pytest.approx(90.0, abs=1e-6)  # the geodesic between opposite meridians crosses the pole
