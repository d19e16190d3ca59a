"""GeoJSON import and export: round trips, the antimeridian, and refusals naming the JSON path."""

from __future__ import annotations

import copy
import itertools
import json
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deconflict.errors import ValidationError
from deconflict.geojson import (
    MAX_FEATURES,
    RESERVED_PROPERTIES,
    ExportItem,
    ImportedItem,
    ItemType,
    feature_collection,
    parse_feature_collection,
)
from deconflict.model import (
    Activity,
    ActivityKind,
    AltitudeBand,
    Circle,
    Corridor,
    Footprint,
    Polygon,
    TimeWindow,
    Volume4D,
    Zone,
    ZoneKind,
)

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
Doc = dict[str, Any]


def vol(
    footprint: Footprint, lower: float = 0.0, upper: float = 1000.0, start_h: float = 0, end_h: float = 2
) -> Volume4D:
    return Volume4D(
        footprint,
        AltitudeBand(lower, upper),
        TimeWindow(T0 + timedelta(hours=start_h), T0 + timedelta(hours=end_h)),
    )


SQUARE_CCW = Polygon(((38.0, 35.0), (38.2, 35.0), (38.2, 35.2), (38.0, 35.2)))
SQUARE_CW = Polygon(((38.0, 35.0), (38.0, 35.2), (38.2, 35.2), (38.2, 35.0)))
ACROSS = Polygon(((179.5, -16.0), (-179.5, -16.2), (-179.2, -17.0), (179.8, -17.3)))
ROUND_POLE = Polygon(((0.0, 87.0), (90.0, 87.5), (180.0, 87.0), (-90.0, 86.5)))
CIRCLE = Circle((38.0, 35.0), 10_000.0)
CORRIDOR = Corridor(((38.0, 35.0), (38.5, 35.3), (39.0, 35.1)), 2_500.0)


def roundtrip(items: list[ExportItem], **kwargs: Any) -> list[ImportedItem]:
    return parse_feature_collection(json.loads(json.dumps(feature_collection(items))), **kwargs)


def signed_area(ring: list[list[float]]) -> float:
    return 0.5 * sum(a[0] * b[1] - b[0] * a[1] for a, b in itertools.pairwise(ring))


def assert_same(exported: ExportItem, imported: ImportedItem) -> None:
    assert (imported.type, imported.id, imported.party, imported.kind) == (
        exported.type,
        exported.id,
        exported.party,
        exported.kind,
    )
    assert imported.volumes == exported.volumes
    assert dict(imported.properties) == dict(exported.properties)


# --- round trips ---------------------------------------------------------------------------


@pytest.mark.parametrize("footprint", [CIRCLE, CORRIDOR, SQUARE_CCW, SQUARE_CW, ACROSS, ROUND_POLE], ids=repr)
def test_each_footprint_round_trips_exactly(footprint: Footprint) -> None:
    item = ExportItem("activity", "A-1", "alpha", "air_sortie", (vol(footprint),), {"callsign": "VIPER 1"})
    [back] = roundtrip([item])
    assert_same(item, back)
    assert back.feature_paths == ("features[0]",)


def test_geometry_shapes_and_properties() -> None:
    items = [
        ExportItem("activity", "A-1", "alpha", "air_sortie", (vol(CIRCLE), vol(CORRIDOR), vol(SQUARE_CCW))),
    ]
    features = feature_collection(items)["features"]
    assert [f["id"] for f in features] == ["A-1#0", "A-1#1", "A-1#2"]
    point, line, poly = (f["geometry"] for f in features)
    assert point == {"type": "Point", "coordinates": [38.0, 35.0]}
    assert features[0]["properties"]["radius_m"] == 10_000.0
    assert line == {"type": "LineString", "coordinates": [[38.0, 35.0], [38.5, 35.3], [39.0, 35.1]]}
    assert features[1]["properties"]["half_width_m"] == 2_500.0
    assert poly["type"] == "Polygon"
    assert poly["coordinates"][0][0] == poly["coordinates"][0][-1]
    props = features[2]["properties"]
    assert props["volume_index"] == 2
    assert props["time_start"] == "2026-11-25T08:00:00Z"
    assert props["time_end"] == "2026-11-25T10:00:00Z"
    assert (props["altitude_lower_m"], props["altitude_upper_m"]) == (0.0, 1000.0)
    assert "vertices" not in props
    assert "ring_reversed" not in props


@pytest.mark.parametrize("polygon", [SQUARE_CCW, SQUARE_CW])
def test_polygon_exterior_is_counter_clockwise(polygon: Polygon) -> None:
    [feature] = feature_collection([ExportItem("zone", "Z", "bravo", "base", (vol(polygon),))])["features"]
    assert signed_area(feature["geometry"]["coordinates"][0]) > 0
    assert ("ring_reversed" in feature["properties"]) == (polygon is SQUARE_CW)


@pytest.mark.parametrize("polygon", [ACROSS, ROUND_POLE])
def test_polygon_across_the_antimeridian_is_cut(polygon: Polygon) -> None:
    [feature] = feature_collection([ExportItem("zone", "Z", "bravo", "base", (vol(polygon),))])["features"]
    geometry = feature["geometry"]
    assert geometry["type"] == "MultiPolygon"
    assert len(geometry["coordinates"]) == 2
    for part in geometry["coordinates"]:
        [ring] = part
        assert ring[0] == ring[-1]
        assert signed_area(ring) > 0
        assert all(-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0 for lon, lat in ring)
    lons = {lon for part in geometry["coordinates"] for lon, _ in part[0]}
    assert 180.0 in lons
    assert -180.0 in lons
    assert feature["properties"]["vertices"] == [list(p) for p in polygon.vertices]


def test_third_party_cut_polygon_is_joined() -> None:
    doc = feature_collection([ExportItem("zone", "Z", "bravo", "base", (vol(ACROSS),))])
    del doc["features"][0]["properties"]["vertices"]
    [item] = parse_feature_collection(doc)
    footprint = item.volumes[0].footprint
    assert isinstance(footprint, Polygon)
    assert set(ACROSS.vertices) <= set(footprint.vertices)
    assert all(lon in (180.0, -180.0) for lon, _ in set(footprint.vertices) - set(ACROSS.vertices))


def test_multi_volume_items_and_zones_round_trip() -> None:
    items = [
        ExportItem("activity", "A-1", "alpha", "air_sortie", (vol(CIRCLE), vol(CORRIDOR, 100, 200, 3, 4))),
        ExportItem("zone", "Z-1", "bravo", "protected_site", (vol(SQUARE_CW, 0, 3000, -10, 100),), {"name": "Clinic"}),
        ExportItem("zone", "Z-2", "bravo", "training_area", (vol(ACROSS), vol(SQUARE_CCW), vol(CIRCLE))),
    ]
    back = roundtrip(items)
    assert len(back) == 3
    for exported, imported in zip(items, back, strict=True):
        assert_same(exported, imported)
    assert back[2].feature_paths == ("features[3]", "features[4]", "features[5]")


def test_from_model() -> None:
    activity = Activity("A-1", "alpha", ActivityKind.MARITIME, (vol(CIRCLE),))
    zone = Zone("Z-1", "bravo", ZoneKind.BASE, (vol(SQUARE_CCW),))
    a, z = ExportItem.from_model(activity, {"state": "planned"}), ExportItem.from_model(zone)
    assert (a.type, a.kind, a.properties) == ("activity", "maritime", {"state": "planned"})
    assert (z.type, z.kind, z.properties) == ("zone", "base", {})
    assert type(a.kind) is str


def test_volume_index_orders_volumes_and_file_order_is_kept_without_it() -> None:
    item = ExportItem("activity", "A-1", "alpha", "air_sortie", (vol(CIRCLE), vol(CORRIDOR), vol(SQUARE_CCW)))
    doc = feature_collection([item])
    doc["features"].reverse()
    [back] = parse_feature_collection(doc)
    assert back.volumes == item.volumes
    assert back.feature_paths == ("features[2]", "features[1]", "features[0]")
    for f in doc["features"]:
        del f["properties"]["volume_index"]
    [back] = parse_feature_collection(doc)
    assert back.volumes == item.volumes[::-1]


def test_single_feature_defaults_and_omitted_item_fields() -> None:
    doc = feature_collection([ExportItem("zone", "Z-1", "bravo", "base", (vol(CIRCLE), vol(SQUARE_CCW)))])
    for f in doc["features"]:
        del f["properties"]["item_type"]
        del f["properties"]["party"]
    del doc["features"][1]["properties"]["kind"]
    [zone] = parse_feature_collection(doc, default_type="zone")
    assert (zone.type, zone.party, zone.kind, len(zone.volumes)) == ("zone", None, "base", 2)
    [single] = parse_feature_collection(doc["features"][0], default_type="zone")
    assert single.feature_paths == ("",)
    assert single.volumes == (vol(CIRCLE),)
    with pytest.raises(ValidationError) as caught:
        parse_feature_collection(doc)  # default "activity": "base" is no activity kind
    assert caught.value.field == "features[0].properties.kind"


def test_f3548_altitudes_time_objects_offsets_and_3d_positions() -> None:
    feature = {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [[[38, 35, 0], [38.2, 35, 0], [38.2, 35.2], [38, 35, 0]]]},
        "properties": {
            "item_id": "A-9",
            "kind": "air_sortie",
            "altitude_lower": {"value": 50, "units": "FT", "reference": "FL"},
            "altitude_upper": {"value": 3000, "units": "m"},
            "geoid_undulation_m": 20.0,
            "time_start": {"value": "2026-11-25T09:30:00.25+01:30", "format": "RFC3339"},
            "time_end": "2026-11-25t10:00:00z",
            "callsign": "HAWK",
        },
    }
    [item] = parse_feature_collection({"type": "FeatureCollection", "features": [feature]})
    v = item.volumes[0]
    assert v.altitude.lower_m == pytest.approx(50 * 100 * 0.3048 + 20.0)
    assert v.altitude.upper_m == 3000.0
    assert v.window.start == datetime(2026, 11, 25, 8, 0, 0, 250000, tzinfo=UTC)
    assert v.window.end == datetime(2026, 11, 25, 10, tzinfo=UTC)
    assert v.footprint == Polygon(((38.0, 35.0), (38.2, 35.0), (38.2, 35.2)))
    assert item.properties == {"callsign": "HAWK"}
    assert item.party is None


def test_wgs84_crs_is_accepted() -> None:
    doc = feature_collection([ExportItem("zone", "Z", "bravo", "base", (vol(CIRCLE),))])
    doc["crs"] = {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}}
    assert len(parse_feature_collection(doc)) == 1


def test_times_are_exported_in_utc_with_z_and_microseconds() -> None:
    start = datetime(2026, 11, 25, 9, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
    v = Volume4D(CIRCLE, AltitudeBand(0, 1), TimeWindow(start, start + timedelta(seconds=1)))
    [feature] = feature_collection([ExportItem("zone", "Z", "bravo", "base", (v,))])["features"]
    assert feature["properties"]["time_start"] == "2026-11-25T08:00:00.123456Z"
    [back] = parse_feature_collection({"type": "FeatureCollection", "features": [feature]})
    assert back.volumes == (v,)


# --- refusals --------------------------------------------------------------------------------


def base_doc() -> Doc:
    items = [
        ExportItem("activity", "A-1", "alpha", "air_sortie", (vol(SQUARE_CCW), vol(CIRCLE), vol(CORRIDOR))),
        ExportItem("zone", "Z-1", "bravo", "base", (vol(ACROSS),)),
    ]
    doc: Doc = json.loads(json.dumps(feature_collection(items)))
    return doc


def props(i: int, **changes: Any) -> Callable[[Doc], None]:
    def edit(doc: Doc) -> None:
        for key, value in changes.items():
            if value is DELETE:
                del doc["features"][i]["properties"][key]
            else:
                doc["features"][i]["properties"][key] = value

    return edit


def geometry(i: int, value: Any) -> Callable[[Doc], None]:
    def edit(doc: Doc) -> None:
        doc["features"][i]["geometry"] = value

    return edit


def coords(i: int, value: Any) -> Callable[[Doc], None]:
    def edit(doc: Doc) -> None:
        doc["features"][i]["geometry"]["coordinates"] = value

    return edit


def ring_with(index: int, position: Any) -> Callable[[Doc], None]:
    def edit(doc: Doc) -> None:
        doc["features"][0]["geometry"]["coordinates"][0][index] = position

    return edit


def replace(value: Any) -> Callable[[Doc], None]:
    def edit(doc: Doc) -> None:
        doc.clear()
        if isinstance(value, dict):
            doc.update(value)
        else:
            doc["__replace__"] = value

    return edit


DELETE = object()
GOOD_RING = [[38.0, 35.0], [38.2, 35.0], [38.2, 35.2], [38.0, 35.0]]


def top(key: str, value: Any) -> Callable[[Doc], None]:
    def edit(doc: Doc) -> None:
        if value is DELETE:
            del doc[key]
        else:
            doc[key] = value

    return edit


CASES: list[tuple[str, Callable[[Doc], object], str, str]] = [
    ("wrong document type", top("type", "Point"), "type", "'FeatureCollection' or 'Feature'"),
    ("no features", top("features", DELETE), "features", "is required"),
    ("features not an array", top("features", {"a": 1}), "features", "array"),
    ("non-WGS84 crs", top("crs", {"type": "name", "properties": {"name": "EPSG:3857"}}), "crs", "CRS84"),
    ("feature not an object", lambda d: d["features"].__setitem__(1, 7), "features[1]", "Feature object"),
    ("feature type", lambda d: d["features"][1].__setitem__("type", "Point"), "features[1].type", "'Feature'"),
    (
        "properties not an object",
        lambda d: d["features"][1].__setitem__("properties", []),
        "features[1].properties",
        "object",
    ),
    ("geometry missing", geometry(0, None), "features[0].geometry", "needs a footprint"),
    ("geometry not an object", geometry(0, "POINT(0 0)"), "features[0].geometry", "geometry object"),
    (
        "unsupported geometry",
        geometry(0, {"type": "MultiPoint", "coordinates": [[0, 0]]}),
        "features[0].geometry.type",
        "supported: Polygon, MultiPolygon",
    ),
    (
        "geometry collection",
        geometry(0, {"type": "GeometryCollection", "geometries": []}),
        "features[0].geometry.type",
        "LineString",
    ),
    ("no coordinates", geometry(0, {"type": "Polygon"}), "features[0].geometry.coordinates", "required"),
    (
        "unclosed ring",
        coords(0, [[[38.0, 35.0], [38.2, 35.0], [38.2, 35.2], [38.0, 35.2]]]),
        "features[0].geometry.coordinates[0]",
        "not closed",
    ),
    (
        "ring of three positions",
        coords(0, [[[38.0, 35.0], [38.2, 35.0], [38.0, 35.0]]]),
        "features[0].geometry.coordinates[0]",
        "at least 4 positions",
    ),
    ("ring not an array", coords(0, [7]), "features[0].geometry.coordinates[0]", "array of positions"),
    ("polygon without rings", coords(0, []), "features[0].geometry.coordinates", "one linear ring"),
    (
        "string in position",
        ring_with(2, [38.2, "35.2"]),
        "features[0].geometry.coordinates[0][2]",
        "latitude must be a number",
    ),
    (
        "bool in position",
        ring_with(2, [True, 35.2]),
        "features[0].geometry.coordinates[0][2]",
        "longitude must be a number",
    ),
    ("NaN in position", ring_with(2, [float("nan"), 35.2]), "features[0].geometry.coordinates[0][2]", "finite"),
    ("infinity in position", ring_with(2, [38.2, float("inf")]), "features[0].geometry.coordinates[0][2]", "finite"),
    ("huge integer", ring_with(2, [10**400, 35.2]), "features[0].geometry.coordinates[0][2]", "finite"),
    ("longitude range", ring_with(2, [200.0, 35.2]), "features[0].geometry.coordinates[0][2]", "longitude 200.0"),
    ("latitude range", ring_with(2, [38.2, -91.0]), "features[0].geometry.coordinates[0][2]", "latitude -91.0"),
    ("position too short", ring_with(1, [38.2]), "features[0].geometry.coordinates[0][1]", "position"),
    ("position too long", ring_with(1, [38.2, 35.0, 0, 0]), "features[0].geometry.coordinates[0][1]", "position"),
    ("position not an array", ring_with(1, {"lng": 1}), "features[0].geometry.coordinates[0][1]", "position"),
    (
        "self-intersecting ring",
        coords(0, [[[38.0, 35.0], [38.2, 35.2], [38.2, 35.0], [38.0, 35.2], [38.0, 35.0]]]),
        "features[0].geometry.coordinates[0]",
        "Self-intersection",
    ),
    (
        "degenerate ring",
        coords(0, [[[38.0, 35.0], [38.1, 35.1], [38.2, 35.2], [38.0, 35.0]]]),
        "features[0].geometry.coordinates[0]",
        "not a simple polygon",
    ),
    (
        "polygon hole",
        coords(0, [GOOD_RING, GOOD_RING]),
        "features[0].geometry.coordinates[1]",
        "holes are not supported",
    ),
    (
        "ring_reversed not a boolean",
        props(0, ring_reversed="yes"),
        "features[0].properties.ring_reversed",
        "true or false",
    ),
    ("radius_m on a polygon", props(0, radius_m=5.0), "features[0].properties.radius_m", "only to Point"),
    ("vertices on a polygon", props(0, vertices=[]), "features[0].properties.vertices", "only to MultiPolygon"),
    ("Point without radius_m", props(1, radius_m=DELETE), "features[1].properties.radius_m", "required for a Point"),
    ("negative radius", props(1, radius_m=-1.0), "features[1].properties.radius_m", ">= 0"),
    ("radius not a number", props(1, radius_m="10 km"), "features[1].properties.radius_m", "must be a number"),
    ("Point coordinates", coords(1, [[38.0, 35.0]]), "features[1].geometry.coordinates", "position"),
    (
        "LineString without half_width_m",
        props(2, half_width_m=DELETE),
        "features[2].properties.half_width_m",
        "required for a LineString",
    ),
    ("negative half-width", props(2, half_width_m=-3), "features[2].properties.half_width_m", ">= 0"),
    ("LineString of one position", coords(2, [[38.0, 35.0]]), "features[2].geometry.coordinates", "at least 2"),
    (
        "LineString of one point twice",
        coords(2, [[38.0, 35.0], [38.0, 35.0]]),
        "features[2].geometry.coordinates",
        "2 distinct points",
    ),
    (
        "bad LineString position",
        coords(2, [[38.0, 35.0], [38.0, 95.0]]),
        "features[2].geometry.coordinates[1]",
        "latitude",
    ),
    ("MultiPolygon empty", coords(3, []), "features[3].geometry.coordinates", "non-empty array"),
    (
        "MultiPolygon with a hole",
        coords(3, [[GOOD_RING, GOOD_RING]]),
        "features[3].geometry.coordinates[0][1]",
        "holes are not supported",
    ),
    (
        "bad vertices",
        props(3, vertices=[[179.0, 0.0], ["x", 1.0], [-179.0, 1.0]]),
        "features[3].properties.vertices[1]",
        "longitude must be a number",
    ),
    (
        "too few vertices",
        props(3, vertices=[[179.0, 0.0], [-179.0, 1.0]]),
        "features[3].properties.vertices",
        "at least 3",
    ),
    (
        "self-intersecting vertices",
        props(3, vertices=[[179.0, 0.0], [-179.0, 1.0], [-179.0, 0.0], [179.0, 1.0]]),
        "features[3].properties.vertices",
        "Self-intersection",
    ),
    (
        "MultiPolygon parts that do not join",
        lambda d: (
            d["features"][3]["properties"].pop("vertices"),
            d["features"][3]["geometry"].__setitem__(
                "coordinates", [[GOOD_RING], [[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]]]
            ),
        ),
        "features[3].geometry.coordinates",
        "do not join",
    ),
    ("item_id missing", props(0, item_id=DELETE), "features[0].properties.item_id", "required"),
    ("item_id empty", props(1, item_id=" "), "features[1].properties.item_id", "non-empty"),
    ("item_id not a string", props(1, item_id=7), "features[1].properties.item_id", "non-empty string"),
    ("item_id too long", props(1, item_id="x" * 201), "features[1].properties.item_id", "200"),
    ("item_type unknown", props(0, item_type="sortie"), "features[0].properties.item_type", "'activity' or 'zone'"),
    ("kind unknown", props(0, kind="dogfight"), "features[0].properties.kind", "unknown kind 'dogfight'"),
    (
        "zone kind on an activity",
        lambda d: [f["properties"].__setitem__("kind", "base") for f in d["features"][:3]],
        "features[0].properties.kind",
        "unknown activity kind 'base'",
    ),
    (
        "kind missing everywhere",
        lambda d: [f["properties"].pop("kind") for f in d["features"]],
        "features[0].properties.kind",
        "no feature",
    ),
    ("kind inconsistent", props(1, kind="maritime"), "features[1].properties.kind", "differs from 'air_sortie'"),
    ("party inconsistent", props(2, party="bravo"), "features[2].properties.party", "features[0].properties.party"),
    ("party empty", props(2, party=""), "features[2].properties.party", "non-empty"),
    ("item_type inconsistent", props(1, item_type="zone"), "features[1].properties.item_type", "differs"),
    (
        "duplicate volume_index",
        props(2, volume_index=0),
        "features[2].properties.volume_index",
        "given already at features[0]",
    ),
    (
        "volume_index missing on one",
        props(1, volume_index=DELETE),
        "features[1].properties.volume_index",
        "missing here",
    ),
    (
        "volume_index on one only",
        lambda d: [f["properties"].pop("volume_index") for f in d["features"][1:3]],
        "features[1].properties.volume_index",
        "given",
    ),
    ("volume_index negative", props(1, volume_index=-1), "features[1].properties.volume_index", "non-negative integer"),
    ("volume_index float", props(1, volume_index=1.0), "features[1].properties.volume_index", "non-negative integer"),
    ("volume_index bool", props(1, volume_index=True), "features[1].properties.volume_index", "non-negative integer"),
    ("time without zone", props(1, time_start="2026-11-25T08:00:00"), "features[1].properties.time_start", "time zone"),
    (
        "time not RFC 3339",
        props(1, time_start="25/11/2026 08:00"),
        "features[1].properties.time_start",
        "not an RFC 3339",
    ),
    ("date only", props(1, time_end="2026-11-25"), "features[1].properties.time_end", "not an RFC 3339"),
    ("impossible date", props(1, time_end="2026-13-25T08:00:00Z"), "features[1].properties.time_end", "not a valid"),
    ("time not a string", props(1, time_end=1764057600), "features[1].properties.time_end", "string"),
    ("time missing", props(1, time_end=DELETE), "features[1].properties.time_end", "required"),
    (
        "end before start",
        props(1, time_end="2026-11-25T07:00:00Z"),
        "features[1].properties.time_end",
        "not after start",
    ),
    (
        "end equals start",
        props(1, time_end="2026-11-25T08:00:00Z"),
        "features[1].properties.time_end",
        "not after start",
    ),
    (
        "time beyond UTC range",
        props(1, time_start="0001-01-01T00:00:00+01:00"),
        "features[1].properties.time_start",
        "outside the range",
    ),
    ("altitude missing", props(1, altitude_lower_m=DELETE), "features[1].properties.altitude_lower_m", "required"),
    ("altitude inverted", props(1, altitude_lower_m=2000.0), "features[1].properties.altitude_lower_m", "above upper"),
    ("altitude too high", props(1, altitude_upper_m=1e6), "features[1].properties.altitude_upper_m", "outside"),
    ("altitude NaN", props(1, altitude_upper_m=float("nan")), "features[1].properties.altitude_upper_m", "finite"),
    (
        "altitude given twice",
        props(1, altitude_lower={"value": 0}),
        "features[1].properties.altitude_lower",
        "not both",
    ),
    (
        "F3548 altitude unit",
        props(1, altitude_lower_m=DELETE, altitude_lower={"value": 1, "units": "yd"}),
        "features[1].properties.altitude_lower.units",
        "unknown unit",
    ),
    (
        "F3548 altitude reference",
        props(1, altitude_lower_m=DELETE, altitude_lower={"value": 1, "reference": "AGL"}),
        "features[1].properties.altitude_lower.reference",
        "unknown reference",
    ),
    (
        "F3548 altitude without value",
        props(1, altitude_upper_m=DELETE, altitude_upper={"units": "m"}),
        "features[1].properties.altitude_upper.value",
        "required",
    ),
    (
        "F3548 altitude not an object",
        props(1, altitude_upper_m=DELETE, altitude_upper=100),
        "features[1].properties.altitude_upper",
        "object",
    ),
    (
        "AMSL without geoid undulation",
        props(1, altitude_lower_m=DELETE, altitude_lower={"value": 0, "reference": "AMSL"}),
        "features[1].properties.geoid_undulation_m",
        "geoid undulation",
    ),
    (
        "F3548 inverted band",
        props(1, altitude_lower_m=DELETE, altitude_lower={"value": 5000, "units": "ft"}),
        "features[1].properties.altitude_lower",
        "above upper",
    ),
]


@pytest.mark.parametrize(("edit", "field", "reason"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_refusals_name_the_json_path(edit: Callable[[Doc], object], field: str, reason: str) -> None:
    doc = base_doc()
    parse_feature_collection(doc)  # the base document is good
    edit(doc)
    with pytest.raises(ValidationError) as caught:
        parse_feature_collection(doc)
    assert caught.value.field == field, caught.value
    assert reason in caught.value.reason, caught.value


@pytest.mark.parametrize("doc", [None, [], "FeatureCollection", 3.5])
def test_non_objects_are_refused(doc: Any) -> None:
    with pytest.raises(ValidationError, match="GeoJSON object") as caught:
        parse_feature_collection(doc)
    assert caught.value.field == ""


def test_too_many_features() -> None:
    feature = base_doc()["features"][0]
    doc = {"type": "FeatureCollection", "features": [feature] * (MAX_FEATURES + 1)}
    with pytest.raises(ValidationError, match=f"at most {MAX_FEATURES}") as caught:
        parse_feature_collection(doc)
    assert caught.value.field == "features"


def test_single_feature_paths_have_no_prefix() -> None:
    feature = base_doc()["features"][1]
    feature["properties"]["time_end"] = "2026-11-25T07:00:00Z"
    with pytest.raises(ValidationError) as caught:
        parse_feature_collection(feature)
    assert caught.value.field == "properties.time_end"
    feature["geometry"]["coordinates"] = [200.0, 0.0]
    with pytest.raises(ValidationError) as caught:
        parse_feature_collection(feature)
    assert caught.value.field == "geometry.coordinates"


def test_bad_default_type() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_feature_collection(base_doc(), default_type="site")  # type: ignore[arg-type]
    assert caught.value.field == "default_type"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"type": "site"}, "type"),
        ({"id": ""}, "id"),
        ({"party": None}, "party"),
        ({"kind": "base"}, "kind"),
        ({"volumes": ()}, "volumes"),
        ({"volumes": (CIRCLE,)}, "volumes[0]"),
        ({"properties": {"radius_m": 1}}, "properties.radius_m"),
        ({"properties": {1: "x"}}, "properties"),
        ({"properties": [("a", 1)]}, "properties"),
    ],
)
def test_export_item_is_checked(kwargs: dict[str, Any], field: str) -> None:
    args: dict[str, Any] = {
        "type": "activity",
        "id": "A",
        "party": "alpha",
        "kind": "air_sortie",
        "volumes": (vol(CIRCLE),),
    }
    args.update(kwargs)
    with pytest.raises(ValidationError) as caught:
        ExportItem(**args)
    assert caught.value.field == field


def test_feature_collection_refuses_other_objects() -> None:
    with pytest.raises(ValidationError) as caught:
        feature_collection([ExportItem("zone", "Z", "b", "base", (vol(CIRCLE),)), "Z-2"])  # type: ignore[list-item]
    assert caught.value.field == "items[1]"


def test_reserved_names_are_documented() -> None:
    props_ = feature_collection(
        [ExportItem("zone", "Z", "b", "base", (vol(ACROSS), vol(SQUARE_CW), vol(CIRCLE), vol(CORRIDOR)))]
    )
    used = {k for f in props_["features"] for k in f["properties"]}
    assert used <= RESERVED_PROPERTIES


# --- properties ---------------------------------------------------------------------------------

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

lons = st.floats(-180.0, 180.0)
lats = st.floats(-90.0, 90.0)


def _surrounds(angles: list[int]) -> bool:
    """No gap of 180° or more between consecutive angles: the star holds its centre, so it is simple."""
    ordered = sorted(angles)
    return all(b - a < 180 for a, b in itertools.pairwise([*ordered, ordered[0] + 360]))


@st.composite
def star_polygons(draw: st.DrawFn) -> Polygon:
    """Simple polygons up to ~10° across anywhere (often across the antimeridian), either orientation."""
    clon = draw(st.one_of(lons, st.floats(175.0, 180.0), st.floats(-180.0, -175.0)))
    clat = draw(st.floats(-80.0, 80.0))
    n = draw(st.integers(3, 10))
    angles = sorted(draw(st.lists(st.integers(0, 359), min_size=n, max_size=n, unique=True).filter(_surrounds)))
    radii = draw(st.lists(st.floats(0.05, 5.0), min_size=n, max_size=n))
    points = []
    for angle, radius in zip(angles, radii, strict=True):
        lon = clon + radius * math.cos(math.radians(angle))
        lon = lon - 360.0 if lon > 180.0 else lon + 360.0 if lon < -180.0 else lon
        points.append((lon, clat + radius * math.sin(math.radians(angle))))
    if draw(st.booleans()):
        points.reverse()
    start = draw(st.integers(0, n - 1))
    return Polygon(tuple(points[start:] + points[:start]))


circles = st.builds(Circle, st.tuples(lons, lats), st.floats(0.0, 1e6))
corridors = st.builds(
    Corridor,
    st.lists(st.tuples(lons, lats), min_size=2, max_size=6, unique=True).map(tuple),
    st.floats(0.0, 1e5),
)


@st.composite
def volumes(draw: st.DrawFn) -> Volume4D:
    footprint = draw(st.one_of(star_polygons(), circles, corridors))
    lower, upper = sorted(draw(st.lists(st.floats(-8000.0, 100000.0), min_size=2, max_size=2)))
    offset = timedelta(minutes=draw(st.integers(-14 * 60, 14 * 60)))
    start = draw(st.datetimes(datetime(1970, 1, 1), datetime(2200, 1, 1))).replace(tzinfo=timezone(offset))
    length = timedelta(microseconds=draw(st.integers(1, 10**12)))
    return Volume4D(footprint, AltitudeBand(lower, upper), TimeWindow(start, start + length))


json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)
identifiers = st.text(min_size=1, max_size=12).filter(str.strip)


@st.composite
def export_items(draw: st.DrawFn) -> list[ExportItem]:
    ids = draw(st.lists(identifiers, min_size=1, max_size=4, unique=True))
    items = []
    for item_id in ids:
        item_type: ItemType = draw(st.sampled_from(["activity", "zone"]))
        kinds = ActivityKind if item_type == "activity" else ZoneKind
        items.append(
            ExportItem(
                item_type,
                item_id,
                draw(identifiers),
                draw(st.sampled_from([k.value for k in kinds])),
                tuple(draw(st.lists(volumes(), min_size=1, max_size=3))),
                draw(
                    st.dictionaries(
                        st.text(max_size=10).filter(lambda k: k not in RESERVED_PROPERTIES), json_values, max_size=3
                    )
                ),
            )
        )
    return items


@PROPERTY
@given(export_items())
def test_round_trip_property(items: list[ExportItem]) -> None:
    back = roundtrip(items)
    assert len(back) == len(items)
    for exported, imported in zip(items, back, strict=True):
        assert_same(exported, imported)


def _check_junk(doc: Any) -> None:
    try:
        result = parse_feature_collection(doc)
    except ValidationError as e:
        assert isinstance(e.field, str)
        assert e.reason
    else:
        assert all(isinstance(item, ImportedItem) and item.volumes for item in result)


geometry_types = st.sampled_from(["Polygon", "MultiPolygon", "Point", "LineString", "MultiPoint", None, 3])
numbers = st.one_of(st.floats(), st.integers(), st.sampled_from([180.0, -180.0, 90.0, 0.0]))
nested_numbers = st.recursive(numbers, lambda inner: st.lists(inner, max_size=6), max_leaves=40)
junk_features = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["Feature", "feature", None]),
        "geometry": st.one_of(
            st.none(),
            json_values,
            st.fixed_dictionaries({"type": geometry_types, "coordinates": nested_numbers}),
        ),
        "properties": st.one_of(
            st.none(),
            json_values,
            st.dictionaries(
                st.sampled_from(sorted(RESERVED_PROPERTIES)),
                st.one_of(json_values, numbers, st.sampled_from(["2026-11-25T08:00:00Z", "2026-11-25T09:00:00+01:00"])),
            ),
        ),
    }
)
junk_documents = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {"type": st.sampled_from(["FeatureCollection", "Feature"]), "features": st.lists(junk_features, max_size=4)}
    ),
    junk_features,
)


@PROPERTY
@given(junk_documents)
def test_junk_is_refused_cleanly(doc: Any) -> None:
    _check_junk(doc)


def _containers(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _containers(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += _containers(item, (*path, i))
    return found


@PROPERTY
@given(export_items(), st.data())
def test_mutated_documents_are_refused_cleanly(items: list[ExportItem], data: st.DataObject) -> None:
    doc = json.loads(json.dumps(feature_collection(items)))
    for _ in range(data.draw(st.integers(1, 3))):
        paths = [p for p in _containers(doc) if p]
        if not paths:
            break
        path = data.draw(st.sampled_from(paths))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        if data.draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(st.one_of(json_values, numbers, st.sampled_from([[], {}, "", -180.0])))
    _check_junk(copy.deepcopy(doc))
