"""Reading a plan from JSON: the edge where units and datums are converted.

A plan file holds separation minima and items (activities and zones).  Shapes follow
ASTM F3548 where it has them (``outline_circle``, ``outline_polygon``, ``Altitude``
objects with ``value``/``reference``/``units``, ``Time`` objects or RFC 3339 strings);
a corridor is ``{"corridor": {"path": [[lon, lat], …], "half_width": {…}}}``::

    {
      "minima": {"default": {"lateral": {"value": 5, "units": "NM"}, "vertical": {"value": 1000, "units": "ft"},
                             "time_s": 0},
                 "pairs": [{"kinds": ["air_sortie", "protected_site"], "lateral": {"value": 10, "units": "km"}}]},
      "items": [{"type": "activity", "id": "A-1", "party": "alpha", "kind": "air_sortie",
                 "volumes": [{"outline_circle": {"center": {"lng": 38.0, "lat": 35.0},
                                                 "radius": {"value": 10, "units": "km"}},
                              "altitude_lower": {"value": 50, "units": "ft", "reference": "FL"},
                              "altitude_upper": {"value": 150, "units": "ft", "reference": "FL"},
                              "geoid_undulation_m": 21.5,
                              "time_start": "2026-11-25T08:00:00Z", "time_end": "2026-11-25T10:00:00Z"}]}]
    }

A zone item may carry its own minima, in the shape of ``minima.default``; they replace
the table's for every pair the zone is in (see :class:`~deconflict.model.Zone`)::

    {"type": "zone", "id": "H-1", "party": "bravo", "kind": "protected_site",
     "minima": {"lateral": {"value": 10, "units": "km"}, "vertical": {"value": 2000, "units": "ft"},
                "time_s": 600},
     "volumes": [...]}

Every error names the JSON path of the offending value (``items[3].volumes[0].time_end``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from .errors import DeconflictError, ValidationError
from .model import (
    Activity,
    AltitudeBand,
    Circle,
    Corridor,
    Footprint,
    MinimaTable,
    Polygon,
    SeparationMinima,
    TimeWindow,
    Volume4D,
    Zone,
)
from .units import altitude_m, length_m

__all__ = ["Plan", "load_plan", "parse_plan"]


class Plan:
    """The items and minima read from a plan file."""

    def __init__(self, items: list[Activity | Zone], minima: MinimaTable) -> None:
        self.items = items
        self.minima = minima


def _obj(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValidationError(path, "must be an object")
    return value


def _get(obj: Mapping[str, Any], key: str, path: str) -> Any:
    if key not in obj:
        raise ValidationError(f"{path}.{key}" if path else key, "is required")
    return obj[key]


def _length(value: Any, path: str) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return length_m(value, "m", field=path)
    obj = _obj(value, path)
    return length_m(_get(obj, "value", path), str(obj.get("units", "m")), field=path)


def _point(value: Any, path: str) -> tuple[float, float]:
    if isinstance(value, Mapping):
        return (_get(value, "lng", path), _get(value, "lat", path))
    if isinstance(value, list) and len(value) == 2:
        return (value[0], value[1])
    raise ValidationError(path, "must be {lng, lat} or [lon, lat]")


def _points(value: Any, path: str) -> list[tuple[float, float]]:
    if not isinstance(value, list):
        raise ValidationError(path, "must be a list of points")
    return [_point(p, f"{path}[{i}]") for i, p in enumerate(value)]


def _time(value: Any, path: str) -> datetime:
    if isinstance(value, Mapping):
        value = _get(value, "value", path)
    if not isinstance(value, str):
        raise ValidationError(path, "must be an RFC 3339 time string")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(path, f"{value!r} is not an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise ValidationError(path, "must carry a UTC offset or Z")
    return moment


def _footprint(vol: Mapping[str, Any], path: str) -> Footprint:
    shapes = [k for k in ("outline_circle", "outline_polygon", "corridor") if k in vol]
    if len(shapes) != 1:
        raise ValidationError(path, "needs exactly one of outline_circle, outline_polygon, corridor")
    key = shapes[0]
    at = f"{path}.{key}"
    shape = _obj(vol[key], at)
    try:
        if key == "outline_circle":
            center = _point(_get(shape, "center", at), f"{at}.center")
            return Circle(center, _length(_get(shape, "radius", at), f"{at}.radius"))
        if key == "outline_polygon":
            return Polygon(tuple(_points(_get(shape, "vertices", at), f"{at}.vertices")))
        route = tuple(_points(_get(shape, "path", at), f"{at}.path"))
        return Corridor(route, _length(_get(shape, "half_width", at), f"{at}.half_width"))
    except DeconflictError as e:
        raise (e if e.field.startswith(path) else e.within(at)) from None


def _altitude(value: Any, path: str, undulation: float | None) -> float:
    obj = _obj(value, path)
    units = str(obj.get("units", "m"))
    return altitude_m(
        _get(obj, "value", path),
        units=units.lower() if units.upper() in ("M", "FT") else units,
        reference=str(obj.get("reference", "W84")),
        geoid_undulation_m=undulation,
        field=path,
    )


def _volume(value: Any, path: str) -> Volume4D:
    vol = _obj(value, path)
    undulation = vol.get("geoid_undulation_m")
    footprint = _footprint(vol, path)
    lower = _altitude(_get(vol, "altitude_lower", path), f"{path}.altitude_lower", undulation)
    upper = _altitude(_get(vol, "altitude_upper", path), f"{path}.altitude_upper", undulation)
    start = _time(_get(vol, "time_start", path), f"{path}.time_start")
    end = _time(_get(vol, "time_end", path), f"{path}.time_end")
    try:
        band = AltitudeBand(lower, upper)
    except DeconflictError as e:
        raise ValidationError(f"{path}.altitude_lower", e.reason) from None
    try:
        window = TimeWindow(start, end)
    except DeconflictError as e:
        raise ValidationError(f"{path}.time_{e.field}", e.reason) from None
    return Volume4D(footprint, band, window)


#: SeparationMinima's field names → the plan file's keys
_MINIMA_KEYS = {"lateral_m": "lateral", "vertical_m": "vertical", "time_s": "time_s"}


def _minima(value: Any, path: str) -> SeparationMinima:
    obj = _obj(value, path)
    lateral = _length(obj.get("lateral", 0), f"{path}.lateral")
    vertical = _length(obj.get("vertical", 0), f"{path}.vertical")
    try:
        return SeparationMinima(lateral, vertical, obj.get("time_s", 0))
    except DeconflictError as e:
        raise type(e)(f"{path}.{_MINIMA_KEYS.get(e.field, e.field)}", e.reason) from None


def parse_plan(document: Any) -> Plan:
    """Build a :class:`Plan` from a decoded JSON document; raise naming the bad field."""
    doc = _obj(document, "")
    minima_doc = _obj(doc.get("minima", {}), "minima")
    default = _minima(minima_doc.get("default", {}), "minima.default")
    pairs: dict[tuple[str, str], SeparationMinima] = {}
    for i, entry in enumerate(minima_doc.get("pairs", [])):
        at = f"minima.pairs[{i}]"
        kinds = _get(_obj(entry, at), "kinds", at)
        if not isinstance(kinds, list) or len(kinds) != 2:
            raise ValidationError(f"{at}.kinds", "must be a list of two kinds")
        pairs[(str(kinds[0]), str(kinds[1]))] = _minima(entry, at)
    items: list[Activity | Zone] = []
    raw_items = _get(doc, "items", "")
    if not isinstance(raw_items, list):
        raise ValidationError("items", "must be a list")
    for i, raw in enumerate(raw_items):
        at = f"items[{i}]"
        obj = _obj(raw, at)
        raw_volumes = _get(obj, "volumes", at)
        if not isinstance(raw_volumes, list):
            raise ValidationError(f"{at}.volumes", "must be a list")
        volumes = tuple(_volume(v, f"{at}.volumes[{k}]") for k, v in enumerate(raw_volumes))
        kind_of = obj.get("type", "activity")
        cls = {"activity": Activity, "zone": Zone}.get(kind_of)
        if cls is None:
            raise ValidationError(f"{at}.type", f"must be 'activity' or 'zone', got {kind_of!r}")
        own = obj.get("minima")
        if own is not None and cls is not Zone:
            raise ValidationError(f"{at}.minima", "only a zone may carry its own minima")
        try:
            if cls is Zone:
                own_minima = None if own is None else _minima(own, f"{at}.minima")
                item: Activity | Zone = Zone(
                    _get(obj, "id", at), _get(obj, "party", at), _get(obj, "kind", at), volumes, own_minima
                )
            else:
                item = Activity(_get(obj, "id", at), _get(obj, "party", at), _get(obj, "kind", at), volumes)
        except DeconflictError as e:
            raise (e if e.field.startswith(f"{at}.") else e.within(at)) from None
        items.append(item)
    return Plan(items, MinimaTable(default, pairs))


def load_plan(path: Path) -> Plan:
    """Read and parse a plan file."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValidationError(str(path), f"not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    return parse_plan(document)
