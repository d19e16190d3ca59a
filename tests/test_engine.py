"""The engine: index maintenance, the online check, the batch join and what a Conflict says."""

from __future__ import annotations

import dataclasses
import tracemalloc
from datetime import timedelta

import pytest

from builders import EPOCH, activity, keys, volume, zone
from catalogue import edge_offset, offset
from deconflict import (
    Activity,
    ActivityKind,
    AltitudeBand,
    Circle,
    Corridor,
    Dimension,
    Engine,
    FootprintTooLargeError,
    IndexStateError,
    InvalidFootprintError,
    Limits,
    MinimaTable,
    Polygon,
    SeparationMinima,
    TimeWindow,
    ValidationError,
    Volume4D,
    VolumeRef,
    Zone,
    ZoneKind,
    all_conflicts,
)
from reference import reference_all_pairs

HERE = (36.0, 35.0)
BOW_TIE = Polygon(((36.0, 35.0), (36.1, 35.1), (36.1, 35.0), (36.0, 35.1)))


def disc(lon: float = HERE[0], lat: float = HERE[1], r: float = 5000.0) -> Circle:
    return Circle((lon, lat), r)


def sortie(
    id_: str,
    party: str,
    lon: float = HERE[0],
    *,
    start: float = 0,
    end: float = 60,
    lower: float = 1000,
    upper: float = 2000,
) -> Activity:
    return activity(id_, party, volume(disc(lon), lower, upper, start, end))


# --- index maintenance --------------------------------------------------------------------


def test_insert_remove_len_contains() -> None:
    engine = Engine()
    assert len(engine) == 0 and "A" not in engine
    engine.insert(activity("A", "alpha", volume(disc(), 0, 100, 0, 60), volume(disc(36.5), 0, 100, 0, 60)))
    engine.insert(sortie("B", "bravo"))
    assert len(engine) == 3 and "A" in engine and "B" in engine and "C" not in engine
    engine.remove("A")
    assert len(engine) == 1 and "A" not in engine
    assert [c.b for c in engine.check(sortie("C", "charlie"))] == [VolumeRef("B", 0)]
    engine.insert(sortie("A", "alpha"))  # an id can be used again once removed
    assert len(engine) == 2
    assert keys(engine.check(sortie("C", "charlie"))) == {
        (VolumeRef("A", 0), VolumeRef("C", 0)),
        (VolumeRef("B", 0), VolumeRef("C", 0)),
    }


def test_duplicate_insert_is_refused_and_nothing_is_indexed() -> None:
    engine = Engine()
    engine.insert(sortie("A", "alpha"))
    with pytest.raises(IndexStateError) as e:
        engine.insert(sortie("A", "bravo", 40.0))
    assert e.value.field == "items[0].id" and "'A' is already indexed" in e.value.reason
    assert len(engine) == 1
    with pytest.raises(IndexStateError) as e:
        engine.insert_many([sortie("X", "bravo"), sortie("Y", "bravo"), sortie("X", "charlie")])
    assert e.value.field == "items[2].id"
    assert len(engine) == 1 and "X" not in engine and "Y" not in engine
    assert engine.check(sortie("Z", "zulu")) and all(c.b.owner_id == "A" for c in engine.check(sortie("Z", "zulu")))


def test_remove_unknown_is_refused() -> None:
    engine = Engine()
    engine.insert(sortie("A", "alpha"))
    with pytest.raises(IndexStateError) as e:
        engine.remove("B")
    assert e.value.field == "id" and "'B' is not indexed" in e.value.reason
    engine.remove("A")
    with pytest.raises(IndexStateError):
        engine.remove("A")
    assert len(engine) == 0


def test_check_does_not_insert() -> None:
    engine = Engine()
    engine.insert(sortie("A", "alpha"))
    assert len(engine.check(sortie("B", "bravo"))) == 1
    assert len(engine) == 1 and "B" not in engine
    assert len(engine.check(sortie("B", "bravo"))) == 1


def test_check_on_an_empty_index() -> None:
    assert Engine().check(sortie("A", "alpha")) == []
    engine = Engine()
    engine.insert(sortie("A", "alpha"))
    engine.remove("A")
    assert engine.check(sortie("B", "bravo")) == []


def test_check_validates_its_item() -> None:
    engine = Engine()
    with pytest.raises(ValidationError) as e:
        engine.check(activity("B", "bravo", volume(BOW_TIE, 0, 100, 0, 60)))
    assert e.value.field == "items[0].volumes[0].footprint.vertices"
    with pytest.raises(ValidationError) as e:
        engine.check("not an item")  # type: ignore[arg-type]
    assert e.value.field == "items[0]"


def test_insert_with_one_bad_volume_is_all_or_nothing() -> None:
    engine = Engine()
    engine.insert(sortie("A", "alpha"))
    bad = activity("B", "bravo", volume(disc(), 0, 100, 0, 60), volume(BOW_TIE, 0, 100, 0, 60))
    with pytest.raises(InvalidFootprintError) as e:
        engine.insert(bad)
    assert e.value.field == "items[0].volumes[1].footprint.vertices"
    assert len(engine) == 1 and "B" not in engine
    with pytest.raises(ValidationError) as e2:
        engine.insert_many([sortie("C", "charlie"), sortie("D", "delta"), bad])
    assert e2.value.field == "items[2].volumes[1].footprint.vertices"
    assert len(engine) == 1 and "C" not in engine and "D" not in engine
    assert [c.b for c in engine.check(sortie("E", "echo"))] == [VolumeRef("A", 0)]
    # and the rejected ids are still free
    engine.insert(sortie("B", "bravo"))
    assert len(engine) == 2


def test_insert_many_empty_is_a_no_op() -> None:
    engine = Engine()
    engine.insert_many([])
    assert len(engine) == 0


def test_limits_apply_to_insert_and_check() -> None:
    engine = Engine(limits=Limits(max_footprint_m=20_000.0))
    big = activity("A", "alpha", volume(disc(r=10_001.0), 0, 100, 0, 60))
    with pytest.raises(FootprintTooLargeError) as e:
        engine.insert(big)
    assert e.value.field == "items[0].volumes[0].footprint"
    with pytest.raises(FootprintTooLargeError):
        engine.check(big)
    assert len(engine) == 0


def test_not_an_item_is_refused() -> None:
    with pytest.raises(ValidationError) as e:
        Engine().insert_many(
            [sortie("A", "alpha"), Volume4D(disc(), AltitudeBand(0, 1), TimeWindow(EPOCH, EPOCH + timedelta(1)))]
        )  # type: ignore[list-item]
    assert e.value.field == "items[1]"
    with pytest.raises(ValidationError) as e:
        all_conflicts([sortie("A", "alpha"), "B"])  # type: ignore[list-item]
    assert e.value.field == "items[1]"


def test_all_conflicts_refuses_duplicate_ids() -> None:
    with pytest.raises(IndexStateError) as e:
        all_conflicts([sortie("A", "alpha"), sortie("B", "bravo"), sortie("A", "charlie")])
    assert e.value.field == "items.id" and "'A'" in e.value.reason


def test_all_conflicts_of_nothing() -> None:
    assert all_conflicts([]) == []
    assert all_conflicts([sortie("A", "alpha")]) == []


# --- parties and owners -------------------------------------------------------------------


def test_a_check_may_ask_for_exact_intersection_instead_of_the_minima() -> None:
    """``check(minima=MinimaTable())`` (the F3548 DSS's "intersecting"): the engine's table
    and zones' own minima are set aside for that call only."""
    near = dataclasses.replace(sortie("b", "bravo"), volumes=(volume(disc(HERE[0] + 0.11), 1000, 2000, 0, 60),))
    later = sortie("c", "bravo", start=60, end=120)  # starts as "a" ends: half-open, no contact
    above = sortie("d", "bravo", lower=2000, upper=3000)  # touches "a"'s ceiling
    ring = zone("z", "bravo", volume(disc(HERE[0] + 0.11), 0, 5000, 0, 60), minima=SeparationMinima(20_000, 0, 0))
    engine = Engine(MinimaTable(SeparationMinima(10_000, 300, 600)))
    for item in (near, later, above, ring):
        engine.insert(item)
    a = sortie("a", "alpha")
    assert {c.b.owner_id for c in engine.check(a)} == {"b", "c", "d", "z"}
    exact = engine.check(a, minima=MinimaTable())
    assert {c.b.owner_id for c in exact} == {"d"}
    assert all(c.minima == SeparationMinima() and c.vertical_overlap_m == 0 for c in exact)
    # the same party counts when asked, and the engine's own minima are untouched afterwards
    engine.insert(sortie("e", "alpha", lower=1500, upper=1600))
    assert {c.b.owner_id for c in engine.check(a, include_same_party=True, minima=MinimaTable())} == {"d", "e"}
    assert {c.b.owner_id for c in engine.check(a)} == {"b", "c", "d", "z"}


def test_same_party_pairs_are_excluded_unless_asked() -> None:
    a, b, c = sortie("A", "alpha"), sortie("B", "alpha"), sortie("C", "bravo")
    assert keys(all_conflicts([a, b, c])) == {
        (VolumeRef("A", 0), VolumeRef("C", 0)),
        (VolumeRef("B", 0), VolumeRef("C", 0)),
    }
    assert len(all_conflicts([a, b, c], include_same_party=True)) == 3
    engine = Engine()
    engine.insert(a)
    assert engine.check(b) == []
    assert len(engine.check(b, include_same_party=True)) == 1
    both = Engine(include_same_party=True)
    both.insert(a)
    assert len(both.check(b)) == 1
    assert both.check(b, include_same_party=False) == []


def test_volumes_of_one_item_never_conflict_with_each_other() -> None:
    twice = activity(
        "A", "alpha", volume(disc(), 0, 100, 0, 60), volume(disc(), 0, 100, 0, 60), volume(disc(36.01), 50, 80, 30, 90)
    )
    assert all_conflicts([twice], include_same_party=True) == []
    engine = Engine(include_same_party=True)
    engine.insert(twice)
    assert engine.check(twice) == []  # its own id is ignored in the index
    other = activity("B", "alpha", volume(disc(), 0, 100, 0, 60))
    assert {c.b for c in engine.check(other)} == {VolumeRef("A", 0), VolumeRef("A", 1), VolumeRef("A", 2)}


def test_check_of_an_updated_item_ignores_its_old_version() -> None:
    engine = Engine()
    engine.insert(sortie("A", "alpha"))
    engine.insert(sortie("B", "bravo", 36.001))
    updated = sortie("A", "alpha", 36.002)
    assert [c.b for c in engine.check(updated)] == [VolumeRef("B", 0)]


def test_zones_and_activities_mix() -> None:
    base = zone("Z", "bravo", volume(disc(r=20_000), -100, 500, -600, 6000), kind="protected_site")
    flight = sortie("A", "alpha", lower=400, upper=900)
    minima = MinimaTable(
        SeparationMinima(0, 0, 0), {("air_sortie", "protected_site"): SeparationMinima(5000, 1000, 600)}
    )
    (c,) = all_conflicts([base, flight], minima)
    assert {c.party_a, c.party_b} == {"alpha", "bravo"}
    assert c.minima == SeparationMinima(5000, 1000, 600)


# --- what a conflict says -----------------------------------------------------------------


def test_overlap_in_all_four_dimensions() -> None:
    engine = Engine()
    engine.insert(activity("A", "alpha", volume(disc(), 1000, 2000, 0, 60)))
    (c,) = engine.check(activity("B", "bravo", volume(disc(36.01), 1500, 3000, 30, 120)))
    assert (c.a, c.b) == (VolumeRef("B", 0), VolumeRef("A", 0))
    assert (c.party_a, c.party_b) == ("bravo", "alpha")
    assert c.window_start == EPOCH + timedelta(minutes=30) and c.window_end == EPOCH + timedelta(minutes=60)
    assert c.time_gap_s == 0.0 and c.lateral_gap_m == 0.0 and c.vertical_gap_m == 0.0
    assert c.vertical_overlap_m == 500.0
    assert c.breached == frozenset()
    assert c.minima == SeparationMinima()


def test_time_buffer_only_conflict() -> None:
    minima = MinimaTable(SeparationMinima(0, 0, 900))
    a = activity("A", "alpha", volume(disc(), 0, 100, 0, 60))
    b = activity("B", "bravo", volume(disc(), 0, 100, 70, 120))
    (c,) = all_conflicts([a, b], minima)
    assert c.time_gap_s == 600.0
    assert c.window_start == EPOCH + timedelta(minutes=60) and c.window_end == EPOCH + timedelta(minutes=70)
    assert c.breached == frozenset({Dimension.TIME})
    assert c.minima.time_s == 900.0
    # 15 minutes apart is separated: the gap must be below the minimum
    far = activity("C", "bravo", volume(disc(), 0, 100, 75, 120))
    assert all_conflicts([a, far], minima) == []


def test_touching_windows_share_nothing() -> None:
    a = activity("A", "alpha", volume(disc(), 0, 100, 0, 60))
    b = activity("B", "bravo", volume(disc(), 0, 100, 60, 120))
    assert all_conflicts([a, b]) == []
    (c,) = all_conflicts([a, b], MinimaTable(SeparationMinima(time_s=1)))
    assert c.time_gap_s == 0.0 and c.window_start == c.window_end == EPOCH + timedelta(minutes=60)
    assert c.breached == frozenset({Dimension.TIME})


def test_vertical_buffer_only_conflict_and_touching_bands() -> None:
    a = activity("A", "alpha", volume(disc(), 0, 1000, 0, 60))
    b = activity("B", "bravo", volume(disc(), 1200, 2000, 0, 60))
    assert all_conflicts([a, b], MinimaTable(SeparationMinima(vertical_m=200))) == []
    (c,) = all_conflicts([a, b], MinimaTable(SeparationMinima(vertical_m=300)))
    assert c.vertical_gap_m == 200.0 and c.vertical_overlap_m == 0.0
    assert c.breached == frozenset({Dimension.VERTICAL})
    touching = activity("C", "bravo", volume(disc(), 1000, 2000, 0, 60))
    (t,) = all_conflicts([a, touching])  # closed bands share the height 1000 m
    assert t.vertical_gap_m == 0.0 and t.vertical_overlap_m == 0.0 and t.breached == frozenset()


def test_lateral_buffer_only_conflict() -> None:
    a = activity("A", "alpha", volume(Circle((10.0, 50.0), 1000.0), 0, 100, 0, 60))
    b = activity("B", "bravo", volume(Circle(offset(10.0, 50.0, 45.0, 3500.0), 1000.0), 0, 100, 0, 60))
    assert all_conflicts([a, b], MinimaTable(SeparationMinima(lateral_m=1499.99))) == []
    (c,) = all_conflicts([a, b], MinimaTable(SeparationMinima(lateral_m=1500.01)))
    assert c.lateral_gap_m == pytest.approx(1500.0, abs=1e-6)
    assert c.breached == frozenset({Dimension.LATERAL})


def test_buffers_in_every_dimension() -> None:
    minima = MinimaTable(SeparationMinima(2000, 300, 600))
    a = activity("A", "alpha", volume(Circle((10.0, 50.0), 1000.0), 0, 1000, 0, 60))
    b = activity("B", "bravo", volume(Circle(offset(10.0, 50.0, 45.0, 3000.0), 1000.0), 1100, 2000, 65, 120))
    (c,) = all_conflicts([a, b], minima)
    assert c.breached == frozenset({Dimension.LATERAL, Dimension.VERTICAL, Dimension.TIME})
    assert c.lateral_gap_m == pytest.approx(1000.0, abs=1e-6)
    assert (c.vertical_gap_m, c.time_gap_s) == (100.0, 300.0)


def test_lateral_gap_of_a_corridor_pair() -> None:
    p, q = (20.0, 10.0), (20.5, 10.2)
    a = activity("A", "alpha", volume(Corridor((p, q), 100.0), 0, 100, 0, 60))
    b = activity("B", "bravo", volume(Circle(edge_offset(p, q, 700.0), 100.0), 0, 100, 0, 60))
    (c,) = all_conflicts([a, b], MinimaTable(SeparationMinima(lateral_m=600)))
    assert c.lateral_gap_m == pytest.approx(500.0, abs=1e-3)


def test_minima_come_from_the_kinds() -> None:
    table = MinimaTable(
        SeparationMinima(0, 0, 0),
        {
            ("maritime", "base"): SeparationMinima(10_000, 0, 0),
            ("air_sortie", "air_sortie"): SeparationMinima(0, 500, 0),
        },
    )
    base = Zone("Z", "alpha", ZoneKind.BASE, (volume(Circle((5.0, 5.0), 1000.0), 0, 50, 0, 600),))
    ship = Activity(
        "S", "bravo", ActivityKind.MARITIME, (volume(Circle(offset(5.0, 5.0, 0.0, 9000.0), 500.0), 0, 50, 0, 600),)
    )
    plane1 = activity("P1", "bravo", volume(Circle((5.0, 5.0), 1000.0), 200, 300, 0, 600))
    plane2 = activity("P2", "charlie", volume(Circle((5.0, 5.0), 1000.0), 700, 800, 0, 600))
    found = {c.key: c for c in all_conflicts([base, ship, plane1, plane2], table)}
    assert set(found) == {(VolumeRef("S", 0), VolumeRef("Z", 0)), (VolumeRef("P1", 0), VolumeRef("P2", 0))}
    assert found[(VolumeRef("S", 0), VolumeRef("Z", 0))].minima == SeparationMinima(10_000, 0, 0)
    assert found[(VolumeRef("P1", 0), VolumeRef("P2", 0))].vertical_gap_m == 400.0


def test_query_is_a_superset_of_the_conflicts() -> None:
    engine = Engine(MinimaTable(SeparationMinima(5000, 0, 0)))
    engine.insert_many([sortie(f"A{k}", "alpha", 36.0 + 0.05 * k) for k in range(20)])
    candidate = sortie("B", "bravo", 36.3)
    found = {c.b for c in engine.check(candidate)}
    assert found and found <= set(engine.query(candidate, widen_m=5000))
    assert set(engine.query(candidate)) <= set(engine.query(candidate, widen_m=5000))


# --- compaction ---------------------------------------------------------------------------


def _grid_items(count: int, party: str = "alpha", prefix: str = "G") -> list[Activity]:
    return [
        sortie(f"{prefix}{k}", party, 30.0 + 0.004 * k, start=(k % 7) * 10, end=(k % 7) * 10 + 30) for k in range(count)
    ]


def test_compaction_after_many_removes_keeps_answers_right() -> None:
    items = _grid_items(1300)
    engine = Engine()
    engine.insert_many(items[:700])
    for item in items[700:]:
        engine.insert(item)
    removed = [it for k, it in enumerate(items) if k % 5 != 0]
    for it in removed:
        engine.remove(it.id)
    kept = [it for k, it in enumerate(items) if k % 5 == 0]
    assert len(engine) == len(kept)
    assert all(it.id in engine for it in kept) and not any(it.id in engine for it in removed)
    fresh = Engine()
    fresh.insert_many(kept)
    for lon in (30.0, 30.5, 31.3, 32.0, 35.19):
        probe = sortie("P", "bravo", lon, start=0, end=80)
        assert keys(engine.check(probe)) == keys(fresh.check(probe))
    # and it keeps working afterwards
    engine.insert(sortie("N", "charlie", 31.0))
    assert VolumeRef("N", 0) in {c.b for c in engine.check(sortie("P", "bravo", 31.0))}


def test_removing_everything_from_a_large_index() -> None:
    many = activity(
        "BIG",
        "alpha",
        *[volume(Circle((0.01 * (k % 40), 0.01 * (k // 40)), 100.0), 0, 100, 0, 60) for k in range(1100)],
        kind="exercise",
    )
    engine = Engine()
    engine.insert(many)
    assert len(engine) == 1100
    engine.remove("BIG")
    assert len(engine) == 0 and "BIG" not in engine
    assert engine.check(sortie("P", "bravo", 0.0)) == []
    engine.insert(activity("S", "alpha", volume(Circle((0.0, 0.0), 100.0), 0, 100, 0, 60)))
    assert len(engine.check(activity("P", "bravo", volume(Circle((0.0, 0.0), 100.0), 0, 100, 0, 60)))) == 1


# --- online path == batch path ------------------------------------------------------------


def _scene() -> list[Activity | Zone]:
    items: list[Activity | Zone] = []
    parties = ["alpha", "bravo", "charlie"]
    for k in range(24):
        lon = 179.6 + 0.05 * k
        lon = lon - 360.0 if lon > 180.0 else lon
        fp = [
            Circle((lon, 60.0 + 0.03 * (k % 3)), 1500.0 + 100 * k),
            Corridor(((lon, 60.0), (lon + (0.1 if lon < 179.8 else -0.1), 60.05)), 300.0),
            Polygon(((lon, 60.0), (lon + 0.04 if lon < 179.9 else lon - 0.04, 60.0), (lon, 60.04))),
        ][k % 3]
        v = volume(fp, 100 * (k % 5), 100 * (k % 5) + 400, 20 * (k % 4), 20 * (k % 4) + 45)
        if k % 4 == 3:
            items.append(zone(f"Z{k}", parties[k % 3], v, kind="training_area"))
        else:
            items.append(
                activity(f"A{k}", parties[k % 3], v, kind=["air_sortie", "ground_movement", "maritime"][k % 3])
            )
    return items


MINIMA = MinimaTable(
    SeparationMinima(2000, 150, 300),
    {
        ("air_sortie", "training_area"): SeparationMinima(8000, 300, 900),
        ("maritime", "maritime"): SeparationMinima(0, 0, 0),
    },
)


@pytest.mark.parametrize("include_same_party", [False, True])
def test_check_equals_all_conflicts_restricted_to_the_candidate(include_same_party: bool) -> None:
    items = _scene()
    batch = {c.key: c for c in all_conflicts(items, MINIMA, include_same_party=include_same_party)}
    assert batch, "the scene should have conflicts"
    for item in items:
        engine = Engine(MINIMA, include_same_party=include_same_party)
        engine.insert_many([it for it in items if it is not item])
        online = {c.key: c for c in engine.check(item)}
        expected = {k: c for k, c in batch.items() if item.id in (k[0].owner_id, k[1].owner_id)}
        assert set(online) == set(expected), item.id
        for k, c in online.items():
            assert c.lateral_gap_m == pytest.approx(expected[k].lateral_gap_m, abs=1e-6)
            assert c.breached == expected[k].breached and c.minima == expected[k].minima
            assert c.a.owner_id == item.id


def test_scene_matches_the_reference() -> None:
    items = _scene()
    ref = reference_all_pairs(items, MINIMA)
    got = {c.key: c for c in all_conflicts(items, MINIMA)}
    for k, d in ref.items():
        if d.borderline():
            continue
        assert (k in got) == d.conflict, (k, d)
        if d.conflict:
            c = got[k]
            assert c.lateral_gap_m == pytest.approx(d.lateral_gap_m, abs=0.5)
            assert c.time_gap_s == d.time_gap_s and c.vertical_gap_m == d.vertical_gap_m
            assert c.vertical_overlap_m == d.vertical_overlap_m
    assert set(got) <= set(ref)


def test_incremental_inserts_equal_all_conflicts() -> None:
    items = _scene()
    engine = Engine(MINIMA)
    found = set()
    for item in items:
        found |= keys(engine.check(item))
        engine.insert(item)
    assert found == keys(all_conflicts(items, MINIMA))


def test_a_long_route_gives_one_conflict_per_pair_of_volumes() -> None:
    start = (20.0, 45.0)
    end = offset(*start, 80.0, 300_000.0)
    route = activity("R", "alpha", volume(Corridor((start, end), 500.0), 0, 100, 0, 60), kind="air_corridor")
    blanket = zone("Z", "bravo", volume(Circle(offset(*start, 80.0, 150_000.0), 200_000.0), 0, 100, 0, 60))
    p, q = offset(*start, 80.0, 100_000.0), offset(*start, 80.0, 250_000.0)
    beside = zone(
        "S", "bravo", volume(Corridor((edge_offset(start, end, 1500.0), edge_offset(p, q, 1300.0)), 0.0), 0, 100, 0, 60)
    )
    minima = MinimaTable(SeparationMinima(2000, 0, 0))
    found = all_conflicts([route, blanket, beside], minima)
    assert len(found) == len(keys(found)) == 2
    by_other = {
        c.b.owner_id if c.a.owner_id == "R" else c.a.owner_id: c for c in found if "R" in (c.a.owner_id, c.b.owner_id)
    }
    assert by_other["Z"].lateral_gap_m == 0.0
    ref = reference_all_pairs([route, beside], minima)[(VolumeRef("R", 0), VolumeRef("S", 0))]
    assert by_other["S"].lateral_gap_m == pytest.approx(ref.lateral_gap_m, abs=0.5)  # the smallest over the pieces
    engine = Engine(minima)
    engine.insert_many([blanket, beside])
    assert keys(engine.check(route)) == keys(found)


def test_a_few_huge_footprints_among_points_stay_cheap_in_the_batch_join() -> None:
    """The batch join's grid is sized on the median box: three 480 km circles among five
    points once registered ~2 million grid entries (over 200 MB) for eight volumes."""
    points = [
        activity(f"P{k}", "alpha" if k % 2 else "bravo", volume(Circle((10 + 0.01 * k, 50), 0.0), 0, 100, 0, 60))
        for k in range(5)
    ]
    huge = [activity(f"H{k}", "charlie", volume(Circle((10.0 + k, 50.0), 240_000.0), 0, 100, 0, 60)) for k in range(3)]
    minima = MinimaTable(SeparationMinima(1000, 100, 60))
    tracemalloc.start()
    try:
        found = all_conflicts(points + huge, minima)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50e6, f"{peak / 1e6:.0f} MB for eight volumes"
    ref = reference_all_pairs(points + huge, minima)
    assert keys(found) == {k for k, d in ref.items() if d.conflict}


# --- a zone's own minima --------------------------------------------------------------------


def _online(indexed: list[Activity | Zone], probe: Activity | Zone, minima: MinimaTable) -> dict:  # type: ignore[type-arg]
    engine = Engine(minima)
    engine.insert_many(indexed)
    return {c.key: c for c in engine.check(probe)}


def _both_ways(a: Activity | Zone, b: Activity | Zone, minima: MinimaTable) -> list[dict]:  # type: ignore[type-arg]
    """The conflicts of a pair by the batch, by checking a against b and b against a."""
    return [
        {c.key: c for c in all_conflicts([a, b], minima)},
        _online([b], a, minima),
        _online([a], b, minima),
    ]


def test_a_zone_with_large_own_minima_finds_what_the_table_would_not() -> None:
    table = MinimaTable(SeparationMinima(0, 0, 0))  # plain intersection: the check widens by nothing
    own = SeparationMinima(10_000, 300, 1800)
    site = zone("Z", "bravo", volume(Circle(HERE, 1000.0), 0, 100, 0, 60), kind="protected_site", minima=own)
    # 5 km from the site's edge, 200 m above it, 20 minutes after it
    near = activity("A", "alpha", volume(Circle(offset(*HERE, 90.0, 7000.0), 1000.0), 300, 400, 80, 120))
    far = activity("F", "alpha", volume(Circle(offset(*HERE, 90.0, 13_000.0), 1000.0), 300, 400, 80, 120))
    assert all_conflicts([dataclasses.replace(site, minima=None), near], table) == []
    for found in _both_ways(site, near, table):
        (c,) = found.values()
        assert c.key == (VolumeRef("A", 0), VolumeRef("Z", 0))
        assert c.minima is own
        assert c.lateral_gap_m == pytest.approx(5000.0, abs=1e-3)
        assert (c.vertical_gap_m, c.time_gap_s) == (200.0, 1200.0)
        assert c.breached == frozenset({Dimension.LATERAL, Dimension.VERTICAL, Dimension.TIME})
    for found in _both_ways(site, far, table):
        assert found == {}


def test_a_zone_with_small_own_minima_is_not_judged_by_the_table() -> None:
    table = MinimaTable(
        SeparationMinima(20_000, 1000, 3600), {("air_sortie", "base"): SeparationMinima(10_000, 1000, 3600)}
    )
    own = SeparationMinima(1000, 0, 0)
    base = zone("Z", "bravo", volume(Circle(HERE, 1000.0), 0, 100, 0, 60), minima=own)
    near = activity("A", "alpha", volume(Circle(offset(*HERE, 0.0, 7000.0), 1000.0), 0, 100, 0, 60))
    (c,) = all_conflicts([dataclasses.replace(base, minima=None), near], table)
    assert c.minima == SeparationMinima(10_000, 1000, 3600)
    for found in _both_ways(base, near, table):
        assert found == {}
    touching = activity("T", "alpha", volume(Circle(offset(*HERE, 0.0, 2500.0), 1000.0), 0, 100, 0, 60))
    for found in _both_ways(base, touching, table):
        (c,) = found.values()
        assert c.minima is own and c.lateral_gap_m == pytest.approx(500.0, abs=1e-3)
    # other pairs still go by the table
    other = activity("B", "charlie", volume(Circle(offset(*HERE, 0.0, 20_000.0), 1000.0), 0, 100, 0, 60))
    assert keys(all_conflicts([base, near, other], table)) == {(VolumeRef("A", 0), VolumeRef("B", 0))}


def test_two_zones_with_own_minima_take_the_larger_in_each_dimension() -> None:
    table = MinimaTable(SeparationMinima(50_000, 5000, 7200))
    a = zone("ZA", "alpha", volume(Circle(HERE, 100.0), 0, 100, 0, 60), minima=SeparationMinima(1000, 0, 0))
    b = zone(
        "ZB",
        "bravo",
        volume(Circle(offset(*HERE, 45.0, 1000.0), 100.0), 400, 500, 65, 90),
        kind="training_area",
        minima=SeparationMinima(0, 500, 600),
    )
    for found in _both_ways(a, b, table):
        (c,) = found.values()
        assert c.minima == SeparationMinima(1000, 500, 600)
        assert (c.vertical_gap_m, c.time_gap_s) == (300.0, 300.0)
        assert c.lateral_gap_m == pytest.approx(800.0, abs=1e-3)
    same = dataclasses.replace(b, minima=a.minima)
    for found in _both_ways(a, same, table):
        assert found == {}  # 300 m apart vertically, with no vertical minimum
    # a zone with own minima against a zone without: the own minima alone
    plain = dataclasses.replace(b, minima=None)
    for found in _both_ways(a, plain, table):
        assert found == {}


def test_removing_a_zone_with_own_minima() -> None:
    table = MinimaTable(SeparationMinima(0, 0, 0))
    site = zone("Z", "bravo", volume(Circle(HERE, 1000.0), 0, 100, 0, 60), minima=SeparationMinima(10_000, 0, 0))
    probe = activity("A", "alpha", volume(Circle(offset(*HERE, 90.0, 7000.0), 1000.0), 0, 100, 0, 60))
    engine = Engine(table)
    engine.insert_many([sortie(f"S{k}", "charlie", 30.0 + 0.01 * k) for k in range(10)])
    engine.insert(site)
    assert keys(engine.check(probe)) == {(VolumeRef("A", 0), VolumeRef("Z", 0))}
    engine.remove("Z")
    assert engine.check(probe) == []
    engine.insert(dataclasses.replace(site, minima=None))  # the same zone again, judged by the table
    assert engine.check(probe) == []
    engine.remove("Z")
    engine.insert(dataclasses.replace(site, minima=SeparationMinima(6500, 0, 0)))
    (c,) = engine.check(probe)
    assert c.minima == SeparationMinima(6500, 0, 0)


def test_zone_minima_survive_compaction_and_tail_merges() -> None:
    table = MinimaTable(SeparationMinima(0, 0, 0))
    own = SeparationMinima(10_000, 0, 0)
    sites = [
        zone(f"Z{k}", "bravo", volume(Circle((20.0 + k, 10.0), 1000.0), 0, 100, 0, 60), minima=own) for k in range(3)
    ]
    engine = Engine(table)
    engine.insert(sites[0])
    filler = _grid_items(1300)
    engine.insert_many(filler[:700])
    engine.insert(sites[1])  # lands in the tail
    for item in filler[700:]:
        engine.insert(item)
    engine.insert(sites[2])
    for item in filler:
        engine.remove(item.id)  # compacts
    assert len(engine) == 3
    for k in range(3):
        probe = activity("A", "alpha", volume(Circle(offset(20.0 + k, 10.0, 90.0, 7000.0), 1000.0), 0, 100, 0, 60))
        (c,) = engine.check(probe)
        assert c.b == VolumeRef(f"Z{k}", 0) and c.minima is own


def test_checking_a_zone_with_own_minima_widens_by_them() -> None:
    table = MinimaTable(SeparationMinima(100, 0, 0))
    engine = Engine(table)
    engine.insert_many(
        [
            activity(f"A{k}", "alpha", volume(Circle(offset(*HERE, 90.0, 3000.0 * k), 500.0), 0, 100, 0, 60))
            for k in range(1, 8)
        ]
    )
    site = zone("Z", "bravo", volume(Circle(HERE, 500.0), 0, 100, 0, 60), minima=SeparationMinima(10_000, 0, 0))
    # gaps 2 km, 5 km, 8 km, 11 km …: the first three are within 10 km
    assert {c.b for c in engine.check(site)} == {VolumeRef("A1", 0), VolumeRef("A2", 0), VolumeRef("A3", 0)}
    late = dataclasses.replace(
        site,
        volumes=(volume(Circle(HERE, 500.0), 0, 100, 90, 120),),
        minima=SeparationMinima(10_000, 0, 1801),
    )
    assert {c.b for c in engine.check(late)} == {VolumeRef("A1", 0), VolumeRef("A2", 0), VolumeRef("A3", 0)}
    assert engine.check(dataclasses.replace(late, minima=SeparationMinima(10_000, 0, 1800))) == []


def test_scene_with_zone_minima_matches_the_reference() -> None:
    items = [
        dataclasses.replace(it, minima=SeparationMinima(500.0 * (k % 5), 100.0 * (k % 3), 300.0 * (k % 4)))
        if isinstance(it, Zone) and k % 8 != 7
        else it
        for k, it in enumerate(_scene())
    ]
    assert any(isinstance(it, Zone) and it.minima is not None for it in items)
    ref = reference_all_pairs(items, MINIMA)
    got = {c.key: c for c in all_conflicts(items, MINIMA)}
    assert set(got) <= set(ref)
    for k, d in ref.items():
        if d.borderline():
            continue
        assert (k in got) == d.conflict, (k, d)
        if d.conflict:
            assert got[k].minima == d.minima
    engine = Engine(MINIMA)
    found = set()
    for item in items:
        found |= keys(engine.check(item))
        engine.insert(item)
    assert found == set(got)


@pytest.mark.parametrize("zone_indexed", [True, False])
def test_the_online_check_reaches_as_far_as_a_zones_own_minima(zone_indexed: bool) -> None:
    """Farther than the index's cells (~50 km, 6 h) and than the table's minima."""
    table = MinimaTable(SeparationMinima(1000, 0, 60))
    own = SeparationMinima(300_000, 0, 13 * 3600)
    site = zone("Z", "bravo", volume(Circle(HERE, 1000.0), 0, 100, 0, 60), minima=own)
    # 250 km away in space; 12 hours later in time
    far_off = [
        activity("L", "alpha", volume(Circle(offset(*HERE, 30.0, 252_000.0), 1000.0), 0, 100, 0, 60)),
        activity("T", "alpha", volume(Circle(HERE, 1000.0), 0, 100, 13 * 60, 14 * 60)),
        activity("LT", "alpha", volume(Circle(offset(*HERE, 200.0, 252_000.0), 1000.0), 0, 100, 13 * 60, 14 * 60)),
    ]
    beyond = [
        activity("X", "alpha", volume(Circle(offset(*HERE, 30.0, 352_000.0), 1000.0), 0, 100, 0, 60)),
        activity("Y", "alpha", volume(Circle(HERE, 1000.0), 0, 100, 14 * 60 + 1, 15 * 60)),
    ]
    expected = {(VolumeRef(a.id, 0), VolumeRef("Z", 0)) for a in far_off}
    assert keys(all_conflicts([site, *far_off, *beyond], table)) == expected
    engine = Engine(table)
    if zone_indexed:
        engine.insert(site)
        assert set().union(*(keys(engine.check(a)) for a in far_off + beyond)) == expected
    else:
        engine.insert_many(far_off + beyond)
        assert keys(engine.check(site)) == expected
