"""Service contract: conflicts — opened, acknowledged, accepted, escalated, resolved.

In every conflict made here bravo files second, so bravo's item is side ``a`` (the
submitting item) and alpha's side ``b``.  Both back-ends, real databases.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from conftest import World, volume
from deconflict.errors import ValidationError
from deconflict.model import SeparationMinima
from deconflict.policy import Precedence
from deconflict.service import Forbidden, ItemInput, NotFound, StateConflict
from deconflict.store.schema import conflict_notes, conflicts, events, receipts
from deconflict.wire import volumes_from_json

FAR = (38.0, 35.0)


# --- helpers ------------------------------------------------------------------------------


def item(kind: str = "air_sortie", *vols: dict[str, Any], **kw: Any) -> ItemInput:
    return ItemInput(kind=kind, volumes=volumes_from_json(list(vols) or [volume()]), **kw)


def file(
    w: World,
    user: str,
    *vols: dict[str, Any],
    kind: str = "air_sortie",
    key: tuple[str, ...] = (),
    item_type: str = "activity",
    **kw: Any,
) -> dict[str, Any]:
    return w.service.create_item(w.p[user], item_type, item(kind, *vols, **kw), state="notified", key=key)[1]


def learn(w: World, user: str, item_id: str, item_type: str = "activity") -> str:
    return str(w.service.get_item(w.p[user], item_type, item_id)["version"])


def make_conflict(
    w: World,
    a_kw: dict[str, Any] | None = None,
    b_kw: dict[str, Any] | None = None,
    *,
    at: tuple[float, float] = (36.0, 35.0),
) -> tuple[dict[str, Any], dict[str, Any], str]:
    """alpha files, bravo reads it and files in conflict; returns (alpha's body, bravo's body, conflict id)."""
    a = file(w, "a_liaison", volume(*at), **(a_kw or {}))
    b = file(w, "b_liaison", volume(*at), key=(learn(w, "b_liaison", a["item"]["id"]),), **(b_kw or {}))
    [c] = b["conflicts"]
    return a, b, str(c["id"])


def act(w: World, user: str, cid: str, action: str, text: str | None = None) -> dict[str, Any]:
    status, doc = w.service.conflict_action(w.p[user], cid, action, text=text)
    assert status == 200
    return doc


def state(w: World, cid: str) -> Any:
    with w.service.store.read() as conn:
        return conn.execute(sa.select(conflicts).where(conflicts.c.id == cid)).one()


def conflict_receipts(w: World, cid: str) -> list[Any]:
    with w.service.store.read() as conn:
        return list(
            conn.execute(
                sa.select(receipts)
                .where(receipts.c.subject_type == "conflict", receipts.c.subject_id == cid)
                .order_by(receipts.c.party_id)
            ).all()
        )


def events_about(w: World, cid: str) -> list[Any]:
    with w.service.store.read() as conn:
        return list(conn.execute(sa.select(events).where(events.c.subject_id == cid).order_by(events.c.seq)).all())


def add_member(w: World, party: str, user: str, *, shares: bool = False) -> None:
    w.service.add_party(party, party.title(), "member", shares_with_observers=shares)
    w.service.add_user(user, party, "liaison")
    w.p[user] = w.service.principal_for(user)


# --- opening ------------------------------------------------------------------------------


def test_a_conflict_is_opened_for_both_parties_with_receipts(world: World) -> None:
    a, b, cid = make_conflict(world)
    doc = b["conflicts"][0]
    assert doc["state"] == "open"
    assert (doc["a"]["party"], doc["b"]["party"]) == ("bravo", "alpha")
    assert (doc["a"]["item"]["id"], doc["b"]["item"]["id"]) == (b["item"]["id"], a["item"]["id"])
    assert "version" not in doc["a"] and "version" not in doc["b"]  # versions are learnt by reading the items
    assert doc["time_start"] == "2026-11-25T11:00:00Z"
    assert doc["resolution"] is None
    assert [(r.party_id, r.level, r.acknowledged_at) for r in conflict_receipts(world, cid)] == [
        ("alpha", 0, None),
        ("bravo", 0, None),
    ]
    [opened] = events_about(world, cid)
    assert opened.type == "conflict.opened"
    assert opened.audience == ["alpha", "bravo", "unmed"]  # bravo does not share with observers
    # both parties see the same conflict
    assert world.service.get_conflict(world.p["a_liaison"], cid)["id"] == cid
    listed = world.service.list_conflicts(world.p["b_liaison"])["conflicts"]
    assert [c["id"] for c in listed] == [cid]


@pytest.mark.parametrize(
    ("pa", "pb", "expected"),
    [
        (Precedence.FLASH, Precedence.ROUTINE, "flash"),
        (Precedence.ROUTINE, Precedence.IMMEDIATE, "immediate"),
        (Precedence.PRIORITY, Precedence.PRIORITY, "priority"),
    ],
)
def test_precedence_is_the_highest_of_both_items(world: World, pa: Precedence, pb: Precedence, expected: str) -> None:
    _, b, cid = make_conflict(world, {"priority": pa}, {"priority": pb})
    assert b["conflicts"][0]["precedence"] == expected
    assert {r.precedence for r in conflict_receipts(world, cid)} == {expected}


def test_conflict_deadline_is_the_acknowledgement_time_but_never_after_the_start(world: World) -> None:
    _, _, flash = make_conflict(world, {"priority": Precedence.FLASH})
    assert {r.deadline.isoformat() for r in conflict_receipts(world, flash)} == {"2026-11-25T08:05:00+00:00"}
    # ROUTINE gives 4 h to acknowledge, but the conflict starts in 3 h
    _, _, routine = make_conflict(world, {"priority": Precedence.ROUTINE}, {}, at=FAR)
    assert routine != flash
    assert {r.deadline.isoformat() for r in conflict_receipts(world, routine)} == {"2026-11-25T11:00:00+00:00"}


# --- deciding -----------------------------------------------------------------------------


def test_acknowledged_once_both_sides_acknowledge(world: World) -> None:
    _, _, cid = make_conflict(world)
    one = act(world, "a_liaison", cid, "acknowledge")
    assert one["state"] == "open"
    assert (one["b"]["acknowledged_by"], one["a"]["acknowledged_by"]) == ("a_liaison", None)
    both = act(world, "b_liaison", cid, "acknowledge")
    assert both["state"] == "acknowledged"
    assert both["a"]["acknowledged_by"] == "b_liaison"
    assert [(r.party_id, r.acknowledged_by) for r in conflict_receipts(world, cid)] == [
        ("alpha", "a_liaison"),
        ("bravo", "b_liaison"),
    ]
    assert [e.type for e in events_about(world, cid)] == ["conflict.opened", *["conflict.acknowledged"] * 2]


def test_accepting_needs_a_commander(world: World) -> None:
    _, _, cid = make_conflict(world)
    with pytest.raises(Forbidden) as e:
        world.service.conflict_action(world.p["b_liaison"], cid, "accept")
    assert e.value.status == 403
    assert e.value.field == "role"
    with pytest.raises(Forbidden) as e:
        world.service.conflict_action(world.p["a_ro"], cid, "acknowledge")
    assert e.value.field == "scope"
    row = state(world, cid)
    assert (row.state, row.accept_a_by, row.ack_a_by, row.ack_b_by) == ("open", None, None, None)


def test_accepted_when_both_commanders_accept(world: World) -> None:
    _, _, cid = make_conflict(world)
    one = act(world, "a_cmd", cid, "accept")
    assert one["state"] == "open"
    assert (one["b"]["accepted_by"], one["b"]["acknowledged_by"]) == ("a_cmd", "a_cmd")  # accepting acknowledges
    both = act(world, "b_cmd", cid, "accept")
    assert both["state"] == "accepted"
    assert (both["a"]["accepted_by"], both["b"]["accepted_by"]) == ("b_cmd", "a_cmd")
    assert [r.deadline for r in conflict_receipts(world, cid)] == [None, None]
    with pytest.raises(StateConflict):
        world.service.conflict_action(world.p["b_cmd"], cid, "accept")
    with pytest.raises(StateConflict):
        world.service.conflict_action(world.p["b_liaison"], cid, "escalate")


def test_escalated_conflicts_go_to_the_mediator(world: World) -> None:
    _, _, cid = make_conflict(world)
    doc = act(world, "b_liaison", cid, "escalate")
    assert doc["state"] == "escalated"
    assert doc["escalated_by"] == "b_liaison"
    assert doc["escalated_at"] == "2026-11-25T08:00:00Z"
    assert [(r.level, r.deadline) for r in conflict_receipts(world, cid)] == [(2, None), (2, None)]
    assert world.service.get_conflict(world.p["m_user"], cid)["state"] == "escalated"
    assert [c["id"] for c in world.service.list_conflicts(world.p["m_user"], state=["escalated"])["conflicts"]] == [cid]
    with pytest.raises(StateConflict):
        world.service.conflict_action(world.p["a_liaison"], cid, "escalate")
    # the parties may still acknowledge; that does not de-escalate it
    assert act(world, "a_liaison", cid, "acknowledge")["state"] == "escalated"


def test_the_mediator_comments_and_proposes_but_does_not_decide(world: World) -> None:
    _, _, cid = make_conflict(world)
    act(world, "b_liaison", cid, "escalate")
    act(world, "m_user", cid, "comment", "please talk")
    doc = act(world, "m_user", cid, "propose", "bravo moves to FL200")
    assert [(n["party"], n["user"], n["kind"], n["text"]) for n in doc["notes"]] == [
        ("unmed", "m_user", "comment", "please talk"),
        ("unmed", "m_user", "proposal", "bravo moves to FL200"),
    ]
    for action in ("acknowledge", "accept", "escalate"):
        with pytest.raises(Forbidden):
            world.service.conflict_action(world.p["m_user"], cid, action)
    row = state(world, cid)
    assert (row.state, row.ack_a_by, row.ack_b_by, row.accept_a_by, row.accept_b_by) == (
        "escalated",
        None,
        None,
        None,
        None,
    )
    assert [e.type for e in events_about(world, cid)][-2:] == ["conflict.comment", "conflict.proposal"]


def test_parties_comment_and_comments_need_text(world: World) -> None:
    _, _, cid = make_conflict(world)
    doc = act(world, "a_liaison", cid, "comment", "we can shift by an hour")
    assert doc["notes"][0]["party"] == "alpha"
    for text in (None, "   ", "x" * 4001):
        with pytest.raises(ValidationError) as e:
            world.service.conflict_action(world.p["a_liaison"], cid, "comment", text=text)
        assert e.value.field == "text"
    with pytest.raises(ValidationError) as e:
        world.service.conflict_action(world.p["a_liaison"], cid, "ignore")
    assert e.value.field == "action"
    with world.service.store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(conflict_notes)).scalar_one() == 1


def test_third_parties_cannot_act(world: World) -> None:
    _, _, cid = make_conflict(world)
    add_member(world, "charlie", "c_liaison")
    # a member sees the shared picture, but decides nothing on others' conflicts
    assert world.service.get_conflict(world.p["c_liaison"], cid)["id"] == cid
    for action, text in (("acknowledge", None), ("escalate", None), ("comment", "hi")):
        with pytest.raises(Forbidden) as e:
            world.service.conflict_action(world.p["c_liaison"], cid, action, text=text)
        assert e.value.field == "id"
    with pytest.raises(Forbidden):
        world.service.conflict_action(world.p["o_user"], cid, "acknowledge")
    assert [e.type for e in events_about(world, cid)] == ["conflict.opened"]


def test_observers_see_no_conflict_involving_a_party_that_does_not_share(world: World) -> None:
    _, _, cid = make_conflict(world)
    with pytest.raises(NotFound):
        world.service.get_conflict(world.p["o_user"], cid)
    assert world.service.list_conflicts(world.p["o_user"])["conflicts"] == []


def test_observers_see_conflicts_between_sharing_parties(world: World) -> None:
    add_member(world, "charlie", "c_liaison", shares=True)
    a = file(world, "a_liaison")
    c = file(world, "c_liaison", key=(learn(world, "c_liaison", a["item"]["id"]),))
    [doc] = c["conflicts"]
    assert world.service.get_conflict(world.p["o_user"], doc["id"])["state"] == "open"
    assert [x["id"] for x in world.service.list_conflicts(world.p["o_user"])["conflicts"]] == [doc["id"]]
    [opened] = events_about(world, doc["id"])
    assert "watch" in opened.audience


# --- recomputed when items change ---------------------------------------------------------


def test_a_change_that_removes_the_conflict_resolves_it(world: World) -> None:
    a, _, cid = make_conflict(world)
    act(world, "a_liaison", cid, "acknowledge")
    _, moved = world.service.update_item(
        world.p["a_liaison"],
        "activity",
        a["item"]["id"],
        item("air_sortie", volume(*FAR)),
        version=a["item"]["version"],
    )
    assert moved["conflicts"] == []
    row = state(world, cid)
    assert (row.state, row.resolution) == ("resolved", "changed")
    assert row.closed_at is not None
    assert [r.deadline for r in conflict_receipts(world, cid)] == [None, None]
    assert events_about(world, cid)[-1].type == "conflict.resolved"
    with pytest.raises(StateConflict):
        world.service.conflict_action(world.p["b_liaison"], cid, "acknowledge")


@pytest.mark.parametrize(("action", "resolution"), [("cancel", "cancelled"), ("complete", "completed")])
def test_ending_an_item_resolves_its_conflicts(world: World, action: str, resolution: str) -> None:
    a, _, cid = make_conflict(world)
    world.service.transition(world.p["a_liaison"], "activity", a["item"]["id"], action, version=a["item"]["version"])
    row = state(world, cid)
    assert (row.state, row.resolution) == ("resolved", resolution)


def test_withdrawing_a_zone_resolves_its_conflicts(world: World) -> None:
    a = file(world, "a_liaison")
    zone = file(world, "b_liaison", kind="restricted_area", item_type="zone")
    [doc] = zone["conflicts"]
    assert doc["a"]["item"]["type"] == "zone"
    world.service.transition(
        world.p["b_liaison"], "zone", zone["item"]["id"], "withdraw", version=zone["item"]["version"]
    )
    row = state(world, doc["id"])
    assert (row.state, row.resolution) == ("resolved", "withdrawn")
    assert a["item"]["id"] in (row.item_a, row.item_b)


def test_a_change_that_keeps_the_conflict_reopens_it(world: World) -> None:
    a, b, cid = make_conflict(world)
    act(world, "a_liaison", cid, "acknowledge")
    act(world, "b_liaison", cid, "acknowledge")
    assert state(world, cid).state == "acknowledged"
    key = (learn(world, "a_liaison", b["item"]["id"]),)
    _, changed = world.service.update_item(
        world.p["a_liaison"], "activity", a["item"]["id"], item(title="later"), version=a["item"]["version"], key=key
    )
    [doc] = changed["conflicts"]
    assert doc["id"] == cid
    assert doc["state"] == "open"
    assert (doc["a"]["acknowledged_by"], doc["b"]["acknowledged_by"]) == (None, None)
    row = state(world, cid)
    assert (row.version_b, row.version_a) == (changed["item"]["version"], b["item"]["version"])
    assert [(r.level, r.acknowledged_at) for r in conflict_receipts(world, cid)] == [(0, None), (0, None)]
    assert events_about(world, cid)[-1].type == "conflict.updated"
    with world.service.store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(conflicts)).scalar_one() == 1


def test_a_change_keeps_an_escalated_conflict_escalated(world: World) -> None:
    a, b, cid = make_conflict(world)
    act(world, "a_liaison", cid, "escalate")
    key = (learn(world, "a_liaison", b["item"]["id"]),)
    world.service.update_item(
        world.p["a_liaison"], "activity", a["item"]["id"], item(title="x"), version=a["item"]["version"], key=key
    )
    assert state(world, cid).state == "escalated"
    assert [(r.level, r.deadline) for r in conflict_receipts(world, cid)] == [(2, None), (2, None)]


def test_a_conflict_that_returns_is_a_new_conflict(world: World) -> None:
    a, b, cid = make_conflict(world)
    p = world.p["a_liaison"]
    _, away = world.service.update_item(
        p, "activity", a["item"]["id"], item("air_sortie", volume(*FAR)), version=a["item"]["version"]
    )
    key = (learn(world, "a_liaison", b["item"]["id"]),)
    _, back = world.service.update_item(
        p, "activity", a["item"]["id"], item(), version=away["item"]["version"], key=key
    )
    [doc] = back["conflicts"]
    assert doc["id"] != cid
    assert doc["state"] == "open"
    assert state(world, cid).state == "resolved"


# --- zones with their own minima ----------------------------------------------------------


def test_a_zone_with_its_own_minima_conflicts_at_its_distance(world: World) -> None:
    # ~4.6 km apart, radii 1 km: a gap of ~2.6 km, inside the zone's 10 km minimum
    a = file(world, "a_liaison", volume(36.05, 35.0, radius_m=1000))
    zone = file(
        world,
        "b_liaison",
        volume(36.0, 35.0, radius_m=1000, start_h=0, hours=24),
        kind="protected_site",
        item_type="zone",
        subtype="hospital",
        minima=SeparationMinima(lateral_m=10_000),
    )
    assert zone["item"]["minima"] == {"lateral_m": 10_000.0, "vertical_m": 0.0, "time_s": 0.0}
    [doc] = zone["conflicts"]
    [detail] = doc["volumes"]
    assert detail["minima"] == {"lateral_m": 10_000.0, "vertical_m": 0.0, "time_s": 0.0}
    assert 2400 < detail["lateral_gap_m"] < 2800
    assert detail["breached"] == ["lateral"]
    assert a["item"]["id"] == doc["b"]["item"]["id"]


def test_zone_minima_decide_both_ways(world: World) -> None:
    file(world, "a_liaison", volume(36.05, 35.0, radius_m=1000))
    plain = file(world, "b_liaison", volume(36.0, 35.0, radius_m=1000), kind="base", item_type="zone")
    assert plain["conflicts"] == []  # the agreed default minima are zero: no contact, no conflict
    far = file(
        world,
        "b_liaison",
        volume(35.8, 35.0, radius_m=1000),  # ~22 km away
        kind="protected_site",
        item_type="zone",
        minima=SeparationMinima(lateral_m=10_000),
    )
    assert far["conflicts"] == []


# --- reading ------------------------------------------------------------------------------


def test_list_conflicts_filters(world: World) -> None:
    a, _, cid = make_conflict(world)
    svc, p = world.service, world.p["a_liaison"]
    assert [c["id"] for c in svc.list_conflicts(p, item=a["item"]["id"])["conflicts"]] == [cid]
    assert svc.list_conflicts(p, item="act_nope")["conflicts"] == []
    assert svc.list_conflicts(p, state=["resolved"])["conflicts"] == []
    assert [c["id"] for c in svc.list_conflicts(p, party="bravo", state=["open"])["conflicts"]] == [cid]
    with pytest.raises(ValidationError):
        svc.list_conflicts(p, limit=1001)
    with pytest.raises(NotFound):
        svc.get_conflict(p, "cfl_missing")
