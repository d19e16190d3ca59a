"""Service contract: incident reports (report, links, comments, review → close → reopen)
and the timeline the service assembles around an incident — who was told what, and
when — under need-to-know.  Both back-ends, real databases, a manual clock.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from conftest import T0, World, volume
from deconflict.errors import ValidationError
from deconflict.service import Forbidden, Idempotency, ItemInput, NotFound, Service, StateConflict
from deconflict.store.schema import (
    access_log,
    events,
    incident_links,
    incident_notes,
    incidents,
)
from deconflict.wire import volumes_from_json

HERE = {"lat": 35.0, "lon": 36.0}
FAR = {"lat": 20.0, "lon": 10.0}
SECRET = "alpha-secret-notes: second pilot unqualified"


# --- helpers ------------------------------------------------------------------------------


def at(hours: float = 0.0, minutes: float = 0.0) -> datetime:
    return T0 + timedelta(hours=hours, minutes=minutes)


def go(w: World, moment: datetime) -> None:
    w.clock.set(moment)


def file(
    w: World, user: str, *vols: dict[str, Any], key: tuple[str, ...] = (), state: str = "notified", **kw: Any
) -> Any:
    data = ItemInput(kind=kw.pop("kind", "air_sortie"), volumes=volumes_from_json(list(vols) or [volume()]), **kw)
    return w.service.create_item(w.p[user], "activity", data, state=state, key=key)[1]


def learn(w: World, user: str, item_id: str) -> str:
    return str(w.service.get_item(w.p[user], "activity", item_id)["version"])


def report(w: World, user: str, **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {"kind": "near_miss", "title": "near miss", "occurred_at": w.clock.now(), "position": HERE}
    args |= kw
    status, doc = w.service.report_incident(
        w.p[user], args.pop("kind"), args.pop("title"), args.pop("occurred_at"), args.pop("position"), **args
    )
    assert status == 201
    return doc


def send(
    w: World,
    sender: str,
    parties: tuple[str, ...],
    *,
    text: str | None = None,
    code: int = 901,
    link: tuple[str, str] | None = None,
    params: dict[str, Any] | None = None,
) -> str:
    """Open a hotline thread from ``sender``'s party to ``parties`` with one message; its id."""
    message: dict[str, Any] = {"code": code, "params": params or {}}
    if text is not None:
        message["text"] = text
    where = {"type": link[0], "id": link[1]} if link else None
    _, body = w.service.open_thread(w.p[sender], parties=list(parties), message=message, link=where)
    return str(body["message"]["id"])


def counts(w: World) -> dict[str, int]:
    with w.service.store.read() as conn:
        return {
            t.name: int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
            for t in (incidents, incident_links, incident_notes, events)
        }


def types(entries: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in entries]


def only(entries: list[dict[str, Any]], type_: str, **where: Any) -> dict[str, Any]:
    found = [e for e in entries if e["type"] == type_ and all(e.get(k) == v for k, v in where.items())]
    assert len(found) == 1, (type_, where, [(e["type"], e["party"], e["summary"]) for e in entries])
    return found[0]


@dataclass
class Scenario:
    a1: str  # alpha's late sortie
    b1: str  # bravo's sortie, conflicting
    notice_a1: str
    cid: str
    msg: str  # alpha → bravo, about a1
    charlie_msg: str  # charlie ↔ alpha, about a1
    incident: dict[str, Any]


def scenario(w: World) -> Scenario:
    """08:00 bravo notifies b1 (11:00–13:00).  10:40 alpha reads b1; 10:45 alpha notifies a1
    at the same place, 11:00–13:00: 15 min before the start, 30 min required (late by
    15 min); the conflict opens.  10:46 bravo's liaison lists its notices (delivered) but
    never opens a1.  10:47 alpha acknowledges the conflict.  10:50 alpha sends bravo a
    message about a1; 10:52 charlie and alpha talk about a1 in their own thread.  11:05
    the near miss; 11:20 bravo reports it, linked to a1."""
    svc = w.service
    svc.add_party("charlie", "Charlie", "member")
    svc.add_user("c_liaison", "charlie", "liaison")
    w.p["c_liaison"] = svc.principal_for("c_liaison")
    b = file(w, "b_liaison", volume(start_h=3), title="bravo patrol", notes="bravo-private-notes")
    go(w, at(2, 40))
    version = learn(w, "a_liaison", b["item"]["id"])
    go(w, at(2, 45))
    a = file(w, "a_liaison", volume(start_h=3), key=(version,), title="alpha sortie", notes=SECRET)
    assert a["notice"]["late_by_s"] == 900.0
    [conflict] = a["conflicts"]
    go(w, at(2, 46))
    svc.list_notices(w.p["b_liaison"])
    go(w, at(2, 47))
    svc.conflict_action(w.p["a_liaison"], conflict["id"], "acknowledge")
    go(w, at(2, 50))
    msg = send(w, "a_liaison", ("bravo",), text="we proceed at 11:00", link=("activity", a["item"]["id"]))
    go(w, at(2, 52))
    charlie_msg = send(
        w, "c_liaison", ("alpha",), text="charlie-alpha private word", link=("activity", a["item"]["id"])
    )
    go(w, at(3, 20))
    incident = report(
        w,
        "b_liaison",
        title="alpha jet crossed our patrol",
        occurred_at=at(3, 5),
        links=[{"type": "activity", "id": a["item"]["id"]}],
        description="passed within 300 m",
    )
    return Scenario(a["item"]["id"], b["item"]["id"], a["notice"]["id"], conflict["id"], msg, charlie_msg, incident)


# --- the timeline -------------------------------------------------------------------------------


def test_the_timeline_says_who_was_told_what_and_when(world: World) -> None:
    s = scenario(world)
    tl = world.service.incident_timeline(world.p["b_liaison"], s.incident["id"])
    entries = tl["entries"]
    assert [e["at"] for e in entries] == sorted(e["at"] for e in entries)
    # the story, in time order
    assert [(e["at"][11:16], e["type"], e["party"], e["user"]) for e in entries] == [
        ("08:00", "activity.notified", "bravo", "b_liaison"),
        ("08:00", "notice.sent", "bravo", "b_liaison"),
        ("10:40", "receipt.delivered", "alpha", "a_liaison"),  # alpha read bravo's activity …
        ("10:40", "receipt.opened", "alpha", "a_liaison"),
        ("10:45", "activity.notified", "alpha", "a_liaison"),  # … before notifying its own, late
        ("10:45", "notice.sent", "alpha", "a_liaison"),
        ("10:45", "conflict.opened", "alpha", None),
        ("10:46", "receipt.delivered", "bravo", "b_liaison"),  # listed, never opened
        ("10:47", "conflict.acknowledged", "alpha", "a_liaison"),
        ("10:47", "receipt.delivered", "alpha", "a_liaison"),
        ("10:47", "receipt.opened", "alpha", "a_liaison"),
        ("10:47", "receipt.acknowledged", "alpha", "a_liaison"),
        ("10:50", "message", "alpha", "a_liaison"),
        ("11:05", "incident.occurred", "bravo", None),
        ("11:20", "incident.reported", "bravo", "b_liaison"),
    ]
    late = only(entries, "activity.notified", party="alpha")
    assert late["detail"]["late_by_s"] == 900.0 and "late by 15.0 min" in late["summary"]
    assert late["detail"]["aware_of"] == [{"item": s.b1, "party": "bravo", "version_of": "2026-11-25T08:00:00Z"}]
    assert "version" not in late["detail"] and "notes" not in late["detail"]  # alpha's, not bravo's to see
    notice = only(entries, "notice.sent", party="alpha")
    assert notice["subject"] == {"type": "notice", "id": s.notice_a1}
    assert (notice["detail"]["lead_s"], notice["detail"]["required_s"], notice["detail"]["late_by_s"]) == (
        900.0,
        1800.0,
        900.0,
    )
    assert "LATE by 15.0 min" in notice["summary"] and "to bravo" in notice["summary"]
    # bravo sees only its own receipt of alpha's notice — and that it never opened it
    [mine] = notice["detail"]["receipts"]
    assert (mine["party"], mine["delivered_to"], mine["delivered_at"]) == ("bravo", "b_liaison", "2026-11-25T10:46:00Z")
    assert mine["opened_at"] is None and mine["acknowledged_at"] is None
    assert mine["status"] == "to bravo: delivered 10:46:00Z (b_liaison), never opened, not acknowledged"
    delivered = only(entries, "receipt.delivered", party="bravo")
    assert (delivered["user"], delivered["subject"]["id"]) == ("b_liaison", s.notice_a1)
    # bravo, the sender of b1's notice, sees alpha's receipt of it: read at 10:40 by a_liaison
    b_notice = only(entries, "notice.sent", party="bravo")
    theirs, charlie = b_notice["detail"]["receipts"]
    assert (theirs["party"], theirs["opened_by"], theirs["opened_at"]) == ("alpha", "a_liaison", "2026-11-25T10:40:00Z")
    assert charlie["status"] == "to charlie: never delivered, never opened, not acknowledged"
    ack = only(entries, "conflict.acknowledged")
    assert (ack["user"], ack["subject"]) == ("a_liaison", {"type": "conflict", "id": s.cid})
    message = only(entries, "message")
    assert message["subject"] == {"type": "message", "id": s.msg}
    assert (message["detail"]["free_text"], message["detail"]["untranslated"]) == ("we proceed at 11:00", True)
    assert (message["detail"]["language"], message["detail"]["direction"]) == ("ar", "rtl")  # bravo reads Arabic
    assert message["detail"]["translated"] is True
    assert "untranslated" in message["summary"]
    reported = only(entries, "incident.reported")
    assert reported["user"] == "b_liaison" and reported["detail"]["links"] == [{"type": "activity", "id": s.a1}]
    # the "who was told" digest lists the notice with its receipts
    told = {t["subject"]["id"]: t for t in tl["told"]}
    assert told[s.notice_a1]["receipts"][0]["status"].endswith("never opened, not acknowledged")
    assert set(tl["scope"]["items"]) == {s.a1, s.b1} and tl["scope"]["conflicts"] == [s.cid]
    # need-to-know: alpha's private notes, bravo's unseen charlie thread
    text = json.dumps(tl)
    assert SECRET not in text
    assert s.charlie_msg not in text and "charlie-alpha private word" not in text
    assert tl["incident"]["id"] == s.incident["id"] and tl["window"]["before_s"] == 86400.0
    # reading the timeline is an inquiry, not a reading of the notice: still never opened
    again = world.service.incident_timeline(world.p["b_liaison"], s.incident["id"])
    assert only(again["entries"], "notice.sent", party="alpha")["detail"]["receipts"][0]["opened_at"] is None


def test_each_viewer_sees_its_own_share_of_the_timeline(world: World) -> None:
    s = scenario(world)
    iid = s.incident["id"]
    alpha = world.service.incident_timeline(world.p["a_ro"], iid)
    mine = only(alpha["entries"], "activity.notified", party="alpha")
    assert mine["detail"]["notes"] == SECRET and mine["detail"]["version"]  # its own record, in full
    assert "bravo-private-notes" not in json.dumps(alpha)
    assert {e["subject"]["id"] for e in alpha["entries"] if e["type"] == "message"} == {s.msg, s.charlie_msg}
    # alpha sent the notice: it sees every recipient's receipt (bravo's and charlie's)
    notice = only(alpha["entries"], "notice.sent", party="alpha")
    assert [r["party"] for r in notice["detail"]["receipts"]] == ["bravo", "charlie"]
    assert notice["detail"]["receipts"][1]["status"].startswith("to charlie: never delivered")
    # charlie received the notice: only its own receipt; and not bravo's thread with alpha
    charlie = world.service.incident_timeline(world.p["c_liaison"], iid)
    notice = only(charlie["entries"], "notice.sent", party="alpha")
    assert [r["party"] for r in notice["detail"]["receipts"]] == ["charlie"]
    assert notice["detail"]["recipients"] == ["bravo", "charlie"]
    assert {e["subject"]["id"] for e in charlie["entries"] if e["type"] == "message"} == {s.charlie_msg}
    assert SECRET not in json.dumps(charlie)
    assert not [
        e for e in charlie["entries"] if e["subject"]["type"] == "conflict" and e["type"].startswith("receipt.")
    ]
    # the mediator sees every receipt, but no thread it is not in
    mediator = world.service.incident_timeline(world.p["m_user"], iid)
    notice = only(mediator["entries"], "notice.sent", party="alpha")
    assert [r["party"] for r in notice["detail"]["receipts"]] == ["bravo", "charlie"]
    assert not [e for e in mediator["entries"] if e["type"] == "message"]
    assert SECRET not in json.dumps(mediator)
    # the observer: bravo does not share, so bravo's report does not exist for it
    with pytest.raises(NotFound):
        world.service.incident_timeline(world.p["o_user"], iid)
    # every timeline read is logged
    with world.service.store.read() as conn:
        logged = (
            conn.execute(
                sa.select(access_log.c.user_id)
                .where(access_log.c.action == "read_incident_timeline")
                .order_by(access_log.c.id)
            )
            .scalars()
            .all()
        )
    assert logged == ["a_ro", "c_liaison", "m_user"]


def test_observers_see_the_timeline_of_a_sharing_party_only(world: World) -> None:
    b = file(world, "b_liaison", volume(start_h=1))
    a = file(world, "a_liaison", volume(start_h=1), key=(learn(world, "a_liaison", b["item"]["id"]),), notes=SECRET)
    world.clock.advance(timedelta(hours=1, minutes=10))
    inc = report(world, "a_liaison", links=[{"type": "activity", "id": a["item"]["id"]}])
    tl = world.service.incident_timeline(world.p["o_user"], inc["id"])
    assert tl["scope"]["items"] == [a["item"]["id"]]  # bravo's activity is not shared with observers
    assert tl["scope"]["conflicts"] == []  # nor their conflict
    assert not [e for e in tl["entries"] if e["type"].startswith("receipt.")]
    assert only(tl["entries"], "notice.sent")["detail"]["receipts"] == []
    assert SECRET not in json.dumps(tl)
    assert world.service.get_incident(world.p["o_user"], inc["id"])["party"] == "alpha"
    assert [i["id"] for i in world.service.list_incidents(world.p["o_user"])["incidents"]] == [inc["id"]]


def test_the_window_and_the_radius_choose_what_is_around(world: World) -> None:
    near = file(world, "a_liaison", volume(36.02, 35.0, start_h=1))
    far = file(world, "a_liaison", volume(10.0, 20.0, start_h=1))
    later = file(world, "a_liaison", volume(36.0, 35.01, start_h=30))
    draft = file(world, "b_liaison", volume(36.0, 35.0, start_h=1), state="draft", title="bravo-draft-title")
    world.clock.advance(timedelta(hours=1, minutes=30))
    inc = report(world, "a_liaison", radius_m=5000.0)
    tl = world.service.incident_timeline(world.p["a_liaison"], inc["id"])
    assert tl["scope"]["items"] == [near["item"]["id"]]  # not far away, not a day later, not bravo's draft
    wide = world.service.incident_timeline(world.p["a_liaison"], inc["id"], after_s=7 * 86400.0)
    assert sorted(wide["scope"]["items"]) == sorted([near["item"]["id"], later["item"]["id"]])
    mine = world.service.incident_timeline(world.p["b_liaison"], inc["id"])
    assert draft["item"]["id"] in mine["scope"]["items"]  # bravo's own draft is its own to see
    assert only(mine["entries"], "activity.created", party="bravo")["detail"]["notes"] is None
    assert "bravo-draft-title" not in json.dumps(world.service.incident_timeline(world.p["m_user"], inc["id"]))
    # a linked item is shown whole, however far
    world.service.link_incident(world.p["a_liaison"], inc["id"], [{"type": "activity", "id": far["item"]["id"]}])
    tl = world.service.incident_timeline(world.p["a_liaison"], inc["id"], before_s=0, after_s=0)
    assert far["item"]["id"] in tl["scope"]["items"]
    assert only(tl["entries"], "activity.notified", subject={"type": "activity", "id": far["item"]["id"]})
    for field, value in (("before_s", -1), ("after_s", 8 * 86400), ("before_s", float("nan"))):
        with pytest.raises(ValidationError) as e:
            world.service.incident_timeline(world.p["a_liaison"], inc["id"], **{field: value})
        assert e.value.field == field


def test_the_timeline_shows_escalations_and_the_scheduler(world: World) -> None:
    a = file(world, "a_liaison", volume(start_h=1), priority="flash")
    world.clock.advance(timedelta(minutes=6))
    world.service.tick()  # bravo has not acknowledged within 5 min: its next contact
    world.clock.advance(timedelta(minutes=60))
    world.service.tick()  # the sortie starts
    inc = report(world, "b_cmd", links=[{"type": "activity", "id": a["item"]["id"]}])
    tl = world.service.incident_timeline(world.p["b_cmd"], inc["id"])
    escalated = [e for e in tl["entries"] if e["type"] == "receipt.escalated"]
    assert escalated[0]["party"] == "bravo" and escalated[0]["user"] == "b_cmd"
    assert "escalated to next_contact (b_cmd)" in escalated[0]["summary"]
    assert only(tl["entries"], "activity.active")["user"] == "scheduler"
    status = only(tl["entries"], "notice.sent")["detail"]["receipts"][0]["status"]
    assert "never delivered" in status and "escalated to the" in status


def test_a_message_mentioning_an_item_in_its_parameters_is_in_the_timeline(world: World) -> None:
    a = file(world, "a_liaison", volume(start_h=1))
    world.clock.advance(timedelta(minutes=5))
    mid = send(world, "b_liaison", ("alpha",), code=204, params={"ref": a["item"]["id"]})
    other = send(world, "b_liaison", ("alpha",), text="unrelated")
    inc = report(world, "a_liaison")
    ids = {e["subject"]["id"] for e in world.service.incident_timeline(world.p["a_liaison"], inc["id"])["entries"]}
    assert mid in ids and other not in ids


# --- reporting ------------------------------------------------------------------------------


def test_reporting_an_incident(world: World) -> None:
    a = file(world, "a_liaison")
    world.clock.advance(timedelta(hours=1))
    before = counts(world)
    doc = report(
        world,
        "b_liaison",
        kind="unplanned_encounter",
        title="  two jets  ",
        occurred_at=world.clock.now().astimezone(UTC) - timedelta(minutes=10),
        radius_m=2500,
        links=[{"type": "activity", "id": a["item"]["id"]}, {"type": "activity", "id": a["item"]["id"]}],
    )
    assert doc["id"].startswith("inc_")
    assert (doc["party"], doc["reported_by"], doc["kind"], doc["state"], doc["title"]) == (
        "bravo",
        "b_liaison",
        "unplanned_encounter",
        "open",
        "two jets",
    )
    assert (doc["occurred_at"], doc["position"], doc["radius_m"]) == ("2026-11-25T08:50:00Z", HERE, 2500.0)
    assert [(lk["type"], lk["id"], lk["added_by"]) for lk in doc["links"]] == [
        ("activity", a["item"]["id"], "b_liaison")
    ]
    assert counts(world) == before | {
        "incidents": before["incidents"] + 1,
        "incident_links": before["incident_links"] + 1,
        "events": before["events"] + 1,
    }
    with world.service.store.read() as conn:
        ev = conn.execute(sa.select(events).where(events.c.type == "incident.reported")).one()
    assert ev.audience == ["alpha", "bravo", "unmed"]  # bravo does not share with observers
    assert (ev.subject_type, ev.subject_id) == ("incident", doc["id"])
    # alpha shares: its reports reach the observer too; the mediator may report
    report(world, "a_liaison")
    report(world, "m_user")
    with world.service.store.read() as conn:
        audiences = (
            conn.execute(
                sa.select(events.c.audience).where(events.c.type == "incident.reported").order_by(events.c.seq)
            )
            .scalars()
            .all()
        )
    assert audiences[1] == ["alpha", "bravo", "unmed", "watch"]


def test_a_repeated_report_with_the_same_key_is_stored_once(world: World) -> None:
    key = Idempotency.of("k-1", "POST", "/v1/incidents", {"title": "x"})
    args = ("near_miss", "x", world.clock.now(), HERE)
    first = world.service.report_incident(world.p["a_liaison"], *args, idem=key)
    before = counts(world)
    again = world.service.report_incident(world.p["a_liaison"], *args, idem=key)
    assert again == first and counts(world) == before


def test_who_may_report(world: World) -> None:
    for user, error in (("o_user", Forbidden), ("a_ro", Forbidden)):
        with pytest.raises(error):
            report(world, user)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kind": "mid_air"}, "kind"),
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": "line\nbreak"}, "title"),
        ({"title": "nul\x00"}, "title"),
        ({"description": "x" * 4001}, "description"),
        ({"description": "a\x00b"}, "description"),
        ({"occurred_at": datetime(2026, 11, 25, 7, 0)}, "occurred_at"),  # naive
        ({"occurred_at": T0 + timedelta(minutes=3)}, "occurred_at"),  # the future
        ({"occurred_at": datetime(1999, 1, 1, tzinfo=UTC)}, "occurred_at"),
        ({"position": {"lat": 91.0, "lon": 0.0}}, "position.lat"),
        ({"position": {"lat": 0.0, "lon": -180.5}}, "position.lon"),
        ({"position": {"lat": float("nan"), "lon": 0.0}}, "position.lat"),
        ({"position": {"lat": 1.0}}, "position.lon"),
        ({"position": {"lat": 1.0, "lon": 2.0, "alt": 3.0}}, "position.alt"),
        ({"position": {"lat": True, "lon": 2.0}}, "position.lat"),
        ({"position": [1.0, 2.0]}, "position"),
        ({"radius_m": -1}, "radius_m"),
        ({"radius_m": 100_001}, "radius_m"),
        ({"radius_m": float("inf")}, "radius_m"),
        ({"links": [{"type": "person", "id": "x"}]}, "links[0].type"),
        ({"links": [{"type": "activity", "id": ""}]}, "links[0].id"),
        ({"links": [{"type": "incident", "id": "inc_x"}]}, "links[0].type"),
        ({"links": [{"type": "activity", "id": "act_missing"}]}, "links[0].id"),
        ({"links": [{"type": "zone", "id": "zone_missing"}]}, "links[0].id"),
        ({"links": [{"type": "conflict", "id": "cfl_missing"}]}, "links[0].id"),
        ({"links": [{"type": "thread", "id": "thr_missing"}]}, "links[0].id"),
        ({"links": [{"type": "message", "id": "msg_missing"}]}, "links[0].id"),
        ({"links": [{"type": "activity", "id": str(i)} for i in range(101)]}, "links"),
    ],
)
def test_bad_reports_are_refused_and_store_nothing(world: World, change: dict[str, Any], field: str) -> None:
    before = counts(world)
    with pytest.raises((ValidationError, NotFound)) as e:
        report(world, "a_liaison", **change)
    assert e.value.field == field, e.value.reason
    assert counts(world) == before


def test_links_to_what_the_reporter_cannot_see_are_refused(world: World) -> None:
    draft = file(world, "b_liaison", state="draft")
    a = file(world, "a_liaison", volume(50.0, 10.0))
    bravo_thread = send(world, "b_liaison", ("unmed",), text="to the mediator")
    before = counts(world)
    for bad in (
        [{"type": "activity", "id": a["item"]["id"]}, {"type": "activity", "id": draft["item"]["id"]}],
        [{"type": "activity", "id": a["item"]["id"]}, {"type": "message", "id": bravo_thread}],
    ):
        with pytest.raises(NotFound) as e:
            report(world, "a_liaison", links=bad)
        assert e.value.field == "links[1].id"
    assert counts(world) == before


# --- links, comments, the state machine -------------------------------------------------------


def test_links_added_later_by_the_involved_parties(world: World) -> None:
    world.service.add_party("charlie", "Charlie", "member")
    world.service.add_user("c_liaison", "charlie", "liaison")
    charlie = world.service.principal_for("c_liaison")
    a = file(world, "a_liaison")
    b = file(world, "b_liaison", volume(50.0, 10.0))
    inc = report(world, "b_liaison", links=[{"type": "activity", "id": b["item"]["id"]}])
    world.clock.advance(timedelta(minutes=5))
    with pytest.raises(Forbidden):  # alpha is not involved yet
        world.service.link_incident(world.p["a_liaison"], inc["id"], [{"type": "activity", "id": a["item"]["id"]}])
    _, doc = world.service.link_incident(world.p["b_cmd"], inc["id"], [{"type": "activity", "id": a["item"]["id"]}])
    assert [lk["id"] for lk in doc["links"]] == [b["item"]["id"], a["item"]["id"]]
    assert doc["links"][1]["added_at"] == "2026-11-25T08:05:00Z"
    # now alpha owns a linked activity: it is involved
    before = counts(world)
    _, same = world.service.link_incident(
        world.p["a_liaison"], inc["id"], [{"type": "activity", "id": a["item"]["id"]}]
    )
    assert same["links"] == doc["links"] and counts(world) == before  # already there: nothing added, no event
    with pytest.raises(Forbidden):
        world.service.link_incident(charlie, inc["id"], [{"type": "activity", "id": a["item"]["id"]}])
    with pytest.raises(ValidationError) as e:
        world.service.link_incident(world.p["b_liaison"], inc["id"], [])
    assert e.value.field == "links"
    with pytest.raises(NotFound):
        world.service.link_incident(world.p["b_liaison"], "inc_missing", [{"type": "activity", "id": a["item"]["id"]}])
    with world.service.store.read() as conn:
        [ev] = conn.execute(sa.select(events).where(events.c.type == "incident.linked")).all()
    assert ev.payload["links"] == [{"type": "activity", "id": a["item"]["id"]}]


def test_a_link_to_a_thread_is_shown_to_its_parties_only(world: World) -> None:
    mid = send(world, "b_liaison", ("unmed",), text="between us")
    inc = report(world, "b_liaison", links=[{"type": "message", "id": mid}])
    assert [lk["id"] for lk in world.service.get_incident(world.p["m_user"], inc["id"])["links"]] == [mid]
    assert world.service.get_incident(world.p["a_liaison"], inc["id"])["links"] == []


def test_comments(world: World) -> None:
    world.service.add_party("charlie", "Charlie", "member")
    world.service.add_user("c_liaison", "charlie", "liaison")
    a = file(world, "a_liaison")
    inc = report(world, "b_liaison", links=[{"type": "activity", "id": a["item"]["id"]}])
    world.service.incident_action(world.p["a_liaison"], inc["id"], "comment", text="our pilot saw nothing")
    _, doc = world.service.incident_action(world.p["m_user"], inc["id"], "comment", text="tapes requested")
    assert [(n["party"], n["user"], n["kind"], n["text"]) for n in doc["notes"]] == [
        ("alpha", "a_liaison", "comment", "our pilot saw nothing"),
        ("unmed", "m_user", "comment", "tapes requested"),
    ]
    before = counts(world)
    for user, error in (("c_liaison", Forbidden), ("o_user", Forbidden), ("a_ro", Forbidden)):
        who = world.service.principal_for(user)
        with pytest.raises(error):
            world.service.incident_action(who, inc["id"], "comment", text="hello")
    for text, field in ((None, "text"), ("  ", "text"), ("x" * 4001, "text"), ("a\x00", "text")):
        with pytest.raises(ValidationError) as e:
            world.service.incident_action(world.p["a_liaison"], inc["id"], "comment", text=text)
        assert e.value.field == field
    with pytest.raises(ValidationError) as e:
        world.service.incident_action(world.p["a_liaison"], inc["id"], "shred")
    assert e.value.field == "action"
    assert counts(world) == before
    with world.service.store.read() as conn:
        assert len(conn.execute(sa.select(events).where(events.c.type == "incident.commented")).all()) == 2


def test_review_close_reopen_with_a_mediator(world: World) -> None:
    svc, p = world.service, world.p
    inc = report(world, "b_liaison")
    iid = inc["id"]
    before = counts(world)
    for user in ("b_cmd", "a_liaison"):
        with pytest.raises(Forbidden):  # the mediator reviews
            svc.incident_action(p[user], iid, "review")
    with pytest.raises(StateConflict) as e:
        svc.incident_action(p["m_user"], iid, "close", text="nothing found")
    assert e.value.field == "state"
    with pytest.raises(StateConflict):
        svc.incident_action(p["m_user"], iid, "reopen")
    assert counts(world) == before
    world.clock.advance(timedelta(hours=1))
    _, doc = svc.incident_action(p["m_user"], iid, "review", text="tapes requested")
    assert (doc["state"], doc["reviewed_by"], doc["reviewed_at"]) == ("under_review", "m_user", "2026-11-25T09:00:00Z")
    with pytest.raises(StateConflict):
        svc.incident_action(p["m_user"], iid, "review")
    with pytest.raises(ValidationError) as ve:
        svc.incident_action(p["m_user"], iid, "close")
    assert ve.value.field == "text" and "findings" in ve.value.reason
    with pytest.raises(Forbidden):
        svc.incident_action(p["b_cmd"], iid, "close", text="we decide")
    world.clock.advance(timedelta(hours=1))
    _, doc = svc.incident_action(p["m_user"], iid, "close", text="late notice; no breach of minima")
    assert (doc["state"], doc["findings"], doc["closed_by"]) == ("closed", "late notice; no breach of minima", "m_user")
    with pytest.raises(StateConflict):  # closed: frozen until reopened
        svc.incident_action(p["b_liaison"], iid, "comment", text="we disagree")
    with pytest.raises(StateConflict):
        svc.link_incident(p["b_liaison"], iid, [{"type": "activity", "id": "x"}])
    _, doc = svc.incident_action(p["m_user"], iid, "reopen", text="new radar data")
    assert (doc["state"], doc["findings"], doc["closed_at"]) == ("under_review", None, None)
    assert [n["kind"] for n in doc["notes"]] == ["review", "findings", "reopen"]
    with world.service.store.read() as conn:
        moves = [
            (r.payload["from"], r.payload["to"], r.payload["by"])
            for r in conn.execute(
                sa.select(events).where(events.c.type == "incident.state_changed").order_by(events.c.seq)
            ).all()
        ]
    assert moves == [
        ("open", "under_review", "m_user"),
        ("under_review", "closed", "m_user"),
        ("closed", "under_review", "m_user"),
    ]
    tl = svc.incident_timeline(p["a_liaison"], iid)
    assert types(tl["entries"])[-3:] == ["incident.under_review", "incident.closed", "incident.reopened"]
    assert "late notice; no breach of minima" in tl["entries"][-2]["summary"]


def test_without_a_mediator_the_parties_review_and_the_reporters_commander_closes(service: Service, clock: Any) -> None:
    service.add_party("alpha", "Alpha", "member")
    service.add_party("bravo", "Bravo", "member")
    service.add_party("charlie", "Charlie", "member")
    for user, party, role in (
        ("a_liaison", "alpha", "liaison"),
        ("b_liaison", "bravo", "liaison"),
        ("b_cmd", "bravo", "commander"),
        ("c_liaison", "charlie", "liaison"),
    ):
        service.add_user(user, party, role)
    p = {u: service.principal_for(u) for u in ("a_liaison", "b_liaison", "b_cmd", "c_liaison")}
    a = service.create_item(
        p["a_liaison"],
        "activity",
        ItemInput(kind="air_sortie", volumes=volumes_from_json([volume()])),
        state="notified",
    )[1]
    _, inc = service.report_incident(
        p["b_liaison"],
        "near_miss",
        "close pass",
        clock.now(),
        HERE,
        links=[{"type": "activity", "id": a["item"]["id"]}],
    )
    with pytest.raises(Forbidden):  # charlie is not involved
        service.incident_action(p["c_liaison"], inc["id"], "review")
    _, doc = service.incident_action(p["a_liaison"], inc["id"], "review")  # alpha is involved: its activity
    assert doc["state"] == "under_review"
    for user in ("a_liaison", "b_liaison"):
        with pytest.raises(Forbidden) as e:
            service.incident_action(p[user], inc["id"], "close", text="done")
        assert e.value.field == "role"
    _, doc = service.incident_action(p["b_cmd"], inc["id"], "close", text="agreed: no breach")
    assert (doc["state"], doc["closed_by"]) == ("closed", "b_cmd")
    _, doc = service.incident_action(p["b_cmd"], inc["id"], "reopen")
    assert doc["state"] == "under_review"


# --- reading ----------------------------------------------------------------------------------


def test_listing_and_reading_incidents(world: World) -> None:
    first = report(world, "a_liaison", title="one")
    world.clock.advance(timedelta(seconds=1))  # ids sort by creation time
    second = report(world, "b_liaison", title="two")
    world.clock.advance(timedelta(seconds=1))
    third = report(world, "b_liaison", title="three")
    world.service.incident_action(world.p["m_user"], third["id"], "review")
    page = world.service.list_incidents(world.p["a_ro"], limit=2)
    assert [i["title"] for i in page["incidents"]] == ["one", "two"]
    rest = world.service.list_incidents(world.p["a_ro"], limit=2, cursor=page["next_cursor"])
    assert [i["id"] for i in rest["incidents"]] == [third["id"]] and rest["next_cursor"] is None
    assert [i["id"] for i in world.service.list_incidents(world.p["a_ro"], state=["under_review"])["incidents"]] == [
        third["id"]
    ]
    assert [i["id"] for i in world.service.list_incidents(world.p["m_user"], party="alpha")["incidents"]] == [
        first["id"]
    ]
    assert [i["id"] for i in world.service.list_incidents(world.p["o_user"])["incidents"]] == [first["id"]]
    with pytest.raises(ValidationError) as e:
        world.service.list_incidents(world.p["a_ro"], state=["lost"])
    assert e.value.field == "state"
    with pytest.raises(ValidationError):
        world.service.list_incidents(world.p["a_ro"], limit=0)
    assert world.service.get_incident(world.p["a_ro"], second["id"])["title"] == "two"
    world.service.get_incident(world.p["b_cmd"], second["id"])  # its own: not logged
    with pytest.raises(NotFound):
        world.service.get_incident(world.p["o_user"], second["id"])
    with pytest.raises(NotFound):
        world.service.get_incident(world.p["a_ro"], "inc_missing")
    with world.service.store.read() as conn:
        reads = conn.execute(
            sa.select(access_log.c.user_id, access_log.c.subject_id).where(access_log.c.action == "read_incident")
        ).all()
    assert [tuple(r) for r in reads] == [("a_ro", second["id"])]
