"""GeoJSON (RFC 7946) import and export of activities' and zones' volumes.

A GeoJSON file holds one **Feature per volume**.  The properties that belong to the
owning item (``item_type``, ``item_id``, ``party``, ``kind`` and any extra fields such as
a callsign) are repeated on every feature of the item; ``volume_index`` orders the
item's volumes.  The feature ``id`` is ``"<item id>#<volume index>"``.

Footprints map onto geometries (coordinates are ``[longitude, latitude]`` on WGS84):

* :class:`~deconflict.model.Polygon` → ``Polygon`` with one closed ring, exterior
  counter-clockwise (RFC 7946 §3.1.6).  When the model's vertex order is clockwise the
  ring is reversed and the property ``ring_reversed: true`` is set, so that import gives
  back the same vertex order.  A polygon whose vertices span the antimeridian (two
  consecutive vertex longitudes more than 180° apart) is cut at ±180 into a
  ``MultiPolygon`` (RFC 7946 §3.1.9) and its exact vertex list is kept in the property
  ``vertices`` (only then), which import reads instead of the cut geometry.
* :class:`~deconflict.model.Circle` → ``Point`` (the centre) with property ``radius_m``.
* :class:`~deconflict.model.Corridor` → ``LineString`` (the route) with ``half_width_m``.
  A route is not cut at the antimeridian (it stays one ``LineString``, exactly as stored).

The remaining volume properties are ``altitude_lower_m`` / ``altitude_upper_m`` (metres
above the WGS84 ellipsoid) and ``time_start`` / ``time_end`` (RFC 3339, UTC, ``Z``)::

    {"type": "FeatureCollection", "features": [
      {"type": "Feature", "id": "Z-7#0",
       "geometry": {"type": "Polygon",
                    "coordinates": [[[38.0, 35.0], [38.2, 35.0], [38.2, 35.2], [38.0, 35.0]]]},
       "properties": {"item_type": "zone", "item_id": "Z-7", "party": "bravo", "kind": "protected_site",
                      "volume_index": 0, "altitude_lower_m": 0.0, "altitude_upper_m": 3000.0,
                      "time_start": "2026-11-25T00:00:00Z", "time_end": "2026-11-26T00:00:00Z",
                      "name": "Hospital"}}]}

Import (:func:`parse_feature_collection`) accepts a FeatureCollection of at most
:data:`MAX_FEATURES` features, or a single Feature, and groups features by ``item_id``
(required).  On import:

* ``item_type`` (default: the ``default_type`` argument), ``party`` (optional) and
  ``kind`` (required on at least one feature) may be omitted on some features of an
  item, but those that give them must agree.
* ``volume_index`` is optional; when given it must be given on every feature of the
  item, distinct, and orders the volumes; otherwise file order is kept.
* Altitudes may instead be ASTM F3548 objects ``altitude_lower`` / ``altitude_upper``
  ``{"value": …, "units": "m"|"ft", "reference": "W84"|"AMSL"|"FL"}``, converted by
  :mod:`deconflict.units` (AMSL and FL need the property ``geoid_undulation_m``).
* Times must carry ``Z`` or an offset; F3548 ``{"value": "…"}`` time objects are read too.
* Positions may carry a third element (altitude): it is checked and ignored — altitude
  comes from the properties.  Rings may be in either orientation.  A ``MultiPolygon``
  without ``vertices`` is read only as one polygon cut at the antimeridian (its parts are
  joined); holes are not supported.
* ``radius_m``, ``half_width_m``, ``ring_reversed`` and ``vertices`` are refused on a
  geometry they do not apply to; a (pre-RFC 7946) ``crs`` member is refused unless it
  names WGS84 longitude/latitude (CRS84).
* The properties of an item's first feature that are not reserved (see
  :data:`RESERVED_PROPERTIES`) are returned in :attr:`ImportedItem.properties`.

Every refusal is a :class:`~deconflict.errors.ValidationError` (or subclass) whose
``field`` is the JSON path of the offending value, e.g.
``features[3].geometry.coordinates[0][2]`` or ``features[1].properties.time_end`` (a single
Feature's paths start at ``geometry`` / ``properties``).  Geodesic validity (size cap,
self-intersection along geodesic edges) is still :func:`deconflict.geo.prepare`'s job;
:attr:`ImportedItem.feature_paths` maps a volume back to its feature for such errors.

    >>> from datetime import UTC, datetime
    >>> from deconflict.model import AltitudeBand, Circle, TimeWindow, Volume4D
    >>> volume = Volume4D(Circle((38.0, 35.0), 10_000.0), AltitudeBand(0.0, 1500.0),
    ...                   TimeWindow(datetime(2026, 11, 25, 8, tzinfo=UTC), datetime(2026, 11, 25, 10, tzinfo=UTC)))
    >>> doc = feature_collection([ExportItem("activity", "A-1", "alpha", "air_sortie", (volume,),
    ...                                      {"callsign": "VIPER 1"})])
    >>> feature = doc["features"][0]
    >>> feature["id"], feature["geometry"]
    ('A-1#0', {'type': 'Point', 'coordinates': [38.0, 35.0]})
    >>> feature["properties"]  # doctest: +NORMALIZE_WHITESPACE
    {'item_type': 'activity', 'item_id': 'A-1', 'party': 'alpha', 'kind': 'air_sortie', 'volume_index': 0,
     'altitude_lower_m': 0.0, 'altitude_upper_m': 1500.0, 'time_start': '2026-11-25T08:00:00Z',
     'time_end': '2026-11-25T10:00:00Z', 'radius_m': 10000.0, 'callsign': 'VIPER 1'}
    >>> [item] = parse_feature_collection(doc)
    >>> item.type, item.id, item.party, item.kind, item.volumes == (volume,), item.properties
    ('activity', 'A-1', 'alpha', 'air_sortie', True, {'callsign': 'VIPER 1'})
    >>> parse_feature_collection({"type": "Point", "coordinates": [0, 0]})
    Traceback (most recent call last):
    ...
    deconflict.errors.ValidationError: type: must be 'FeatureCollection' or 'Feature', got 'Point'
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypeVar, cast

import shapely
import shapely.errors
from shapely.geometry.polygon import orient

from .errors import (
    DeconflictError,
    InvalidAltitudeError,
    InvalidCoordinateError,
    InvalidFootprintError,
    InvalidNumberError,
    InvalidTimeWindowError,
    ValidationError,
)
from .model import (
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
    finite,
)
from .units import altitude_m
from .wire import rfc3339

__all__ = [
    "MAX_FEATURES",
    "RESERVED_PROPERTIES",
    "ExportItem",
    "ImportedItem",
    "ItemType",
    "feature_collection",
    "parse_feature_collection",
]

ItemType = Literal["activity", "zone"]

#: The most features one document may hold on import.
MAX_FEATURES = 10_000

#: Property names with a meaning here: never copied into, or accepted as, extra properties.
RESERVED_PROPERTIES = frozenset(
    {
        "item_type",
        "item_id",
        "party",
        "kind",
        "volume_index",
        "altitude_lower_m",
        "altitude_upper_m",
        "altitude_lower",
        "altitude_upper",
        "geoid_undulation_m",
        "time_start",
        "time_end",
        "radius_m",
        "half_width_m",
        "ring_reversed",
        "vertices",
    }
)

_ITEM_TYPES: tuple[ItemType, ...] = ("activity", "zone")
_KINDS: dict[str, tuple[str, ...]] = {
    "activity": tuple(k.value for k in ActivityKind),
    "zone": tuple(k.value for k in ZoneKind),
}
_SUPPORTED = (
    "Polygon, MultiPolygon (one polygon cut at the antimeridian), Point (a circle, with radius_m) "
    "and LineString (a corridor, with half_width_m)"
)
#: Properties read only with one geometry type.
_GEOMETRY_PROPERTIES = {
    "radius_m": ("Point",),
    "half_width_m": ("LineString",),
    "ring_reversed": ("Polygon",),
    "vertices": ("MultiPolygon",),
}
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?P<tz>[Zz]|[+-][0-9]{2}:[0-9]{2})?",
    re.ASCII,
)

LonLat = tuple[float, float]
_T = TypeVar("_T")


# --- the two item types ------------------------------------------------------------------


def _identifier(value: object, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(path, "must be a non-empty string")
    if len(value) > 200:
        raise ValidationError(path, "must be at most 200 characters")
    return value


def _kind(item_type: str, kind: object, path: str) -> str:
    kinds = _KINDS[item_type]
    if not isinstance(kind, str) or kind not in kinds:
        raise ValidationError(path, f"unknown {item_type} kind {_show(kind)}; use one of {list(kinds)}")
    return str(kinds[kinds.index(kind)])


@dataclass(frozen=True)
class ExportItem:
    """One activity or zone to export: its identity, volumes and extra shared properties.

    ``properties`` (e.g. callsign, state, priority, version) are copied into every
    feature's properties; their names must not be in :data:`RESERVED_PROPERTIES`.
    """

    type: ItemType
    id: str
    party: str
    kind: str
    volumes: tuple[Volume4D, ...]
    properties: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.type, str) or self.type not in _ITEM_TYPES:
            raise ValidationError("type", f"must be 'activity' or 'zone', got {_show(self.type)}")
        _identifier(self.id, "id")
        _identifier(self.party, "party")
        object.__setattr__(self, "kind", _kind(self.type, self.kind, "kind"))
        volumes = (self.volumes,) if isinstance(self.volumes, Volume4D) else self.volumes
        if not isinstance(volumes, (tuple, list)) or not volumes:
            raise ValidationError("volumes", "must hold at least one Volume4D")
        for i, v in enumerate(volumes):
            if not isinstance(v, Volume4D):
                raise ValidationError(f"volumes[{i}]", "must be a Volume4D")
        object.__setattr__(self, "volumes", tuple(volumes))
        if not isinstance(self.properties, Mapping):
            raise ValidationError("properties", "must be a mapping of names to JSON values")
        for key in self.properties:
            if not isinstance(key, str):
                raise ValidationError("properties", f"names must be strings, got {_show(key)}")
            if key in RESERVED_PROPERTIES:
                raise ValidationError(f"properties.{key}", "is a reserved GeoJSON property name")
        object.__setattr__(self, "properties", dict(self.properties))

    @classmethod
    def from_model(cls, item: Activity | Zone, properties: Mapping[str, Any] | None = None) -> ExportItem:
        """The export item of a model :class:`~deconflict.model.Activity` or :class:`~deconflict.model.Zone`."""
        item_type: ItemType = "activity" if isinstance(item, Activity) else "zone"
        return cls(item_type, item.id, item.party, str(item.kind.value), item.volumes, properties or {})


@dataclass(frozen=True)
class ImportedItem:
    """One activity or zone read from GeoJSON.

    ``party`` is None when no feature names one (the caller decides).  ``properties``
    holds the non-reserved properties of the item's first feature.  ``feature_paths[k]``
    is the JSON path of the feature that gave ``volumes[k]`` (e.g. ``"features[4]"``), for
    naming the field when a later check (such as :func:`deconflict.geo.prepare`) refuses it.
    """

    type: ItemType
    id: str
    party: str | None
    kind: str
    volumes: tuple[Volume4D, ...]
    properties: Mapping[str, Any] = field(default_factory=dict)
    feature_paths: tuple[str, ...] = ()


# --- export ------------------------------------------------------------------------------


def feature_collection(items: Iterable[ExportItem]) -> dict[str, Any]:
    """A GeoJSON FeatureCollection with one Feature per volume of each item, in order."""
    features: list[dict[str, Any]] = []
    for n, item in enumerate(items):
        if not isinstance(item, ExportItem):
            raise ValidationError(f"items[{n}]", f"must be an ExportItem, got {type(item).__name__}")
        for index, volume in enumerate(item.volumes):
            features.append(_feature(item, index, volume))
    return {"type": "FeatureCollection", "features": features}


def _feature(item: ExportItem, index: int, volume: Volume4D) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "item_type": item.type,
        "item_id": item.id,
        "party": item.party,
        "kind": item.kind,
        "volume_index": index,
        "altitude_lower_m": volume.altitude.lower_m,
        "altitude_upper_m": volume.altitude.upper_m,
        "time_start": rfc3339(volume.window.start),
        "time_end": rfc3339(volume.window.end),
    }
    footprint = volume.footprint
    geometry: dict[str, Any]
    if isinstance(footprint, Circle):
        geometry = {"type": "Point", "coordinates": list(footprint.center)}
        properties["radius_m"] = footprint.radius_m
    elif isinstance(footprint, Corridor):
        geometry = {"type": "LineString", "coordinates": [list(p) for p in footprint.path]}
        properties["half_width_m"] = footprint.half_width_m
    else:
        geometry = _polygon_geometry(footprint.vertices, properties)
    properties.update(item.properties)
    return {"type": "Feature", "id": f"{item.id}#{index}", "geometry": geometry, "properties": properties}


def _turn(lon_a: float, lon_b: float) -> int:
    """-1, 0 or +1: the change of 360° offset that keeps the step from ``lon_a`` to ``lon_b`` within 180°."""
    if lon_b - lon_a > 180.0:
        return -1
    if lon_b - lon_a < -180.0:
        return 1
    return 0


def _unwrap(points: Sequence[LonLat]) -> tuple[list[LonLat], int]:
    """The points with longitudes made continuous, and the 360° offset reached at the last one."""
    offset = 0
    out = [points[0]]
    for (lon_a, _), (lon_b, lat_b) in itertools.pairwise(points):
        offset += _turn(lon_a, lon_b)
        out.append((lon_b + 360.0 * offset, lat_b))
    return out, offset


def _signed_area(ring: Sequence[LonLat]) -> float:
    return 0.5 * sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, [*ring[1:], ring[0]], strict=True))


def _polygon_geometry(vertices: tuple[LonLat, ...], properties: dict[str, Any]) -> dict[str, Any]:
    closed = [*vertices, vertices[0]]
    if not any(_turn(a[0], b[0]) for a, b in itertools.pairwise(closed)):
        ring = list(vertices)
        if _signed_area(ring) < 0:
            ring = [ring[0], *ring[:0:-1]]
            properties["ring_reversed"] = True
        return {"type": "Polygon", "coordinates": [[list(p) for p in (*ring, ring[0])]]}
    properties["vertices"] = [list(p) for p in vertices]
    return {"type": "MultiPolygon", "coordinates": [[ring] for ring in _cut_at_antimeridian(vertices)]}


def _cut_at_antimeridian(vertices: tuple[LonLat, ...]) -> list[list[list[float]]]:
    """Counter-clockwise rings of the pieces of a polygon cut at ±180° (for display; planar in lon/lat)."""
    shell, offset = _unwrap([*vertices, vertices[0]])
    shell.pop()
    if offset:  # the ring goes round a pole: close it along the pole on the side it lies
        lon0, lat0 = vertices[0]
        pole = 90.0 if sum(lat for _, lat in vertices) >= 0 else -90.0
        end = lon0 + 360.0 * offset
        shell += [(end, lat0), (end, pole), (lon0, pole)]
    try:
        shape = shapely.Polygon(shell)
        if not shape.is_valid:
            shape = shapely.make_valid(shape)
        min_x, _, max_x, _ = shape.bounds
        rings: list[list[list[float]]] = []
        for k in range(math.floor((min_x + 180.0) / 360.0), math.floor((max_x + 180.0) / 360.0) + 1):
            window = shapely.box(360.0 * k - 180.0, -90.0, 360.0 * k + 180.0, 90.0)
            for piece in _polygons(shape.intersection(window)):
                if piece.area <= 0.0:
                    continue
                rings.append(
                    [
                        [min(180.0, max(-180.0, x - 360.0 * k)), min(90.0, max(-90.0, y))]
                        for x, y in orient(piece, 1.0).exterior.coords
                    ]
                )
        return rings
    except (shapely.errors.GEOSException, ValueError):  # pragma: no cover - GEOS refusing a valid footprint
        return []


def _polygons(shape: Any) -> list[Any]:
    if shape.geom_type == "Polygon":
        return [shape]
    if shape.geom_type in ("MultiPolygon", "GeometryCollection"):
        return [p for part in shape.geoms for p in _polygons(part)]
    return []


# --- import ------------------------------------------------------------------------------


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _at(base: str, key: str) -> str:
    if key.startswith("["):
        return base + key
    return f"{base}.{key}" if base else key


def _remap(error: DeconflictError, fields: Mapping[str, str], fallback: str) -> DeconflictError:
    """A model constructor's error with its field translated into the JSON path."""
    head = re.split(r"[.\[]", error.field, maxsplit=1)[0]
    target = fields.get(head)
    if target is None:
        return error.within(fallback) if fallback else error
    return type(error)(target + error.field[len(head) :], error.reason)


def _build(make: Callable[[], _T], fields: Mapping[str, str], fallback: str) -> _T:
    try:
        return make()
    except DeconflictError as e:
        raise _remap(e, fields, fallback) from None


def _position(value: Any, path: str) -> LonLat:
    if not isinstance(value, (list, tuple)) or not 2 <= len(value) <= 3:
        raise InvalidCoordinateError(path, "a position must be [longitude, latitude] (optionally with an altitude)")
    numbers: list[float] = []
    for name, item in zip(("longitude", "latitude", "altitude"), value, strict=False):
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            raise InvalidNumberError(path, f"{name} must be a number, got {type(item).__name__}")
        try:
            number = float(item)
        except OverflowError:
            raise InvalidNumberError(path, f"{name} must be finite, got an integer too large for a float") from None
        if not math.isfinite(number):
            raise InvalidNumberError(path, f"{name} must be finite, got {number!r}")
        numbers.append(number)
    lon, lat = numbers[0], numbers[1]
    if not -180.0 <= lon <= 180.0:
        raise InvalidCoordinateError(path, f"longitude {lon!r} is outside [-180, 180]")
    if not -90.0 <= lat <= 90.0:
        raise InvalidCoordinateError(path, f"latitude {lat!r} is outside [-90, 90]")
    return (lon, lat)


def _positions(value: Any, path: str, least: int, what: str) -> list[LonLat]:
    if not isinstance(value, (list, tuple)):
        raise InvalidFootprintError(path, f"{what} must be an array of positions")
    if len(value) < least:
        raise InvalidFootprintError(path, f"{what} needs at least {least} positions, got {len(value)}")
    return [_position(p, f"{path}[{i}]") for i, p in enumerate(value)]


def _check_simple(closed: Sequence[LonLat], path: str) -> None:
    """Refuse a closed ring that is not a simple polygon in (unwrapped) longitude/latitude."""
    unwrapped, offset = _unwrap(closed)
    if offset:  # it goes round a pole: only the geodesic check (geo.prepare) can judge it
        return
    try:
        reason = str(shapely.is_valid_reason(shapely.Polygon(unwrapped)))
    except (shapely.errors.GEOSException, ValueError) as e:
        reason = str(e)
    if reason != "Valid Geometry":
        raise InvalidFootprintError(path, f"the ring is not a simple polygon: {reason}")


def _ring(value: Any, path: str, *, check_simple: bool = True) -> list[LonLat]:
    ring = _positions(value, path, 4, "a linear ring (its last position repeating the first)")
    if ring[0] != ring[-1]:
        raise InvalidFootprintError(
            path, "the ring is not closed: its last position must repeat the first (RFC 7946 §3.1.6)"
        )
    if check_simple:
        _check_simple(ring, path)
    return ring


def _outer_ring(value: Any, path: str, *, check_simple: bool = True) -> list[LonLat]:
    if not isinstance(value, (list, tuple)) or not value:
        raise InvalidFootprintError(path, "a polygon must be an array holding one linear ring")
    if len(value) > 1:
        raise InvalidFootprintError(
            f"{path}[1]", "polygon holes are not supported: give the outer ring only (split the area if needed)"
        )
    return _ring(value[0], f"{path}[0]", check_simple=check_simple)


def _join_antimeridian_parts(parts: list[list[LonLat]], path: str) -> list[LonLat]:
    """One closed ring from the parts of a polygon cut at the antimeridian (a third party's MultiPolygon)."""
    if len(parts) == 1:
        return parts[0]
    refusal = InvalidFootprintError(
        path,
        "a MultiPolygon is read only as one polygon cut at the antimeridian (RFC 7946 §3.1.9), but its parts "
        "do not join into one polygon without holes: give each part its own feature",
    )
    shapes = []
    for ring in parts:
        unwrapped, _ = _unwrap(ring)
        shift = 360.0 if any(lon == -180.0 for lon, _ in ring) else 0.0
        shapes.append(shapely.Polygon([(lon + shift, lat) for lon, lat in unwrapped]))
    try:
        joined = shapely.union_all(shapes)
    except (shapely.errors.GEOSException, ValueError):
        raise refusal from None
    if joined.geom_type != "Polygon" or len(joined.interiors) or joined.is_empty:
        raise refusal
    ring = [(lon - 360.0 if lon > 180.0 else lon, lat) for lon, lat in joined.exterior.coords]
    # A polygon round a pole was closed along the pole for display: drop that edge, the
    # model's polygon is the smaller region its ring bounds.
    off_pole: list[LonLat] = []
    for point in ring[:-1]:
        if abs(point[1]) != 90.0 and (not off_pole or point != off_pole[-1]):
            off_pole.append(point)
    if len(set(off_pole)) >= 3 and _unwrap([*off_pole, off_pole[0]])[1]:
        ring = [*off_pole, off_pole[0]]
    _check_simple(ring, path)
    return ring


def _number_property(props: Mapping[str, Any], key: str, pp: str, missing: str) -> float:
    if key not in props:
        raise ValidationError(_at(pp, key), missing)
    return finite(props[key], _at(pp, key))


def _footprint(geometry: Any, props: Mapping[str, Any], fp: str, pp: str) -> Footprint:
    gp = _at(fp, "geometry")
    if geometry is None:
        raise InvalidFootprintError(gp, "is required: each feature is one volume and needs a footprint")
    if not isinstance(geometry, Mapping):
        raise InvalidFootprintError(gp, "must be a GeoJSON geometry object")
    gtype = geometry.get("type")
    if gtype not in ("Polygon", "MultiPolygon", "Point", "LineString"):
        raise InvalidFootprintError(
            _at(gp, "type"), f"unsupported geometry type {_show(gtype)}; supported: {_SUPPORTED}"
        )
    for key, types in _GEOMETRY_PROPERTIES.items():
        if key in props and gtype not in types:
            raise ValidationError(_at(pp, key), f"applies only to {types[0]} geometry, not {gtype}")
    cp = _at(gp, "coordinates")
    if "coordinates" not in geometry:
        raise InvalidFootprintError(cp, "is required")
    coords = geometry["coordinates"]
    if gtype == "Point":
        center = _position(coords, cp)
        radius = _number_property(props, "radius_m", pp, "is required for a Point: the circle's radius in metres")
        return _build(lambda: Circle(center, radius), {"center": cp, "radius_m": _at(pp, "radius_m")}, gp)
    if gtype == "LineString":
        route = _positions(coords, cp, 2, "a LineString")
        width = _number_property(
            props, "half_width_m", pp, "is required for a LineString: the corridor's half-width in metres"
        )
        return _build(lambda: Corridor(tuple(route), width), {"path": cp, "half_width_m": _at(pp, "half_width_m")}, gp)
    if gtype == "Polygon":
        ring = _outer_ring(coords, cp)
        reversed_ = props.get("ring_reversed", False)
        if not isinstance(reversed_, bool):
            raise ValidationError(_at(pp, "ring_reversed"), f"must be true or false, got {_show(reversed_)}")
        if reversed_:
            ring.reverse()
        return _build(lambda: Polygon(tuple(ring)), {"vertices": f"{cp}[0]"}, gp)
    # MultiPolygon
    if not isinstance(coords, (list, tuple)) or not coords:
        raise InvalidFootprintError(cp, "a MultiPolygon must be a non-empty array of polygons")
    exact = "vertices" in props
    parts = [_outer_ring(part, f"{cp}[{j}]", check_simple=not exact) for j, part in enumerate(coords)]
    if exact:
        vp = _at(pp, "vertices")
        vertices = _positions(props["vertices"], vp, 3, "vertices (the polygon's exact vertex list)")
        _check_simple([*vertices, vertices[0]] if vertices[0] != vertices[-1] else vertices, vp)
        return _build(lambda: Polygon(tuple(vertices)), {"vertices": vp}, gp)
    joined = _join_antimeridian_parts(parts, cp)
    return _build(lambda: Polygon(tuple(joined)), {"vertices": cp}, gp)


def _altitude(props: Mapping[str, Any], pp: str, which: str) -> tuple[float, str]:
    metric, f3548 = f"altitude_{which}_m", f"altitude_{which}"
    if metric in props and f3548 in props:
        raise InvalidAltitudeError(_at(pp, f3548), f"give {metric} or {f3548}, not both")
    if metric in props:
        path = _at(pp, metric)
        return finite(props[metric], path), path
    if f3548 not in props:
        raise InvalidAltitudeError(
            _at(pp, metric),
            f"is required: metres above the WGS84 ellipsoid (or give {f3548} as {{value, units, reference}})",
        )
    path = _at(pp, f3548)
    obj = props[f3548]
    if not isinstance(obj, Mapping):
        raise InvalidAltitudeError(path, "must be an object {value, units, reference}")
    if "value" not in obj:
        raise InvalidAltitudeError(_at(path, "value"), "is required")
    value = finite(obj["value"], _at(path, "value"))
    units = obj.get("units", "m")
    reference = obj.get("reference", "W84")
    for key, given in (("units", units), ("reference", reference)):
        if not isinstance(given, str):
            raise InvalidAltitudeError(_at(path, key), f"must be a string, got {type(given).__name__}")
    units = units.lower() if units.upper() in ("M", "FT") else units
    undulation = props.get("geoid_undulation_m")
    if undulation is not None:
        undulation = finite(undulation, _at(pp, "geoid_undulation_m"))
    try:
        metres = altitude_m(value, units=units, reference=reference, geoid_undulation_m=undulation, field=path)
    except DeconflictError as e:
        if e.field.endswith(".geoid_undulation_m"):
            raise type(e)(_at(pp, "geoid_undulation_m"), e.reason) from None
        raise
    return metres, path


def _time(props: Mapping[str, Any], pp: str, key: str) -> tuple[datetime, str]:
    path = _at(pp, key)
    if key not in props:
        raise InvalidTimeWindowError(path, "is required: an RFC 3339 date-time with Z or an offset")
    value = props[key]
    if isinstance(value, Mapping):  # an F3548 Time object
        value = value.get("value")
    if not isinstance(value, str):
        raise InvalidTimeWindowError(path, f"must be an RFC 3339 date-time string, got {type(value).__name__}")
    match = _RFC3339.fullmatch(value)
    if match is None:
        raise InvalidTimeWindowError(path, f"{_show(value)} is not an RFC 3339 date-time (e.g. 2026-11-25T08:00:00Z)")
    if match.group("tz") is None:
        raise InvalidTimeWindowError(path, "must carry a time zone: end with Z or an offset such as +01:00")
    text = f"{value[:10]}T{value[11:]}"
    if text[-1] in "Zz":
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except (ValueError, OverflowError) as e:
        raise InvalidTimeWindowError(path, f"{_show(value)} is not a valid date-time: {e}") from None
    return moment, path


def _volume(feature: Mapping[str, Any], props: Mapping[str, Any], fp: str, pp: str) -> Volume4D:
    footprint = _footprint(feature.get("geometry"), props, fp, pp)
    lower, lower_path = _altitude(props, pp, "lower")
    upper, upper_path = _altitude(props, pp, "upper")
    band = _build(lambda: AltitudeBand(lower, upper), {"lower_m": lower_path, "upper_m": upper_path}, pp)
    start, start_path = _time(props, pp, "time_start")
    end, end_path = _time(props, pp, "time_end")
    window = _build(lambda: TimeWindow(start, end), {"start": start_path, "end": end_path}, pp)
    return _build(lambda: Volume4D(footprint, band, window), {}, fp)


@dataclass
class _Group:
    id: str
    first: str
    has_index: bool
    extra: dict[str, Any]
    given: dict[str, tuple[Any, str]] = field(default_factory=dict)
    indexes: dict[int, str] = field(default_factory=dict)
    volumes: list[tuple[int, Volume4D, str]] = field(default_factory=list)


def _item_field(group: _Group, props: Mapping[str, Any], pp: str, key: str) -> None:
    if key not in props or props[key] is None:
        return
    path = _at(pp, key)
    value = props[key]
    if key == "item_type":
        if not isinstance(value, str) or value not in _ITEM_TYPES:
            raise ValidationError(path, f"must be 'activity' or 'zone', got {_show(value)}")
    else:
        _identifier(value, path)
    if key == "kind" and not any(value in kinds for kinds in _KINDS.values()):
        raise ValidationError(
            path,
            f"unknown kind {_show(value)}; activity kinds: {list(_KINDS['activity'])}, "
            f"zone kinds: {list(_KINDS['zone'])}",
        )
    if key in group.given:
        before, where = group.given[key]
        if value != before:
            raise ValidationError(
                path, f"{_show(value)} differs from {_show(before)} given at {where} for item {group.id!r}"
            )
    else:
        group.given[key] = (value, path)


def _volume_index(group: _Group, props: Mapping[str, Any], pp: str, order: int) -> int:
    path = _at(pp, "volume_index")
    value = props.get("volume_index")
    if (value is not None) != group.has_index:
        state = "given here but not" if value is not None else "missing here but given"
        raise ValidationError(
            path,
            f"is {state} at {group.first or 'the first feature'} for item {group.id!r}: "
            "give volume_index on every feature of an item or on none",
        )
    if value is None:
        return order
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationError(path, f"must be a non-negative integer, got {_show(value)}")
    if value in group.indexes:
        raise ValidationError(path, f"{value} is given already at {group.indexes[value]} for item {group.id!r}")
    group.indexes[value] = path
    return value


def parse_feature_collection(doc: Any, *, default_type: ItemType = "activity") -> list[ImportedItem]:
    """Read the items of a GeoJSON FeatureCollection (or single Feature), in order of first appearance.

    ``default_type`` is the item type of items whose features give no ``item_type``.
    Raises :class:`~deconflict.errors.ValidationError` naming the JSON path of the first
    refused value.
    """
    if not isinstance(default_type, str) or default_type not in _ITEM_TYPES:
        raise ValidationError("default_type", f"must be 'activity' or 'zone', got {_show(default_type)}")
    if not isinstance(doc, Mapping):
        raise ValidationError("", f"must be a GeoJSON object, got {type(doc).__name__}")
    kind_of = doc.get("type")
    _check_crs(doc, "")
    features: Sequence[Any]
    if kind_of == "Feature":
        features, paths = [doc], [""]
    elif kind_of == "FeatureCollection":
        if "features" not in doc:
            raise ValidationError("features", "is required")
        raw = doc["features"]
        if not isinstance(raw, (list, tuple)):
            raise ValidationError("features", "must be an array of features")
        if len(raw) > MAX_FEATURES:
            raise ValidationError("features", f"holds {len(raw)} features; at most {MAX_FEATURES} are accepted")
        features, paths = raw, [f"features[{i}]" for i in range(len(raw))]
    else:
        raise ValidationError("type", f"must be 'FeatureCollection' or 'Feature', got {_show(kind_of)}")

    groups: dict[str, _Group] = {}
    for feature, fp in zip(features, paths, strict=True):
        if not isinstance(feature, Mapping):
            raise ValidationError(fp, f"must be a GeoJSON Feature object, got {type(feature).__name__}")
        if feature.get("type") != "Feature":
            raise ValidationError(_at(fp, "type"), f"must be 'Feature', got {_show(feature.get('type'))}")
        if fp:
            _check_crs(feature, fp)
        pp = _at(fp, "properties")
        props = feature.get("properties")
        if props is None:
            props = {}
        if not isinstance(props, Mapping):
            raise ValidationError(pp, f"must be an object, got {type(props).__name__}")
        if "item_id" not in props:
            raise ValidationError(_at(pp, "item_id"), "is required: it names the activity or zone the volume is of")
        item_id = _identifier(props["item_id"], _at(pp, "item_id"))
        group = groups.get(item_id)
        if group is None:
            extra = {k: v for k, v in props.items() if k not in RESERVED_PROPERTIES}
            group = groups[item_id] = _Group(item_id, fp, props.get("volume_index") is not None, extra)
        for key in ("item_type", "party", "kind"):
            _item_field(group, props, pp, key)
        index = _volume_index(group, props, pp, len(group.volumes))
        group.volumes.append((index, _volume(feature, props, fp, pp), fp))

    items: list[ImportedItem] = []
    for group in groups.values():
        item_type = cast(ItemType, group.given.get("item_type", (default_type, ""))[0])
        if "kind" not in group.given:
            raise ValidationError(
                _at(group.first, "properties.kind"), f"is required: no feature of item {group.id!r} gives its kind"
            )
        kind_value, kind_path = group.given["kind"]
        kind = _kind(item_type, kind_value, kind_path)
        party = group.given.get("party", (None, ""))[0]
        ordered = sorted(group.volumes, key=lambda entry: entry[0])
        items.append(
            ImportedItem(
                item_type,
                group.id,
                party,
                kind,
                tuple(v for _, v, _ in ordered),
                group.extra,
                tuple(p for _, _, p in ordered),
            )
        )
    return items


_WGS84_CRS = (
    "urn:ogc:def:crs:OGC:1.3:CRS84",
    "urn:ogc:def:crs:OGC::CRS84",
    "EPSG:4326",
    "urn:ogc:def:crs:EPSG::4326",
)


def _check_crs(obj: Mapping[str, Any], path: str) -> None:
    """Refuse a (pre-RFC 7946) ``crs`` member naming anything but WGS84 longitude/latitude."""
    crs = obj.get("crs")
    if crs is None:
        return
    props = crs.get("properties") if isinstance(crs, Mapping) else None
    name = props.get("name") if isinstance(props, Mapping) else None
    if isinstance(name, str) and name in _WGS84_CRS:
        return
    raise ValidationError(
        _at(path, "crs"), "only WGS84 longitude/latitude (CRS84) is supported: drop the crs member (RFC 7946 §4)"
    )
