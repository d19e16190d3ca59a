"""Service contract: notices and receipts (delivered / opened / acknowledged), and the
scheduler (``tick``) driven by the manual clock: escalation, activation, completion,
expiry.  Both back-ends, real databases.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from conftest import World, volume
from deconflict.errors import ValidationError
from deconflict.policy import Precedence
from deconflict.service import Forbidden, ItemInput, NotFound
from deconflict.store.schema import conflicts, events, items, receipts
from deconflict.wire import volumes_from_json

FAR = (38.0, 35.0)
FLASH_ACK = timedelta(minutes=5)


# --- helpers ------------------------------------------------------------------------------


def file(
    w: World,
    user: str,
    *vols: dict[str, Any],
    kind: str = "air_sortie",
    key: tuple[str, ...] = (),
    item_type: str = "activity",
    state: str = "notified",
    **kw: Any,
) -> dict[str, Any]:
    data = ItemInput(kind=kind, volumes=volumes_from_json(list(vols) or [volume()]), **kw)
    return w.service.create_item(w.p[user], item_type, data, state=state, key=key)[1]


def learn(w: World, user: str, item_id: str) -> str:
    return str(w.service.get_item(w.p[user], "activity", item_id)["version"])


def make_conflict(w: World, **kw: Any) -> tuple[dict[str, Any], dict[str, Any], str]:
    a = file(w, "a_liaison", **kw)
    b = file(w, "b_liaison", key=(learn(w, "b_liaison", a["item"]["id"]),), **kw)
    return a, b, str(b["conflicts"][0]["id"])


def receipt(w: World, subject_id: str, party: str) -> Any:
    with w.service.store.read() as conn:
        return conn.execute(
            sa.select(receipts).where(receipts.c.subject_id == subject_id, receipts.c.party_id == party)
        ).one()


def item_row(w: World, item_id: str) -> Any:
    with w.service.store.read() as conn:
        return conn.execute(sa.select(items).where(items.c.id == item_id)).one()


def conflict_row(w: World, cid: str) -> Any:
    with w.service.store.read() as conn:
        return conn.execute(sa.select(conflicts).where(conflicts.c.id == cid)).one()


def events_of(w: World, type_: str) -> list[Any]:
    with w.service.store.read() as conn:
        return list(conn.execute(sa.select(events).where(events.c.type == type_).order_by(events.c.seq)).all())


def iso(moment: Any) -> str | None:
    return None if moment is None else str(moment.isoformat())


# --- notices and their receipts -----------------------------------------------------------


def test_listing_notices_marks_them_delivered_to_that_user(world: World) -> None:
    a = file(world, "a_liaison")
    nid = a["notice"]["id"]
    world.clock.advance(timedelta(minutes=1))
    [doc] = world.service.list_notices(world.p["b_liaison"])["notices"]
    assert (doc["id"], doc["item_id"], doc["sender_party"], doc["change"]) == (
        nid,
        a["item"]["id"],
        "alpha",
        "notified",
    )
    assert doc["receipt"]["delivered_at"] == "2026-11-25T08:01:00Z"
    assert doc["receipt"]["delivered_to"] == "b_liaison"
    assert doc["receipt"]["opened_at"] is None
    world.clock.advance(timedelta(minutes=1))
    world.service.list_notices(world.p["b_cmd"])
    r = receipt(world, nid, "bravo")
    assert (r.delivered_to, iso(r.delivered_at)) == ("b_liaison", "2026-11-25T08:01:00+00:00")  # first delivery kept


def test_notices_go_to_the_other_member_parties_only(world: World) -> None:
    a = file(world, "a_liaison")
    assert a["notice"]["recipients"] == ["bravo"]
    for user in ("a_liaison", "m_user", "o_user"):
        assert world.service.list_notices(world.p[user])["notices"] == []
    with pytest.raises(ValidationError):
        world.service.list_notices(world.p["b_liaison"], limit=0)


def test_reading_the_item_marks_its_notices_opened(world: World) -> None:
    a = file(world, "a_liaison")
    world.clock.advance(timedelta(minutes=2))
    world.service.get_item(world.p["b_cmd"], "activity", a["item"]["id"])
    world.clock.advance(timedelta(minutes=2))
    world.service.get_item(world.p["b_liaison"], "activity", a["item"]["id"])
    r = receipt(world, a["notice"]["id"], "bravo")
    assert (r.opened_by, iso(r.opened_at)) == ("b_cmd", "2026-11-25T08:02:00+00:00")
    assert (r.delivered_to, r.acknowledged_at) == ("b_cmd", None)


def test_acknowledging_a_notice(world: World) -> None:
    a = file(world, "a_liaison")
    nid = a["notice"]["id"]
    world.clock.advance(timedelta(minutes=1))
    status, doc = world.service.notice_action(world.p["b_cmd"], nid, "acknowledge")
    assert status == 200
    assert doc["receipt"]["acknowledged_by"] == "b_cmd"
    assert doc["receipt"]["acknowledged_at"] == "2026-11-25T08:01:00Z"
    assert (doc["receipt"]["opened_by"], doc["receipt"]["delivered_to"]) == ("b_cmd", "b_cmd")
    [event] = events_of(world, "notice.acknowledged")
    assert event.audience == ["alpha", "bravo"]
    assert event.payload["notice_id"] == nid
    assert world.service.list_notices(world.p["b_liaison"], pending=True)["notices"] == []
    assert len(world.service.list_notices(world.p["b_liaison"])["notices"]) == 1


def test_notice_actions_are_for_recipients(world: World) -> None:
    a = file(world, "a_liaison")
    nid = a["notice"]["id"]
    with pytest.raises(Forbidden):
        world.service.notice_action(world.p["o_user"], nid, "acknowledge")  # read-only: no write scope
    with pytest.raises(NotFound):
        world.service.notice_action(world.p["m_user"], nid, "acknowledge")
    with pytest.raises(NotFound):
        world.service.notice_action(world.p["b_liaison"], "ntc_missing", "open")
    with pytest.raises(ValidationError) as e:
        world.service.notice_action(world.p["b_liaison"], nid, "shred")
    assert e.value.field == "action"
    _, own = world.service.notice_action(world.p["a_liaison"], nid, "open")  # the sender reads its own notice
    assert own["receipt"] is None
    _, opened = world.service.notice_action(world.p["b_liaison"], nid, "open")
    assert (opened["receipt"]["opened_by"], opened["receipt"]["acknowledged_at"]) == ("b_liaison", None)


def test_the_websocket_records_delivery(world: World) -> None:
    a = file(world, "a_liaison")
    world.clock.advance(timedelta(seconds=30))
    world.service.mark_delivered(world.p["b_liaison"], [("notice", a["notice"]["id"]), ("activity", "ignored")])
    r = receipt(world, a["notice"]["id"], "bravo")
    assert (r.delivered_to, iso(r.delivered_at), r.opened_at) == ("b_liaison", "2026-11-25T08:00:30+00:00", None)


def test_receipts_of_an_item_are_shown_to_its_owner_and_the_mediator(world: World) -> None:
    a = file(world, "a_liaison")
    world.service.notice_action(world.p["b_liaison"], a["notice"]["id"], "acknowledge")
    for user in ("a_liaison", "a_ro", "m_user"):
        [notice] = world.service.receipts_for(world.p[user], "activity", a["item"]["id"])["notices"]
        assert notice["id"] == a["notice"]["id"]
        assert [(r["party"], r["acknowledged_by"], r["level"]) for r in notice["receipts"]] == [
            ("bravo", "b_liaison", 0)
        ]
    for user in ("b_liaison", "o_user"):
        with pytest.raises(Forbidden):
            world.service.receipts_for(world.p[user], "activity", a["item"]["id"])
    with pytest.raises(NotFound):
        world.service.receipts_for(world.p["a_liaison"], "activity", "act_missing")
    draft = file(world, "b_liaison", volume(*FAR), state="draft")
    with pytest.raises(NotFound):  # another party's draft does not exist for others
        world.service.receipts_for(world.p["m_user"], "activity", draft["item"]["id"])


def test_receipts_of_a_conflict_are_shown_to_its_parties_and_the_mediator(world: World) -> None:
    _, _, cid = make_conflict(world)
    for user in ("a_liaison", "b_cmd", "m_user"):
        got = world.service.receipts_for(world.p[user], "conflict", cid)["receipts"]
        assert [r["party"] for r in got] == ["alpha", "bravo"]
        assert all(r["escalated_to"] == "liaison" for r in got)
    world.service.add_party("charlie", "Charlie", "member")
    world.service.add_user("c_liaison", "charlie", "liaison")
    with pytest.raises(Forbidden):  # a member sees the conflict, but not who was told
        world.service.receipts_for(world.service.principal_for("c_liaison"), "conflict", cid)
    with pytest.raises(NotFound):  # the observer may not even see it (bravo does not share)
        world.service.receipts_for(world.p["o_user"], "conflict", cid)
    with pytest.raises(NotFound):
        world.service.receipts_for(world.p["a_liaison"], "conflict", "cfl_missing")


def test_reading_a_conflict_marks_its_receipt_for_that_party_only(world: World) -> None:
    _, _, cid = make_conflict(world)
    world.clock.advance(timedelta(minutes=1))
    world.service.get_conflict(world.p["a_cmd"], cid)
    world.service.get_conflict(world.p["m_user"], cid)
    alpha, bravo = receipt(world, cid, "alpha"), receipt(world, cid, "bravo")
    assert (alpha.opened_by, alpha.delivered_to, iso(alpha.opened_at)) == (
        "a_cmd",
        "a_cmd",
        "2026-11-25T08:01:00+00:00",
    )
    assert (bravo.opened_at, bravo.delivered_at) == (None, None)


# --- the scheduler: escalation ------------------------------------------------------------


def test_an_unacknowledged_notice_escalates_to_the_next_contact_then_the_mediator(world: World) -> None:
    svc, clock = world.service, world.clock
    svc.add_user("b_boss", "bravo", "commander", contact_rank=0)  # outranks b_cmd (contact_rank 1)
    a = file(world, "a_liaison", priority=Precedence.FLASH)
    nid = a["notice"]["id"]
    clock.advance(FLASH_ACK - timedelta(seconds=1))
    assert svc.tick()["escalated"] == 0
    clock.advance(timedelta(seconds=1))
    assert svc.tick()["escalated"] == 1
    r = receipt(world, nid, "bravo")
    assert (r.level, iso(r.escalated_at), iso(r.deadline)) == (
        1,
        "2026-11-25T08:05:00+00:00",
        "2026-11-25T08:10:00+00:00",
    )
    [nxt] = events_of(world, "escalation.next_contact")
    assert (nxt.audience, nxt.user_id, nxt.subject_id) == (["bravo"], "b_boss", nid)
    assert nxt.payload["contact"] == "b_boss"
    assert (nxt.payload["level"], nxt.payload["escalated_to"]) == (1, "next_contact")
    clock.advance(FLASH_ACK)
    assert svc.tick()["escalated"] == 1
    r = receipt(world, nid, "bravo")
    assert (r.level, r.deadline) == (2, None)
    [med] = events_of(world, "escalation.mediator")
    assert med.audience == ["bravo", "unmed"]
    assert med.payload["escalated_to"] == "mediator"
    clock.advance(timedelta(hours=1))
    assert svc.tick()["escalated"] == 0  # the top of the ladder
    assert receipt(world, nid, "bravo").level == 2


def test_escalation_skips_deactivated_contacts(world: World) -> None:
    world.service.add_user("b_boss", "bravo", "commander", contact_rank=0)
    world.service.deactivate_user("b_boss")
    file(world, "a_liaison", priority=Precedence.FLASH)
    world.clock.advance(FLASH_ACK)
    world.service.tick()
    [nxt] = events_of(world, "escalation.next_contact")
    assert nxt.user_id == "b_cmd"


def test_acknowledged_receipts_never_escalate(world: World) -> None:
    acked = file(world, "a_liaison", priority=Precedence.FLASH)
    other = file(world, "a_liaison", volume(*FAR), priority=Precedence.FLASH)
    world.service.notice_action(world.p["b_liaison"], acked["notice"]["id"], "acknowledge")
    for _ in range(3):
        world.clock.advance(FLASH_ACK)
        world.service.tick()
    assert receipt(world, acked["notice"]["id"], "bravo").level == 0
    assert receipt(world, other["notice"]["id"], "bravo").level == 2


def test_an_unacknowledged_conflict_is_escalated_by_the_scheduler(world: World) -> None:
    _, _, cid = make_conflict(world, priority=Precedence.FLASH)
    world.service.conflict_action(world.p["a_liaison"], cid, "acknowledge")
    world.clock.advance(FLASH_ACK)
    world.service.tick()
    assert (receipt(world, cid, "alpha").level, receipt(world, cid, "bravo").level) == (0, 1)
    assert conflict_row(world, cid).state == "open"
    world.clock.advance(FLASH_ACK)
    world.service.tick()
    assert (receipt(world, cid, "alpha").level, receipt(world, cid, "bravo").level) == (0, 2)
    row = conflict_row(world, cid)
    assert (row.state, row.escalated_by, iso(row.escalated_at)) == (
        "escalated",
        "scheduler",
        "2026-11-25T08:10:00+00:00",
    )
    [event] = events_of(world, "conflict.escalated")
    assert event.subject_id == cid
    assert "unmed" in event.audience
    assert world.service.get_conflict(world.p["m_user"], cid)["state"] == "escalated"


def test_an_accepted_conflict_does_not_escalate(world: World) -> None:
    _, _, cid = make_conflict(world, priority=Precedence.FLASH)
    world.service.conflict_action(world.p["a_cmd"], cid, "accept")
    world.service.conflict_action(world.p["b_cmd"], cid, "accept")
    for _ in range(3):
        world.clock.advance(FLASH_ACK)
        world.service.tick()
    assert conflict_row(world, cid).state == "accepted"
    assert (receipt(world, cid, "alpha").level, receipt(world, cid, "bravo").level) == (0, 0)


# --- the scheduler: time transitions ------------------------------------------------------


def test_activities_start_and_end_on_time_and_their_conflicts_close(world: World) -> None:
    a, b, cid = make_conflict(world)  # 11:00–13:00
    version = a["item"]["version"]
    world.clock.advance(timedelta(hours=3) - timedelta(seconds=1))
    assert world.service.tick()["activated"] == 0
    world.clock.advance(timedelta(seconds=1))
    assert world.service.tick()["activated"] == 2
    assert (item_row(world, a["item"]["id"]).state, item_row(world, b["item"]["id"]).state) == ("active", "active")
    assert conflict_row(world, cid).state == "open"
    world.clock.advance(timedelta(hours=2))
    counts = world.service.tick()
    assert (counts["completed"], counts["activated"]) == (2, 0)
    row = item_row(world, a["item"]["id"])
    assert row.state == "completed"
    assert row.version == version  # the scheduler's moves are not the owner's changes
    c = conflict_row(world, cid)
    assert (c.state, c.resolution) == ("resolved", "completed")
    both = {a["item"]["id"], b["item"]["id"]}
    assert sorted(e.subject_id for e in events_of(world, "activity.active")) == sorted(both)
    assert sorted(e.subject_id for e in events_of(world, "activity.completed")) == sorted(both)


def test_an_activity_whose_window_passed_goes_straight_to_completed(world: World) -> None:
    a = file(world, "a_liaison", volume(hours=1))
    world.clock.advance(timedelta(hours=5))
    counts = world.service.tick()
    assert (counts["activated"], counts["completed"]) == (0, 1)
    assert item_row(world, a["item"]["id"]).state == "completed"
    assert world.service.tick() == {
        "activated": 0,
        "completed": 0,
        "expired": 0,
        "escalated": 0,
        "down": 0,
        "checkpointed": 0,
        "dss_expired": 0,
    }


def test_drafts_are_left_alone_by_the_scheduler(world: World) -> None:
    d = file(world, "a_liaison", state="draft")
    world.clock.advance(timedelta(hours=4))
    world.service.tick()
    assert item_row(world, d["item"]["id"]).state == "draft"


def test_zones_expire_and_their_conflicts_close(world: World) -> None:
    a = file(world, "a_liaison", volume(start_h=0.5, hours=3))
    zone = file(world, "b_liaison", volume(start_h=0, hours=1), kind="training_area", item_type="zone")
    [doc] = zone["conflicts"]
    world.clock.advance(timedelta(hours=1))
    counts = world.service.tick()
    assert (counts["expired"], counts["activated"]) == (1, 1)
    assert item_row(world, zone["item"]["id"]).state == "expired"
    assert item_row(world, a["item"]["id"]).state == "active"
    c = conflict_row(world, doc["id"])
    assert (c.state, c.resolution) == ("resolved", "expired")
    [expired] = events_of(world, "zone.expired")
    assert expired.subject_id == zone["item"]["id"]


def test_a_superseded_notice_stops_escalating_but_its_successor_does(world: World) -> None:
    """Cancelling (or changing) an activity supersedes its earlier notice: an unread
    'notified' notice no longer escalates; the cancellation notice does."""
    a = file(world, "a_liaison", volume(start_h=24), priority=Precedence.FLASH)
    first = a["notice"]["id"]
    version = a["item"]["version"]
    _, body = world.service.transition(world.p["a_liaison"], "activity", a["item"]["id"], "cancel", version=version)
    second = body["notice"]["id"]
    assert receipt(world, first, "bravo").deadline is None
    assert receipt(world, second, "bravo").deadline is not None
    world.clock.advance(FLASH_ACK + timedelta(seconds=1))
    world.service.tick()
    assert receipt(world, first, "bravo").level == 0
    assert receipt(world, second, "bravo").level == 1
