"""Volumes on the wire: the F3548-style JSON shape the API, the store and plan files share.

Reading converts units and datums once (:mod:`deconflict.planfile` does the parsing);
writing always gives WGS84 metres and RFC 3339 UTC, so a stored or returned document
reads back to the very same :class:`~deconflict.model.Volume4D`.

>>> from datetime import datetime, UTC
>>> from deconflict.model import *
>>> t = datetime(2026, 1, 1, tzinfo=UTC)
>>> v = Volume4D(Circle((36.0, 35.0), 5000), AltitudeBand(0, 3000), TimeWindow(t, t.replace(hour=2)))
>>> doc = volume_to_json(v)
>>> doc["outline_circle"]["radius"], doc["time_start"]["value"]
({'value': 5000.0, 'units': 'M'}, '2026-01-01T00:00:00Z')
>>> volume_from_json(doc, "volumes[0]") == v
True
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from .errors import ValidationError
from .model import Circle, Corridor, Polygon, Volume4D
from .planfile import _volume

__all__ = [
    "reject_nul",
    "rfc3339",
    "rfc3339_or_none",
    "volume_from_json",
    "volume_to_json",
    "volumes_from_json",
    "volumes_to_json",
]


def rfc3339(moment: datetime) -> str:
    """An aware datetime as RFC 3339 UTC with a ``Z`` (microseconds only when present)."""
    text = moment.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")


def rfc3339_or_none(moment: datetime | None) -> str | None:
    """:func:`rfc3339`, passing ``None`` through (times that have not happened yet)."""
    return rfc3339(moment) if moment is not None else None


def _point(p: tuple[float, float]) -> dict[str, float]:
    return {"lng": p[0], "lat": p[1]}


def volume_to_json(v: Volume4D) -> dict[str, Any]:
    fp = v.footprint
    doc: dict[str, Any]
    if isinstance(fp, Circle):
        doc = {"outline_circle": {"center": _point(fp.center), "radius": {"value": fp.radius_m, "units": "M"}}}
    elif isinstance(fp, Polygon):
        doc = {"outline_polygon": {"vertices": [_point(p) for p in fp.vertices]}}
    elif isinstance(fp, Corridor):
        doc = {
            "corridor": {"path": [_point(p) for p in fp.path], "half_width": {"value": fp.half_width_m, "units": "M"}}
        }
    else:  # pragma: no cover - the model has three footprints
        raise TypeError(type(fp).__name__)
    doc["altitude_lower"] = {"value": v.altitude.lower_m, "reference": "W84", "units": "M"}
    doc["altitude_upper"] = {"value": v.altitude.upper_m, "reference": "W84", "units": "M"}
    doc["time_start"] = {"value": rfc3339(v.window.start), "format": "RFC3339"}
    doc["time_end"] = {"value": rfc3339(v.window.end), "format": "RFC3339"}
    return doc


def volume_from_json(value: Any, path: str) -> Volume4D:
    """Parse one volume; errors name ``path`` and the offending member below it."""
    return _volume(value, path)


def volumes_to_json(volumes: Sequence[Volume4D]) -> list[dict[str, Any]]:
    return [volume_to_json(v) for v in volumes]


def volumes_from_json(value: Any, path: str = "volumes", *, limit: int = 100) -> tuple[Volume4D, ...]:
    if not isinstance(value, list) or not value:
        raise ValidationError(path, "must be a non-empty list of volumes")
    if len(value) > limit:
        raise ValidationError(path, f"at most {limit} volumes per item")
    return tuple(volume_from_json(v, f"{path}[{i}]") for i, v in enumerate(value))


def reject_nul(value: Any, path: str = "") -> None:
    """Refuse a NUL character anywhere in a JSON document (keys included), naming where.

    PostgreSQL cannot store NUL in text (SQLite can): documents are refused alike on both."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValidationError(path or "body", "must not contain NUL characters")
    elif isinstance(value, dict):
        for k, v in value.items():
            reject_nul(k, path or "body")
            reject_nul(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            reject_nul(v, f"{path}[{i}]")
