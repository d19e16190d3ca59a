"""Checking message parameters and bringing them to their canonical JSON form.

Each slot type has one canonical form, the only one stored and rendered:

========  ==============================================  ===========================================
type      accepted                                        canonical
========  ==============================================  ===========================================
time      RFC 3339 string *with* an offset, years          ``"YYYY-MM-DDTHH:MM:SSZ"`` (UTC, fractions
          1970–9999 (in UTC)                               of a second dropped)
position  ``{"lat": -90..90, "lon": -180..180}``           the same, floats
altitude  ``{"m": -1000..100000, "ref": amsl|agl|wgs84}``  the same, ``m`` a float / ``fl`` an int
          or ``{"fl": 0..999}`` (integer flight level)
distance  metres, 0..20 000 000                            float
duration  seconds, more than 0, at most 366 days           float
count     integer 0..1 000 000                             int
callsign  2–16 of ``A-Z a-z 0-9 -``                        upper-cased
unit      1–100 printable characters (no control or        stripped of surrounding spaces
          bidirectional-control characters)
ref       1–64 of ``A-Z a-z 0-9 _ . -``                    the same
========  ==============================================  ===========================================

Booleans are never numbers; NaN and infinities are refused.  Every refusal is a
:class:`~deconflict.errors.ValidationError` naming the field (``params.<slot>`` or deeper).

>>> check_value(SlotType.TIME, "2026-11-25T16:05:30.9+02:00", "params.time")
'2026-11-25T14:05:30Z'
>>> check_value(SlotType.CALLSIGN, "eagle-1", "params.callsign")
'EAGLE-1'
>>> check_value(SlotType.ALTITUDE, {"fl": 120}, "params.altitude")
{'fl': 120}
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from ..errors import ValidationError
from .model import SlotType

__all__ = ["ALTITUDE_REFS", "check_value"]

ALTITUDE_REFS: tuple[str, ...] = ("amsl", "agl", "wgs84")

_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?(?:([Zz])|([+-])(\d{2}):(\d{2}))",
    re.ASCII,
)
_CALLSIGN = re.compile(r"[A-Za-z0-9-]{2,16}", re.ASCII)
_REF = re.compile(r"[A-Za-z0-9_.-]{1,64}", re.ASCII)
# embeddings, overrides and isolates (and the marks) would escape the isolation a rendered parameter gets
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_REFUSED_CATEGORIES = frozenset({"Cc", "Cs", "Co", "Cn", "Zl", "Zp"})
_MAX_DURATION_S = 366 * 86400.0


def _number(value: object, field: str, low: float, high: float, *, low_open: bool = False, unit: str = "") -> float:
    """A finite JSON number within [low, high] (or (low, high] when ``low_open``) as a float."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(field, "must be a number")
    # compare before converting: a huge integer would overflow float()
    if isinstance(value, float) and not math.isfinite(value):
        raise ValidationError(field, "must be a finite number")
    too_low = value <= low if low_open else value < low
    if too_low or value > high:
        bound = f"more than {low:,g}" if low_open else f"at least {low:,g}"
        raise ValidationError(field, f"must be {bound} and at most {high:,.0f}{unit}")
    return float(value)


def _integer(value: object, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(field, "must be an integer")
    if not low <= value <= high:
        raise ValidationError(field, f"must be between {low} and {high}")
    return value


def _object(value: object, field: str, keys: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValidationError(field, f"must be an object with {' and '.join(repr(k) for k in keys)}")
    for key in value:
        if key not in keys:
            raise ValidationError(f"{field}.{key}", "is not allowed here")
    for key in keys:
        if key not in value:
            raise ValidationError(f"{field}.{key}", "is required")
    return value


def _time(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise ValidationError(field, "must be an RFC 3339 time string with an offset")
    match = _TIME.fullmatch(value)
    if match is None:
        reason = "must be an RFC 3339 time with an offset, e.g. 2026-11-25T14:05:00Z"
        if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?", value):
            reason = "has no offset: give the time zone, e.g. a trailing Z for UTC"
        raise ValidationError(field, reason)
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    if second == 60:
        raise ValidationError(field, "leap seconds are not supported")
    try:
        offset = timedelta(0)
        if match.group(8):
            sign = -1 if match.group(8) == "-" else 1
            oh, om = int(match.group(9)), int(match.group(10))
            if oh > 23 or om > 59:
                raise ValueError("offset out of range")
            offset = sign * timedelta(hours=oh, minutes=om)
        local = datetime(year, month, day, hour, minute, second, tzinfo=timezone(offset))
        moment = local.astimezone(UTC)
    except (ValueError, OverflowError):
        raise ValidationError(field, "is not a valid date and time") from None
    if not 1970 <= moment.year <= 9999:
        raise ValidationError(field, "must be between 1970 and 9999 (UTC)")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _position(value: object, field: str) -> dict[str, float]:
    doc = _object(value, field, ("lat", "lon"))
    return {"lat": _number(doc["lat"], f"{field}.lat", -90, 90), "lon": _number(doc["lon"], f"{field}.lon", -180, 180)}


def _altitude(value: object, field: str) -> dict[str, Any]:
    if isinstance(value, dict) and "fl" in value:
        doc = _object(value, field, ("fl",))
        return {"fl": _integer(doc["fl"], f"{field}.fl", 0, 999)}
    if not isinstance(value, dict):
        raise ValidationError(field, "must be {'m': metres, 'ref': 'amsl'|'agl'|'wgs84'} or {'fl': flight level}")
    doc = _object(value, field, ("m", "ref"))
    if not isinstance(doc["ref"], str) or doc["ref"] not in ALTITUDE_REFS:
        raise ValidationError(f"{field}.ref", f"must be one of {list(ALTITUDE_REFS)}")
    return {"m": _number(doc["m"], f"{field}.m", -1000, 100_000), "ref": doc["ref"]}


def _distance(value: object, field: str) -> float:
    return _number(value, field, 0, 20_000_000, unit=" metres")


def _duration(value: object, field: str) -> float:
    return _number(value, field, 0, _MAX_DURATION_S, low_open=True, unit=" seconds (366 days)")


def _count(value: object, field: str) -> int:
    return _integer(value, field, 0, 1_000_000)


def _callsign(value: object, field: str) -> str:
    if not isinstance(value, str) or _CALLSIGN.fullmatch(value) is None:
        raise ValidationError(field, "must be 2–16 letters, digits or '-'")
    return value.upper()


def _unit(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise ValidationError(field, "must be a string")
    for ch in value:
        if ch in _BIDI_CONTROLS or unicodedata.category(ch) in _REFUSED_CATEGORIES:
            raise ValidationError(field, f"must not contain control characters (U+{ord(ch):04X})")
    text = value.strip()
    if not 1 <= len(text) <= 100:
        raise ValidationError(field, "must be 1–100 characters")
    return text


def _ref(value: object, field: str) -> str:
    if not isinstance(value, str) or _REF.fullmatch(value) is None:
        raise ValidationError(field, "must be an id of 1–64 letters, digits, '_', '.' or '-'")
    return value


_CHECKS: dict[SlotType, Callable[[object, str], Any]] = {
    SlotType.TIME: _time,
    SlotType.POSITION: _position,
    SlotType.ALTITUDE: _altitude,
    SlotType.DISTANCE: _distance,
    SlotType.DURATION: _duration,
    SlotType.COUNT: _count,
    SlotType.CALLSIGN: _callsign,
    SlotType.UNIT: _unit,
    SlotType.REF: _ref,
}


def check_value(kind: SlotType, value: object, field: str) -> Any:
    """The canonical form of ``value`` for a slot of type ``kind``; ValidationError(``field``, …) if refused."""
    return _CHECKS[kind](value, field)
