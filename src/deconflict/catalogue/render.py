"""Formatting canonical parameters for a reader, per locale (Babel) and numbering system.

* numbers use the locale's grouping and decimal marks of the language file's numbering system
  (``"arab"``: Arabic-Indic digits ``٠١٢٣…`` with ``٬`` and ``٫``; Babel gives the marks, the digits
  are transliterated here because Babel leaves them Latin);
* times are 24-hour UTC with the date: ``25 Nov 2026 14:05 UTC`` (seconds only when not zero);
* durations are split into days, hours, minutes, seconds with the language file's unit
  abbreviations: ``2 h 30 min``.  (CLDR's own unit patterns are not used: some of them drop the
  numeral — Hebrew ``שעתיים`` "two hours", Arabic ``يوم`` "a day" — and a safety message must
  always show its numbers);
* altitudes: ``3,000 m (9,843 ft) AMSL`` or ``FL120``; distances under 10 km in metres, from
  10 km in kilometres with at most one decimal;
* positions in degrees and decimal minutes, ``33°30.0′N 036°18.0′E``; the hemisphere letters stay
  N/S/E/W in every language (the ICAO/maritime convention, so a position read across languages is
  the same string of letters), the digits and decimal mark follow the language;
* callsigns, unit names and references verbatim.

In right-to-left languages every inserted value is wrapped in FIRST STRONG ISOLATE … POP
DIRECTIONAL ISOLATE (U+2068 … U+2069) so that left-to-right tokens (callsigns, positions,
references) do not reorder the sentence around them.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from babel.dates import format_datetime
from babel.numbers import format_decimal

from .model import Language, SlotType

__all__ = ["DIGITS", "FSI", "PDI", "format_value", "isolate", "number"]

FSI = "\u2068"
PDI = "\u2069"

#: The digits of the numbering systems a language file may name.
DIGITS: dict[str, str] = {
    "latn": "0123456789",
    "arab": "٠١٢٣٤٥٦٧٨٩",
    "arabext": "۰۱۲۳۴۵۶۷۸۹",
}
_FT_PER_M = 1 / 0.3048


def transliterate(text: str, numbering: str) -> str:
    """Replace the ASCII digits of ``text`` by those of ``numbering``."""
    if numbering == "latn":
        return text
    return text.translate(str.maketrans(DIGITS["latn"], DIGITS[numbering]))


def number(lang: Language, value: float, pattern: str = "#,##0.###") -> str:
    """``value`` with the language's grouping, decimal mark and digits."""
    text = format_decimal(value, format=pattern, locale=lang.locale, numbering_system=lang.numbering)
    return transliterate(text, lang.numbering)


def isolate(lang: Language, text: str) -> str:
    """``text`` wrapped in FSI … PDI for right-to-left languages, as is otherwise."""
    return f"{FSI}{text}{PDI}" if lang.direction == "rtl" else text


def _whole(value: float) -> int:
    """``value`` rounded to the nearest integer, halves away from zero (1234.5 m shows as 1,235 m)."""
    return int(math.copysign(math.floor(abs(value) + 0.5), value))


def _quantity(lang: Language, value: float, unit: str, pattern: str = "#,##0.###") -> str:
    return f"{number(lang, value, pattern)} {lang.labels[f'unit.{unit}']}"


def _time(lang: Language, value: str) -> str:
    moment = datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    pattern = lang.datetime_seconds_pattern if moment.second else lang.datetime_pattern
    text = format_datetime(moment, pattern, tzinfo=UTC, locale=lang.locale)
    return f"{transliterate(text, lang.numbering)} {lang.labels['utc']}"


def _coordinate(lang: Language, value: float, width: int, hemispheres: str) -> str:
    tenths = round(abs(value) * 600)  # whole tenths of a minute, so 59.96′ becomes the next degree
    degrees, minutes = divmod(tenths, 600)
    hemisphere = hemispheres[0] if value >= 0 else hemispheres[1]
    return f"{number(lang, degrees, '0' * width)}°{number(lang, minutes / 10, '00.0')}′{hemisphere}"


def _position(lang: Language, value: dict[str, float]) -> str:
    return f"{_coordinate(lang, value['lat'], 2, 'NS')} {_coordinate(lang, value['lon'], 3, 'EW')}"


def _altitude(lang: Language, value: dict[str, Any]) -> str:
    if "fl" in value:
        return f"{lang.labels['flight_level']}{number(lang, value['fl'], '000')}"
    metres = value["m"]
    feet = _quantity(lang, _whole(metres * _FT_PER_M), "foot", "#,##0")
    return f"{_quantity(lang, _whole(metres), 'metre', '#,##0')} ({feet}) {lang.labels['altitude_ref.' + value['ref']]}"


def _distance(lang: Language, value: float) -> str:
    if value < 10_000:
        return _quantity(lang, _whole(value), "metre", "#,##0")
    return _quantity(lang, value / 1000, "kilometre", "#,##0.#")


def _duration(lang: Language, value: float) -> str:
    if value < 1:
        return _quantity(lang, value, "second", "0.###")
    rest = _whole(value)
    parts = []
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        amount, rest = divmod(rest, size)
        if amount:
            parts.append(_quantity(lang, amount, unit, "#,##0"))
    return " ".join(parts)


def format_value(lang: Language, kind: SlotType, value: Any) -> str:
    """A canonical parameter value as text in ``lang`` (not yet isolated)."""
    if kind is SlotType.TIME:
        return _time(lang, value)
    if kind is SlotType.POSITION:
        return _position(lang, value)
    if kind is SlotType.ALTITUDE:
        return _altitude(lang, value)
    if kind is SlotType.DISTANCE:
        return _distance(lang, value)
    if kind is SlotType.DURATION:
        return _duration(lang, value)
    if kind is SlotType.COUNT:
        return number(lang, value, "#,##0")
    return str(value)  # callsign, unit, ref: verbatim
