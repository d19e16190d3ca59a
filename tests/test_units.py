"""Edge conversions: feet, flight levels and AMSL into metres above the WGS84 ellipsoid."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deconflict import (
    AltitudeBand,
    InvalidAltitudeError,
    InvalidNumberError,
    ValidationError,
    altitude_band,
    altitude_m,
)
from deconflict.units import FOOT_M


def refused(err: ValidationError, field: str, reason: str) -> None:
    assert err.field == field, f"field {err.field!r} != {field!r}"
    assert reason in err.reason, f"{reason!r} not in {err.reason!r}"


# --- altitude_m ---------------------------------------------------------------------------


def test_metres_w84_pass_through() -> None:
    assert altitude_m(1234.5) == 1234.5
    assert altitude_m(-50, units="m", reference="W84") == -50.0


def test_feet_are_international_feet() -> None:
    assert FOOT_M == 0.3048
    assert altitude_m(1000, units="ft") == pytest.approx(304.8, abs=1e-12)
    assert altitude_m(1, units="ft", reference="W84") == 0.3048


def test_w84_ignores_the_geoid_undulation() -> None:
    assert altitude_m(100.0, geoid_undulation_m=30.0) == 100.0


def test_amsl_adds_the_geoid_undulation() -> None:
    assert altitude_m(100.0, reference="AMSL", geoid_undulation_m=21.5) == 121.5
    assert altitude_m(100.0, reference="AMSL", geoid_undulation_m=-30.0) == 70.0
    assert altitude_m(1000, units="ft", reference="AMSL", geoid_undulation_m=10.0) == pytest.approx(314.8, abs=1e-9)


def test_amsl_without_undulation_is_refused() -> None:
    with pytest.raises(InvalidAltitudeError) as e:
        altitude_m(100.0, reference="AMSL")
    refused(e.value, "value.geoid_undulation_m", "AMSL needs the geoid undulation")


def test_flight_level_without_undulation_is_refused() -> None:
    with pytest.raises(InvalidAltitudeError) as e:
        altitude_m(100, units="ft", reference="FL")
    refused(e.value, "value.geoid_undulation_m", "FL needs the geoid undulation")


@pytest.mark.parametrize(
    ("fl", "undulation", "expected"),
    [(0, 0.0, 0.0), (100, 20.0, 3068.0), (350, -10.0, 35_000 * 0.3048 - 10.0), (5, 0.0, 152.4)],
)
def test_flight_level_conversion(fl: float, undulation: float, expected: float) -> None:
    assert altitude_m(fl, units="ft", reference="FL", geoid_undulation_m=undulation) == pytest.approx(
        expected, abs=1e-9
    )


def test_flight_level_must_be_in_feet() -> None:
    with pytest.raises(InvalidAltitudeError) as e:
        altitude_m(100, units="m", reference="FL", geoid_undulation_m=0.0)
    refused(e.value, "value.units", "a flight level is in hundreds of feet")


@pytest.mark.parametrize("unit", ["yd", "M", "feet", "", None, 1, ["m"], ("ft",)])
def test_unknown_unit_is_refused(unit: object) -> None:
    with pytest.raises(InvalidAltitudeError) as e:
        altitude_m(100.0, units=unit)  # type: ignore[arg-type]
    refused(e.value, "value.units", "unknown unit")
    assert "['ft', 'm']" in e.value.reason


@pytest.mark.parametrize("reference", ["MSL", "WGS84", "agl", "", None, ["W84"]])
def test_unknown_reference_is_refused(reference: object) -> None:
    with pytest.raises(InvalidAltitudeError) as e:
        altitude_m(100.0, reference=reference)  # type: ignore[arg-type]
    refused(e.value, "value.reference", "unknown reference")
    assert "['W84', 'AMSL', 'FL']" in e.value.reason


@pytest.mark.parametrize("undulation", [-120.5, 100.5, 1e6])
def test_undulation_outside_the_earths_range_is_refused(undulation: float) -> None:
    with pytest.raises(InvalidAltitudeError) as e:
        altitude_m(100.0, reference="AMSL", geoid_undulation_m=undulation)
    refused(e.value, "value.geoid_undulation_m", "outside the Earth's range [-120, 100]")


def test_undulation_range_bounds_are_accepted() -> None:
    assert altitude_m(0.0, reference="AMSL", geoid_undulation_m=-120.0) == -120.0
    assert altitude_m(0.0, reference="AMSL", geoid_undulation_m=100.0) == 100.0


@pytest.mark.parametrize("bad", [math.nan, math.inf, "21", True])
def test_bad_undulation_numbers_are_refused(bad: object) -> None:
    with pytest.raises(InvalidNumberError) as e:
        altitude_m(100.0, reference="AMSL", geoid_undulation_m=bad)  # type: ignore[arg-type]
    assert e.value.field == "value.geoid_undulation_m"


@pytest.mark.parametrize("bad", [math.nan, -math.inf, "100", None, False])
def test_bad_values_are_refused(bad: object) -> None:
    with pytest.raises(InvalidNumberError) as e:
        altitude_m(bad)  # type: ignore[arg-type]
    assert e.value.field == "value"


def test_a_conversion_that_overflows_is_refused() -> None:
    with pytest.raises(InvalidNumberError) as e:
        altitude_m(1e307, units="ft", reference="FL", geoid_undulation_m=0.0)
    refused(e.value, "value", "must be finite")


def test_field_names_the_value() -> None:
    with pytest.raises(InvalidAltitudeError) as e:
        altitude_m(1.0, units="yd", field="volumes[2].altitude_upper")
    assert e.value.field == "volumes[2].altitude_upper.units"


# --- altitude_band ------------------------------------------------------------------------


def test_band_in_feet() -> None:
    band = altitude_band(1000, 2000, units="ft")
    assert isinstance(band, AltitudeBand)
    assert (band.lower_m, band.upper_m) == pytest.approx((304.8, 609.6), abs=1e-9)


def test_band_in_flight_levels_with_uncertainty() -> None:
    band = altitude_band(150, 250, units="ft", reference="FL", geoid_undulation_m=21.0, fl_uncertainty_m=60.0)
    assert band.lower_m == pytest.approx(15_000 * 0.3048 + 21.0 - 60.0, abs=1e-9)
    assert band.upper_m == pytest.approx(25_000 * 0.3048 + 21.0 + 60.0, abs=1e-9)


def test_fl_uncertainty_only_widens_flight_levels() -> None:
    assert altitude_band(100, 200, fl_uncertainty_m=50.0) == AltitudeBand(100, 200)
    assert altitude_band(100, 200, reference="AMSL", geoid_undulation_m=5.0, fl_uncertainty_m=50.0) == AltitudeBand(
        105, 205
    )


def test_negative_fl_uncertainty_is_refused() -> None:
    with pytest.raises(InvalidAltitudeError) as e:
        altitude_band(100, 200, units="ft", reference="FL", geoid_undulation_m=0.0, fl_uncertainty_m=-1.0)
    refused(e.value, "fl_uncertainty_m", "must be >= 0")
    with pytest.raises(InvalidNumberError) as e2:
        altitude_band(100, 200, units="ft", reference="FL", geoid_undulation_m=0.0, fl_uncertainty_m=math.nan)
    assert e2.value.field == "fl_uncertainty_m"


def test_band_errors_name_lower_or_upper() -> None:
    with pytest.raises(InvalidNumberError) as e:
        altitude_band(math.nan, 100)
    assert e.value.field == "lower"
    with pytest.raises(InvalidAltitudeError) as e2:
        altitude_band(0, 100, units="yd")
    assert e2.value.field == "lower.units"
    with pytest.raises(InvalidNumberError) as e3:
        altitude_band(0, math.inf, units="ft")
    assert e3.value.field == "upper"


def test_inverted_band_after_conversion_is_refused() -> None:
    with pytest.raises(InvalidAltitudeError) as e:
        altitude_band(2000, 1000, units="ft")
    refused(e.value, "lower_m", "is above upper")


def test_band_outside_the_f3548_range_after_conversion_is_refused() -> None:
    with pytest.raises(InvalidAltitudeError) as e:
        altitude_band(0, 400_000, units="ft")  # 121 920 m
    refused(e.value, "upper_m", "is outside [-8000, 100000] m")


# --- properties ---------------------------------------------------------------------------

_alt = st.floats(-20_000, 300_000)
_undulation = st.floats(-120, 100)


@settings(max_examples=200, deadline=None)
@given(_alt, _undulation)
def test_conversions_are_affine(value: float, n: float) -> None:
    assert altitude_m(value, units="ft") == pytest.approx(value * FOOT_M, rel=1e-12, abs=1e-9)
    assert altitude_m(value, reference="AMSL", geoid_undulation_m=n) == pytest.approx(value + n, rel=1e-12, abs=1e-9)
    fl = altitude_m(value / 100.0, units="ft", reference="FL", geoid_undulation_m=n)
    assert fl == pytest.approx(
        altitude_m(value, units="ft", reference="AMSL", geoid_undulation_m=n), rel=1e-12, abs=1e-9
    )


@settings(max_examples=200, deadline=None)
@given(_alt, _alt, st.sampled_from(["m", "ft"]))
def test_band_order_is_kept(a: float, b: float, units: str) -> None:
    lo, hi = min(a, b), max(a, b)
    try:
        band = altitude_band(lo, hi, units=units)
    except InvalidAltitudeError as e:
        assert "outside [-8000, 100000]" in e.reason
    else:
        assert band.lower_m <= band.upper_m


_junk = st.one_of(
    st.floats(),
    st.integers(),
    st.integers(min_value=10**300, max_value=10**400),
    st.text(max_size=4),
    st.none(),
    st.booleans(),
    st.lists(st.text(max_size=2), max_size=2),
    st.sampled_from(["m", "ft", "W84", "AMSL", "FL"]),
)


@settings(max_examples=300, deadline=None)
@given(_junk, _junk, _junk, st.one_of(st.none(), _junk))
def test_fuzz_altitude_m(value: object, units: object, reference: object, undulation: object) -> None:
    try:
        result = altitude_m(value, units=units, reference=reference, geoid_undulation_m=undulation)  # type: ignore[arg-type]
    except ValidationError as e:
        assert e.field.startswith("value") and e.reason
    else:
        assert isinstance(result, float) and math.isfinite(result)


@settings(max_examples=300, deadline=None)
@given(_junk, _junk, _junk, _junk, st.one_of(st.none(), _junk), _junk)
def test_fuzz_altitude_band(
    lower: object, upper: object, units: object, reference: object, undulation: object, margin: object
) -> None:
    try:
        band = altitude_band(
            lower,  # type: ignore[arg-type]
            upper,  # type: ignore[arg-type]
            units=units,  # type: ignore[arg-type]
            reference=reference,  # type: ignore[arg-type]
            geoid_undulation_m=undulation,  # type: ignore[arg-type]
            fl_uncertainty_m=margin,  # type: ignore[arg-type]
        )
    except ValidationError as e:
        assert e.reason
    else:
        assert isinstance(band, AltitudeBand)
