"""Awkward pairs of footprints: the engine decides each as the reference does."""

from __future__ import annotations

import pytest

from builders import activity, volume, zone
from catalogue import CASES, Case
from deconflict import Engine, MinimaTable, SeparationMinima, VolumeRef, all_conflicts
from reference import TOUCH_M, reference_conflict

TOLERANCE_M = 0.5


def _pair(case: Case) -> tuple[object, object]:
    a = activity("A", "alpha", volume(case.a, 0, 100, 0, 60), kind="air_corridor")
    b = zone("B", "bravo", volume(case.b, 50, 150, 30, 90), kind="restricted_area")
    return a, b


@pytest.mark.parametrize("case", CASES, ids=str)
def test_engine_agrees_with_the_reference(case: Case) -> None:
    a, b = _pair(case)
    minima = MinimaTable(SeparationMinima(case.lateral_m, 0, 0))
    ref = reference_conflict(a.volumes[0], a.kind, b.volumes[0], b.kind, minima, always_lateral=True)  # type: ignore[attr-defined]
    assert ref.lateral_gap_m is not None

    # what is known by construction holds for the reference too
    if case.expected_gap_m is not None:
        assert ref.lateral_gap_m == pytest.approx(case.expected_gap_m, abs=max(1e-3, TOUCH_M))
    if case.expected is not None:
        assert ref.conflict == case.expected

    forward = Engine(minima)
    forward.insert(b)  # type: ignore[arg-type]
    backward = Engine(minima)
    backward.insert(a)  # type: ignore[arg-type]
    answers = {
        "check(a) against {b}": forward.check(a),  # type: ignore[arg-type]
        "check(b) against {a}": backward.check(b),  # type: ignore[arg-type]
        "all_conflicts": all_conflicts([a, b], minima),  # type: ignore[list-item]
    }
    decided = case.expected if case.expected is not None else ref.conflict
    too_close_to_call = case.expected is None and abs(ref.lateral_gap_m - case.lateral_m) <= TOLERANCE_M
    for how, conflicts in answers.items():
        assert len(conflicts) <= 1, how
        if not too_close_to_call:
            assert bool(conflicts) == decided, (
                f"{how}: engine {bool(conflicts)}, reference gap {ref.lateral_gap_m:.4f} m"
            )
        for c in conflicts:
            assert c.key == (VolumeRef("A", 0), VolumeRef("B", 0))
            assert c.lateral_gap_m == pytest.approx(ref.lateral_gap_m, abs=TOLERANCE_M), how
            assert c.lateral_gap_m >= 0.0
            assert c.vertical_overlap_m == 50.0 and c.time_gap_s == 0.0


def test_catalogue_covers_both_answers() -> None:
    expected = [c.expected for c in CASES]
    assert expected.count(True) >= 10 and expected.count(False) >= 10
    assert any(c.lateral_m == 0.0 and c.expected for c in CASES)
