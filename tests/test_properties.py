"""Properties of the engine on random scenes, and agreement with the brute-force reference.

Scenes are a few activities and zones of two or three parties, with footprints up to
~500 km across anywhere on Earth (often near a pole or the antimeridian), random minima
tables, integer-metre altitudes and whole-minute windows.  Pairs whose reference lateral
gap is within 0.5 m of the lateral minimum are too close to call and are not compared.

Set ``PROPERTY_SCALE`` (e.g. ``PROPERTY_SCALE=20``) to run that many times more examples.
"""

from __future__ import annotations

import dataclasses
import os
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from builders import activity, anchors, footprints_near, keys, minima_tables, scenes, volume, zone
from deconflict import (
    Activity,
    AltitudeBand,
    Conflict,
    Dimension,
    Engine,
    MinimaTable,
    SeparationMinima,
    Volume4D,
    Zone,
    all_conflicts,
)
from reference import lateral_gap, reference_all_pairs

TOLERANCE_M = 0.5
SCALE = float(os.environ.get("PROPERTY_SCALE", "1"))


def examples(n: int) -> int:
    return max(1, round(n * SCALE))


PROPERTY = settings(
    max_examples=examples(150),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)

Item = Activity | Zone


def _retimed(item: Item, shift: timedelta) -> Item:
    vols = tuple(dataclasses.replace(v, window=v.window.shifted(shift)) for v in item.volumes)
    return dataclasses.replace(item, volumes=vols)


def _raised(item: Item, metres: float) -> Item:
    vols = tuple(
        dataclasses.replace(
            v,
            altitude=dataclasses.replace(
                v.altitude, lower_m=v.altitude.lower_m + metres, upper_m=v.altitude.upper_m + metres
            ),
        )
        for v in item.volumes
    )
    return dataclasses.replace(item, volumes=vols)


def _swapped(c: Conflict) -> Conflict:
    return dataclasses.replace(c, a=c.b, b=c.a, party_a=c.party_b, party_b=c.party_a)


def _same(c: Conflict, d: Conflict) -> None:
    assert (c.a, c.b, c.party_a, c.party_b) == (d.a, d.b, d.party_a, d.party_b)
    assert (c.window_start, c.window_end, c.time_gap_s) == (d.window_start, d.window_end, d.time_gap_s)
    assert (c.vertical_gap_m, c.vertical_overlap_m, c.minima, c.breached) == (
        d.vertical_gap_m,
        d.vertical_overlap_m,
        d.minima,
        d.breached,
    )
    assert c.lateral_gap_m == pytest.approx(d.lateral_gap_m, abs=1e-6)


@PROPERTY
@given(scenes(max_items=2, max_volumes=3), minima_tables())
def test_check_is_symmetric(items: list[Item], minima: MinimaTable) -> None:
    a, b = items[0], items[1]
    if a.party == b.party:
        b = dataclasses.replace(b, party=a.party + "-other")
    with_b, with_a = Engine(minima), Engine(minima)
    with_b.insert(b)
    with_a.insert(a)
    forward = {c.key: c for c in with_b.check(a)}
    backward = {c.key: c for c in with_a.check(b)}
    assert set(forward) == set(backward)
    for k, c in forward.items():
        _same(_swapped(backward[k]), c)


@PROPERTY
@given(scenes(), minima_tables(), st.integers(-150 * 365 * 86_400, 150 * 365 * 86_400))
def test_shifting_every_window_by_the_same_time_changes_nothing(
    items: list[Item], minima: MinimaTable, seconds: int
) -> None:
    shift = timedelta(seconds=seconds)
    before = {c.key: c for c in all_conflicts(items, minima)}
    after = {c.key: c for c in all_conflicts([_retimed(it, shift) for it in items], minima)}
    assert set(before) == set(after)
    for k, c in before.items():
        d = after[k]
        assert (d.window_start - shift, d.window_end - shift) == (c.window_start, c.window_end)
        assert (d.time_gap_s, d.vertical_gap_m, d.breached) == (c.time_gap_s, c.vertical_gap_m, c.breached)
        assert d.lateral_gap_m == pytest.approx(c.lateral_gap_m, abs=1e-9)


@PROPERTY
@given(scenes(), minima_tables(), st.integers(0, 3600), st.integers(0, 1000))
def test_volumes_apart_in_time_or_altitude_never_conflict(
    items: list[Item], minima: MinimaTable, extra_s: int, extra_m: int
) -> None:
    widest = minima.largest()
    parties = sorted({it.party for it in items})
    first = [it for it in items if it.party == parties[0]]
    others = [it for it in items if it.party != parties[0]]
    assume(others)
    windows = [v.window for it in items for v in it.volumes]
    span = max(w.end for w in windows) - min(w.start for w in windows)
    # every volume of the other parties starts at least the time minimum after any of the first's ends
    later = [_retimed(it, span + timedelta(seconds=widest.time_s + extra_s)) for it in others]
    mine = {it.id for it in first}

    def across(conflicts: list[Conflict]) -> list[Conflict]:
        """Conflicts between the first party's items and the others' (not among the others)."""
        return [c for c in conflicts if (c.a.owner_id in mine) != (c.b.owner_id in mine)]

    assert across(all_conflicts(first + later, minima)) == []
    engine = Engine(minima)
    engine.insert_many(first)
    assert all(engine.check(it) == [] for it in later)
    # the same in altitude: the others' bands moved above (or below) all of the first's
    mine_h = [v.altitude for it in first for v in it.volumes]
    theirs_h = [v.altitude for it in others for v in it.volumes]
    extra_m = extra_m if widest.vertical_m or extra_m else 1  # with no minimum, bands must not touch
    up = max(h.upper_m for h in mine_h) - min(h.lower_m for h in theirs_h) + widest.vertical_m + extra_m
    down = min(h.lower_m for h in mine_h) - max(h.upper_m for h in theirs_h) - widest.vertical_m - extra_m
    if max(h.upper_m for h in theirs_h) + up <= AltitudeBand.MAX_M:
        moved = [_raised(it, up) for it in others]
    else:
        assume(min(h.lower_m for h in theirs_h) + down >= AltitudeBand.MIN_M)
        moved = [_raised(it, down) for it in others]
    assert across(all_conflicts(first + moved, minima)) == []
    # shifted together, the others keep their conflicts among themselves
    assert keys(all_conflicts(later, minima)) == keys(all_conflicts(others, minima))


def _compare_with_reference(items: list[Item], minima: MinimaTable, found: dict, include_same_party: bool) -> None:  # type: ignore[type-arg]
    ref = reference_all_pairs(items, minima, include_same_party)
    assert set(found) <= set(ref), "a conflict between volumes the rule does not pair"
    for k, d in ref.items():
        if d.borderline(TOLERANCE_M):
            continue
        assert (k in found) == d.conflict, (k, d)
        if d.conflict:
            c = found[k]
            assert d.lateral_gap_m is not None
            assert c.lateral_gap_m == pytest.approx(d.lateral_gap_m, abs=TOLERANCE_M)
            assert c.time_gap_s == d.time_gap_s
            assert c.vertical_gap_m == d.vertical_gap_m and c.vertical_overlap_m == d.vertical_overlap_m
            assert c.minima == d.minima
            assert (Dimension.VERTICAL in c.breached) == (d.vertical_gap_m > 0)
            assert (Dimension.LATERAL in c.breached) == (c.lateral_gap_m > 0)
            start = max(v.window.start for v in _volumes(items, k))
            end = min(v.window.end for v in _volumes(items, k))
            assert (Dimension.TIME in c.breached) == (start >= end)


def _volumes(items: list[Item], key: tuple) -> list[Volume4D]:  # type: ignore[type-arg]
    by_id = {it.id: it for it in items}
    return [by_id[ref.owner_id].volumes[ref.index] for ref in key]


@settings(PROPERTY, max_examples=examples(500))
@given(scenes(max_items=5), minima_tables(), st.booleans())
def test_all_conflicts_equals_the_reference(items: list[Item], minima: MinimaTable, include_same_party: bool) -> None:
    found = {c.key: c for c in all_conflicts(items, minima, include_same_party=include_same_party)}
    assert len(found) == len(all_conflicts(items, minima, include_same_party=include_same_party))
    _compare_with_reference(items, minima, found, include_same_party)


@PROPERTY
@given(scenes(), minima_tables())
def test_check_equals_the_reference(items: list[Item], minima: MinimaTable) -> None:
    found: dict = {}  # type: ignore[type-arg]
    for item in items:
        engine = Engine(minima)
        engine.insert_many([it for it in items if it is not item])
        for c in engine.check(item):
            assert c.a.owner_id == item.id
            found.setdefault(c.key, c)
    _compare_with_reference(items, minima, found, False)


@PROPERTY
@given(scenes(max_items=6), minima_tables(), st.booleans(), st.data())
def test_all_conflicts_is_the_union_of_incremental_checks(
    items: list[Item], minima: MinimaTable, include_same_party: bool, data: st.DataObject
) -> None:
    engine = Engine(minima, include_same_party=include_same_party)
    incremental = set()
    for item in items:
        incremental |= keys(engine.check(item))
        engine.insert(item)
    assert incremental == keys(all_conflicts(items, minima, include_same_party=include_same_party))
    # removing some items leaves what all_conflicts says of the rest
    gone = data.draw(st.sets(st.sampled_from([it.id for it in items])))
    for item_id in gone:
        engine.remove(item_id)
    rest = [it for it in items if it.id not in gone]
    assert len(engine) == sum(len(it.volumes) for it in rest)
    for item in rest:
        assert keys(engine.check(item)) == {
            k
            for k in keys(all_conflicts(rest, minima, include_same_party=include_same_party))
            if item.id in (k[0].owner_id, k[1].owner_id)
        }


@settings(PROPERTY, max_examples=examples(300))
@given(scenes(max_items=5, zone_minima=True), minima_tables(), st.booleans(), st.data())
def test_zones_own_minima_agree_with_the_reference(
    items: list[Item], minima: MinimaTable, include_same_party: bool, data: st.DataObject
) -> None:
    """Zones carrying their own minima (random, like the table's): the batch and the online
    check both decide every pair as the reference does, and report the minima applied."""
    batch = {c.key: c for c in all_conflicts(items, minima, include_same_party=include_same_party)}
    _compare_with_reference(items, minima, batch, include_same_party)
    engine = Engine(minima, include_same_party=include_same_party)
    online: dict = {}  # type: ignore[type-arg]
    for item in items:
        for c in engine.check(item):
            online[c.key] = c
        engine.insert(item)
    assert set(online) == set(batch)
    for k, c in online.items():
        assert (c.minima, c.breached) == (batch[k].minima, batch[k].breached)
        assert c.lateral_gap_m == pytest.approx(batch[k].lateral_gap_m, abs=1e-6)
    # removing some items leaves what all_conflicts says of the rest
    gone = data.draw(st.sets(st.sampled_from([it.id for it in items])))
    for item_id in gone:
        engine.remove(item_id)
    rest = [it for it in items if it.id not in gone]
    rest_keys = keys(all_conflicts(rest, minima, include_same_party=include_same_party))
    for item in rest:
        assert keys(engine.check(item)) == {k for k in rest_keys if item.id in (k[0].owner_id, k[1].owner_id)}


@PROPERTY
@given(scenes(), minima_tables())
def test_conflict_fields_are_consistent(items: list[Item], minima: MinimaTable) -> None:
    for c in all_conflicts(items, minima):
        a, b = _volumes(items, (c.a, c.b))
        start, end = max(a.window.start, b.window.start), min(a.window.end, b.window.end)
        if Dimension.TIME in c.breached:
            assert (c.window_start, c.window_end) == (end, start)
            assert c.time_gap_s == (start - end).total_seconds() < c.minima.time_s or start == end
        else:
            assert (c.window_start, c.window_end) == (start, end) and start < end and c.time_gap_s == 0.0
        assert c.lateral_gap_m >= 0.0 and c.vertical_gap_m >= 0.0 and c.vertical_overlap_m >= 0.0
        assert c.vertical_gap_m == 0.0 or c.vertical_overlap_m == 0.0
        assert c.lateral_gap_m == 0.0 or c.lateral_gap_m < c.minima.lateral_m
        assert c.vertical_gap_m == 0.0 or c.vertical_gap_m < c.minima.vertical_m
        assert c.minima == minima.between(_kind(items, c.a.owner_id), _kind(items, c.b.owner_id))


def _kind(items: list[Item], owner_id: str) -> str:
    return next(str(it.kind) for it in items if it.id == owner_id)


@settings(PROPERTY, max_examples=examples(400))
@given(anchors(), st.sampled_from([3_000.0, 30_000.0, 300_000.0]), st.data(), st.floats(0.6, 30.0), st.booleans())
def test_lateral_decision_at_the_threshold(
    anchor: tuple[float, float], spread: float, data: st.DataObject, margin: float, above: bool
) -> None:
    """With the lateral minimum a few metres either side of the true gap, the engine decides
    as the reference does, and reports the gap within 0.5 m."""
    fa = data.draw(footprints_near(anchor, spread))
    fb = data.draw(footprints_near(anchor, spread))
    gap = lateral_gap(fa, fb)
    lateral = gap + margin if above else gap - margin
    assume(lateral > 0.0)
    minima = MinimaTable(SeparationMinima(lateral, 0, 0))
    a = activity("A", "alpha", volume(fa, 0, 10, 0, 60))
    b = zone("B", "bravo", volume(fb, 0, 10, 0, 60))
    engine = Engine(minima)
    engine.insert(b)
    for conflicts in (all_conflicts([a, b], minima), engine.check(a)):
        assert bool(conflicts) == above, f"gap {gap:.3f} m, minimum {lateral:.3f} m"
        for c in conflicts:
            assert c.lateral_gap_m == pytest.approx(gap, abs=TOLERANCE_M)
