"""The strict F3548 wire parser (:mod:`deconflict.f3548`): every rule of design §1.3, each
way; the exact 4D intersection; and two properties — arbitrary JSON is refused only with
a ValidationError, and valid generated volumes read back to what they were written from."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deconflict.errors import ValidationError
from deconflict.f3548 import (
    AreaTooLarge,
    area_km2,
    parse_extents,
    parse_time,
    parse_volume,
    time_doc,
    uuid4,
    volumes_intersect,
)
from deconflict.model import AltitudeBand, Circle, Polygon, TimeWindow, Volume4D

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
BIG = 1e9  # km²: no area limit


def t(minutes: float) -> dict[str, str]:
    return time_doc(T0 + timedelta(minutes=minutes))


def alt(value: float) -> dict[str, Any]:
    return {"value": value, "reference": "W84", "units": "M"}


def circle(lat: float = 35.0, lng: float = 36.0, radius: float = 1000.0) -> dict[str, Any]:
    return {"center": {"lat": lat, "lng": lng}, "radius": {"value": radius, "units": "M"}}


def square(lat: float = 35.0, lng: float = 36.0, d: float = 0.01) -> dict[str, Any]:
    return {
        "vertices": [
            {"lat": lat - d, "lng": lng - d},
            {"lat": lat - d, "lng": lng + d},
            {"lat": lat + d, "lng": lng + d},
            {"lat": lat + d, "lng": lng - d},
        ]
    }


def vol(
    *,
    outline: dict[str, Any] | None = None,
    polygon: dict[str, Any] | None = None,
    lower: float = 0.0,
    upper: float = 120.0,
    start: float = 0.0,
    end: float = 60.0,
) -> dict[str, Any]:
    v3: dict[str, Any] = {"altitude_lower": alt(lower), "altitude_upper": alt(upper)}
    if polygon is not None:
        v3["outline_polygon"] = polygon
    else:
        v3["outline_circle"] = outline if outline is not None else circle()
    return {"volume": v3, "time_start": t(start), "time_end": t(end)}


def parse(doc: Any, **kw: Any) -> Volume4D:
    kw.setdefault("max_area_km2", BIG)
    return parse_volume(doc, "extents[0]", **kw)


def refused(doc: Any, field: str, *, error: type[ValidationError] = ValidationError, **kw: Any) -> str:
    with pytest.raises(error) as info:
        parse(doc, **kw)
    assert info.value.field == field, str(info.value)
    return info.value.reason


# --- scalars --------------------------------------------------------------------------------


def test_uuid4_accepts_version_4_variant_8_to_b_and_lowercases() -> None:
    assert uuid4("0e1c2f3a-4b5c-4d6e-8f70-8192a3b4c5d6", "id") == "0e1c2f3a-4b5c-4d6e-8f70-8192a3b4c5d6"
    assert uuid4("0E1C2F3A-4B5C-4D6E-BF70-8192A3B4C5D6", "id") == "0e1c2f3a-4b5c-4d6e-bf70-8192a3b4c5d6"


@pytest.mark.parametrize(
    "value",
    [
        "0e1c2f3a-4b5c-1d6e-8f70-8192a3b4c5d6",  # version 1
        "0e1c2f3a-4b5c-4d6e-cf70-8192a3b4c5d6",  # variant c
        "0e1c2f3a4b5c4d6e8f708192a3b4c5d6",  # no hyphens
        "{0e1c2f3a-4b5c-4d6e-8f70-8192a3b4c5d6}",
        "0e1c2f3a-4b5c-4d6e-8f70-8192a3b4c5d６",  # a full-width digit
        "",
        None,
        42,
    ],
)
def test_uuid4_refuses_anything_else(value: object) -> None:
    with pytest.raises(ValidationError) as info:
        uuid4(value, "entityid")
    assert info.value.field == "entityid"


def test_time_reads_rfc3339_z_and_writes_it_back() -> None:
    moment = parse_time({"value": "2026-11-25T08:00:00.123456789Z", "format": "RFC3339"}, "time_start")
    assert moment == datetime(2026, 11, 25, 8, 0, 0, 123456, tzinfo=UTC)
    assert parse_time(time_doc(T0), "x") == T0
    assert time_doc(T0) == {"value": "2026-11-25T08:00:00Z", "format": "RFC3339"}
    assert parse_time({"value": "2026-11-25t08:00:00Z", "format": "RFC3339", "other": 1}, "x") == T0


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"value": "2026-11-25T08:00:00+00:00", "format": "RFC3339"}, "ts.value"),
        ({"value": "2026-11-25T10:00:00+02:00", "format": "RFC3339"}, "ts.value"),
        ({"value": "2026-11-25T08:00:00", "format": "RFC3339"}, "ts.value"),
        ({"value": "2026-11-25 08:00:00Z", "format": "RFC3339"}, "ts.value"),
        ({"value": "2026-02-30T08:00:00Z", "format": "RFC3339"}, "ts.value"),
        ({"value": "2026-11-25T24:00:00Z", "format": "RFC3339"}, "ts.value"),
        ({"value": 1764057600, "format": "RFC3339"}, "ts.value"),
        ({"format": "RFC3339"}, "ts.value"),
        ({"value": "2026-11-25T08:00:00Z"}, "ts.format"),
        ({"value": "2026-11-25T08:00:00Z", "format": "ISO8601"}, "ts.format"),
        ("2026-11-25T08:00:00Z", "ts"),
        (None, "ts"),
    ],
)
def test_time_refuses_other_shapes(doc: object, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_time(doc, "ts")
    assert info.value.field == field


# --- volumes --------------------------------------------------------------------------------


def test_a_circle_volume_becomes_the_native_model() -> None:
    v = parse(vol(lower=-10, upper=300, start=0, end=90))
    assert v == Volume4D(
        Circle((36.0, 35.0), 1000.0), AltitudeBand(-10, 300), TimeWindow(T0, T0 + timedelta(minutes=90))
    )


def test_a_polygon_volume_becomes_the_native_model_and_unknown_fields_are_ignored() -> None:
    doc = vol(polygon=square())
    doc["extra"] = {"anything": [1, 2]}
    doc["volume"]["outline_circle"] = None  # null = absent
    doc["volume"]["outline_polygon"]["vertices"][0]["alt"] = 5
    v = parse(doc)
    assert isinstance(v.footprint, Polygon)
    assert v.footprint.vertices[0] == (35.99, 34.99)


@pytest.mark.parametrize(
    ("mutate", "field", "words"),
    [
        (lambda d: d.pop("volume"), "extents[0].volume", "required"),
        (lambda d: d.update(volume=[]), "extents[0].volume", "object"),
        (lambda d: d["volume"].pop("outline_circle"), "extents[0].volume", "neither"),
        (lambda d: d["volume"].update(outline_polygon=square()), "extents[0].volume", "both"),
        (lambda d: d["volume"]["outline_circle"].pop("center"), "extents[0].volume.outline_circle.center", "required"),
        (lambda d: d["volume"]["outline_circle"].pop("radius"), "extents[0].volume.outline_circle.radius", "required"),
        (
            lambda d: d["volume"]["outline_circle"]["radius"].update(value=0),
            "extents[0].volume.outline_circle.radius.value",
            "greater than 0",
        ),
        (
            lambda d: d["volume"]["outline_circle"]["radius"].update(value=-5),
            "extents[0].volume.outline_circle.radius.value",
            "greater than 0",
        ),
        (
            lambda d: d["volume"]["outline_circle"]["radius"].update(units="FT"),
            "extents[0].volume.outline_circle.radius.units",
            '"M"',
        ),
        (
            lambda d: d["volume"]["outline_circle"]["center"].update(lat=90.5),
            "extents[0].volume.outline_circle.center.lat",
            "[-90, 90]",
        ),
        (
            lambda d: d["volume"]["outline_circle"]["center"].update(lng=-180.01),
            "extents[0].volume.outline_circle.center.lng",
            "[-180, 180]",
        ),
        (
            lambda d: d["volume"]["outline_circle"]["center"].update(lng=True),
            "extents[0].volume.outline_circle.center.lng",
            "number",
        ),
        (
            lambda d: d["volume"]["outline_circle"]["center"].update(lat="35"),
            "extents[0].volume.outline_circle.center.lat",
            "number",
        ),
        (
            lambda d: d["volume"]["altitude_lower"].update(reference="AMSL"),
            "extents[0].volume.altitude_lower.reference",
            "W84",
        ),
        (lambda d: d["volume"]["altitude_upper"].update(units="FT"), "extents[0].volume.altitude_upper.units", '"M"'),
        (
            lambda d: d["volume"]["altitude_upper"].update(value=100001),
            "extents[0].volume.altitude_upper.value",
            "outside",
        ),
        (
            lambda d: d["volume"]["altitude_lower"].update(value=-8000.5),
            "extents[0].volume.altitude_lower.value",
            "outside",
        ),
        (lambda d: d["volume"]["altitude_lower"].update(value=500), "extents[0].volume.altitude_lower", "above"),
        (lambda d: d["volume"].pop("altitude_lower"), "extents[0].volume.altitude_lower", "required"),
        (lambda d: d["volume"].update(altitude_upper=None), "extents[0].volume.altitude_upper", "required"),
        (lambda d: d.pop("time_start"), "extents[0].time_start", "required"),
        (lambda d: d.update(time_end=None), "extents[0].time_end", "required"),
        (lambda d: d.update(time_end=t(0)), "extents[0].time_end", "not after"),
        (lambda d: d.update(time_end=t(-1)), "extents[0].time_end", "not after"),
        (
            lambda d: d.update(time_start={"value": "2026-11-25T08:00:00+02:00", "format": "RFC3339"}),
            "extents[0].time_start.value",
            "'Z'",
        ),
        (lambda d: d["time_end"].pop("format"), "extents[0].time_end.format", "RFC3339"),
    ],
)
def test_volume_rules(mutate: Any, field: str, words: str) -> None:
    doc = vol()
    mutate(doc)
    assert words in refused(doc, field)


def test_altitude_bounds_are_inclusive_and_equal_altitudes_pass() -> None:
    v = parse(vol(lower=-8000, upper=100000))
    assert (v.altitude.lower_m, v.altitude.upper_m) == (-8000.0, 100000.0)
    assert parse(vol(lower=50, upper=50)).altitude.lower_m == 50.0


def test_polygon_rules() -> None:
    two = {"vertices": square()["vertices"][:2]}
    assert "at least 3" in refused(vol(polygon=two), "extents[0].volume.outline_polygon.vertices")
    closed = square()
    closed["vertices"].append(dict(closed["vertices"][0]))
    assert "repeat the first" in refused(vol(polygon=closed), "extents[0].volume.outline_polygon.vertices[4]")
    dup = square()
    dup["vertices"].insert(2, dict(dup["vertices"][1]))
    assert "duplicates vertex 1" in refused(vol(polygon=dup), "extents[0].volume.outline_polygon.vertices[2]")
    bowtie = square()
    v = bowtie["vertices"]
    v[1], v[2] = v[2], v[1]
    assert "cross" in refused(vol(polygon=bowtie), "extents[0].volume.outline_polygon.vertices")
    collinear = {"vertices": [{"lat": 35, "lng": 36}, {"lat": 35.1, "lng": 36}, {"lat": 35.2, "lng": 36}]}  # a meridian
    assert "degenerate" in refused(vol(polygon=collinear), "extents[0].volume.outline_polygon.vertices")
    bad_lat = square()
    bad_lat["vertices"][2]["lat"] = -91
    assert "[-90, 90]" in refused(vol(polygon=bad_lat), "extents[0].volume.outline_polygon.vertices[2].lat")
    missing = square()
    del missing["vertices"][1]["lng"]
    assert "required" in refused(vol(polygon=missing), "extents[0].volume.outline_polygon.vertices[1].lng")
    assert "required" in refused(vol(polygon={}), "extents[0].volume.outline_polygon.vertices")
    assert "list" in refused(vol(polygon={"vertices": {"a": 1}}), "extents[0].volume.outline_polygon.vertices")


def test_area_over_the_limit_is_area_too_large() -> None:
    # a 10 km circle: about 314 km²
    doc = vol(outline=circle(radius=10_000))
    assert area_km2(parse(doc)) == pytest.approx(314.16, rel=2e-3)
    reason = refused(doc, "extents[0].volume.outline_circle", error=AreaTooLarge, max_area_km2=300)
    assert "exceeds the limit of 300.0 km²" in reason
    assert parse(doc, max_area_km2=320).footprint == Circle((36.0, 35.0), 10_000.0)
    # wider than the engine takes at all (1 000 km across): also 413
    refused(vol(outline=circle(radius=600_000)), "extents[0].volume.outline_circle.radius.value", error=AreaTooLarge)
    reason = refused(vol(polygon=square(d=6)), "extents[0].volume.outline_polygon", error=AreaTooLarge)
    assert "exceeds the cap of 1000.0 km" in reason
    sq = parse(vol(polygon=square(d=0.5)))
    assert 9_000 < area_km2(sq) < 12_000  # ~111 km × ~91 km at 35°N


def test_missing_time_and_altitude_take_defaults_when_allowed() -> None:
    doc = vol()
    del doc["time_start"], doc["time_end"], doc["volume"]["altitude_lower"], doc["volume"]["altitude_upper"]
    end = T0 + timedelta(hours=24)
    v = parse(doc, need_time=False, need_altitude=False, default_start=T0, default_end=end)
    assert v.altitude == AltitudeBand(-8000, 100000)
    assert v.window == TimeWindow(T0, end)
    # without a default the time is still required
    assert refused(doc, "extents[0].time_start", need_time=False, need_altitude=False) == "is required"


def test_extents_rules() -> None:
    kw: dict[str, Any] = dict(now=T0, max_area_km2=BIG, max_extents=3, max_duration_s=3600 * 2)
    got = parse_extents([vol(start=0, end=30), vol(polygon=square(), start=30, end=120)], "extents", **kw)
    assert [v.window.end for v in got] == [T0 + timedelta(minutes=30), T0 + timedelta(minutes=120)]

    def fails(docs: Any, field: str) -> str:
        with pytest.raises(ValidationError) as info:
            parse_extents(docs, "extents", **kw)
        assert info.value.field == field, str(info.value)
        return info.value.reason

    assert "at least one" in fails([], "extents")
    assert "required" in fails(None, "extents")
    assert "list" in fails(vol(), "extents")
    assert "at most 3" in fails([vol()] * 4, "extents")
    assert "in the past" in fails([vol(start=-120, end=-90), vol(start=-60, end=-1)], "extents[1].time_end")
    assert "at most 2.00 h" in fails([vol(start=0, end=60), vol(start=60, end=121)], "extents")
    bad = vol()
    bad["volume"].pop("altitude_upper")
    assert fails([vol(), bad], "extents[1].volume.altitude_upper") == "is required"
    with pytest.raises(AreaTooLarge):
        parse_extents([vol(outline=circle(radius=50_000))], "extents", **{**kw, "max_area_km2": 100})


# --- intersection ---------------------------------------------------------------------------


def native(fp: Any, lower: float = 0, upper: float = 100, start: float = 0, end: float = 60) -> Volume4D:
    return Volume4D(
        fp, AltitudeBand(lower, upper), TimeWindow(T0 + timedelta(minutes=start), T0 + timedelta(minutes=end))
    )


def test_volumes_intersect_exactly_in_4d() -> None:
    a = native(Circle((36.0, 35.0), 1000))
    assert volumes_intersect([a], [native(Circle((36.0, 35.0), 10))])
    # time half-open: ending as the other starts shares nothing
    assert not volumes_intersect([a], [native(Circle((36.0, 35.0), 10), start=60, end=90)])
    assert volumes_intersect([a], [native(Circle((36.0, 35.0), 10), start=59, end=90)])
    # altitude closed: touching bands meet
    assert volumes_intersect([a], [native(Circle((36.0, 35.0), 10), lower=100, upper=200)])
    assert not volumes_intersect([a], [native(Circle((36.0, 35.0), 10), lower=100.5, upper=200)])
    # space: two 1 km circles 1.9 km apart meet, 2.1 km apart do not (one degree of
    # latitude at 35°N is ~110.95 km)
    near = native(Circle((36.0, 35.0 + 1.9 / 110.95), 1000))
    far = native(Circle((36.0, 35.0 + 2.1 / 110.95), 1000))
    assert volumes_intersect([a], [near]) and not volumes_intersect([a], [far])
    # any pair of many volumes
    assert volumes_intersect([far, a], [native(Polygon(((36.0, 35.0), (36.001, 35.0), (36.0, 35.001))))])
    assert not volumes_intersect([], [a])


def test_volumes_intersect_across_the_antimeridian() -> None:
    east = native(Polygon(((179.99, -0.01), (179.99, 0.01), (180.0, 0.01), (180.0, -0.01))))
    west = native(Polygon(((-180.0, -0.01), (-180.0, 0.01), (-179.99, 0.01), (-179.99, -0.01))))
    assert volumes_intersect([east], [west])
    assert not volumes_intersect([east], [native(Circle((-179.9, 0.0), 100))])


# --- properties -----------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
_keys = st.sampled_from(
    [
        "volume",
        "time_start",
        "time_end",
        "outline_circle",
        "outline_polygon",
        "altitude_lower",
        "altitude_upper",
        "center",
        "radius",
        "vertices",
        "value",
        "units",
        "reference",
        "format",
        "lat",
        "lng",
    ]
)
_atoms = st.sampled_from(
    ["M", "W84", "RFC3339", "FT", "2026-11-25T08:00:00Z", "9999-12-31T23:59:59Z", 0, 1e308, -1, 90, 180.0]
)
f3548ish = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | _atoms,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(_keys, children, max_size=6),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=json_values | f3548ish, need=st.booleans())
def test_arbitrary_json_is_refused_only_with_a_validation_error(doc: Any, need: bool) -> None:
    try:
        v = parse_volume(
            doc, "v", max_area_km2=2500, need_time=need, need_altitude=need, default_start=T0, default_end=T0
        )
    except ValidationError:
        return
    assert isinstance(v, Volume4D)


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=f3548ish)
def test_arbitrary_volume3d_members_are_refused_only_with_a_validation_error(doc: Any) -> None:
    base = vol()
    if isinstance(doc, dict):
        base["volume"].update(doc)
    try:
        parse_volume(base, "v", max_area_km2=2500)
    except ValidationError:
        return


lat_s = st.floats(-80, 80)
lng_s = st.floats(-179, 179)


@st.composite
def valid_volumes(draw: st.DrawFn) -> dict[str, Any]:
    lat, lng = draw(lat_s), draw(lng_s)
    if draw(st.booleans()):
        outline: dict[str, Any] = {"outline_circle": circle(lat, lng, draw(st.floats(0.5, 20_000)))}
    else:
        d = draw(st.floats(0.0005, 0.2))
        outline = {"outline_polygon": square(lat, lng, d)}
    lower = draw(st.floats(-8000, 100000))
    upper = draw(st.floats(lower, 100000))
    start = draw(st.integers(-10_000, 10_000))
    end = start + draw(st.integers(1, 10_000))
    micro = draw(st.integers(0, 999_999))
    start_t = T0 + timedelta(minutes=start, microseconds=micro)
    return {
        "volume": {**outline, "altitude_lower": alt(lower), "altitude_upper": alt(upper)},
        "time_start": time_doc(start_t),
        "time_end": time_doc(T0 + timedelta(minutes=end)),
    }


def to_f3548(v: Volume4D) -> dict[str, Any]:
    fp = v.footprint
    v3: dict[str, Any]
    if isinstance(fp, Circle):
        v3 = {"outline_circle": circle(fp.center[1], fp.center[0], fp.radius_m)}
    else:
        assert isinstance(fp, Polygon)
        v3 = {"outline_polygon": {"vertices": [{"lat": p[1], "lng": p[0]} for p in fp.vertices]}}
    v3 |= {"altitude_lower": alt(v.altitude.lower_m), "altitude_upper": alt(v.altitude.upper_m)}
    return {"volume": v3, "time_start": time_doc(v.window.start), "time_end": time_doc(v.window.end)}


@settings(max_examples=150, deadline=None, database=None)
@given(doc=valid_volumes())
def test_valid_volumes_round_trip(doc: dict[str, Any]) -> None:
    original = copy.deepcopy(doc)
    v = parse_volume(doc, "v", max_area_km2=BIG)
    assert doc == original  # the input is not modified
    again = parse_volume(to_f3548(v), "v", max_area_km2=BIG)
    assert again == v
    assert volumes_intersect([v], [again])


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


_leaves = (
    json_values
    | _atoms
    | st.sampled_from([1.7e308, -1e308, 2**70, 5e-324, float("nan"), float("inf"), 600_000, 1e-9, "", "Z"])
)


@st.composite
def mutated_volumes(draw: st.DrawFn) -> Any:
    """A valid volume (circle or polygon) with one to three members replaced by anything."""
    doc = draw(valid_volumes())
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(doc)))
        if not path:
            return draw(_leaves)
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(_leaves)
    return doc


@settings(max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=mutated_volumes())
def test_mutated_volumes_are_refused_only_with_a_validation_error(doc: Any) -> None:
    try:
        v = parse_volume(doc, "v", max_area_km2=2500)
    except ValidationError as e:
        assert e.field.startswith("v") and e.reason
        return
    assert volumes_intersect([v], [v])
