"""The domain model: every validation error names its field and says why; junk never escapes
as anything but a ValidationError."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone, tzinfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deconflict import (
    Activity,
    ActivityKind,
    AltitudeBand,
    Circle,
    Conflict,
    Corridor,
    DeconflictError,
    Dimension,
    FootprintTooLargeError,
    IndexStateError,
    InvalidAltitudeError,
    InvalidCoordinateError,
    InvalidFootprintError,
    InvalidNumberError,
    InvalidTimeWindowError,
    MinimaTable,
    Polygon,
    SeparationMinima,
    TimeWindow,
    ValidationError,
    Volume4D,
    VolumeRef,
    Zone,
    ZoneKind,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
WINDOW = TimeWindow(T0, T0 + timedelta(hours=1))
BAND = AltitudeBand(0.0, 1000.0)
VOLUME = Volume4D(Circle((10.0, 50.0), 1000.0), BAND, WINDOW)


def refused(exc_info: pytest.ExceptionInfo[DeconflictError], field: str, reason: str) -> None:
    """The error names ``field`` exactly and its reason contains ``reason``."""
    err = exc_info.value
    assert err.field == field, f"field {err.field!r} != {field!r}"
    assert reason in err.reason, f"{reason!r} not in {err.reason!r}"
    assert str(err) == f"{field}: {err.reason}"


# --- numbers ------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_radius_is_refused(bad: float) -> None:
    with pytest.raises(InvalidNumberError) as e:
        Circle((0.0, 0.0), bad)
    refused(e, "radius_m", "must be finite")


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_coordinates_are_refused(bad: float) -> None:
    with pytest.raises(InvalidNumberError) as e:
        Circle((bad, 0.0), 1.0)
    refused(e, "center.lon", "must be finite")
    with pytest.raises(InvalidNumberError) as e:
        Circle((0.0, bad), 1.0)
    refused(e, "center.lat", "must be finite")
    with pytest.raises(InvalidNumberError) as e:
        Polygon(((0.0, 0.0), (1.0, 0.0), (1.0, bad)))
    refused(e, "vertices[2].lat", "must be finite")
    with pytest.raises(InvalidNumberError) as e:
        Corridor(((0.0, 0.0), (bad, 1.0)), 10.0)
    refused(e, "path[1].lon", "must be finite")


@pytest.mark.parametrize(("bad", "kind"), [(True, "bool"), ("1.0", "str"), (None, "NoneType"), ([1.0], "list")])
def test_non_numbers_are_refused(bad: object, kind: str) -> None:
    with pytest.raises(InvalidNumberError) as e:
        Circle((0.0, 0.0), bad)  # type: ignore[arg-type]
    refused(e, "radius_m", f"must be a number, got {kind}")


def test_integers_are_numbers() -> None:
    c = Circle((1, 2), 3)
    assert c.center == (1.0, 2.0) and isinstance(c.center[0], float)
    assert c.radius_m == 3.0 and isinstance(c.radius_m, float)


def test_an_integer_too_large_for_a_float_is_refused() -> None:
    with pytest.raises(InvalidNumberError) as e:
        Circle((0.0, 0.0), 10**400)
    refused(e, "radius_m", "must be finite")


# --- coordinates --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("center", "field", "reason"),
    [
        ((180.0001, 0.0), "center.lon", "longitude 180.0001 is outside [-180, 180]"),
        ((-181.0, 0.0), "center.lon", "outside [-180, 180]"),
        ((0.0, 90.5), "center.lat", "latitude 90.5 is outside [-90, 90]"),
        ((0.0, -91.0), "center.lat", "outside [-90, 90]"),
    ],
)
def test_coordinates_out_of_range_are_refused(center: tuple[float, float], field: str, reason: str) -> None:
    with pytest.raises(InvalidCoordinateError) as e:
        Circle(center, 1.0)
    refused(e, field, reason)


def test_coordinate_bounds_are_accepted() -> None:
    for lon, lat in [(-180.0, -90.0), (180.0, 90.0), (-180.0, 90.0), (180.0, -90.0)]:
        assert Circle((lon, lat), 0.0).center == (lon, lat)


@pytest.mark.parametrize("bad", [(1.0,), (1.0, 2.0, 3.0), "ab", 5, None, {"lon": 1, "lat": 2}])
def test_a_point_must_be_a_pair(bad: object) -> None:
    with pytest.raises(InvalidCoordinateError) as e:
        Circle(bad, 1.0)  # type: ignore[arg-type]
    refused(e, "center", "(longitude, latitude) pair")


def test_vertices_must_be_a_sequence() -> None:
    with pytest.raises(InvalidCoordinateError) as e:
        Polygon(5)  # type: ignore[arg-type]
    refused(e, "vertices", "sequence of (longitude, latitude) pairs")
    with pytest.raises(InvalidCoordinateError) as e:
        Corridor(None, 1.0)  # type: ignore[arg-type]
    refused(e, "path", "sequence of (longitude, latitude) pairs")


def test_a_bad_vertex_is_named_by_its_index() -> None:
    with pytest.raises(InvalidCoordinateError) as e:
        Polygon(((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 95.0)))
    refused(e, "vertices[3].lat", "outside [-90, 90]")
    with pytest.raises(InvalidCoordinateError) as e:
        Corridor(((0.0, 0.0), "x"), 1.0)  # type: ignore[arg-type]
    refused(e, "path[1]", "pair")


# --- footprints ---------------------------------------------------------------------------


def test_negative_radius_and_half_width_are_refused() -> None:
    with pytest.raises(InvalidFootprintError) as e:
        Circle((0.0, 0.0), -1.0)
    refused(e, "radius_m", "must be >= 0, got -1.0")
    with pytest.raises(InvalidFootprintError) as e:
        Corridor(((0.0, 0.0), (1.0, 1.0)), -0.5)
    refused(e, "half_width_m", "must be >= 0")


def test_zero_radius_and_zero_half_width_are_accepted() -> None:
    assert Circle((0.0, 0.0), 0.0).radius_m == 0.0
    assert Corridor(((0.0, 0.0), (1.0, 1.0)), 0).half_width_m == 0.0


@pytest.mark.parametrize(
    "vertices",
    [
        (),
        ((0.0, 0.0),),
        ((0.0, 0.0), (1.0, 1.0)),
        ((0.0, 0.0), (1.0, 1.0), (0.0, 0.0)),
        ((0.0, 0.0), (0.0, 0.0), (1.0, 1.0), (1.0, 1.0)),
    ],
)
def test_a_polygon_needs_three_distinct_vertices(vertices: tuple[tuple[float, float], ...]) -> None:
    with pytest.raises(InvalidFootprintError) as e:
        Polygon(vertices)
    refused(e, "vertices", "at least 3 distinct vertices")


def test_polygon_ring_is_normalised() -> None:
    closed = Polygon(((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 0.0)))
    assert closed.vertices == ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0))
    repeated = Polygon([[0, 0], [1, 0], [1, 0], [1, 1], [0, 0]])
    assert repeated.vertices == ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0))


@pytest.mark.parametrize("path", [(), ((1.0, 1.0),), ((1.0, 1.0), (1.0, 1.0))])
def test_a_corridor_needs_two_distinct_points(path: tuple[tuple[float, float], ...]) -> None:
    with pytest.raises(InvalidFootprintError) as e:
        Corridor(path, 10.0)
    refused(e, "path", "at least 2 distinct points")


def test_corridor_drops_repeated_points() -> None:
    assert Corridor(((0, 0), (0, 0), (1, 1), (1, 1), (2, 0)), 5.0).path == ((0.0, 0.0), (1.0, 1.0), (2.0, 0.0))


# --- altitude -----------------------------------------------------------------------------


def test_inverted_band_is_refused() -> None:
    with pytest.raises(InvalidAltitudeError) as e:
        AltitudeBand(1000.0, 999.0)
    refused(e, "lower_m", "lower 1000.0 m is above upper 999.0 m")


def test_a_band_may_be_a_single_height() -> None:
    assert AltitudeBand(500, 500) == AltitudeBand(500.0, 500.0)


@pytest.mark.parametrize(
    ("lower", "upper", "field"),
    [
        (-8000.5, 0.0, "lower_m"),
        (0.0, 100_000.1, "upper_m"),
        (-9000.0, -8500.0, "lower_m"),
        (200_000.0, 300_000.0, "lower_m"),
    ],
)
def test_altitude_outside_the_f3548_range_is_refused(lower: float, upper: float, field: str) -> None:
    with pytest.raises(InvalidAltitudeError) as e:
        AltitudeBand(lower, upper)
    refused(e, field, "is outside [-8000, 100000] m")


def test_f3548_range_bounds_are_accepted() -> None:
    band = AltitudeBand(-8000, 100_000)
    assert (band.lower_m, band.upper_m) == (-8000.0, 100_000.0)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, "10", None])
def test_bad_altitude_numbers_are_refused(bad: object) -> None:
    with pytest.raises(InvalidNumberError) as e:
        AltitudeBand(bad, 10.0)  # type: ignore[arg-type]
    assert e.value.field == "lower_m"
    with pytest.raises(InvalidNumberError) as e:
        AltitudeBand(0.0, bad)  # type: ignore[arg-type]
    assert e.value.field == "upper_m"


# --- time ---------------------------------------------------------------------------------


def test_naive_datetimes_are_refused() -> None:
    naive = datetime(2026, 3, 1, 12, 0)
    with pytest.raises(InvalidTimeWindowError) as e:
        TimeWindow(naive, T0 + timedelta(hours=1))
    refused(e, "start", "must carry a time zone")
    with pytest.raises(InvalidTimeWindowError) as e:
        TimeWindow(T0, naive + timedelta(hours=1))
    refused(e, "end", "must carry a time zone")


def test_tzinfo_without_an_offset_counts_as_naive() -> None:
    class NoOffset(tzinfo):
        def utcoffset(self, dt: datetime | None) -> None:
            return None

    with pytest.raises(InvalidTimeWindowError) as e:
        TimeWindow(datetime(2026, 1, 1, tzinfo=NoOffset()), T0)
    refused(e, "start", "must carry a time zone")


@pytest.mark.parametrize("bad", ["2026-03-01T12:00:00Z", 1_700_000_000, None, T0.date()])
def test_non_datetimes_are_refused(bad: object) -> None:
    with pytest.raises(InvalidTimeWindowError) as e:
        TimeWindow(bad, T0)  # type: ignore[arg-type]
    refused(e, "start", "must be a datetime")


@pytest.mark.parametrize("end", [T0, T0 - timedelta(microseconds=1), T0 - timedelta(days=1)])
def test_window_must_end_after_it_starts(end: datetime) -> None:
    with pytest.raises(InvalidTimeWindowError) as e:
        TimeWindow(T0, end)
    refused(e, "end", "is not after start")


def test_window_is_converted_to_utc() -> None:
    plus2 = timezone(timedelta(hours=2))
    w = TimeWindow(datetime(2026, 3, 1, 14, 0, tzinfo=plus2), datetime(2026, 3, 1, 15, 0, tzinfo=plus2))
    assert w.start == T0 and w.start.tzinfo is UTC and w.end.tzinfo is UTC
    assert w.duration == timedelta(hours=1)
    assert w.shifted(timedelta(minutes=30)) == TimeWindow(T0 + timedelta(minutes=30), T0 + timedelta(minutes=90))


def test_window_end_compared_in_utc() -> None:
    # 13:30+02:00 is 11:30Z, before the start at 12:00Z
    with pytest.raises(InvalidTimeWindowError) as e:
        TimeWindow(T0, datetime(2026, 3, 1, 13, 30, tzinfo=timezone(timedelta(hours=2))))
    refused(e, "end", "is not after start")


def test_a_time_beyond_the_utc_range_is_refused() -> None:
    early = datetime.min.replace(tzinfo=timezone(timedelta(hours=5)))
    with pytest.raises(InvalidTimeWindowError) as e:
        TimeWindow(early, T0)
    assert e.value.field == "start"
    late = datetime.max.replace(tzinfo=timezone(timedelta(hours=-5)))
    with pytest.raises(InvalidTimeWindowError) as e:
        TimeWindow(T0, late)
    assert e.value.field == "end"


# --- volumes and owners -------------------------------------------------------------------


def test_volume_parts_must_have_the_right_types() -> None:
    with pytest.raises(InvalidFootprintError) as e:
        Volume4D((10.0, 50.0), BAND, WINDOW)  # type: ignore[arg-type]
    refused(e, "footprint", "must be a Circle, Polygon or Corridor")
    with pytest.raises(InvalidAltitudeError) as e:
        Volume4D(VOLUME.footprint, (0, 100), WINDOW)  # type: ignore[arg-type]
    refused(e, "altitude", "must be an AltitudeBand")
    with pytest.raises(InvalidTimeWindowError) as e:
        Volume4D(VOLUME.footprint, BAND, (T0, T0))  # type: ignore[arg-type]
    refused(e, "window", "must be a TimeWindow")


@pytest.mark.parametrize("owner", [Activity, Zone])
def test_identifiers_must_be_non_empty_short_strings(owner: type) -> None:
    kind = "air_sortie" if owner is Activity else "base"
    for bad in ["", "   ", None, 7]:
        with pytest.raises(ValidationError) as e:
            owner(bad, "alpha", kind, (VOLUME,))
        refused(e, "id", "must be a non-empty string")
        with pytest.raises(ValidationError) as e:
            owner("X-1", bad, kind, (VOLUME,))
        refused(e, "party", "must be a non-empty string")
    with pytest.raises(ValidationError) as e:
        owner("x" * 201, "alpha", kind, (VOLUME,))
    refused(e, "id", "at most 200 characters")
    assert owner("x" * 200, "alpha", kind, (VOLUME,)).id == "x" * 200


def test_unknown_kinds_are_refused() -> None:
    with pytest.raises(ValidationError) as e:
        Activity("A-1", "alpha", "air_raid", (VOLUME,))  # type: ignore[arg-type]
    refused(e, "kind", "unknown activity kind 'air_raid'")
    with pytest.raises(ValidationError) as e:
        Zone("Z-1", "alpha", "air_sortie", (VOLUME,))  # type: ignore[arg-type]
    refused(e, "kind", "unknown zone kind 'air_sortie'")
    with pytest.raises(ValidationError) as e:
        Activity("A-1", "alpha", ["air_sortie"], (VOLUME,))  # type: ignore[arg-type]
    refused(e, "kind", "unknown activity kind")


def test_kinds_given_as_strings_become_enums() -> None:
    a = Activity("A-1", "alpha", "maritime", (VOLUME,))  # type: ignore[arg-type]
    assert a.kind is ActivityKind.MARITIME
    z = Zone("Z-1", "alpha", "protected_site", [VOLUME])  # type: ignore[arg-type]
    assert z.kind is ZoneKind.PROTECTED_SITE and z.volumes == (VOLUME,)


@pytest.mark.parametrize("volumes", [(), [], None, "volume", 3, (VOLUME for _ in range(1))])
def test_an_owner_needs_at_least_one_volume(volumes: object) -> None:
    with pytest.raises(ValidationError) as e:
        Activity("A-1", "alpha", ActivityKind.AIR_SORTIE, volumes)  # type: ignore[arg-type]
    refused(e, "volumes", "must hold at least one Volume4D")


def test_each_volume_must_be_a_volume() -> None:
    with pytest.raises(ValidationError) as e:
        Zone("Z-1", "alpha", ZoneKind.BASE, (VOLUME, VOLUME.footprint))  # type: ignore[arg-type]
    refused(e, "volumes[1]", "must be a Volume4D")


def test_a_single_volume_is_accepted() -> None:
    assert Activity("A-1", "alpha", ActivityKind.EXERCISE, VOLUME).volumes == (VOLUME,)  # type: ignore[arg-type]


def test_a_zone_may_carry_its_own_minima() -> None:
    assert Zone("Z-1", "alpha", ZoneKind.BASE, (VOLUME,)).minima is None
    own = SeparationMinima(10_000, 300, 600)
    z = Zone("Z-1", "alpha", ZoneKind.BASE, (VOLUME,), own)
    assert z.minima is own
    assert Zone("Z-1", "alpha", ZoneKind.BASE, (VOLUME,), minima=None).minima is None


@pytest.mark.parametrize(
    "bad",
    [
        5000,
        0.0,
        "10 km",
        {"lateral_m": 1000.0},
        (1000.0, 0.0, 0.0),
        MinimaTable(),
        False,
    ],
)
def test_bad_zone_minima_are_refused(bad: object) -> None:
    with pytest.raises(ValidationError) as e:
        Zone("Z-1", "alpha", ZoneKind.BASE, (VOLUME,), bad)  # type: ignore[arg-type]
    refused(e, "minima", "must be SeparationMinima or None")


# --- minima -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["lateral_m", "vertical_m", "time_s"])
def test_negative_minima_are_refused(name: str) -> None:
    with pytest.raises(ValidationError) as e:
        SeparationMinima(**{name: -1.0})
    refused(e, name, "must be >= 0, got -1.0")
    with pytest.raises(InvalidNumberError) as e:
        SeparationMinima(**{name: math.nan})
    refused(e, name, "must be finite")


def test_minima_default_to_zero() -> None:
    assert SeparationMinima() == SeparationMinima(0.0, 0.0, 0.0)
    assert SeparationMinima(5, 300, 60).lateral_m == 5.0


def test_minima_table_lookup_is_symmetric() -> None:
    special = SeparationMinima(5000, 1000, 600)
    table = MinimaTable(SeparationMinima(1000, 300), {("air_sortie", "protected_site"): special})
    assert table.between("air_sortie", "protected_site") == special
    assert table.between("protected_site", "air_sortie") == special
    assert table.between(ActivityKind.AIR_SORTIE, ZoneKind.PROTECTED_SITE) == special
    assert table.between("air_sortie", "air_sortie") == SeparationMinima(1000, 300)
    assert table.between("maritime", "protected_site") == SeparationMinima(1000, 300)


def test_minima_table_same_kind_pair() -> None:
    same = SeparationMinima(10, 20, 30)
    table = MinimaTable(pairs={(ActivityKind.MARITIME, ActivityKind.MARITIME): same})
    assert table.between("maritime", "maritime") == same
    assert table.between("maritime", "exercise") == SeparationMinima()


def test_minima_table_largest_is_componentwise() -> None:
    table = MinimaTable(
        SeparationMinima(1000, 300, 0),
        {("air_sortie", "base"): SeparationMinima(5000, 0, 0), ("maritime", "exercise"): SeparationMinima(0, 500, 900)},
    )
    assert table.largest() == SeparationMinima(5000, 500, 900)
    assert MinimaTable().largest() == SeparationMinima()


def test_minima_table_refuses_bad_entries() -> None:
    with pytest.raises(ValidationError) as e:
        MinimaTable((1000, 300, 0))  # type: ignore[arg-type]
    refused(e, "default", "must be SeparationMinima")
    with pytest.raises(ValidationError) as e:
        MinimaTable(pairs={("air_sortie", "base"): 5000})  # type: ignore[dict-item]
    refused(e, "pairs[('air_sortie', 'base')]", "must be SeparationMinima")


@pytest.mark.parametrize("pairs", [5, "air_sortie", [("air_sortie", "base")], None])
def test_minima_table_pairs_must_be_a_mapping(pairs: object) -> None:
    with pytest.raises(ValidationError) as e:
        MinimaTable(pairs=pairs)  # type: ignore[arg-type]
    refused(e, "pairs", "must be a mapping")


@pytest.mark.parametrize("key", [1, "ab", ("air_sortie",), ("air_sortie", "base", "maritime"), ("air_sortie", 3)])
def test_minima_table_keys_must_be_pairs_of_kinds(key: object) -> None:
    with pytest.raises(ValidationError) as e:
        MinimaTable(pairs={key: SeparationMinima()})  # type: ignore[dict-item]
    refused(e, f"pairs[{key!r}]", "must be a pair of kinds")


def test_minima_table_refuses_unknown_kinds() -> None:
    # a typo would otherwise silently fall back to the default minima
    with pytest.raises(ValidationError) as e:
        MinimaTable(pairs={("air_sortie", "protected_sight"): SeparationMinima(5000)})
    refused(e, "pairs[('air_sortie', 'protected_sight')]", "unknown kind 'protected_sight'")


# --- errors and results -------------------------------------------------------------------


def test_error_hierarchy() -> None:
    for cls in (
        InvalidNumberError,
        InvalidCoordinateError,
        InvalidTimeWindowError,
        InvalidAltitudeError,
        InvalidFootprintError,
        FootprintTooLargeError,
    ):
        assert issubclass(cls, ValidationError)
    assert issubclass(ValidationError, DeconflictError)
    assert issubclass(IndexStateError, DeconflictError) and not issubclass(IndexStateError, ValidationError)


def test_error_within_nests_the_field() -> None:
    err = InvalidCoordinateError("center.lon", "bad").within("items[3].volumes[0].footprint")
    assert isinstance(err, InvalidCoordinateError)
    assert err.field == "items[3].volumes[0].footprint.center.lon" and err.reason == "bad"
    assert ValidationError("", "bad").within("plan").field == "plan"


def test_conflict_key_is_canonical() -> None:
    a, b = VolumeRef("B-1", 0), VolumeRef("A-7", 2)
    c = Conflict(a, b, "bravo", "alpha", T0, T0, 0.0, 0.0, 0.0, 0.0, SeparationMinima(), frozenset({Dimension.TIME}))
    assert c.key == (b, a)
    assert VolumeRef("A", 1) < VolumeRef("A", 2) < VolumeRef("B", 0)


# --- fuzzing: junk in, ValidationError out --------------------------------------------------

_offsets = st.timedeltas(min_value=timedelta(hours=-23, minutes=-59), max_value=timedelta(hours=23, minutes=59))
_datetimes = st.one_of(
    st.datetimes(),
    st.datetimes(timezones=st.builds(timezone, _offsets)),
    st.sampled_from(
        [
            datetime.min.replace(tzinfo=timezone(timedelta(hours=3))),
            datetime.max.replace(tzinfo=timezone(timedelta(hours=-3))),
        ]
    ),
)
_scalars = st.one_of(
    st.floats(),
    st.integers(),
    st.integers(min_value=10**300, max_value=10**400),
    st.text(max_size=5),
    st.none(),
    st.booleans(),
    st.sampled_from(["air_sortie", "base", "m", "ft", "FL", "W84", "AMSL"]),
    _datetimes,
)
JUNK = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.tuples(inner, inner), st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=3), inner, max_size=2)
    ),
    max_leaves=6,
)
_lon = st.one_of(st.floats(-180, 180), JUNK)
_lat = st.one_of(st.floats(-90, 90), JUNK)
POINTS = st.one_of(st.tuples(_lon, _lat), JUNK)
POINT_LISTS = st.one_of(st.lists(POINTS, max_size=5), JUNK)


def _survives(make: object, *args: object, **kwargs: object) -> None:
    assert callable(make)
    try:
        make(*args, **kwargs)
    except ValidationError as e:
        assert isinstance(e.field, str) and isinstance(e.reason, str) and e.reason


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(POINTS, st.one_of(st.floats(), JUNK))
def test_fuzz_circle(center: object, radius: object) -> None:
    _survives(Circle, center, radius)


@FUZZ
@given(POINT_LISTS)
def test_fuzz_polygon(vertices: object) -> None:
    _survives(Polygon, vertices)


@FUZZ
@given(POINT_LISTS, st.one_of(st.floats(), JUNK))
def test_fuzz_corridor(path: object, half_width: object) -> None:
    _survives(Corridor, path, half_width)


@FUZZ
@given(st.one_of(st.floats(), JUNK), st.one_of(st.floats(), JUNK))
def test_fuzz_altitude_band(lower: object, upper: object) -> None:
    _survives(AltitudeBand, lower, upper)


@FUZZ
@given(st.one_of(_datetimes, JUNK), st.one_of(_datetimes, JUNK))
def test_fuzz_time_window(start: object, end: object) -> None:
    _survives(TimeWindow, start, end)


@FUZZ
@given(
    st.one_of(st.just(VOLUME.footprint), JUNK),
    st.one_of(st.just(BAND), JUNK),
    st.one_of(st.just(WINDOW), JUNK),
)
def test_fuzz_volume(footprint: object, altitude: object, window: object) -> None:
    _survives(Volume4D, footprint, altitude, window)


@FUZZ
@given(
    st.sampled_from([Activity, Zone]),
    st.one_of(st.text(max_size=3), JUNK),
    st.one_of(st.text(max_size=3), JUNK),
    st.one_of(st.sampled_from([*ActivityKind, *ZoneKind]), JUNK),
    st.one_of(st.just((VOLUME,)), st.just(VOLUME), st.lists(st.one_of(st.just(VOLUME), JUNK), max_size=3), JUNK),
)
def test_fuzz_owner(owner: type, id_: object, party: object, kind: object, volumes: object) -> None:
    _survives(owner, id_, party, kind, volumes)


@FUZZ
@given(st.one_of(st.floats(), JUNK), st.one_of(st.floats(), JUNK), st.one_of(st.floats(), JUNK))
def test_fuzz_separation_minima(lateral: object, vertical: object, time: object) -> None:
    _survives(SeparationMinima, lateral, vertical, time)


_KINDS = st.sampled_from([k.value for k in (*ActivityKind, *ZoneKind)])


@FUZZ
@given(
    st.one_of(st.just(SeparationMinima()), JUNK),
    st.one_of(
        st.dictionaries(
            st.one_of(
                st.tuples(_KINDS, _KINDS),
                _scalars,
                st.tuples(_KINDS, _scalars),
                st.tuples(_scalars, _scalars, _scalars),
            ),
            st.one_of(st.just(SeparationMinima(1, 2, 3)), JUNK),
            max_size=3,
        ),
        JUNK,
    ),
)
def test_fuzz_minima_table(default: object, pairs: object) -> None:
    _survives(MinimaTable, default, pairs)
