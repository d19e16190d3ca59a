"""ASTM F3548-21 wire shapes, read strictly: the DSS interface's edge.

The native API (:mod:`deconflict.wire`, :mod:`deconflict.planfile`) is lenient on
purpose — feet, AMSL, flight levels, bare RFC 3339 strings, a closing vertex.  The
standard is not, and a DSS must refuse what it refuses (spec lines ``Lnnn`` refer to
``astm-f3548-utm.yaml``; the design is ``docs/design/dss.md`` §1.3):

* a ``Volume4D`` is ``{"volume": Volume3D, "time_start": Time, "time_end": Time}``
  (L329–L347); a ``Volume3D`` has **exactly one** of ``outline_circle`` and
  ``outline_polygon`` (L308) and ``altitude_lower``/``altitude_upper``;
* a ``Polygon`` has at least 3 vertices, none repeated — in particular the last is not
  the first — and edges that do not cross (L266–L285); a ``Circle`` a ``center`` and a
  ``radius`` with ``value > 0`` and ``units == "M"`` (L187–L206);
* an ``Altitude`` is ``reference == "W84"``, ``units == "M"``, ``-8000 ≤ value ≤ 100000``
  (L208–L243); latitudes lie in [-90, 90], longitudes in [-180, 180];
* a ``Time`` is ``{"value": RFC 3339 with time zone "Z", "format": "RFC3339"}``
  (L171–L186), and a window starts before it ends;
* unknown members are ignored (L14–L15) and ``null`` is the same as absent (L17–L18).

Errors are :class:`~deconflict.errors.ValidationError` naming the F3548 field path
(``extents[1].volume.outline_polygon.vertices[2].lat``); an area over the configured
limit is :class:`AreaTooLarge` (HTTP 413).  What comes out is the native
:class:`~deconflict.model.Volume4D`, so the engine decides intersections exactly as it
does for every other item::

    >>> v = parse_volume({"volume": {"outline_circle": {"center": {"lat": 35, "lng": 36},
    ...                                                  "radius": {"value": 500, "units": "M"}},
    ...                              "altitude_lower": {"value": 0, "reference": "W84", "units": "M"},
    ...                              "altitude_upper": {"value": 120, "reference": "W84", "units": "M"}},
    ...                   "time_start": {"value": "2026-11-25T08:00:00Z", "format": "RFC3339"},
    ...                   "time_end": {"value": "2026-11-25T09:00:00Z", "format": "RFC3339"}},
    ...                  "area_of_interest", max_area_km2=2500)
    >>> v.footprint.radius_m, v.altitude.upper_m, time_doc(v.window.end)["value"]
    (500.0, 120.0, '2026-11-25T09:00:00Z')
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import shapely
from pyproj import Geod

from .errors import FootprintTooLargeError, ValidationError
from .geo import Limits, prepare, project, unproject
from .lateral import lateral_gaps
from .model import AltitudeBand, Circle, Corridor, Footprint, Polygon, TimeWindow, Volume4D

__all__ = [
    "ALTITUDE_MAX_M",
    "ALTITUDE_MIN_M",
    "AreaTooLarge",
    "area_km2",
    "parse_extents",
    "parse_time",
    "parse_volume",
    "time_doc",
    "uuid4",
    "volume_doc",
    "volumes_intersect",
]

ALTITUDE_MIN_M = -8000.0
ALTITUDE_MAX_M = 100000.0
_GEOD = Geod(ellps="WGS84")
_CIRCLE_SIDES = 256  # vertices of the polygon whose area stands for a circle's
_MAX_RADIUS_M = Limits().max_footprint_m / 2  # wider is refused by geo.prepare anyway
_CORRIDOR_SIDES = 16  # vertices of each round end of a corridor's outline

_UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", re.ASCII)
_RFC3339_Z = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})[Tt](?P<time>[0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.(?P<frac>[0-9]+))?Z",
    re.ASCII,
)


class AreaTooLarge(ValidationError):
    """A volume's area (or width) exceeds the DSS's limit: the API answers 413."""


# --- scalars ----------------------------------------------------------------------------


def uuid4(value: object, field: str) -> str:
    """A UUID version 4 (variant ``10xx``), as the canonical lowercase string.

    >>> uuid4("1F2E3D4C-5B6A-4789-8ABC-DEF012345678", "entityid")
    '1f2e3d4c-5b6a-4789-8abc-def012345678'
    """
    if not isinstance(value, str):
        raise ValidationError(field, f"must be a UUID string, got {_kind(value)}")
    text = value.lower()
    if len(text) != 36 or _UUID4.fullmatch(text) is None:
        raise ValidationError(
            field, "must be a UUID version 4 (xxxxxxxx-xxxx-4xxx-Yxxx-xxxxxxxxxxxx, Y one of 8, 9, a, b)"
        )
    return text


def parse_time(doc: object, field: str) -> datetime:
    """An F3548 ``Time``: ``{"value": "…Z", "format": "RFC3339"}`` → an aware UTC datetime.

    Fractions of a second beyond microseconds are truncated."""
    d = _object(doc, field)
    fmt = d.get("format")
    if fmt is None:
        raise ValidationError(f"{field}.format", 'is required (it must be "RFC3339")')
    if fmt != "RFC3339":
        raise ValidationError(f"{field}.format", f'must be "RFC3339", got {_show(fmt)}')
    value = d.get("value")
    if value is None:
        raise ValidationError(f"{field}.value", "is required")
    if not isinstance(value, str):
        raise ValidationError(f"{field}.value", f"must be an RFC 3339 string, got {_kind(value)}")
    m = _RFC3339_Z.fullmatch(value)
    if m is None:
        raise ValidationError(
            f"{field}.value",
            f"must be an RFC 3339 date-time in UTC ending in 'Z' (e.g. 2026-11-25T08:00:00Z), got {_show(value)}",
        )
    frac = (m["frac"] or "")[:6].ljust(6, "0")
    try:
        moment = datetime.fromisoformat(f"{m['date']}T{m['time']}.{frac}").replace(tzinfo=UTC)
    except ValueError as e:
        raise ValidationError(f"{field}.value", f"is not a valid date-time: {e}") from None
    return moment


def time_doc(dt: datetime) -> dict[str, str]:
    """An aware datetime as an F3548 ``Time`` (UTC, ``Z``; microseconds when present).

    >>> time_doc(datetime(2026, 11, 25, 8, 0, tzinfo=UTC))
    {'value': '2026-11-25T08:00:00Z', 'format': 'RFC3339'}
    """
    if dt.tzinfo is None or dt.tzinfo.utcoffset(dt) is None:
        raise ValueError("time_doc needs an aware datetime")
    text = dt.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return {"value": text, "format": "RFC3339"}


# --- volumes ----------------------------------------------------------------------------


def parse_volume(
    doc: object,
    field: str,
    *,
    max_area_km2: float,
    need_time: bool = True,
    need_altitude: bool = True,
    default_start: datetime | None = None,
    default_end: datetime | None = None,
) -> Volume4D:
    """A strict F3548 ``Volume4D`` → :class:`~deconflict.model.Volume4D`.

    Without ``need_altitude`` a missing altitude is the whole range (-8 000 m or
    100 000 m); without ``need_time`` a missing time is ``default_start`` /
    ``default_end`` (still required when no default is given)."""
    d = _object(doc, field)
    vol_field = f"{field}.volume"
    if d.get("volume") is None:
        raise ValidationError(vol_field, "is required")
    vol = _object(d["volume"], vol_field)
    footprint = _outline(vol, vol_field)
    lower = _altitude(vol, "altitude_lower", vol_field, need_altitude, ALTITUDE_MIN_M)
    upper = _altitude(vol, "altitude_upper", vol_field, need_altitude, ALTITUDE_MAX_M)
    if lower > upper:
        raise ValidationError(
            f"{vol_field}.altitude_lower", f"{lower:g} m is above altitude_upper ({upper:g} m); it must be below it"
        )
    start = _time(d, "time_start", field, need_time, default_start)
    end = _time(d, "time_end", field, need_time, default_end)
    if end <= start:
        raise ValidationError(
            f"{field}.time_end", f"{time_doc(end)['value']} is not after time_start ({time_doc(start)['value']})"
        )
    name = f"{vol_field}.{'outline_circle' if isinstance(footprint, Circle) else 'outline_polygon'}"
    try:
        prepare([footprint], fields=[name])
    except FootprintTooLargeError as e:
        raise AreaTooLarge(e.field, e.reason) from None
    volume = Volume4D(footprint, AltitudeBand(lower, upper), TimeWindow(start, end))
    area = area_km2(volume)
    if area > max_area_km2:
        raise AreaTooLarge(name, f"its area of {area:,.1f} km² exceeds the limit of {max_area_km2:,.1f} km²")
    return volume


def parse_extents(
    docs: object,
    field: str,
    *,
    now: datetime,
    max_area_km2: float,
    max_extents: int,
    max_duration_s: float,
) -> tuple[Volume4D, ...]:
    """The ``extents`` of an operational intent or constraint: 1..``max_extents`` volumes,
    each with times and altitudes (L721–L725), ending not in the past, spanning (first
    start to last end) at most ``max_duration_s``."""
    if docs is None:
        raise ValidationError(field, "is required")
    if not isinstance(docs, list):
        raise ValidationError(field, f"must be a list of Volume4D, got {_kind(docs)}")
    if not docs:
        raise ValidationError(field, "must hold at least one Volume4D")
    if len(docs) > max_extents:
        raise ValidationError(field, f"holds {len(docs)} volumes; at most {max_extents} are accepted")
    volumes = tuple(parse_volume(v, f"{field}[{i}]", max_area_km2=max_area_km2) for i, v in enumerate(docs))
    start = min(v.window.start for v in volumes)
    end = max(v.window.end for v in volumes)
    if end < now:
        last = max(range(len(volumes)), key=lambda i: volumes[i].window.end)
        raise ValidationError(
            f"{field}[{last}].time_end",
            f"{time_doc(end)['value']} is in the past (now is {time_doc(now)['value']}); an end may not be in the past",
        )
    span = (end - start).total_seconds()
    if span > max_duration_s:
        raise ValidationError(
            field,
            f"span {span / 3600:.2f} h from the first start to the last end; at most {max_duration_s / 3600:.2f} h",
        )
    return volumes


def _outline(vol: Mapping[str, Any], field: str) -> Footprint:
    circle, polygon = vol.get("outline_circle"), vol.get("outline_polygon")
    if (circle is None) == (polygon is None):
        both = "both are given" if circle is not None else "neither is given"
        raise ValidationError(field, f"exactly one of outline_circle and outline_polygon must be given; {both}")
    if circle is not None:
        return _circle(circle, f"{field}.outline_circle")
    return _polygon(polygon, f"{field}.outline_polygon")


def _circle(doc: object, field: str) -> Circle:
    d = _object(doc, field)
    if d.get("center") is None:
        raise ValidationError(f"{field}.center", "is required")
    center = _point(d["center"], f"{field}.center")
    if d.get("radius") is None:
        raise ValidationError(f"{field}.radius", "is required")
    r = _object(d["radius"], f"{field}.radius")
    units = r.get("units")
    if units != "M":
        raise ValidationError(f"{field}.radius.units", f'must be "M" (metres), got {_show(units)}')
    radius = _number(r.get("value"), f"{field}.radius.value")
    if not radius > 0:
        raise ValidationError(f"{field}.radius.value", f"must be greater than 0, got {radius:g}")
    if radius > _MAX_RADIUS_M:
        raise AreaTooLarge(f"{field}.radius.value", f"{radius:g} m is wider than any area accepted")
    return Circle(center, radius)


def _polygon(doc: object, field: str) -> Polygon:
    d = _object(doc, field)
    vertices = d.get("vertices")
    vfield = f"{field}.vertices"
    if vertices is None:
        raise ValidationError(vfield, "is required")
    if not isinstance(vertices, list):
        raise ValidationError(vfield, f"must be a list of points, got {_kind(vertices)}")
    if len(vertices) < 3:
        raise ValidationError(vfield, f"a polygon needs at least 3 vertices, got {len(vertices)}")
    points = [_point(p, f"{vfield}[{i}]") for i, p in enumerate(vertices)]
    seen: dict[tuple[float, float], int] = {}
    last = len(points) - 1
    for i, p in enumerate(points):
        if p in seen:
            j = seen[p]
            if j == 0 and i == last:
                raise ValidationError(
                    f"{vfield}[{i}]", "the final vertex must not repeat the first (the polygon closes itself)"
                )
            raise ValidationError(f"{vfield}[{i}]", f"duplicates vertex {j}; vertices may not be duplicated")
        seen[p] = i
    return Polygon(tuple(points))


def _point(doc: object, field: str) -> tuple[float, float]:
    d = _object(doc, field)
    lat = _number(d.get("lat"), f"{field}.lat")
    lng = _number(d.get("lng"), f"{field}.lng")
    if not -90.0 <= lat <= 90.0:
        raise ValidationError(f"{field}.lat", f"latitude {lat:g} is outside [-90, 90]")
    if not -180.0 <= lng <= 180.0:
        raise ValidationError(f"{field}.lng", f"longitude {lng:g} is outside [-180, 180]")
    return (lng, lat)


def _altitude(vol: Mapping[str, Any], name: str, field: str, needed: bool, default: float) -> float:
    f = f"{field}.{name}"
    doc = vol.get(name)
    if doc is None:
        if needed:
            raise ValidationError(f, "is required")
        return default
    d = _object(doc, f)
    reference = d.get("reference")
    if reference != "W84":
        raise ValidationError(f"{f}.reference", f'must be "W84" (the WGS84 ellipsoid), got {_show(reference)}')
    units = d.get("units")
    if units != "M":
        raise ValidationError(f"{f}.units", f'must be "M" (metres), got {_show(units)}')
    value = _number(d.get("value"), f"{f}.value")
    if not ALTITUDE_MIN_M <= value <= ALTITUDE_MAX_M:
        raise ValidationError(f"{f}.value", f"{value:g} m is outside [{ALTITUDE_MIN_M:g}, {ALTITUDE_MAX_M:g}] m")
    return value


def _time(d: Mapping[str, Any], name: str, field: str, needed: bool, default: datetime | None) -> datetime:
    doc = d.get(name)
    if doc is None:
        if needed or default is None:
            raise ValidationError(f"{field}.{name}", "is required")
        return default.astimezone(UTC)
    return parse_time(doc, f"{field}.{name}")


def _object(doc: object, field: str) -> Mapping[str, Any]:
    if not isinstance(doc, Mapping):
        raise ValidationError(field, f"must be an object, got {_kind(doc)}")
    return doc


def _number(value: object, field: str) -> float:
    if value is None:
        raise ValidationError(field, "is required")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(field, f"must be a number, got {_kind(value)}")
    try:
        number = float(value)
    except OverflowError:
        raise ValidationError(field, "is too large a number") from None
    if not math.isfinite(number):
        raise ValidationError(field, f"must be finite, got {number!r}")
    return number


def _kind(value: object) -> str:
    return {type(None): "null", bool: "a boolean", str: "a string", list: "a list", dict: "an object"}.get(
        type(value), type(value).__name__
    )


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --- geometry ---------------------------------------------------------------------------


def area_km2(volume: Volume4D) -> float:
    """The geodesic area of a volume's footprint, in km² (a circle's by a fine inscribed
    polygon; a corridor's as its length times its width plus the round ends)."""
    fp = volume.footprint
    if isinstance(fp, Circle):
        if fp.radius_m == 0:
            return 0.0
        az = np.linspace(0.0, 360.0, _CIRCLE_SIDES, endpoint=False)
        lon, lat, _ = _GEOD.fwd(
            np.full(_CIRCLE_SIDES, fp.center[0]),
            np.full(_CIRCLE_SIDES, fp.center[1]),
            az,
            np.full(_CIRCLE_SIDES, fp.radius_m),
        )
        area, _ = _GEOD.polygon_area_perimeter(lon, lat)
        return abs(float(area)) / 1e6
    if isinstance(fp, Polygon):
        lons = [p[0] for p in fp.vertices]
        lats = [p[1] for p in fp.vertices]
        area, _ = _GEOD.polygon_area_perimeter(lons, lats)
        return abs(float(area)) / 1e6
    assert isinstance(fp, Corridor)
    lons = [p[0] for p in fp.path]
    lats = [p[1] for p in fp.path]
    length = float(_GEOD.line_length(lons, lats))
    w = fp.half_width_m
    return (length * 2.0 * w + math.pi * w * w) / 1e6


def volumes_intersect(a: Sequence[Volume4D], b: Sequence[Volume4D]) -> bool:
    """Whether any volume of ``a`` shares a point with any volume of ``b``: time windows
    half-open (one ending at 10:00 and one starting at 10:00 do not meet), altitude bands
    and footprints closed (touching counts) — the engine's own rule with zero minima,
    decided by the same exact geodesic test (:func:`deconflict.lateral.lateral_gaps`).

    Cheapest first: time, then altitude, then the footprints of the pairs left."""
    pairs = [
        (i, j)
        for i, va in enumerate(a)
        for j, vb in enumerate(b)
        if va.window.start < vb.window.end
        and vb.window.start < va.window.end
        and va.altitude.lower_m <= vb.altitude.upper_m
        and vb.altitude.lower_m <= va.altitude.upper_m
    ]
    if not pairs:
        return False
    used_a = sorted({i for i, _ in pairs})
    used_b = sorted({j for _, j in pairs})
    ta = prepare([a[i].footprint for i in used_a])
    tb = prepare([b[j].footprint for j in used_b])
    pos_a = {i: k for k, i in enumerate(used_a)}
    pos_b = {j: k for k, j in enumerate(used_b)}
    rows_a = [np.nonzero(ta.source == k)[0] for k in range(len(used_a))]
    rows_b = [np.nonzero(tb.source == k)[0] for k in range(len(used_b))]
    ia: list[int] = []
    ib: list[int] = []
    for i, j in pairs:
        for ra in rows_a[pos_a[i]]:
            for rb in rows_b[pos_b[j]]:
                ia.append(int(ra))
                ib.append(int(rb))
    breach, _ = lateral_gaps(
        ta, np.asarray(ia, dtype=np.int64), tb, np.asarray(ib, dtype=np.int64), np.zeros(len(ia), dtype=np.float64)
    )
    return bool(breach.any())


# --- writing ------------------------------------------------------------------------------


def volume_doc(volume: Volume4D) -> dict[str, Any]:
    """A native volume as an F3548 ``Volume4D`` (the details a USS receives, L1028–L1080).

    A circle stays a circle; a polygon is written without a closing vertex; a corridor —
    which F3548 has no shape for — becomes a polygon that *contains* it: its route
    buffered by the half width (plus 0.5 %, so that the chords of its round ends stay
    outside the true curve) in the azimuthal equidistant projection about its first point.
    """
    fp = volume.footprint
    outline: dict[str, Any]
    if isinstance(fp, Circle):
        outline = {
            "outline_circle": {
                "center": {"lng": fp.center[0], "lat": fp.center[1]},
                "radius": {"value": fp.radius_m, "units": "M"},
            }
        }
    else:
        vertices = fp.vertices if isinstance(fp, Polygon) else _corridor_outline(fp)
        outline = {"outline_polygon": {"vertices": [{"lng": lon, "lat": lat} for lon, lat in vertices]}}
    return {
        "volume": {
            **outline,
            "altitude_lower": {"value": volume.altitude.lower_m, "reference": "W84", "units": "M"},
            "altitude_upper": {"value": volume.altitude.upper_m, "reference": "W84", "units": "M"},
        },
        "time_start": time_doc(volume.window.start),
        "time_end": time_doc(volume.window.end),
    }


def _corridor_outline(c: Corridor) -> tuple[tuple[float, float], ...]:
    clon, clat = c.path[0]
    lon = np.array([p[0] for p in c.path], dtype=np.float64)
    lat = np.array([p[1] for p in c.path], dtype=np.float64)
    x, y, _ = project(clon, clat, lon, lat)
    line = shapely.LineString(np.column_stack([x, y])) if len(c.path) > 1 else shapely.Point(x[0], y[0])
    ring = np.asarray(line.buffer(c.half_width_m * 1.005, quad_segs=_CORRIDOR_SIDES // 2).exterior.coords)[:-1]
    out_lon, out_lat = unproject(clon, clat, ring[:, 0], ring[:, 1])
    return tuple((float(a), float(b)) for a, b in zip(out_lon.tolist(), out_lat.tolist(), strict=True))
