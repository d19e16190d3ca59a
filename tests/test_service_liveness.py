"""Service contract: liveness — heartbeats, a silent party DOWN for everyone with a FLASH
alert, its activities at their worst case, and recovery.  Both back-ends, real databases,
the manual clock."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import World, volume
from deconflict.service import Service
from deconflict.store import Store
from deconflict.store.schema import conflicts, events, liveness, receipts
from test_service_receipts import file

DOWN_AFTER = timedelta(seconds=120)


def states(w: World, user: str = "o_user") -> dict[str, str]:
    return {p["party"]: p["state"] for p in w.service.liveness(w.p[user])}


def events_of(w: World, type_: str) -> list[Any]:
    with w.service.store.read() as conn:
        return conn.execute(sa.select(events).where(events.c.type == type_).order_by(events.c.seq)).all()


def conflicts_between(w: World, a: str, b: str) -> list[Any]:
    with w.service.store.read() as conn:
        return conn.execute(
            sa.select(conflicts).where(
                sa.or_(
                    sa.and_(conflicts.c.item_a == a, conflicts.c.item_b == b),
                    sa.and_(conflicts.c.item_a == b, conflicts.c.item_b == a),
                )
            )
        ).all()


def go_silent(w: World, party_user: str = "a_liaison") -> dict[str, int]:
    """Everyone beats; then only ``party_user``'s party stops, past the threshold."""
    for user in ("a_liaison", "b_liaison", "m_user"):
        w.service.heartbeat(w.p[user])
    w.clock.advance(DOWN_AFTER / 2)
    for user in ("a_liaison", "b_liaison", "m_user"):
        if user != party_user:
            w.service.heartbeat(w.p[user])
    w.clock.advance(DOWN_AFTER / 2 + timedelta(seconds=1))
    for user in ("a_liaison", "b_liaison", "m_user"):
        if user != party_user:
            w.service.heartbeat(w.p[user])
    return w.service.tick()


# --- heartbeats and states ------------------------------------------------------------------


def test_parties_never_heard_from_are_unknown_not_down(world: World) -> None:
    assert set(states(world).values()) == {"unknown"}
    world.clock.advance(timedelta(hours=1))
    assert world.service.tick()["down"] == 0
    assert set(states(world).values()) == {"unknown"}


def test_a_heartbeat_brings_a_party_up_for_everyone_to_see(world: World) -> None:
    body = world.service.heartbeat(world.p["a_liaison"])
    assert body["state"] == "up" and body["recorded"] is True
    seen = {p["party"]: p for p in world.service.liveness(world.p["b_liaison"])}
    assert seen["alpha"]["state"] == "up"
    assert seen["alpha"]["last_seen_at"] == "2026-11-25T08:00:00Z"
    assert "last_seen_by" not in seen["alpha"]  # who beat is alpha's business
    assert seen["bravo"]["state"] == "unknown"
    mine = {p["party"]: p for p in world.service.liveness(world.p["a_ro"])}
    assert mine["alpha"]["last_seen_by"] == "a_liaison"
    assert seen["watch"]["monitored"] is False and seen["unmed"]["monitored"] is True
    [up] = events_of(world, "party.up")
    assert list(up.audience) == ["*"] and up.payload["party"] == "alpha"


def test_heartbeats_closer_than_a_quarter_interval_are_answered_from_memory(world: World) -> None:
    world.service.heartbeat(world.p["a_liaison"])
    world.clock.advance(timedelta(seconds=5))  # heartbeat_s 30: a quarter is 7.5 s
    assert world.service.heartbeat(world.p["a_cmd"])["recorded"] is False
    world.clock.advance(timedelta(seconds=5))
    assert world.service.heartbeat(world.p["a_cmd"])["recorded"] is True
    with world.service.store.read() as conn:
        row = conn.execute(sa.select(liveness).where(liveness.c.party_id == "alpha")).one()
    assert row.last_seen_by == "a_cmd" and row.last_seen_at == world.clock.now()


def test_a_silent_party_goes_down_for_everyone_with_a_flash_alert(world: World) -> None:
    counts = go_silent(world)
    assert counts["down"] == 1
    assert states(world) == {"alpha": "down", "bravo": "up", "unmed": "up", "watch": "unknown"}
    [down] = events_of(world, "party.down")
    assert list(down.audience) == ["*"]  # observers too
    assert down.payload["last_seen_at"] == "2026-11-25T08:00:00Z"
    # the FLASH alert: catalogue message 406 to every other member and mediator party
    inbox = world.service.list_messages(world.p["b_liaison"], pending=True)["messages"]
    [alert] = [m for m in inbox if m["code"] == 406]
    assert alert["precedence"] == "flash"
    assert alert["params"] == {"party": "alpha", "time": "2026-11-25T08:00:00Z"}
    assert alert["rendered"]["language"] == "ar" and alert["rendered"]["direction"] == "rtl"
    assert alert["sender"]["party"] == "system"
    with world.service.store.read() as conn:
        rows = conn.execute(
            sa.select(receipts).where(receipts.c.subject_type == "message", receipts.c.subject_id == alert["id"])
        ).all()
    assert {r.party_id for r in rows} == {"bravo", "unmed"}  # not the silent party, not observers
    assert all(r.deadline == world.clock.now() + timedelta(minutes=5) for r in rows)  # FLASH: 5 min
    # a second tick says nothing new
    assert world.service.tick()["down"] == 0
    assert len(events_of(world, "party.down")) == 1


def test_an_unacknowledged_down_alert_escalates(world: World) -> None:
    go_silent(world)
    world.clock.advance(timedelta(minutes=5, seconds=1))
    world.service.heartbeat(world.p["b_liaison"])
    world.service.heartbeat(world.p["m_user"])
    assert world.service.tick()["escalated"] >= 2  # bravo's and the mediator's receipts
    assert any(e.payload["subject_type"] == "message" for e in events_of(world, "escalation.next_contact"))


def test_the_first_heartbeat_after_an_outage_brings_the_party_back(world: World) -> None:
    go_silent(world)
    world.clock.advance(timedelta(minutes=10))
    for user in ("b_liaison", "m_user"):
        world.service.heartbeat(world.p[user])
    body = world.service.heartbeat(world.p["a_liaison"])
    assert body["state"] == "up" and body["recorded"] is True
    assert states(world)["alpha"] == "up"
    [_, back] = [e for e in events_of(world, "party.up") if e.payload["party"] == "alpha"]  # first: its first beat
    assert back.payload["down_since"] is not None and back.payload["first"] is False
    # "restored" (109) is said in the alert's own thread
    inbox = world.service.list_messages(world.p["m_user"])["messages"]
    alert = next(m for m in inbox if m["code"] == 406)
    restored = next(m for m in inbox if m["code"] == 109)
    assert restored["thread_id"] == alert["thread_id"]
    outage = {p["party"]: p for p in world.service.liveness(world.p["b_liaison"])}["alpha"]
    assert outage["outages"] == 1 and outage["outage_thread"] == alert["thread_id"]


# --- worst case -----------------------------------------------------------------------------

# alpha's sortie: two small circles 50 km apart, on a diagonal; bravo's convoy sits in the
# empty corner of their bounding box — no conflict with either circle, but inside the box.
ALPHA_VOLUMES = (volume(36.0, 35.0, radius_m=3000), volume(36.4, 35.4, radius_m=3000))
CORNER = volume(36.02, 35.38, radius_m=1000, upper=500)


def test_a_down_partys_activities_count_at_their_worst_case(world: World) -> None:
    a = file(world, "a_liaison", *ALPHA_VOLUMES, title="alpha diagonal")["item"]
    b = file(world, "b_liaison", CORNER, kind="ground_movement", title="bravo convoy")
    assert b["conflicts"] == []  # in detail, they are clear
    assert conflicts_between(world, a["id"], b["item"]["id"]) == []

    go_silent(world)
    [c] = conflicts_between(world, a["id"], b["item"]["id"])
    assert c.state == "open"
    doc = world.service.get_conflict(world.p["b_liaison"], c.id)
    assert doc["worst_case"] is True
    # still visible to all, and marked
    seen = world.service.get_item(world.p["b_liaison"], "activity", a["id"])
    assert seen["party_down"] is True and seen["state"] == "notified"
    # a new filing in the corner is checked against the worst case too
    preview = world.service.preview(world.p["b_liaison"], "activity", _input(CORNER))
    assert [x["other"]["id"] for x in preview["conflicts"]] == [a["id"]]

    # another process (a second service over the same database) sees the same worst case
    other = Service(Store(world.service.store.url), world.clock)
    try:
        preview2 = other.preview(world.p["b_liaison"], "activity", _input(CORNER))
        assert [x["other"]["id"] for x in preview2["conflicts"]] == [a["id"]]
    finally:
        other.store.dispose()

    # alpha comes back: its own volumes again, the worst-case-only conflict resolved
    world.service.heartbeat(world.p["a_liaison"])
    [c] = conflicts_between(world, a["id"], b["item"]["id"])
    assert (c.state, c.resolution) == ("resolved", "party_up")
    assert world.service.get_item(world.p["b_liaison"], "activity", a["id"])["party_down"] is False
    assert world.service.preview(world.p["b_liaison"], "activity", _input(CORNER))["conflicts"] == []


def test_real_conflicts_of_a_down_party_stay_and_are_flagged(world: World) -> None:
    a = file(world, "a_liaison", volume(36.0, 35.0), title="alpha sortie")["item"]
    version = world.service.get_item(world.p["b_liaison"], "activity", a["id"])["version"]
    b = file(world, "b_liaison", volume(36.0, 35.0), key=(version,), title="bravo sortie")
    [c] = b["conflicts"]
    assert c["worst_case"] is False
    go_silent(world)
    doc = world.service.get_conflict(world.p["m_user"], c["id"])
    assert doc["state"] == "open" and doc["worst_case"] is True


def _input(vol: dict[str, Any]) -> Any:
    from deconflict.service import ItemInput
    from deconflict.wire import volumes_from_json

    return ItemInput(kind="ground_movement", volumes=volumes_from_json([vol]), title="probe")


@pytest.mark.parametrize("down_after", [0, -1, 10])
def test_liveness_policy_is_validated(world: World, down_after: float) -> None:
    from deconflict.errors import ValidationError

    policy = world.service.get_policy()
    policy["liveness"] = {"heartbeat_s": 30, "down_after_s": down_after}
    with pytest.raises(ValidationError) as e:
        world.service.set_policy(policy)
    assert e.value.field == "liveness.down_after_s"


def test_the_threshold_follows_the_policy(world: World) -> None:
    policy = world.service.get_policy()
    policy["liveness"] = {"heartbeat_s": 10, "down_after_s": 20}
    world.service.set_policy(policy)
    world.service.heartbeat(world.p["b_liaison"])
    world.clock.advance(timedelta(seconds=19))
    assert world.service.tick()["down"] == 0
    world.clock.advance(timedelta(seconds=2))
    assert world.service.tick()["down"] == 1
    assert states(world)["bravo"] == "down"


# --- the envelope itself (no database) -----------------------------------------------------


@given(
    lon=st.floats(-170, 170),
    lat=st.floats(-80, 80),
    d_lon=st.floats(0.01, 2.0),
    d_lat=st.floats(0.01, 2.0),
    radius=st.floats(0, 20_000),
    anchor=st.integers(0, 3),
    offset=st.tuples(st.floats(-0.05, 0.05), st.floats(-0.05, 0.05)),
    p_radius=st.floats(0, 5000),
    p_hour=st.floats(0, 3),
)
@settings(max_examples=200, deadline=None)
def test_whatever_meets_an_activity_meets_its_envelope(
    lon: float,
    lat: float,
    d_lon: float,
    d_lat: float,
    radius: float,
    anchor: int,
    offset: tuple[float, float],
    p_radius: float,
    p_hour: float,
) -> None:
    """The worst case is worse: a probe in conflict with an activity's own volumes (a
    circle, a corridor, a polygon, at different altitudes and hours) is in conflict with
    its envelope too.  Probes are placed near the volumes, so most examples conflict."""
    from datetime import UTC, datetime

    from hypothesis import event

    from deconflict.engine import Engine
    from deconflict.model import Activity, AltitudeBand, Circle, Corridor, Polygon, TimeWindow, Volume4D
    from deconflict.service.core import envelope

    t = datetime(2026, 11, 25, 8, tzinfo=UTC)
    footprints = [
        Circle((lon, lat), radius),
        Corridor(((lon, lat + d_lat), (lon + d_lon, lat)), radius / 2),
        Polygon(((lon + d_lon, lat + d_lat), (lon + d_lon * 0.9, lat + d_lat), (lon + d_lon, lat + d_lat * 0.9))),
    ]
    own = Activity(
        "A",
        "alpha",
        "air_sortie",
        tuple(
            Volume4D(
                fp,
                AltitudeBand(100 * i, 1000 + 100 * i),
                TimeWindow(t + timedelta(hours=i), t + timedelta(hours=i + 1)),
            )
            for i, fp in enumerate(footprints)
        ),
    )
    worst = envelope(own)
    assert len(worst.volumes) == 1
    corner = [(lon, lat), (lon, lat + d_lat), (lon + d_lon, lat), (lon + d_lon, lat + d_lat)][anchor]
    probe = Activity(
        "P",
        "bravo",
        "ground_movement",
        (
            Volume4D(
                Circle((corner[0] + offset[0], corner[1] + offset[1]), p_radius),
                AltitudeBand(0, 1500),
                TimeWindow(t + timedelta(hours=p_hour), t + timedelta(hours=p_hour + 0.5)),
            ),
        ),
    )
    detailed, coarse = Engine(), Engine()
    detailed.insert(own)
    coarse.insert(worst)
    if detailed.check(probe):
        event("the probe meets the activity")
        assert coarse.check(probe)
