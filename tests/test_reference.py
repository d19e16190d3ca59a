"""The reference itself, checked against values known independently of it."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builders import EPOCH, activity, volume, zone
from catalogue import edge_offset, offset, regular_polygon
from deconflict import (
    AltitudeBand,
    Circle,
    Corridor,
    MinimaTable,
    Polygon,
    SeparationMinima,
    TimeWindow,
    Volume4D,
    VolumeRef,
)
from reference import (
    GEOD,
    core_distance,
    core_of,
    distances_to_segment,
    lateral_gap,
    point_in_polygon,
    reference_all_conflicts,
    reference_all_pairs,
    reference_conflict,
)


def inv(p: tuple[float, float], q: tuple[float, float]) -> float:
    return float(GEOD.inv(p[0], p[1], q[0], q[1])[2])


def point(p: tuple[float, float]) -> Circle:
    return Circle(p, 0.0)


def line(*pts: tuple[float, float]) -> Corridor:
    return Corridor(tuple(pts), 0.0)


# --- points -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("p", "q"),
    [
        ((0.0, 0.0), (0.0, 1.0)),
        ((179.9, 10.0), (-179.9, 10.0)),
        ((0.0, 90.0), (77.0, 89.0)),
        ((-70.0, -33.0), (151.2, -33.9)),
    ],
)
def test_point_to_point_is_geod_inv(p: tuple[float, float], q: tuple[float, float]) -> None:
    assert core_distance(point(p), point(q)) == inv(p, q)


def test_gap_subtracts_the_radii_and_is_never_negative() -> None:
    d = inv((0.0, 0.0), (0.0, 1.0))
    assert lateral_gap(Circle((0.0, 0.0), 1000.0), Circle((0.0, 1.0), 2000.0)) == pytest.approx(d - 3000.0, abs=1e-9)
    assert lateral_gap(Circle((0.0, 0.0), d), Circle((0.0, 1.0), 1.0)) == 0.0


# --- point to segment ---------------------------------------------------------------------


def test_point_to_equator_segment() -> None:
    # the equator is a geodesic and the meridian through the point meets it at a right angle
    assert core_distance(point((0.5, 0.1)), line((0.0, 0.0), (1.0, 0.0))) == pytest.approx(
        inv((0.5, 0.1), (0.5, 0.0)), abs=1e-6
    )
    # beyond the segment's end, the nearest point is the end
    assert core_distance(point((1.5, 0.1)), line((0.0, 0.0), (1.0, 0.0))) == pytest.approx(
        inv((1.5, 0.1), (1.0, 0.0)), abs=1e-6
    )


def test_point_to_meridian_segment_against_dense_sampling() -> None:
    p = (0.1, 0.5)
    lats = np.linspace(0.0, 1.0, 200_001)
    _, _, d = GEOD.inv(np.full_like(lats, p[0]), np.full_like(lats, p[1]), np.zeros_like(lats), lats)
    dense = float(np.min(d))  # sampled every 0.55 m: within 1e-4 m of the minimum
    got = core_distance(point(p), line((0.0, 0.0), (0.0, 1.0)))
    assert dense - 1e-4 <= got <= dense + 1e-7
    # on the ellipsoid the foot is not at the point's own latitude
    assert got < inv(p, (0.0, 0.5))


def test_point_to_segment_across_the_antimeridian() -> None:
    equator = line((179.5, 0.0), (-179.5, 0.0))
    assert core_distance(point((180.0, 0.2)), equator) == pytest.approx(inv((180.0, 0.2), (180.0, 0.0)), abs=1e-6)
    assert core_distance(point((-179.9, -0.1)), equator) == pytest.approx(inv((-179.9, -0.1), (-179.9, 0.0)), abs=1e-6)
    # the long way round is not the segment
    assert core_distance(point((0.0, 0.0)), equator) > 19_000_000


def test_point_to_segment_over_the_pole() -> None:
    over = line((0.0, 89.0), (180.0, 89.0))  # the geodesic goes over the pole
    assert core_distance(point((0.0, 90.0)), over) < 1e-6
    assert core_distance(point((90.0, 89.9)), over) == pytest.approx(inv((90.0, 89.9), (0.0, 90.0)), abs=1e-3)


@settings(max_examples=30, deadline=None)
@given(
    st.floats(-180, 180),
    st.floats(-80, 80),
    st.floats(0, 360, exclude_max=True),
    st.floats(10_000, 900_000),
    st.floats(1.0, 20_000.0),
    st.booleans(),
)
def test_perpendicular_offsets_are_recovered(
    lon: float, lat: float, az: float, length: float, d: float, left: bool
) -> None:
    """A point reached from a segment's midpoint along its perpendicular is exactly that far
    from it (GeographicLib builds it; the reference has to find it)."""
    p = (lon, lat)
    q = offset(lon, lat, az, length)
    c = edge_offset(p, q, d, left=left)
    assert core_distance(point(c), line(p, q)) == pytest.approx(d, abs=1e-4)


# --- segment to segment -------------------------------------------------------------------


def test_segments_along_the_equator() -> None:
    got = core_distance(line((0.0, 0.0), (1.0, 0.0)), line((1.5, 0.0), (2.0, 0.0)))
    assert got == pytest.approx(inv((1.0, 0.0), (1.5, 0.0)), abs=1e-6)


def test_meridian_segment_above_an_equator_segment() -> None:
    got = core_distance(line((0.0, 0.0), (1.0, 0.0)), line((0.5, 0.1), (0.5, 1.0)))
    assert got == pytest.approx(inv((0.5, 0.0), (0.5, 0.1)), abs=1e-6)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (line((0.0, 0.0), (1.0, 1.0)), line((0.0, 1.0), (1.0, 0.0))),
        (line((179.8, 5.0), (-179.8, 5.0)), line((180.0, 4.9), (-180.0, 5.1))),
        (line((10.0, 40.0), (30.0, 45.0)), line((20.0, 50.0), (20.0, 35.0))),
    ],
)
def test_crossing_segments_are_at_distance_zero(a: Corridor, b: Corridor) -> None:
    assert core_distance(a, b) < 1e-5


@settings(max_examples=8, deadline=None)
@given(
    st.floats(-180, 180),
    st.floats(-70, 70),
    st.lists(st.floats(0, 360, exclude_max=True), min_size=3, max_size=3),
    st.floats(20_000, 300_000),
)
def test_segment_to_segment_against_sampling(lon: float, lat: float, azimuths: list[float], length: float) -> None:
    """Sampling one segment finely and measuring each sample to the other bounds the
    distance: from above by the smallest sample, from below by that minus half the spacing."""
    p = (lon, lat)
    q = offset(*p, azimuths[0], length)
    r = offset(*p, azimuths[1], length / 2)
    s = offset(*r, azimuths[2], length)
    got = core_distance(line(p, q), line(r, s))
    az, _, seg = GEOD.inv(p[0], p[1], q[0], q[1])
    k = 401
    lons, lats, _ = GEOD.fwd(np.full(k, p[0]), np.full(k, p[1]), np.full(k, az), np.linspace(0, seg, k))
    samples = distances_to_segment(np.asarray(lons), np.asarray(lats), r, s)
    spacing = seg / (k - 1)
    assert min(samples) - spacing / 2 - 1e-6 <= got <= min(samples) + 1e-6


# --- polygons -----------------------------------------------------------------------------


def test_point_in_polygon() -> None:
    square = core_of(Polygon(((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0))))
    assert point_in_polygon(0.5, 0.5, square)
    assert point_in_polygon(0.999, 0.001, square)
    assert not point_in_polygon(1.001, 0.5, square)
    assert not point_in_polygon(-120.0, -45.0, square)
    assert point_in_polygon(1.0, 1.0, square)  # a vertex belongs to the polygon
    clockwise = core_of(Polygon(((0.0, 1.0), (1.0, 1.0), (1.0, 0.0), (0.0, 0.0))))
    assert point_in_polygon(0.5, 0.5, clockwise)


def test_geodesic_edges_are_not_parallels() -> None:
    # the edge from (0, 60) to (40, 60) bulges towards the pole, well north of latitude 60
    poly = core_of(Polygon(((0.0, 60.0), (40.0, 60.0), (40.0, 50.0), (0.0, 50.0))))
    assert point_in_polygon(20.0, 61.0, poly)
    assert not point_in_polygon(20.0, 50.5, poly)  # the southern edge bulges north too


def test_polygon_around_the_north_pole() -> None:
    cap = Polygon(tuple((float(lon), 88.0) for lon in range(-180, 180, 30)))
    core = core_of(cap)
    assert point_in_polygon(0.0, 90.0, core)
    assert point_in_polygon(180.0, 89.5, core)
    # the edge from (-90, 88) to (-60, 88) is a geodesic: it reaches 88.068° at lon -75, so a
    # point north of the parallel may still be outside
    assert not point_in_polygon(-75.0, 88.06, core)
    assert point_in_polygon(-75.0, 88.075, core)
    assert not point_in_polygon(0.0, 87.0, core)
    assert not point_in_polygon(0.0, -90.0, core)
    assert core_distance(Circle((123.0, 89.9), 0.0), cap) == 0.0
    # below the middle of an edge, by symmetry the nearest point is the edge's midpoint
    az, _, d = GEOD.inv(-180.0, 88.0, -150.0, 88.0)
    mlon, mlat, _ = GEOD.fwd(-180.0, 88.0, az, d / 2)
    assert core_distance(point((-165.0, 87.0)), cap) == pytest.approx(
        inv((-165.0, 87.0), (float(mlon), float(mlat))), abs=1e-6
    )


def test_polygon_across_the_antimeridian() -> None:
    poly = Polygon(((179.9, 10.0), (-179.9, 10.0), (-179.9, 10.2), (179.9, 10.2)))
    core = core_of(poly)
    assert point_in_polygon(180.0, 10.1, core) and point_in_polygon(-180.0, 10.1, core)
    assert point_in_polygon(-179.95, 10.05, core)
    assert not point_in_polygon(0.0, 10.1, core)
    assert not point_in_polygon(179.8, 10.1, core)
    assert core_distance(point((180.0, 10.3)), poly) == pytest.approx(
        core_distance(point((180.0, 10.3)), line((179.9, 10.2), (-179.9, 10.2))), abs=1e-9
    )


def test_containment_gives_zero() -> None:
    big = regular_polygon(10.0, 10.0, 100_000.0, 6)
    assert core_distance(big, regular_polygon(10.0, 10.0, 10_000.0, 5)) == 0.0  # no edges cross
    assert core_distance(regular_polygon(10.0, 10.0, 10_000.0, 5), big) == 0.0
    assert core_distance(big, line((10.0, 10.0), (10.1, 10.1))) == 0.0
    assert core_distance(big, point((10.2, 9.9))) == 0.0


def test_point_off_a_polygon_edge() -> None:
    poly = regular_polygon(-30.0, 40.0, 50_000.0, 5)
    v0, v1 = poly.vertices[0], poly.vertices[1]
    assert core_distance(point(edge_offset(v0, v1, 250.0, left=False)), poly) == pytest.approx(250.0, abs=1e-4)
    assert core_distance(point(edge_offset(v0, v1, 250.0, left=True)), poly) == 0.0


# --- the 4D rule --------------------------------------------------------------------------

HERE = Circle((10.0, 50.0), 1000.0)


def vol(start: float, end: float, lower: float = 0.0, upper: float = 100.0, fp: Circle = HERE) -> Volume4D:
    return volume(fp, lower, upper, start, end)


def test_time_is_half_open_with_a_strict_buffer() -> None:
    zero = SeparationMinima()
    assert reference_conflict(vol(0, 60), "air_sortie", vol(59, 120), "air_sortie", zero).conflict
    touching = reference_conflict(vol(0, 60), "air_sortie", vol(60, 120), "air_sortie", zero)
    assert not touching.conflict and not touching.time_breach and touching.time_gap_s == 0.0
    assert reference_conflict(
        vol(0, 60), "air_sortie", vol(60, 120), "air_sortie", SeparationMinima(time_s=0.001)
    ).conflict
    exact = reference_conflict(vol(0, 60), "air_sortie", vol(70, 120), "air_sortie", SeparationMinima(time_s=600))
    assert not exact.time_breach and exact.time_gap_s == 600.0
    assert reference_conflict(
        vol(0, 60), "air_sortie", vol(70, 120), "air_sortie", SeparationMinima(time_s=600.5)
    ).conflict


def test_time_gap_is_exact_to_the_microsecond() -> None:
    a = Volume4D(HERE, AltitudeBand(0, 1), TimeWindow(EPOCH, EPOCH + timedelta(microseconds=123_457)))
    b = Volume4D(
        HERE,
        AltitudeBand(0, 1),
        TimeWindow(EPOCH + timedelta(seconds=1, microseconds=123_457), EPOCH + timedelta(seconds=5)),
    )
    assert not reference_conflict(a, "base", b, "base", SeparationMinima(time_s=1.0)).conflict
    assert reference_conflict(a, "base", b, "base", SeparationMinima(time_s=1.000001)).conflict


def test_altitude_is_closed_with_a_strict_buffer() -> None:
    zero = SeparationMinima()
    touching = reference_conflict(vol(0, 60, 0, 100), "base", vol(0, 60, 100, 200), "base", zero)
    assert touching.conflict and touching.vertical_gap_m == 0.0 and touching.vertical_overlap_m == 0.0
    apart = reference_conflict(
        vol(0, 60, 0, 100), "base", vol(0, 60, 400, 500), "base", SeparationMinima(vertical_m=300)
    )
    assert not apart.conflict and apart.vertical_gap_m == 300.0
    # 0.1 + 0.2 is not 0.3 in binary; the reference compares exactly
    assert not reference_conflict(
        vol(0, 60, 0, 0.1), "base", vol(0, 60, 0.4, 1), "base", SeparationMinima(vertical_m=0.3)
    ).conflict


def test_lateral_touching_and_buffer() -> None:
    a = vol(0, 60, fp=Circle((0.0, 0.0), 0.0))
    same = vol(0, 60, fp=Circle((0.0, 0.0), 0.0))
    near = vol(0, 60, fp=Circle(offset(0.0, 0.0, 10.0, 100.0), 0.0))
    assert reference_conflict(a, "base", same, "base", SeparationMinima()).conflict  # touching with L = 0
    far = reference_conflict(a, "base", near, "base", SeparationMinima(lateral_m=100.0))
    assert not far.conflict and far.lateral_gap_m == pytest.approx(100.0, abs=1e-6)
    assert reference_conflict(a, "base", near, "base", SeparationMinima(lateral_m=100.001)).conflict


def test_lateral_gap_is_only_computed_when_needed() -> None:
    d = reference_conflict(vol(0, 60), "base", vol(120, 180), "base", SeparationMinima())
    assert not d.conflict and d.lateral_gap_m is None and d.lateral_breach is None
    d = reference_conflict(vol(0, 60), "base", vol(120, 180), "base", SeparationMinima(), always_lateral=True)
    assert d.lateral_gap_m == 0.0 and d.lateral_breach


def test_far_pairs_get_a_lower_bound() -> None:
    far = vol(0, 60, fp=Circle((10.0, 52.0), 1000.0))
    d = reference_conflict(vol(0, 60), "base", far, "base", SeparationMinima(lateral_m=1000))
    assert not d.conflict and not d.lateral_exact and d.lateral_gap_m is not None and d.lateral_gap_m >= 1001.0
    assert not d.borderline()


def test_minima_table_is_looked_up_by_kind() -> None:
    table = MinimaTable(SeparationMinima(), {("air_sortie", "protected_site"): SeparationMinima(time_s=900)})
    a, b = vol(0, 60), vol(70, 120)
    assert reference_conflict(a, "protected_site", b, "air_sortie", table).conflict
    assert not reference_conflict(a, "base", b, "air_sortie", table).conflict


def test_all_pairs_skip_same_owner_and_same_party() -> None:
    v = vol(0, 60)
    items = [
        activity("A", "alpha", v, v),
        activity("B", "alpha", v),
        zone("C", "bravo", v),
    ]
    pairs = reference_all_pairs(items, MinimaTable())
    assert set(pairs) == {
        (VolumeRef("A", 0), VolumeRef("C", 0)),
        (VolumeRef("A", 1), VolumeRef("C", 0)),
        (VolumeRef("B", 0), VolumeRef("C", 0)),
    }
    with_same = reference_all_conflicts(items, MinimaTable(), include_same_party=True)
    assert len(with_same) == 5  # A0-B0, A1-B0 too, never A0-A1
    assert (VolumeRef("A", 0), VolumeRef("A", 1)) not in with_same
