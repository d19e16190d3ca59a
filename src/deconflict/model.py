"""The domain model: pure, frozen values.

Inside the library there are only WGS84 metres (lateral distances on the ellipsoid,
altitudes above the WGS84 ellipsoid) and timezone-aware UTC datetimes.  Other units
and datums are converted once, at the edge, by :mod:`deconflict.units`.

Every constructor validates what it can check without geodesy (ranges, NaN, order) and
raises a :class:`~deconflict.errors.ValidationError` naming the field.  Geometric
validity (self-intersection, degenerate shapes, size cap) needs the ellipsoid and is
checked by :func:`deconflict.geo.prepare`, which the engine calls on every volume.

Semantics of separation (one rule for every dimension): two volumes are *separated*
when, in at least one dimension, their gap is at least that dimension's minimum — and,
where the minimum is zero, they share no point in it.  Footprints and altitude bands
are closed sets (touching edges share a point); time windows are half-open
``[start, end)`` (a window ending at 10:00 and one starting at 10:00 share nothing).
A conflict is a pair that is separated in no dimension.  The minima are the
:class:`MinimaTable`'s for the two kinds, unless a :class:`Zone` of the pair carries its
own (then the zone's, or the per-dimension maximum of two zones' own).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from .errors import (
    InvalidAltitudeError,
    InvalidCoordinateError,
    InvalidFootprintError,
    InvalidNumberError,
    InvalidTimeWindowError,
    ValidationError,
)

__all__ = [
    "Activity",
    "ActivityKind",
    "AltitudeBand",
    "Circle",
    "Conflict",
    "Corridor",
    "Dimension",
    "Footprint",
    "MinimaTable",
    "Polygon",
    "SeparationMinima",
    "TimeWindow",
    "Volume4D",
    "VolumeRef",
    "Zone",
    "ZoneKind",
]

LonLat = tuple[float, float]


def finite(value: object, field_name: str) -> float:
    """Return ``value`` as a float, or raise naming ``field_name`` if it is not a finite number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidNumberError(field_name, f"must be a number, got {type(value).__name__}")
    try:
        number = float(value)
    except OverflowError:
        raise InvalidNumberError(field_name, "must be finite, got an integer too large for a float") from None
    if not math.isfinite(number):
        raise InvalidNumberError(field_name, f"must be finite, got {number!r}")
    return number


def _lonlat(point: object, field_name: str) -> LonLat:
    if not isinstance(point, (tuple, list)) or len(point) != 2:
        raise InvalidCoordinateError(field_name, "must be a (longitude, latitude) pair")
    lon = finite(point[0], f"{field_name}.lon")
    lat = finite(point[1], f"{field_name}.lat")
    if not -180.0 <= lon <= 180.0:
        raise InvalidCoordinateError(f"{field_name}.lon", f"longitude {lon} is outside [-180, 180]")
    if not -90.0 <= lat <= 90.0:
        raise InvalidCoordinateError(f"{field_name}.lat", f"latitude {lat} is outside [-90, 90]")
    return (lon, lat)


def _lonlats(points: Iterable[object], field_name: str) -> tuple[LonLat, ...]:
    try:
        items = list(points)
    except TypeError:
        raise InvalidCoordinateError(field_name, "must be a sequence of (longitude, latitude) pairs") from None
    return tuple(_lonlat(p, f"{field_name}[{i}]") for i, p in enumerate(items))


# --- footprints -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Circle:
    """All points within ``radius_m`` (geodesic, on the ellipsoid) of ``center``.

    A zero radius is a point.
    """

    center: LonLat
    radius_m: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "center", _lonlat(self.center, "center"))
        radius = finite(self.radius_m, "radius_m")
        if radius < 0:
            raise InvalidFootprintError("radius_m", f"must be >= 0, got {radius}")
        object.__setattr__(self, "radius_m", radius)


@dataclass(frozen=True, slots=True)
class Polygon:
    """A simple polygon whose edges are geodesics between consecutive vertices.

    ``vertices`` is the outer ring as (longitude, latitude) pairs, in either orientation;
    repeating the first vertex at the end is allowed and dropped.  The interior is the
    smaller of the two regions the ring bounds.  Holes are not supported.
    """

    vertices: tuple[LonLat, ...]

    def __post_init__(self) -> None:
        ring = list(_lonlats(self.vertices, "vertices"))
        if len(ring) > 1 and ring[0] == ring[-1]:
            ring.pop()
        distinct = [p for i, p in enumerate(ring) if i == 0 or p != ring[i - 1]]
        if len(distinct) > 1 and distinct[0] == distinct[-1]:
            distinct.pop()
        if len(set(distinct)) < 3:
            raise InvalidFootprintError("vertices", "a polygon needs at least 3 distinct vertices")
        object.__setattr__(self, "vertices", tuple(distinct))


@dataclass(frozen=True, slots=True)
class Corridor:
    """All points within ``half_width_m`` of a route made of geodesic segments.

    A zero half-width is the route line itself.
    """

    path: tuple[LonLat, ...]
    half_width_m: float

    def __post_init__(self) -> None:
        pts = list(_lonlats(self.path, "path"))
        distinct = [p for i, p in enumerate(pts) if i == 0 or p != pts[i - 1]]
        if len(distinct) < 2:
            raise InvalidFootprintError("path", "a corridor needs at least 2 distinct points")
        object.__setattr__(self, "path", tuple(distinct))
        width = finite(self.half_width_m, "half_width_m")
        if width < 0:
            raise InvalidFootprintError("half_width_m", f"must be >= 0, got {width}")
        object.__setattr__(self, "half_width_m", width)


Footprint = Circle | Polygon | Corridor


# --- altitude and time ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AltitudeBand:
    """Closed band ``[lower_m, upper_m]`` in metres above the WGS84 ellipsoid.

    Use :func:`deconflict.units.altitude_m` to convert feet, AMSL or flight levels.
    """

    lower_m: float
    upper_m: float

    #: Sanity bounds taken from ASTM F3548 ``Altitude.value`` (-8 000 m .. 100 000 m).
    MIN_M = -8000.0
    MAX_M = 100000.0

    def __post_init__(self) -> None:
        lower = finite(self.lower_m, "lower_m")
        upper = finite(self.upper_m, "upper_m")
        for name, value in (("lower_m", lower), ("upper_m", upper)):
            if not self.MIN_M <= value <= self.MAX_M:
                raise InvalidAltitudeError(name, f"{value} m is outside [{self.MIN_M:g}, {self.MAX_M:g}] m")
        if lower > upper:
            raise InvalidAltitudeError("lower_m", f"lower {lower} m is above upper {upper} m")
        object.__setattr__(self, "lower_m", lower)
        object.__setattr__(self, "upper_m", upper)


def as_utc(value: object, field_name: str) -> datetime:
    """Return an aware datetime converted to UTC; refuse naive datetimes and non-datetimes."""
    if not isinstance(value, datetime):
        raise InvalidTimeWindowError(field_name, f"must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise InvalidTimeWindowError(field_name, "must carry a time zone (naive datetimes are ambiguous)")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise InvalidTimeWindowError(field_name, f"{value.isoformat()} is outside the range of UTC datetimes") from None


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """Half-open window ``[start, end)`` in UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        start = as_utc(self.start, "start")
        end = as_utc(self.end, "end")
        if end <= start:
            raise InvalidTimeWindowError("end", f"end {end.isoformat()} is not after start {start.isoformat()}")
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def shifted(self, delta: timedelta) -> TimeWindow:
        return TimeWindow(self.start + delta, self.end + delta)


@dataclass(frozen=True, slots=True)
class Volume4D:
    """A footprint, an altitude band and a time window."""

    footprint: Footprint
    altitude: AltitudeBand
    window: TimeWindow

    def __post_init__(self) -> None:
        if not isinstance(self.footprint, (Circle, Polygon, Corridor)):
            raise InvalidFootprintError("footprint", "must be a Circle, Polygon or Corridor")
        if not isinstance(self.altitude, AltitudeBand):
            raise InvalidAltitudeError("altitude", "must be an AltitudeBand")
        if not isinstance(self.window, TimeWindow):
            raise InvalidTimeWindowError("window", "must be a TimeWindow")


# --- what owns volumes ------------------------------------------------------------------


class ActivityKind(StrEnum):
    AIR_SORTIE = "air_sortie"
    AIR_CORRIDOR = "air_corridor"
    GROUND_MOVEMENT = "ground_movement"
    MARITIME = "maritime"
    STATIC_SITE = "static_site"
    EXERCISE = "exercise"
    HUMANITARIAN_MOVEMENT = "humanitarian_movement"


class ZoneKind(StrEnum):
    BASE = "base"
    TRAINING_AREA = "training_area"
    PROTECTED_SITE = "protected_site"
    RESTRICTED_AREA = "restricted_area"


def _volumes(volumes: object) -> tuple[Volume4D, ...]:
    if isinstance(volumes, Volume4D):
        return (volumes,)
    if not isinstance(volumes, (tuple, list)) or not volumes:
        raise ValidationError("volumes", "must hold at least one Volume4D")
    for i, v in enumerate(volumes):
        if not isinstance(v, Volume4D):
            raise ValidationError(f"volumes[{i}]", "must be a Volume4D")
    return tuple(volumes)


def _identifier(value: object, field_name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field_name, "must be a non-empty string")
    if len(value) > 200:
        raise ValidationError(field_name, "must be at most 200 characters")
    return value


@dataclass(frozen=True, slots=True)
class Activity:
    """A party's planned activity: one or more 4D volumes of one kind."""

    id: str
    party: str
    kind: ActivityKind
    volumes: tuple[Volume4D, ...]

    def __post_init__(self) -> None:
        _identifier(self.id, "id")
        _identifier(self.party, "party")
        try:
            object.__setattr__(self, "kind", ActivityKind(self.kind))
        except ValueError:
            raise ValidationError("kind", f"unknown activity kind {self.kind!r}") from None
        object.__setattr__(self, "volumes", _volumes(self.volumes))


@dataclass(frozen=True, slots=True)
class Zone:
    """A party's site or area (base, training area, protected site …): volumes too.

    ``minima``, when given, are the zone's own separation minima: every pair of volumes
    involving this zone is then judged by them instead of by the :class:`MinimaTable`
    entry for the two kinds (a protected site that must be cleared by 10 km whatever
    comes near).  When both volumes of a pair belong to zones with their own minima,
    the per-dimension maximum of the two applies.  The conflict reports the minima
    actually applied.  ``None`` (the default) means the table decides.
    """

    id: str
    party: str
    kind: ZoneKind
    volumes: tuple[Volume4D, ...]
    minima: SeparationMinima | None = None

    def __post_init__(self) -> None:
        _identifier(self.id, "id")
        _identifier(self.party, "party")
        try:
            object.__setattr__(self, "kind", ZoneKind(self.kind))
        except ValueError:
            raise ValidationError("kind", f"unknown zone kind {self.kind!r}") from None
        object.__setattr__(self, "volumes", _volumes(self.volumes))
        if self.minima is not None and not isinstance(self.minima, SeparationMinima):
            raise ValidationError("minima", f"must be SeparationMinima or None, got {type(self.minima).__name__}")


# --- separation -------------------------------------------------------------------------

_KIND_VALUES = frozenset(k.value for k in (*ActivityKind, *ZoneKind))


@dataclass(frozen=True, slots=True)
class SeparationMinima:
    """Minimum lateral (m), vertical (m) and time (s) separation; zero means plain intersection."""

    lateral_m: float = 0.0
    vertical_m: float = 0.0
    time_s: float = 0.0

    def __post_init__(self) -> None:
        for name in ("lateral_m", "vertical_m", "time_s"):
            value = finite(getattr(self, name), name)
            if value < 0:
                raise ValidationError(name, f"must be >= 0, got {value}")
            object.__setattr__(self, name, value)


@dataclass(frozen=True)
class MinimaTable:
    """Separation minima per unordered pair of kinds, with a default for pairs not listed.

    Kinds are the string values of :class:`ActivityKind` and :class:`ZoneKind`::

        >>> t = MinimaTable(SeparationMinima(1000, 300, 0),
        ...                 {("air_sortie", "protected_site"): SeparationMinima(5000, 1000, 600)})
        >>> t.between("protected_site", "air_sortie").lateral_m
        5000.0
    """

    default: SeparationMinima = field(default_factory=SeparationMinima)
    pairs: Mapping[tuple[str, str], SeparationMinima] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.default, SeparationMinima):
            raise ValidationError("default", "must be SeparationMinima")
        normal: dict[frozenset[str], SeparationMinima] = {}
        if not isinstance(self.pairs, Mapping):
            raise ValidationError("pairs", "must be a mapping of (kind, kind) pairs to SeparationMinima")
        for key, value in dict(self.pairs).items():
            if not (isinstance(key, tuple) and len(key) == 2 and all(isinstance(k, str) for k in key)):
                raise ValidationError(f"pairs[{key!r}]", "must be a pair of kinds (kind, kind)")
            for k in key:
                if str(k) not in _KIND_VALUES:
                    raise ValidationError(f"pairs[{key!r}]", f"unknown kind {str(k)!r}")
            if not isinstance(value, SeparationMinima):
                raise ValidationError(f"pairs[{key!r}]", "must be SeparationMinima")
            normal[frozenset(str(k) for k in key)] = value
        object.__setattr__(self, "_normal", normal)

    def between(self, kind_a: str, kind_b: str) -> SeparationMinima:
        normal: dict[frozenset[str], SeparationMinima] = object.__getattribute__(self, "_normal")
        return normal.get(frozenset((str(kind_a), str(kind_b))), self.default)

    def largest(self) -> SeparationMinima:
        """The component-wise maximum over every entry: what an index query must widen by."""
        normal: dict[frozenset[str], SeparationMinima] = object.__getattribute__(self, "_normal")
        all_minima = [self.default, *normal.values()]
        return SeparationMinima(
            max(m.lateral_m for m in all_minima),
            max(m.vertical_m for m in all_minima),
            max(m.time_s for m in all_minima),
        )


# --- results ----------------------------------------------------------------------------


class Dimension(StrEnum):
    LATERAL = "lateral"
    VERTICAL = "vertical"
    TIME = "time"


@dataclass(frozen=True, slots=True, order=True)
class VolumeRef:
    """One volume of an activity or zone: the owner's id and the volume's position in it."""

    owner_id: str
    index: int


@dataclass(frozen=True, slots=True)
class Conflict:
    """Two volumes of different parties (unless asked) that are separated in no dimension.

    ``window_start``/``window_end`` is the time the two share: their overlap, or — when
    they do not overlap but are closer in time than the time minimum — the interval
    between them (``time_gap_s`` >= 0; empty when one ends as the other starts).
    ``lateral_gap_m`` is the smallest geodesic distance between the footprints (0 when
    they intersect); ``vertical_gap_m`` the distance between the
    bands (0 when they overlap or touch) and ``vertical_overlap_m`` their common height.
    ``breached`` names the dimensions where the volumes do not touch but are closer than
    the minimum; it is empty when the two volumes physically overlap in all four
    dimensions.
    """

    a: VolumeRef
    b: VolumeRef
    party_a: str
    party_b: str
    window_start: datetime
    window_end: datetime
    time_gap_s: float
    lateral_gap_m: float
    vertical_gap_m: float
    vertical_overlap_m: float
    minima: SeparationMinima
    breached: frozenset[Dimension]

    @property
    def key(self) -> tuple[VolumeRef, VolumeRef]:
        """The pair in canonical order, for comparing conflict sets."""
        return (self.a, self.b) if self.a <= self.b else (self.b, self.a)
