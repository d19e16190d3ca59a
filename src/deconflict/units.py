"""Edge conversions: feet, flight levels and AMSL into metres above the WGS84 ellipsoid.

Inside ``deconflict`` every altitude is metres above the WGS84 ellipsoid (``W84``, as in
ASTM F3548).  Convert once, here, where the value enters.

* ``units``: ``"m"`` or ``"ft"`` (international foot, 0.3048 m).
* ``reference``:
  ``"W84"`` — already ellipsoidal;
  ``"AMSL"`` — above mean sea level: ellipsoidal height = AMSL + geoid undulation *N*;
  ``"FL"`` — flight level (hundreds of feet of pressure altitude).  A flight level is
  converted as ISA pressure altitude taken as AMSL, then as AMSL.

The geoid undulation *N* (EGM96/EGM2008 at the location, metres) must be supplied for
AMSL and FL: ``deconflict`` runs air-gapped and ships no geoid grid, and silently
assuming N = 0 would put altitudes off by up to ~100 m.  The agreement between parties
fixes the value used for a theatre (it varies slowly: a few metres over 100 km).

Because a flight level is a pressure altitude, its true height differs from ISA by the
day's pressure and temperature; ``fl_uncertainty_m`` widens a band given in flight
levels by that much on each side (default 0: the agreement decides).

    >>> altitude_m(1000, units="ft", reference="W84")
    304.8
    >>> round(altitude_m(100, units="ft", reference="FL", geoid_undulation_m=20.0), 1)
    3068.0
"""

from __future__ import annotations

from .errors import InvalidAltitudeError, ValidationError
from .model import AltitudeBand, finite

__all__ = ["FOOT_M", "NAUTICAL_MILE_M", "altitude_band", "altitude_m", "length_m"]

FOOT_M = 0.3048
NAUTICAL_MILE_M = 1852.0
_LENGTHS = {"m": 1.0, "M": 1.0, "km": 1000.0, "NM": NAUTICAL_MILE_M, "ft": FOOT_M}
_UNITS = {"m": 1.0, "ft": FOOT_M}
_REFERENCES = ("W84", "AMSL", "FL")


def altitude_m(
    value: float,
    *,
    units: str = "m",
    reference: str = "W84",
    geoid_undulation_m: float | None = None,
    field: str = "value",
) -> float:
    """Convert one altitude to metres above the WGS84 ellipsoid."""
    number = finite(value, field)
    if not isinstance(units, str) or units not in _UNITS:
        raise InvalidAltitudeError(f"{field}.units", f"unknown unit {units!r}; use one of {sorted(_UNITS)}")
    if reference not in _REFERENCES:
        raise InvalidAltitudeError(
            f"{field}.reference", f"unknown reference {reference!r}; use one of {list(_REFERENCES)}"
        )
    if reference == "FL":
        if units != "ft":
            raise InvalidAltitudeError(f"{field}.units", "a flight level is in hundreds of feet: use units='ft'")
        number = number * 100.0
    metres = number * _UNITS[units]
    if reference == "W84":
        return finite(metres, field)
    if geoid_undulation_m is None:
        raise InvalidAltitudeError(
            f"{field}.geoid_undulation_m",
            f"{reference} needs the geoid undulation at the location (no geoid grid is shipped)",
        )
    undulation = finite(geoid_undulation_m, f"{field}.geoid_undulation_m")
    if not -120.0 <= undulation <= 100.0:
        raise InvalidAltitudeError(
            f"{field}.geoid_undulation_m", f"{undulation} m is outside the Earth's range [-120, 100]"
        )
    return finite(metres + undulation, field)


def altitude_band(
    lower: float,
    upper: float,
    *,
    units: str = "m",
    reference: str = "W84",
    geoid_undulation_m: float | None = None,
    fl_uncertainty_m: float = 0.0,
) -> AltitudeBand:
    """Build an :class:`AltitudeBand` from values in any supported unit and reference."""
    lo = altitude_m(lower, units=units, reference=reference, geoid_undulation_m=geoid_undulation_m, field="lower")
    hi = altitude_m(upper, units=units, reference=reference, geoid_undulation_m=geoid_undulation_m, field="upper")
    if reference == "FL":
        margin = finite(fl_uncertainty_m, "fl_uncertainty_m")
        if margin < 0:
            raise InvalidAltitudeError("fl_uncertainty_m", f"must be >= 0, got {margin}")
        lo, hi = lo - margin, hi + margin
    return AltitudeBand(lo, hi)


def length_m(value: float, units: str = "m", *, field: str = "value") -> float:
    """Convert a horizontal length (radius, half-width, separation) to metres.

    >>> length_m(5, "NM")
    9260.0
    """
    number = finite(value, field)
    if not isinstance(units, str) or units not in _LENGTHS:
        raise ValidationError(f"{field}.units", f"unknown length unit {units!r}; use one of {sorted(_LENGTHS)}")
    return finite(number * _LENGTHS[units], field)
