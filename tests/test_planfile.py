"""Plan files: the edge where feet, flight levels, AMSL, km and NM become WGS84 metres."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deconflict.cli import app
from deconflict.errors import ValidationError
from deconflict.model import SeparationMinima, Zone
from deconflict.planfile import load_plan, parse_plan


def volume(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "outline_circle": {"center": {"lng": 38.0, "lat": 35.0}, "radius": {"value": 10, "units": "km"}},
        "altitude_lower": {"value": 50, "units": "ft", "reference": "FL"},
        "altitude_upper": {"value": 150, "units": "ft", "reference": "FL"},
        "geoid_undulation_m": 20.0,
        "time_start": "2026-11-25T08:00:00Z",
        "time_end": "2026-11-25T10:00:00Z",
    }
    base.update(overrides)
    return base


def plan(*volumes: dict[str, object], second: dict[str, object] | None = None) -> dict[str, object]:
    items = [{"type": "activity", "id": "A-1", "party": "alpha", "kind": "air_sortie", "volumes": list(volumes)}]
    if second is not None:
        items.append(second)
    return {
        "minima": {
            "default": {"lateral": {"value": 5, "units": "NM"}, "vertical": {"value": 1000, "units": "ft"}},
            "pairs": [{"kinds": ["air_sortie", "protected_site"], "lateral": {"value": 10, "units": "km"}}],
        },
        "items": items,
    }


def test_units_are_converted_at_the_edge() -> None:
    loaded = parse_plan(plan(volume()))
    v = loaded.items[0].volumes[0]
    assert v.altitude.lower_m == pytest.approx(50 * 100 * 0.3048 + 20.0)
    assert v.altitude.upper_m == pytest.approx(150 * 100 * 0.3048 + 20.0)
    assert v.footprint.radius_m == 10_000.0  # type: ignore[union-attr]
    assert loaded.minima.default.lateral_m == pytest.approx(9260.0)
    assert loaded.minima.default.vertical_m == pytest.approx(304.8)
    assert loaded.minima.between("protected_site", "air_sortie").lateral_m == 10_000.0


@pytest.mark.parametrize(
    ("overrides", "field", "reason"),
    [
        ({"time_end": "2026-11-25T07:00:00Z"}, "items[0].volumes[0].time_end", "not after start"),
        ({"time_start": "2026-11-25T08:00:00"}, "items[0].volumes[0].time_start", "UTC offset"),
        ({"time_start": "yesterday"}, "items[0].volumes[0].time_start", "not an RFC 3339 time"),
        ({"geoid_undulation_m": None}, "items[0].volumes[0].altitude_lower.geoid_undulation_m", "geoid"),
        (
            {"outline_circle": {"center": {"lng": 38.0, "lat": 95.0}, "radius": 10}},
            "items[0].volumes[0].outline_circle.center.lat",
            "outside [-90, 90]",
        ),
        (
            {"outline_circle": {"center": {"lng": 38.0, "lat": 35.0}, "radius": {"value": 1, "units": "furlong"}}},
            "items[0].volumes[0].outline_circle.radius.units",
            "unknown length unit",
        ),
        (
            {"altitude_upper": {"value": 10, "units": "ft", "reference": "FL"}},
            "items[0].volumes[0].altitude_lower",
            "above upper",
        ),
    ],
)
def test_bad_fields_are_named(overrides: dict[str, object], field: str, reason: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_plan(plan(volume(**overrides)))
    assert caught.value.field == field
    assert reason in caught.value.reason


def test_two_shapes_in_one_volume_are_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_plan(plan(volume(corridor={"path": [[38, 35], [39, 35]], "half_width": 100})))
    assert caught.value.field == "items[0].volumes[0]"


def test_bad_json_names_the_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "plan.json"
    bad.write_text('{"items": [}', encoding="utf-8")
    with pytest.raises(ValidationError) as caught:
        load_plan(bad)
    assert "line 1" in caught.value.reason


def write(tmp_path: Path, document: dict[str, object]) -> str:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return str(path)


def test_cli_reports_conflicts_as_json_lines(tmp_path: Path) -> None:
    hospital = {
        "type": "zone",
        "id": "H-1",
        "party": "bravo",
        "kind": "protected_site",
        "volumes": [
            {
                "outline_polygon": {"vertices": [[38.05, 35.0], [38.07, 35.0], [38.07, 35.02], [38.05, 35.02]]},
                "altitude_lower": {"value": 0, "units": "M", "reference": "W84"},
                "altitude_upper": {"value": 100, "units": "M", "reference": "W84"},
                "time_start": "2026-11-01T00:00:00Z",
                "time_end": "2027-01-01T00:00:00Z",
            }
        ],
    }
    low = volume(altitude_lower={"value": 0, "units": "M"}, altitude_upper={"value": 3000, "units": "ft"})
    result = CliRunner().invoke(app, ["conflicts", "--json", write(tmp_path, plan(low, second=hospital))])
    assert result.exit_code == 1, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert len(lines) == 1
    assert {lines[0]["a"]["id"], lines[0]["b"]["id"]} == {"A-1", "H-1"}
    assert lines[0]["lateral_gap_m"] == 0.0
    # the same sortie flown at FL50–150 clears the 100 m hospital by more than 1 000 ft
    result = CliRunner().invoke(app, ["conflicts", write(tmp_path, plan(volume(), second=hospital))])
    assert result.exit_code == 0, result.output


def test_cli_validate_names_the_bad_field_and_exits_2(tmp_path: Path) -> None:
    bowtie = volume(outline_polygon={"vertices": [[38, 35], [38.2, 35.2], [38.2, 35], [38, 35.2]]})
    del bowtie["outline_circle"]
    result = CliRunner().invoke(app, ["validate", write(tmp_path, plan(bowtie))])
    assert result.exit_code == 2
    assert "items[0].volumes[0].footprint.vertices" in result.output
    assert "self-intersection" in result.output
    ok = CliRunner().invoke(app, ["validate", write(tmp_path, plan(volume()))])
    assert ok.exit_code == 0 and "ok: 1 item(s), 1 volume(s)" in ok.output


def _zone(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "type": "zone",
        "id": "H-1",
        "party": "bravo",
        "kind": "protected_site",
        "volumes": [volume(geoid_undulation_m=20.0)],
    }
    base.update(overrides)
    return base


def test_a_zone_carries_its_own_minima_in_plan_units() -> None:
    own = {"lateral": {"value": 2, "units": "NM"}, "vertical": {"value": 500, "units": "ft"}, "time_s": 600}
    loaded = parse_plan(plan(volume(), second=_zone(minima=own)))
    zone = loaded.items[1]
    assert isinstance(zone, Zone)
    assert zone.minima is not None
    assert zone.minima.lateral_m == pytest.approx(3704.0)
    assert zone.minima.vertical_m == pytest.approx(152.4)
    assert zone.minima.time_s == 600.0
    assert parse_plan(plan(volume(), second=_zone(minima={"lateral": 100}))).items[1].minima == SeparationMinima(100)
    assert parse_plan(plan(volume(), second=_zone())).items[1].minima is None  # type: ignore[union-attr]
    assert parse_plan(plan(volume(), second=_zone(minima=None))).items[1].minima is None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("minima", "field", "reason"),
    [
        ("10 km", "items[1].minima", "must be an object"),
        ({"lateral": {"value": 1, "units": "furlong"}}, "items[1].minima.lateral.units", "unknown length unit"),
        ({"lateral": "far"}, "items[1].minima.lateral", "must be an object"),
        ({"vertical": {"value": -10, "units": "ft"}}, "items[1].minima.vertical", "must be >= 0"),
        ({"time_s": -1}, "items[1].minima.time_s", "must be >= 0"),
        ({"time_s": "soon"}, "items[1].minima.time_s", "must be a number"),
    ],
)
def test_bad_zone_minima_are_named(minima: object, field: str, reason: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_plan(plan(volume(), second=_zone(minima=minima)))
    assert caught.value.field == field
    assert reason in caught.value.reason


def test_only_a_zone_may_carry_minima() -> None:
    document = plan(volume())
    document["items"][0]["minima"] = {"lateral": 100}  # type: ignore[index]
    with pytest.raises(ValidationError) as caught:
        parse_plan(document)
    assert caught.value.field == "items[0].minima"


def test_bad_default_minima_are_named_by_their_json_path() -> None:
    document = plan(volume())
    document["minima"]["default"]["time_s"] = -5  # type: ignore[index]
    with pytest.raises(ValidationError) as caught:
        parse_plan(document)
    assert caught.value.field == "minima.default.time_s"


def test_a_missing_item_id_is_named_once() -> None:
    document = plan(volume(), second=_zone())
    del document["items"][1]["id"]  # type: ignore[attr-defined]
    with pytest.raises(ValidationError) as caught:
        parse_plan(document)
    assert caught.value.field == "items[1].id"
