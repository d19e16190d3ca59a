"""A live index: bulk load, then one insert at a time (the tail part), removals from both
parts, and compaction — answers must equal those of an index built in one go."""

from deconflict import Activity, Engine, all_conflicts
from deconflict.scenario import default_minima, generate


def keys(conflicts: list) -> set:  # type: ignore[type-arg]
    return {c.key for c in conflicts}


def test_live_inserts_and_removals_match_a_bulk_index() -> None:
    minima = default_minima()
    items = generate(3000, seed=11)
    bulk, live = items[:1500], items[1500:]
    engine = Engine(minima)
    engine.insert_many(bulk)
    online = []
    for item in live:  # each check runs against the main part plus a growing tail
        online.extend(engine.check(item))
        engine.insert(item)
    assert len(engine) == sum(len(i.volumes) for i in items)
    late = {i.id for i in live}
    expected = {c.key for c in all_conflicts(items, minima) if c.a.owner_id in late or c.b.owner_id in late}
    assert keys(online) == expected and expected

    # remove items from the bulk part and from the live tail, then compare with a fresh index
    gone = {i.id for i in bulk[::3]} | {i.id for i in live[::3]}
    for item_id in sorted(gone):
        engine.remove(item_id)
    kept = [i for i in items if i.id not in gone]
    fresh = Engine(minima)
    fresh.insert_many(kept)
    probes = [i for i in generate(400, seed=12, id_prefix="probe") if isinstance(i, Activity)]
    seen = 0
    for probe in probes:
        found = keys(engine.check(probe))
        assert found == keys(fresh.check(probe))
        assert not any(a.owner_id in gone or b.owner_id in gone for a, b in found)
        seen += len(found)
    assert seen > 0
    assert len(engine) == len(fresh)

    # removing most of what is left triggers a compaction; answers stay right
    rows_before = engine._size
    for item in kept[: len(kept) * 3 // 4]:
        engine.remove(item.id)
        fresh.remove(item.id)
    assert engine._size < rows_before  # compacted
    for probe in probes:
        assert keys(engine.check(probe)) == keys(fresh.check(probe))
