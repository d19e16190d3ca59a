"""Service contract: activities and zones — life cycle, versions, proof of awareness,
the notice policy, need-to-know visibility, idempotency, atomicity and events.

Every test runs against both back-ends (SQLite and PostgreSQL) through the ``world``
fixture; nothing about the database is mocked.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from conftest import T0, World, volume
from deconflict.errors import ValidationError
from deconflict.policy import Policy, Precedence
from deconflict.service import (
    AwarenessError,
    Forbidden,
    Idempotency,
    IdempotencyMismatch,
    ItemInput,
    LateNoticeRefused,
    NotFound,
    StateConflict,
    VersionMismatch,
)
from deconflict.store.schema import (
    access_log,
    conflicts,
    events,
    idempotency,
    item_versions,
    items,
    notices,
    receipts,
)
from deconflict.wire import volumes_from_json

FAR = (38.0, 35.0)  # ~180 km east of the default volume's centre: never in conflict


# --- helpers ------------------------------------------------------------------------------


def item(kind: str = "air_sortie", *vols: dict[str, Any], **kw: Any) -> ItemInput:
    return ItemInput(kind=kind, volumes=volumes_from_json(list(vols) or [volume()]), **kw)


def file(
    w: World,
    user: str,
    *vols: dict[str, Any],
    kind: str = "air_sortie",
    state: str = "notified",
    key: tuple[str, ...] = (),
    item_type: str = "activity",
    **kw: Any,
) -> dict[str, Any]:
    status, body = w.service.create_item(w.p[user], item_type, item(kind, *vols, **kw), state=state, key=key)
    assert status == 201
    return body


def learn(w: World, user: str, item_id: str, item_type: str = "activity") -> str:
    """Read another party's item (recorded) and return its version."""
    return str(w.service.get_item(w.p[user], item_type, item_id)["version"])


def rows(w: World, table: sa.Table, *where: Any) -> list[Any]:
    with w.service.store.read() as conn:
        return list(conn.execute(sa.select(table).where(*where)).all())


def count(w: World, table: sa.Table) -> int:
    with w.service.store.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def counts(w: World) -> dict[str, int]:
    tables = (items, item_versions, notices, receipts, events, conflicts, idempotency)
    return {t.name: count(w, t) for t in tables}


def current(w: World, item_id: str) -> Any:
    return rows(w, items, items.c.id == item_id)[0]


# --- activities: life cycle ---------------------------------------------------------------


def test_draft_has_no_notice_and_only_previews_conflicts(world: World) -> None:
    b = file(world, "b_liaison")
    draft = file(world, "a_liaison", state="draft")
    assert draft["item"]["state"] == "draft"
    assert draft["notice"] is None
    assert draft["item"]["notified_at"] is None
    assert [c["other"]["id"] for c in draft["conflicts"]] == [b["item"]["id"]]
    assert draft["conflicts"][0]["other"]["party"] == "bravo"
    detail = draft["conflicts"][0]["volumes"][0]
    assert (detail["lateral_gap_m"], detail["vertical_gap_m"], detail["breached"]) == (0.0, 0.0, [])
    assert detail["vertical_overlap_m"] == 3000.0
    assert count(world, conflicts) == 0  # previewed, not stored
    assert rows(world, notices, notices.c.item_id == draft["item"]["id"]) == []


def test_draft_is_invisible_to_every_other_party(world: World) -> None:
    draft = file(world, "a_liaison", state="draft")
    did = draft["item"]["id"]
    for user in ("b_liaison", "m_user", "o_user"):
        with pytest.raises(NotFound) as e:
            world.service.get_item(world.p[user], "activity", did)
        assert e.value.status == 404
        listed = world.service.list_items(world.p[user], "activity")
        assert listed["items"] == []
    # but the owner's whole party sees it
    assert world.service.get_item(world.p["a_ro"], "activity", did)["state"] == "draft"
    assert [d["id"] for d in world.service.list_items(world.p["a_cmd"], "activity")["items"]] == [did]


def test_writing_another_partys_draft_is_not_found_not_forbidden(world: World) -> None:
    draft = file(world, "a_liaison", state="draft")
    version = draft["item"]["version"]
    with pytest.raises(NotFound):
        world.service.transition(world.p["b_liaison"], "activity", draft["item"]["id"], "cancel", version=version)


def test_notify_moves_a_draft_to_notified_with_a_notice(world: World) -> None:
    draft = file(world, "a_liaison", state="draft")
    world.clock.advance(timedelta(minutes=5))
    status, body = world.service.transition(
        world.p["a_liaison"], "activity", draft["item"]["id"], "notify", version=draft["item"]["version"]
    )
    assert status == 200
    assert body["item"]["state"] == "notified"
    assert body["item"]["version"] != draft["item"]["version"]
    assert body["item"]["notified_at"] == "2026-11-25T08:05:00Z"
    assert body["notice"]["change"] == "notified"
    assert body["notice"]["recipients"] == ["bravo"]
    assert body["notice"]["item_version"] == body["item"]["version"]
    [r] = rows(world, receipts, receipts.c.subject_id == body["notice"]["id"])
    assert (r.party_id, r.level, r.delivered_at, r.acknowledged_at) == ("bravo", 0, None, None)
    # other parties now see it
    assert world.service.get_item(world.p["b_liaison"], "activity", draft["item"]["id"])["state"] == "notified"


def test_create_directly_notified(world: World) -> None:
    body = file(world, "a_liaison", title="CAS 1", callsign="HAWK11", priority=Precedence.PRIORITY)
    doc = body["item"]
    assert doc["state"] == "notified"
    assert (doc["title"], doc["callsign"], doc["priority"], doc["party"]) == ("CAS 1", "HAWK11", "priority", "alpha")
    assert doc["notified_at"] == "2026-11-25T08:00:00Z"
    assert doc["late_by_s"] == 0.0
    assert body["notice"]["precedence"] == "priority"
    assert body["notice"]["deadline"] == "2026-11-25T09:00:00Z"  # PRIORITY: one hour to acknowledge
    assert body["conflicts"] == []
    [n] = rows(world, notices, notices.c.item_id == doc["id"])
    assert (n.sender_party, n.change, n.item_version, n.by_user) == ("alpha", "notified", doc["version"], "a_liaison")


def test_update_with_a_stale_version_is_412_with_the_current_version(world: World) -> None:
    body = file(world, "a_liaison")
    aid, v1 = body["item"]["id"], body["item"]["version"]
    _, changed = world.service.update_item(world.p["a_liaison"], "activity", aid, item(title="v2"), version=v1)
    with pytest.raises(VersionMismatch) as e:
        world.service.update_item(world.p["a_liaison"], "activity", aid, item(title="v3"), version=v1)
    assert e.value.status == 412
    assert e.value.field == "version"
    assert e.value.current == changed["item"]["version"]
    assert current(world, aid).title == "v2"


def test_update_by_another_party_is_forbidden(world: World) -> None:
    body = file(world, "a_liaison")
    aid, v = body["item"]["id"], body["item"]["version"]
    with pytest.raises(Forbidden) as e:
        world.service.update_item(world.p["b_liaison"], "activity", aid, item(title="mine now"), version=v)
    assert e.value.status == 403
    with pytest.raises(Forbidden):
        world.service.transition(world.p["b_cmd"], "activity", aid, "cancel", version=v)
    assert current(world, aid).version == v


def test_read_only_users_mediators_and_observers_cannot_file(world: World) -> None:
    with pytest.raises(Forbidden) as e:
        world.service.create_item(world.p["a_ro"], "activity", item())
    assert e.value.field == "scope"
    with pytest.raises(Forbidden) as e:
        world.service.create_item(world.p["m_user"], "activity", item())
    assert e.value.field == "party"
    with pytest.raises(Forbidden):
        world.service.create_item(world.p["o_user"], "zone", item("base"))
    assert count(world, items) == 0


def test_cancel_a_notified_activity_tells_the_others(world: World) -> None:
    body = file(world, "a_liaison")
    aid = body["item"]["id"]
    _, done = world.service.transition(world.p["a_liaison"], "activity", aid, "cancel", version=body["item"]["version"])
    assert done["item"]["state"] == "cancelled"
    assert done["notice"]["change"] == "cancelled"
    assert [n.change for n in rows(world, notices, notices.c.item_id == aid)] == ["notified", "cancelled"]


def test_cancel_a_draft_sends_no_notice(world: World) -> None:
    body = file(world, "a_liaison", state="draft")
    _, done = world.service.transition(
        world.p["a_liaison"], "activity", body["item"]["id"], "cancel", version=body["item"]["version"]
    )
    assert done["item"]["state"] == "cancelled"
    assert done["notice"] is None
    assert count(world, notices) == 0


def test_activate_then_complete(world: World) -> None:
    body = file(world, "a_liaison")
    aid = body["item"]["id"]
    _, active = world.service.transition(world.p["a_cmd"], "activity", aid, "activate", version=body["item"]["version"])
    assert active["item"]["state"] == "active"
    assert active["notice"] is None
    _, done = world.service.transition(
        world.p["a_liaison"], "activity", aid, "complete", version=active["item"]["version"]
    )
    assert done["item"]["state"] == "completed"
    assert current(world, aid).state == "completed"


@pytest.mark.parametrize(
    ("path", "action"),
    [
        (("notify",), "notify"),  # already notified
        ((), "activate"),  # a draft cannot be activated
        (("cancel",), "complete"),
        (("notify", "complete"), "cancel"),
    ],
)
def test_invalid_transitions_are_state_conflicts(world: World, path: tuple[str, ...], action: str) -> None:
    body = file(world, "a_liaison", state="draft")
    aid, version = body["item"]["id"], body["item"]["version"]
    for step in path:
        version = world.service.transition(world.p["a_liaison"], "activity", aid, step, version=version)[1]["item"][
            "version"
        ]
    before = current(world, aid)
    with pytest.raises(StateConflict) as e:
        world.service.transition(world.p["a_liaison"], "activity", aid, action, version=version)
    assert e.value.status == 409
    assert e.value.field == "state"
    after = current(world, aid)
    assert (after.state, after.version) == (before.state, before.version)


def test_a_cancelled_activity_cannot_be_changed(world: World) -> None:
    body = file(world, "a_liaison")
    aid = body["item"]["id"]
    _, done = world.service.transition(world.p["a_liaison"], "activity", aid, "cancel", version=body["item"]["version"])
    with pytest.raises(StateConflict):
        world.service.update_item(world.p["a_liaison"], "activity", aid, item(), version=done["item"]["version"])


def test_withdraw_is_a_zone_action_only(world: World) -> None:
    body = file(world, "a_liaison")
    with pytest.raises(ValidationError) as e:
        world.service.transition(
            world.p["a_liaison"], "activity", body["item"]["id"], "withdraw", version=body["item"]["version"]
        )
    assert e.value.field == "action"
    zone = file(world, "a_liaison", kind="base", item_type="zone")
    assert zone["item"]["state"] == "active"
    _, gone = world.service.transition(
        world.p["a_liaison"], "zone", zone["item"]["id"], "withdraw", version=zone["item"]["version"]
    )
    assert gone["item"]["state"] == "withdrawn"


def test_bad_input_names_the_field(world: World) -> None:
    with pytest.raises(ValidationError) as e:
        world.service.create_item(world.p["a_liaison"], "activity", item("spaceflight"))
    assert e.value.field == "kind"
    with pytest.raises(ValidationError) as e:
        world.service.create_item(world.p["a_liaison"], "activity", item(), state="active")
    assert e.value.field == "state"
    with pytest.raises(ValidationError) as e:
        world.service.create_item(world.p["a_liaison"], "zone", item("protected_site", subtype="castle"))
    assert e.value.field == "subtype"
    assert count(world, items) == 0


def test_versions_change_on_every_owner_change_and_history_keeps_each(world: World) -> None:
    svc, a = world.service, world.p["a_liaison"]
    body = file(world, "a_liaison", state="draft")
    aid = body["item"]["id"]
    seen = [body["item"]["version"]]
    seen.append(svc.update_item(a, "activity", aid, item(title="x"), version=seen[-1])[1]["item"]["version"])
    seen.append(svc.transition(a, "activity", aid, "notify", version=seen[-1])[1]["item"]["version"])
    seen.append(svc.update_item(a, "activity", aid, item(title="y"), version=seen[-1])[1]["item"]["version"])
    seen.append(svc.transition(a, "activity", aid, "activate", version=seen[-1])[1]["item"]["version"])
    seen.append(svc.transition(a, "activity", aid, "cancel", version=seen[-1])[1]["item"]["version"])
    assert len(set(seen)) == len(seen) == 6
    history = sorted(rows(world, item_versions, item_versions.c.item_id == aid), key=lambda r: seen.index(r.version))
    assert [h.version for h in history] == seen
    assert [h.state for h in history] == ["draft", "draft", "notified", "notified", "active", "cancelled"]
    assert [h.document["title"] for h in history] == ["", "x", "x", "y", "y", "y"]
    assert all(h.document["key_presented"] == [] and h.by_user == "a_liaison" for h in history)


def test_draft_changes_need_no_key_and_return_previews(world: World) -> None:
    b = file(world, "b_liaison")
    draft = file(world, "a_liaison", volume(*FAR), state="draft")
    assert draft["conflicts"] == []
    _, moved = world.service.update_item(
        world.p["a_liaison"], "activity", draft["item"]["id"], item(), version=draft["item"]["version"]
    )
    assert moved["item"]["state"] == "draft"
    assert moved["notice"] is None
    assert [c["other"]["id"] for c in moved["conflicts"]] == [b["item"]["id"]]
    assert count(world, conflicts) == 0


# --- proof of awareness ------------------------------------------------------------------


def test_conflicting_notice_without_key_lists_what_was_not_seen(world: World) -> None:
    a = file(world, "a_liaison", title="Alpha CAS")
    before = counts(world)
    with pytest.raises(AwarenessError) as e:
        file(world, "b_liaison")
    assert e.value.status == 409
    assert e.value.field == "key"
    assert e.value.missing == [
        {
            "id": a["item"]["id"],
            "type": "activity",
            "party": "alpha",
            "kind": "air_sortie",
            "title": "Alpha CAS",
            "time_start": "2026-11-25T11:00:00Z",
            "time_end": "2026-11-25T13:00:00Z",
        }
    ]
    assert a["item"]["version"] not in repr(e.value.missing) + str(e.value)
    assert e.value.extra() == {"missing": e.value.missing}
    assert counts(world) == before


def test_reading_the_item_gives_its_version_and_records_the_opening(world: World) -> None:
    a = file(world, "a_liaison")
    world.clock.advance(timedelta(minutes=3))
    doc = world.service.get_item(world.p["b_liaison"], "activity", a["item"]["id"])
    assert doc["version"] == a["item"]["version"]
    [r] = rows(world, receipts, receipts.c.subject_id == a["notice"]["id"])
    assert r.party_id == "bravo"
    assert r.opened_by == "b_liaison"
    assert r.opened_at.isoformat() == "2026-11-25T08:03:00+00:00"
    assert r.delivered_to == "b_liaison"
    assert r.acknowledged_at is None


def test_retry_with_the_key_succeeds_and_stores_the_conflict(world: World) -> None:
    a = file(world, "a_liaison")
    with pytest.raises(AwarenessError):
        file(world, "b_liaison")
    key = (learn(world, "b_liaison", a["item"]["id"]),)
    b = file(world, "b_liaison", key=key)
    [c] = b["conflicts"]
    assert c["state"] == "open"
    assert {c["a"]["item"]["id"], c["b"]["item"]["id"]} == {a["item"]["id"], b["item"]["id"]}
    [row] = rows(world, conflicts)
    assert row.id == c["id"]
    assert {row.version_a, row.version_b} == {a["item"]["version"], b["item"]["version"]}
    [hist] = rows(world, item_versions, item_versions.c.item_id == b["item"]["id"])
    assert hist.document["key_presented"] == list(key)


def test_a_stale_key_is_refused_again(world: World) -> None:
    a = file(world, "a_liaison")
    old = learn(world, "b_liaison", a["item"]["id"])
    world.service.update_item(
        world.p["a_liaison"], "activity", a["item"]["id"], item(title="moved"), version=a["item"]["version"]
    )
    with pytest.raises(AwarenessError) as e:
        file(world, "b_liaison", key=(old,))
    assert [m["id"] for m in e.value.missing] == [a["item"]["id"]]
    assert [m["title"] for m in e.value.missing] == ["moved"]
    fresh = learn(world, "b_liaison", a["item"]["id"])
    assert fresh != old
    assert file(world, "b_liaison", key=(old, fresh))["item"]["state"] == "notified"


def test_the_key_must_cover_every_intersecting_object(world: World) -> None:
    a = file(world, "a_liaison")
    zone = file(world, "a_liaison", volume(start_h=0, hours=24), kind="base", item_type="zone")
    with pytest.raises(AwarenessError) as e:
        file(world, "b_liaison")
    assert [m["id"] for m in e.value.missing] == sorted([a["item"]["id"], zone["item"]["id"]])
    half = (learn(world, "b_liaison", a["item"]["id"]),)
    with pytest.raises(AwarenessError) as e:
        file(world, "b_liaison", key=half)
    assert [m["id"] for m in e.value.missing] == [zone["item"]["id"]]
    full = (*half, learn(world, "b_liaison", zone["item"]["id"], "zone"))
    assert len(file(world, "b_liaison", key=full)["conflicts"]) == 2


def test_preview_stores_nothing_and_shows_only_what_the_caller_may_see(world: World) -> None:
    a = file(world, "a_liaison")
    b = file(world, "b_liaison", key=(learn(world, "b_liaison", a["item"]["id"]),))
    before = counts(world)
    seen = {
        user: [c["other"]["id"] for c in world.service.preview(world.p[user], "activity", item())["conflicts"]]
        for user in ("a_liaison", "m_user", "o_user")
    }
    assert seen == {
        "a_liaison": [b["item"]["id"]],  # never its own party's
        "m_user": sorted([a["item"]["id"], b["item"]["id"]]),
        "o_user": [a["item"]["id"]],  # bravo does not share with observers
    }
    assert counts(world) == before


def test_a_draft_needs_no_key(world: World) -> None:
    file(world, "a_liaison")
    draft = file(world, "b_liaison", state="draft")
    assert len(draft["conflicts"]) == 1


def test_notifying_a_draft_needs_the_key(world: World) -> None:
    a = file(world, "a_liaison")
    draft = file(world, "b_liaison", state="draft")
    bid, v = draft["item"]["id"], draft["item"]["version"]
    with pytest.raises(AwarenessError):
        world.service.transition(world.p["b_liaison"], "activity", bid, "notify", version=v)
    assert current(world, bid).state == "draft"
    key = (learn(world, "b_liaison", a["item"]["id"]),)
    _, body = world.service.transition(world.p["b_liaison"], "activity", bid, "notify", version=v, key=key)
    assert body["item"]["state"] == "notified"
    assert len(body["conflicts"]) == 1


def test_changing_into_a_conflict_needs_the_key(world: World) -> None:
    a = file(world, "a_liaison")
    b = file(world, "b_liaison", volume(*FAR))
    assert b["conflicts"] == []
    bid, v = b["item"]["id"], b["item"]["version"]
    with pytest.raises(AwarenessError):
        world.service.update_item(world.p["b_liaison"], "activity", bid, item(), version=v)
    assert current(world, bid).version == v
    key = (learn(world, "b_liaison", a["item"]["id"]),)
    _, moved = world.service.update_item(world.p["b_liaison"], "activity", bid, item(), version=v, key=key)
    assert len(moved["conflicts"]) == 1


def test_an_activity_needs_the_version_of_a_zone_it_conflicts_with(world: World) -> None:
    zone = file(world, "a_liaison", kind="training_area", item_type="zone")
    with pytest.raises(AwarenessError) as e:
        file(world, "b_liaison")
    assert [(m["id"], m["type"], m["kind"]) for m in e.value.missing] == [(zone["item"]["id"], "zone", "training_area")]
    key = (learn(world, "b_liaison", zone["item"]["id"], "zone"),)
    assert len(file(world, "b_liaison", key=key)["conflicts"]) == 1


def test_zones_need_no_key(world: World) -> None:
    a = file(world, "a_liaison")
    zone = file(world, "b_liaison", kind="protected_site", item_type="zone", subtype="hospital")
    assert zone["item"]["state"] == "active"
    assert zone["notice"]["change"] == "created"
    [c] = zone["conflicts"]
    assert {c["a"]["item"]["id"], c["b"]["item"]["id"]} == {a["item"]["id"], zone["item"]["id"]}
    assert count(world, conflicts) == 1


def test_conflicts_are_only_with_other_parties(world: World) -> None:
    file(world, "a_liaison")
    second = file(world, "a_cmd")  # same party, same place and time, no key
    assert second["conflicts"] == []
    zone = file(world, "a_liaison", kind="base", item_type="zone")
    assert zone["conflicts"] == []
    assert count(world, conflicts) == 0


def test_drafts_and_cancelled_items_are_not_conflict_targets(world: World) -> None:
    file(world, "a_liaison", state="draft")
    gone = file(world, "a_liaison", volume(start_h=10))
    world.service.transition(
        world.p["a_liaison"], "activity", gone["item"]["id"], "cancel", version=gone["item"]["version"]
    )
    assert file(world, "b_liaison")["conflicts"] == []
    assert file(world, "b_liaison", volume(start_h=10))["conflicts"] == []


# --- the notice policy --------------------------------------------------------------------


def test_late_air_sortie_is_accepted_and_its_lateness_recorded(world: World) -> None:
    body = file(world, "a_liaison", volume(start_h=10 / 60))
    assert body["item"]["late_by_s"] == 1200.0
    assert body["notice"]["late_by_s"] == 1200.0
    assert body["notice"]["lead_s"] == 600.0
    assert body["notice"]["required_notice_s"] == 1800.0
    [n] = rows(world, notices)
    assert (n.late_by_s, n.lead_s, n.required_s) == (1200.0, 600.0, 1800.0)
    assert current(world, body["item"]["id"]).late_by_s == 1200.0


def test_late_humanitarian_movement_is_refused_and_nothing_is_stored(world: World) -> None:
    before = counts(world)
    with pytest.raises(LateNoticeRefused) as e:
        file(world, "a_liaison", kind="humanitarian_movement")
    assert e.value.status == 422
    assert e.value.field == "volumes"
    assert e.value.required_s == 48 * 3600
    assert e.value.late_by_s == 48 * 3600 - 3 * 3600
    assert e.value.extra() == {"late_by_s": 162000.0, "required_notice_s": 172800.0}
    assert counts(world) == before
    assert before["items"] == before["notices"] == 0


def test_humanitarian_movement_on_time_is_accepted(world: World) -> None:
    body = file(world, "a_liaison", volume(start_h=49), kind="humanitarian_movement")
    assert body["item"]["late_by_s"] == 0.0
    assert body["notice"]["lead_s"] == 49 * 3600


def test_notifying_a_late_humanitarian_draft_is_refused(world: World) -> None:
    draft = file(world, "a_liaison", kind="humanitarian_movement", state="draft")
    with pytest.raises(LateNoticeRefused):
        world.service.transition(
            world.p["a_liaison"], "activity", draft["item"]["id"], "notify", version=draft["item"]["version"]
        )
    row = current(world, draft["item"]["id"])
    assert (row.state, row.version) == ("draft", draft["item"]["version"])
    assert count(world, notices) == 0


def test_set_policy_changes_minimum_notice(world: World) -> None:
    doc = world.service.set_policy({"min_notice_s": {"air_sortie": 4 * 3600}})
    assert doc["min_notice_s"]["air_sortie"] == 4 * 3600
    assert world.service.get_policy()["min_notice_s"]["air_sortie"] == 4 * 3600
    body = file(world, "a_liaison")  # starts in 3 h
    assert body["item"]["late_by_s"] == 3600.0
    assert body["notice"]["required_notice_s"] == 4 * 3600


def test_set_policy_changes_late_handling(world: World) -> None:
    world.service.set_policy({"late_notice": {"humanitarian_movement": "accept", "air_sortie": "refuse"}})
    body = file(world, "a_liaison", kind="humanitarian_movement")
    assert body["item"]["late_by_s"] == 162000.0
    with pytest.raises(LateNoticeRefused) as e:
        file(world, "a_liaison", volume(start_h=0.25))
    assert e.value.late_by_s == 900.0
    assert file(world, "a_liaison", volume(start_h=1))["item"]["late_by_s"] == 0.0


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"min_notice_s": {"air_sortie": -1}}, "min_notice_s.air_sortie"),
        ({"min_notice_s": {"rocket": 60}}, "min_notice_s.rocket"),
        ({"late_notice": {"maritime": "maybe"}}, "late_notice.maritime"),
        ({"ack_s": {"flash": 0}}, "ack_s.flash"),
        ({"minima": {"default": {"lateral_m": -5}}}, "minima.default.lateral_m"),
        ({"grace_s": 60}, "grace_s"),
    ],
)
def test_bad_policy_documents_name_the_field(world: World, doc: dict[str, Any], field: str) -> None:
    before = world.service.get_policy()
    with pytest.raises(ValidationError) as e:
        world.service.set_policy(doc)
    assert e.value.field == field
    assert world.service.get_policy() == before == Policy.default().to_json()


def test_an_update_that_only_removes_volumes_measures_no_lateness(world: World) -> None:
    first, second = volume(start_h=49), volume(start_h=60)
    body = file(world, "a_liaison", first, second, kind="humanitarian_movement")
    aid, v = body["item"]["id"], body["item"]["version"]
    world.clock.advance(timedelta(hours=24))  # every volume is now inside the 48 h notice
    _, cut = world.service.update_item(
        world.p["a_liaison"], "activity", aid, item("humanitarian_movement", first), version=v
    )
    assert cut["item"]["late_by_s"] == 0.0
    assert cut["notice"]["change"] == "updated"
    assert cut["notice"]["late_by_s"] is None
    # adding a volume now is a late notice, and refused
    with pytest.raises(LateNoticeRefused):
        world.service.update_item(
            world.p["a_liaison"],
            "activity",
            aid,
            item("humanitarian_movement", first, volume(start_h=70)),
            version=cut["item"]["version"],
        )


# --- visibility and need-to-know ---------------------------------------------------------


def test_notes_are_seen_by_the_owner_only(world: World) -> None:
    body = file(world, "a_liaison", notes="two ship, low level", contact="ops@alpha")
    aid = body["item"]["id"]
    assert body["item"]["notes"] == "two ship, low level"
    assert world.service.get_item(world.p["a_ro"], "activity", aid)["notes"] == "two ship, low level"
    for user in ("b_liaison", "m_user", "o_user"):
        doc = world.service.get_item(world.p[user], "activity", aid)
        assert "notes" not in doc
        assert doc["contact"] == "ops@alpha"
    listed = world.service.list_items(world.p["b_cmd"], "activity")["items"]
    assert [("notes" in d) for d in listed] == [False]
    event_payloads = [e.payload for e in rows(world, events, events.c.type == "activity.notified")]
    assert "two ship" not in repr(event_payloads)


def test_mediator_sees_every_shared_field(world: World) -> None:
    a = file(world, "a_liaison", title="T", callsign="CS1", contact="c", priority=Precedence.FLASH, notes="secret")
    doc = world.service.get_item(world.p["m_user"], "activity", a["item"]["id"])
    assert {k: v for k, v in a["item"].items() if k != "notes"} == doc


def test_observers_see_only_parties_that_share_with_them(world: World) -> None:
    a = file(world, "a_liaison")
    b = file(world, "b_liaison", volume(*FAR))
    seen = world.service.list_items(world.p["o_user"], "activity")["items"]
    assert [d["id"] for d in seen] == [a["item"]["id"]]
    with pytest.raises(NotFound):
        world.service.get_item(world.p["o_user"], "activity", b["item"]["id"])
    assert world.service.get_item(world.p["o_user"], "activity", a["item"]["id"])["party"] == "alpha"
    # members see both
    assert len(world.service.list_items(world.p["b_liaison"], "activity")["items"]) == 2


def test_reading_other_parties_items_is_logged(world: World) -> None:
    a = file(world, "a_liaison")
    own = file(world, "b_liaison", volume(*FAR))
    world.clock.advance(timedelta(minutes=1))
    world.service.list_items(world.p["b_liaison"], "activity")
    world.service.get_item(world.p["b_cmd"], "activity", a["item"]["id"])
    world.service.get_item(world.p["b_cmd"], "activity", own["item"]["id"])  # own item: not logged
    log = sorted(rows(world, access_log), key=lambda r: r.id)
    assert [(r.user_id, r.party_id, r.action) for r in log] == [
        ("b_liaison", "bravo", "list_activity"),
        ("b_cmd", "bravo", "read_activity"),
    ]
    assert log[0].detail == {"ids": [a["item"]["id"]]}
    assert (log[1].subject_type, log[1].subject_id) == ("activity", a["item"]["id"])
    assert log[0].at.isoformat() == "2026-11-25T08:01:00+00:00"


def test_listing_only_own_items_is_not_logged(world: World) -> None:
    file(world, "a_liaison")
    world.service.list_items(world.p["a_liaison"], "activity")
    assert count(world, access_log) == 0


def test_list_items_filters_and_pages(world: World) -> None:
    ids = []
    for i in range(3):
        ids.append(file(world, "a_liaison", volume(start_h=3 + i))["item"]["id"])
        world.clock.advance(timedelta(seconds=1))  # ids sort by creation time (to the millisecond)
    far = file(world, "a_liaison", volume(*FAR, start_h=4), kind="maritime")["item"]["id"]
    svc, p = world.service, world.p["b_liaison"]
    page = svc.list_items(p, "activity", limit=2)
    assert [d["id"] for d in page["items"]] == ids[:2]
    rest = svc.list_items(p, "activity", limit=2, cursor=page["next_cursor"])
    assert [d["id"] for d in rest["items"]] == [ids[2], far]
    assert rest["next_cursor"] is None
    assert [d["id"] for d in svc.list_items(p, "activity", kind=["maritime"])["items"]] == [far]
    assert [d["id"] for d in svc.list_items(p, "activity", bbox=(37.5, 34.5, 38.5, 35.5))["items"]] == [far]
    window = svc.list_items(p, "activity", start=T0 + timedelta(hours=6.5), end=T0 + timedelta(hours=7))["items"]
    assert [d["id"] for d in window] == [ids[2]]
    with pytest.raises(ValidationError) as e:
        svc.list_items(p, "activity", limit=0)
    assert e.value.field == "limit"


# --- idempotency --------------------------------------------------------------------------


def _wire(title: str) -> dict[str, Any]:
    return {"kind": "air_sortie", "title": title, "volumes": [volume()], "state": "notified"}


def test_same_idempotency_key_and_request_replays_the_stored_result(world: World) -> None:
    svc, a = world.service, world.p["a_liaison"]
    idem = Idempotency.of("k-1", "POST", "/v1/activities", _wire("one"))
    first = svc.create_item(a, "activity", item(title="one"), state="notified", idem=idem)
    events_after_first = count(world, events)
    world.clock.advance(timedelta(minutes=1))
    again = svc.create_item(a, "activity", item(title="one"), state="notified", idem=idem)
    assert again == first
    assert first[0] == 201
    assert count(world, items) == 1
    assert count(world, notices) == 1
    assert count(world, events) == events_after_first
    [stored] = rows(world, idempotency)
    assert (stored.user_id, stored.key, stored.status) == ("a_liaison", "k-1", 201)


def test_same_idempotency_key_with_another_request_is_refused(world: World) -> None:
    svc, a = world.service, world.p["a_liaison"]
    svc.create_item(
        a, "activity", item(title="one"), idem=Idempotency.of("k-1", "POST", "/v1/activities", _wire("one"))
    )
    other = Idempotency.of("k-1", "POST", "/v1/activities", _wire("two"))
    with pytest.raises(IdempotencyMismatch) as e:
        svc.create_item(a, "activity", item(title="two"), idem=other)
    assert e.value.status == 422
    assert e.value.field == "Idempotency-Key"
    assert count(world, items) == 1


def test_idempotency_keys_belong_to_one_user(world: World) -> None:
    idem = Idempotency.of("shared", "POST", "/v1/activities", _wire("one"))
    one = world.service.create_item(world.p["a_liaison"], "activity", item(title="one"), idem=idem)
    two = world.service.create_item(world.p["a_cmd"], "activity", item(title="one"), idem=idem)
    assert one[1]["item"]["id"] != two[1]["item"]["id"]
    assert count(world, items) == 2


def test_a_failed_request_stores_no_idempotent_response(world: World) -> None:
    file(world, "a_liaison")
    idem = Idempotency.of("k-9", "POST", "/v1/activities", _wire("b"))
    with pytest.raises(AwarenessError):
        world.service.create_item(world.p["b_liaison"], "activity", item(), state="notified", idem=idem)
    assert count(world, idempotency) == 0
    with pytest.raises(ValidationError) as e:
        Idempotency.of("", "POST", "/v1/activities", {})
    assert e.value.field == "Idempotency-Key"


# --- atomicity ----------------------------------------------------------------------------


def test_a_bad_item_in_an_import_leaves_nothing_stored(world: World) -> None:
    file(world, "b_liaison")
    before = counts(world)
    entries = [("activity", item()), ("activity", item("spaceflight")), ("zone", item("base"))]
    with pytest.raises(ValidationError) as e:
        world.service.import_items(world.p["a_liaison"], entries)
    assert e.value.field.startswith("items[1]")
    assert e.value.field == "items[1].kind"
    assert counts(world) == before


def test_an_import_files_drafts_and_active_zones(world: World) -> None:
    file(world, "b_liaison")
    progress: list[int] = []
    status, body = world.service.import_items(
        world.p["a_liaison"], [("activity", item()), ("zone", item("base", volume(*FAR)))], progress=progress.append
    )
    assert status == 201
    assert progress == [1, 2]
    assert [(c["type"], c["conflicts"]) for c in body["created"]] == [("activity", 1), ("zone", 0)]
    states = {r.id: r.state for r in rows(world, items, items.c.party_id == "alpha")}
    assert sorted(states.values()) == ["active", "draft"]
    assert count(world, conflicts) == 0  # the draft's conflict is only a preview


# --- events -------------------------------------------------------------------------------


def test_every_change_emits_events_in_strictly_increasing_order(world: World) -> None:
    svc = world.service
    start = count(world, events)
    a = file(world, "a_liaison")
    n1 = count(world, events)
    key = (learn(world, "b_liaison", a["item"]["id"]),)
    b = file(world, "b_liaison", key=key)
    n2 = count(world, events)
    svc.transition(world.p["b_liaison"], "activity", b["item"]["id"], "cancel", version=b["item"]["version"])
    n3 = count(world, events)
    assert start < n1 < n2 < n3
    seqs = [r.seq for r in rows(world, events)]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == len(seqs)
    types = [r.type for r in sorted(rows(world, events), key=lambda r: r.seq)][start:]
    assert types == [
        "activity.notified",
        "activity.notified",
        "conflict.opened",
        "activity.cancelled",
        "conflict.resolved",
    ]


def test_draft_events_are_seen_by_their_party_only(world: World) -> None:
    draft = file(world, "a_liaison", state="draft")
    did = draft["item"]["id"]
    world.service.update_item(world.p["a_liaison"], "activity", did, item(title="x"), version=draft["item"]["version"])
    mentioning = [e for e in rows(world, events) if did in repr(e.payload) or e.subject_id == did]
    assert all(e.audience == ["alpha"] for e in mentioning)


def test_event_audiences_follow_observer_sharing(world: World) -> None:
    a = file(world, "a_liaison")
    b = file(world, "b_liaison", volume(*FAR))
    [ea] = rows(world, events, events.c.subject_id == a["notice"]["id"])
    [eb] = rows(world, events, events.c.subject_id == b["notice"]["id"])
    assert ea.audience == ["alpha", "bravo", "unmed", "watch"]
    assert eb.audience == ["alpha", "bravo", "unmed"]
    assert "notes" not in ea.payload["item"]
