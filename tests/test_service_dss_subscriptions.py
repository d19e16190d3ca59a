"""Service contract: F3548 subscriptions (``service/dss_subscriptions.py``) — create, read,
query, update, delete and their version rules; implicit subscriptions; notification
indices bumped by native writes (and only by the entities a subscription asks for, in
its 4D volume); the DSS settings; and nothing written on refused input.

Real SQLite (and PostgreSQL, ``-m postgres``) through the ``service``/``world`` fixtures.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

from conftest import T0, World, volume
from deconflict.errors import ValidationError
from deconflict.f3548 import AreaTooLarge, parse_volume, time_doc
from deconflict.service import ItemInput, Principal, Service
from deconflict.service.dss_types import CP, F3548_SCOPES, NULL_SUBSCRIPTION_ID, SC, DssError, DssLimits
from deconflict.store.schema import dss_subscriptions, events, items
from deconflict.wire import volumes_from_json

URL1 = "https://uss1.example.com/utm"
URL2 = "https://uss2.example.com/utm"
LNG, LAT = 36.0, 35.0


def sid() -> str:
    return str(uuid.uuid4())


def uss(service: Service, party: str, scopes: frozenset[str] = F3548_SCOPES) -> Principal:
    return Principal(party, party, "member", "client", scopes)


@pytest.fixture
def w(world: World) -> World:
    for party in ("uss1", "uss2"):
        world.service.add_party(party, f"USS {party}", "member")
        world.p[party] = uss(world.service, party)
    return world


def t(hours: float) -> dict[str, str]:
    return time_doc(T0 + timedelta(hours=hours))


def extents(
    *,
    lng: float = LNG,
    lat: float = LAT,
    radius: float = 10_000.0,
    start: float | None = 0.0,
    end: float | None = 12.0,
    lower: float | None = None,
    upper: float | None = None,
) -> dict[str, Any]:
    v3: dict[str, Any] = {
        "outline_circle": {"center": {"lat": lat, "lng": lng}, "radius": {"value": radius, "units": "M"}}
    }
    if lower is not None:
        v3["altitude_lower"] = {"value": lower, "reference": "W84", "units": "M"}
    if upper is not None:
        v3["altitude_upper"] = {"value": upper, "reference": "W84", "units": "M"}
    doc: dict[str, Any] = {"volume": v3}
    if start is not None:
        doc["time_start"] = t(start)
    if end is not None:
        doc["time_end"] = t(end)
    return doc


def params(*, ois: bool = True, constraints: bool = False, url: str = URL1, **kw: Any) -> dict[str, Any]:
    return {
        "extents": extents(**kw),
        "uss_base_url": url,
        "notify_for_operational_intents": ois,
        "notify_for_constraints": constraints,
    }


def count(service: Service, table: sa.Table) -> int:
    with service.store.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def seen_events(service: Service, party: str) -> list[Any]:
    """Events whose audience includes ``party`` (or everyone), in order."""
    with service.store.read() as conn:
        rows = conn.execute(sa.select(events).order_by(events.c.seq)).all()
    return [e for e in rows if "*" in e.audience or party in e.audience]


def index(service: Service, p: Principal, s: str) -> int:
    return int(service.dss_get_subscription(p, s)["subscription"]["notification_index"])


def native(
    w: World,
    *,
    user: str = "a_cmd",
    item_type: str = "activity",
    kind: str = "air_sortie",
    key: tuple[str, ...] = (),
    **kw: Any,
) -> dict[str, Any]:
    data = ItemInput(kind=kind, volumes=volumes_from_json([volume(**kw)]))
    state = "notified" if item_type == "activity" else None
    return w.service.create_item(w.p[user], item_type, data, state=state, key=key)[1]["item"]


# --- create, read, query ----------------------------------------------------------------------


def test_create_get_and_query_a_subscription(w: World) -> None:
    svc, p1 = w.service, w.p["uss1"]
    s = sid()
    body = svc.dss_put_subscription(p1, s, None, params(lower=0, upper=500))
    sub = body["subscription"]
    assert sub == {
        "id": s,
        "version": sub["version"],
        "notification_index": 0,
        "time_start": t(0),
        "time_end": t(12),
        "uss_base_url": URL1,
        "notify_for_operational_intents": True,
        "notify_for_constraints": False,
        "implicit_subscription": False,
        "dependent_operational_intents": [],
    }
    assert 16 <= len(sub["version"]) <= 32
    assert body["operational_intent_references"] == [] and body["constraint_references"] == []
    assert svc.dss_get_subscription(p1, s.upper()) == {"subscription": sub}
    # only the caller's own are returned, and only those in the area
    other = svc.dss_put_subscription(w.p["uss2"], sid(), None, params(url=URL2))["subscription"]
    svc.dss_put_subscription(p1, sid(), None, params(lng=LNG + 2))
    found = svc.dss_query_subscriptions(p1, {"area_of_interest": extents(radius=100, start=None, end=None)})
    assert [x["id"] for x in found["subscriptions"]] == [s]
    assert svc.dss_query_subscriptions(w.p["uss2"], {"area_of_interest": extents()})["subscriptions"] == [other]
    # outside the subscription's window or altitude: not found
    late = {"area_of_interest": extents(start=12, end=13)}
    assert svc.dss_query_subscriptions(p1, late)["subscriptions"] == []
    high = {"area_of_interest": extents(lower=600, upper=700)}
    assert svc.dss_query_subscriptions(p1, high)["subscriptions"] == []


def test_defaults_time_and_altitude(w: World) -> None:
    s = sid()
    sub = w.service.dss_put_subscription(w.p["uss1"], s, None, params(start=None, end=None))["subscription"]
    assert sub["time_start"] == time_doc(T0)
    assert sub["time_end"] == time_doc(T0 + timedelta(seconds=DssLimits().subscription_default_s))
    with w.service.store.read() as conn:
        stored = conn.execute(sa.select(dss_subscriptions.c.volume).where(dss_subscriptions.c.id == s)).scalar_one()
    assert stored["altitude_lower"]["value"] == -8000 and stored["altitude_upper"]["value"] == 100000


def test_another_partys_subscription_is_not_found(w: World) -> None:
    s = sid()
    w.service.dss_put_subscription(w.p["uss1"], s, None, params())
    with pytest.raises(DssError) as info:
        w.service.dss_get_subscription(w.p["uss2"], s)
    assert info.value.status == 404 and info.value.field == "subscriptionid"
    with pytest.raises(DssError) as info:
        w.service.dss_get_subscription(w.p["uss1"], sid())
    assert info.value.status == 404


# --- versions ---------------------------------------------------------------------------------


def test_update_and_delete_follow_the_version(w: World) -> None:
    svc, p1, p2 = w.service, w.p["uss1"], w.p["uss2"]
    s = sid()
    v1 = svc.dss_put_subscription(p1, s, None, params())["subscription"]["version"]

    def refused(call: Any, status: int, field: str) -> None:
        before = (count(svc, dss_subscriptions), count(svc, events), svc.dss_get_subscription(p1, s))
        with pytest.raises(DssError) as info:
            call()
        assert (info.value.status, info.value.field) == (status, field), info.value.message
        assert (count(svc, dss_subscriptions), count(svc, events), svc.dss_get_subscription(p1, s)) == before

    refused(lambda: svc.dss_put_subscription(p1, s, None, params()), 409, "subscriptionid")  # exists
    refused(lambda: svc.dss_put_subscription(p1, s, "stale", params()), 409, "version")
    refused(lambda: svc.dss_put_subscription(p2, s, v1, params(url=URL2)), 409, "subscriptionid")
    refused(lambda: svc.dss_put_subscription(p1, sid(), v1, params()), 409, "version")  # none to update
    refused(lambda: svc.dss_delete_subscription(p1, s, "stale"), 409, "version")
    refused(lambda: svc.dss_delete_subscription(p2, s, v1), 409, "subscriptionid")
    refused(lambda: svc.dss_delete_subscription(p1, sid(), v1), 404, "subscriptionid")

    updated = svc.dss_put_subscription(p1, s, v1, params(constraints=True, radius=5000, end=6))["subscription"]
    assert updated["version"] != v1
    assert updated["notify_for_constraints"] is True and updated["time_end"] == t(6)
    refused(lambda: svc.dss_put_subscription(p1, s, v1, params()), 409, "version")
    gone = svc.dss_delete_subscription(p1, s, updated["version"])
    assert gone == {"subscription": updated}
    with pytest.raises(DssError) as info:
        svc.dss_get_subscription(p1, s)
    assert info.value.status == 404
    mine = [e for e in seen_events(svc, "uss1") if e.subject_id == s]
    assert [e.type for e in mine] == [
        "dss.subscription.created",
        "dss.subscription.updated",
        "dss.subscription.deleted",
    ]
    assert all(e.audience == ["unmed", "uss1"] for e in mine)  # its USS and the mediators
    assert mine[0].payload["subscription"]["id"] == s and mine[0].user_id == "uss1"
    assert [e for e in seen_events(svc, "uss2") if e.subject_id == s] == []


# --- refused input: scopes, flags, shapes; nothing written --------------------------------------


@pytest.mark.parametrize(
    ("scopes", "body", "status", "field"),
    [
        (F3548_SCOPES, params(ois=False, constraints=False), 400, "notify_for_operational_intents"),
        (frozenset({SC}), params(constraints=True), 403, "notify_for_constraints"),
        (frozenset({CP}), params(ois=True), 403, "notify_for_operational_intents"),
        (frozenset({"utm.constraint_management"}), params(), 403, "scope"),
        (F3548_SCOPES, params(url="ftp://x.example.com"), 400, "uss_base_url"),
        (F3548_SCOPES, params(url=URL1 + "/"), 400, "uss_base_url"),
        (F3548_SCOPES, {**params(), "uss_base_url": None}, 400, "uss_base_url"),
        (F3548_SCOPES, {**params(), "notify_for_constraints": "yes"}, 400, "notify_for_constraints"),
        (F3548_SCOPES, {**params(), "extents": None}, 400, "extents"),
        (F3548_SCOPES, params(start=-3, end=-1), 400, "extents.time_end"),
        (F3548_SCOPES, params(start=0, end=25), 400, "extents"),
        (F3548_SCOPES, params(lower=500, upper=100), 400, "extents.volume.altitude_lower"),
        (F3548_SCOPES, params(radius=0), 400, "extents.volume.outline_circle.radius.value"),
        (F3548_SCOPES, params(radius=40_000), 413, "extents.volume.outline_circle"),
        (F3548_SCOPES, "not an object", 400, "body"),
    ],
)
def test_refused_subscriptions_write_nothing(
    w: World, scopes: frozenset[str], body: Any, status: int, field: str
) -> None:
    svc = w.service
    p = Principal("uss1", "uss1", "member", "client", scopes)
    before = (count(svc, dss_subscriptions), count(svc, events))
    with pytest.raises((DssError, ValidationError)) as info:
        svc.dss_put_subscription(p, sid(), None, body)
    error = info.value
    got = error.status if isinstance(error, DssError) else 413 if isinstance(error, AreaTooLarge) else 400
    assert (got, error.field) == (status, field), str(error)
    assert (count(svc, dss_subscriptions), count(svc, events)) == before


@pytest.mark.parametrize("party", ["watch", "unmed"])
def test_only_member_parties_subscribe(w: World, party: str) -> None:
    """An observer (or a mediator) would learn of every entity in its volume, shared or
    not: a subscription is a member's (403, nothing written)."""
    svc = w.service
    native(w)  # alpha's activity, shared with observers
    native(w, user="b_cmd", lon=LNG + 1)  # bravo's, not shared
    p = Principal(f"{party}-uss", party, "observer" if party == "watch" else "mediator", "client", F3548_SCOPES)
    before = (count(svc, dss_subscriptions), count(svc, events))
    with pytest.raises(DssError) as info:
        svc.dss_put_subscription(p, sid(), None, params(ois=True, constraints=True))
    assert (info.value.status, info.value.field) == (403, "party")
    assert info.value.reason == f"only member parties write on the DSS; {party!r} is a {p.party_role}"
    assert (count(svc, dss_subscriptions), count(svc, events)) == before


def test_a_constraint_processing_uss_subscribes_to_constraints_only(w: World) -> None:
    p = Principal("uss1", "uss1", "member", "client", frozenset({CP}))
    sub = w.service.dss_put_subscription(p, sid(), None, params(ois=False, constraints=True))["subscription"]
    assert (sub["notify_for_operational_intents"], sub["notify_for_constraints"]) == (False, True)


def test_bad_ids_are_refused(w: World) -> None:
    for call in (
        lambda: w.service.dss_get_subscription(w.p["uss1"], "not-a-uuid"),
        lambda: w.service.dss_put_subscription(w.p["uss1"], str(uuid.uuid1()), None, params()),
        lambda: w.service.dss_delete_subscription(w.p["uss1"], "x", "v"),
    ):
        with pytest.raises(ValidationError) as info:
            call()
        assert info.value.field == "subscriptionid"
    with pytest.raises(ValidationError) as info:
        w.service.dss_query_subscriptions(w.p["uss1"], {})
    assert info.value.field == "area_of_interest"
    with pytest.raises(AreaTooLarge):
        w.service.dss_query_subscriptions(w.p["uss1"], {"area_of_interest": extents(radius=100_000)})


# --- notification indices -----------------------------------------------------------------------


def test_native_writes_bump_the_indices_of_the_subscriptions_they_meet(w: World) -> None:
    svc, p1 = w.service, w.p["uss1"]
    # the subscription: 10 km around (36, 35), 0–1000 m, T0+2 h … T0+8 h, operational intents
    s = sid()
    sub = svc.dss_put_subscription(p1, s, None, params(lower=0, upper=1000, start=2, end=8))["subscription"]
    # disjoint in time (ends as the subscription starts), in space, in altitude: no bump
    native(w, start_h=0, hours=2)
    native(w, lon=LNG + 1)
    native(w, lower=1000.5, upper=2000)
    native(w, start_h=8, hours=1)
    assert index(svc, p1, s) == 0
    # a draft is not live: no bump
    w.service.create_item(w.p["a_cmd"], "activity", ItemInput(kind="air_sortie", volumes=volumes_from_json([volume()])))
    assert index(svc, p1, s) == 0
    # touching in altitude (closed bands) and overlapping in time: a bump each change
    item = native(w, lower=1000, upper=2000, start_h=7, hours=3)
    assert index(svc, p1, s) == 1
    moved = ItemInput(kind="air_sortie", volumes=volumes_from_json([volume(lon=LNG + 1)]))
    changed = svc.update_item(w.p["a_cmd"], "activity", item["id"], moved, version=item["version"])[1]["item"]
    assert index(svc, p1, s) == 2  # its old extents met the subscription: the area became free
    svc.update_item(w.p["a_cmd"], "activity", item["id"], moved, version=changed["version"])
    assert index(svc, p1, s) == 2  # far away before and after
    # the subscription's version does not change with its index
    after = svc.dss_get_subscription(p1, s)["subscription"]
    assert after["version"] == sub["version"]
    # a cancellation of a live activity in the area bumps it too
    with svc.store.read() as conn:  # bravo has read everything it conflicts with (the native key rule)
        key = tuple(conn.execute(sa.select(items.c.version)).scalars())
    other = native(w, user="b_cmd", key=key)
    assert index(svc, p1, s) == 3
    svc.transition(w.p["b_cmd"], "activity", other["id"], "cancel", version=other["version"])
    assert index(svc, p1, s) == 4


def test_flags_choose_which_entities_count(w: World) -> None:
    svc, p1 = w.service, w.p["uss1"]
    ois, cons, both = sid(), sid(), sid()
    svc.dss_put_subscription(p1, ois, None, params(ois=True, constraints=False))
    svc.dss_put_subscription(p1, cons, None, params(ois=False, constraints=True))
    svc.dss_put_subscription(p1, both, None, params(ois=True, constraints=True))
    native(w)
    assert [index(svc, p1, x) for x in (ois, cons, both)] == [1, 0, 1]
    native(w, item_type="zone", kind="base")
    assert [index(svc, p1, x) for x in (ois, cons, both)] == [1, 1, 2]


def test_put_subscription_lists_what_it_meets_per_flag_with_own_ovns_only(w: World) -> None:
    svc, p1 = w.service, w.p["uss1"]
    act = native(w)
    zone = native(w, item_type="zone", kind="base", start_h=1, hours=30)
    native(w, lon=LNG + 2)  # elsewhere
    body = svc.dss_put_subscription(p1, sid(), None, params(ois=True, constraints=True))
    (oir,) = body["operational_intent_references"]
    (con,) = body["constraint_references"]
    assert oir["manager"] == "alpha" and oir["state"] == "Accepted" and "ovn" not in oir
    assert oir["subscription_id"] == NULL_SUBSCRIPTION_ID and oir["uss_availability"] == "Unknown"
    assert oir["uss_base_url"] == DssLimits().native_base_url and oir["version"] == 1
    assert con["manager"] == "alpha" and "ovn" not in con and "state" not in con
    with svc.store.read() as conn:
        ids = dict(conn.execute(sa.select(items.c.id, items.c.dss_id)).all())
    assert (oir["id"], con["id"]) == (ids[act["id"]], ids[zone["id"]])
    only_ois = svc.dss_put_subscription(p1, sid(), None, params(ois=True, constraints=False))
    assert only_ois["constraint_references"] == [] and len(only_ois["operational_intent_references"]) == 1
    # the owner sees its OVN
    with svc.store.read() as conn:
        row = conn.execute(sa.select(items).where(items.c.id == act["id"])).one()
        limits = svc._dss_limits(conn)
        availability = svc._dss_availability(conn)
    assert svc._dss_oir_document(row, w.p["a_cmd"], availability, limits)["ovn"] == act["version"]


def test_subscribers_are_grouped_by_url() -> None:
    rows = [
        SimpleNamespace(id="b", uss_base_url=URL2, notification_index=3),
        SimpleNamespace(id="c", uss_base_url=URL1, notification_index=1),
        SimpleNamespace(id="a", uss_base_url=URL2, notification_index=7),
    ]
    assert Service._dss_subscribers(rows) == [  # type: ignore[arg-type]
        {"uss_base_url": URL1, "subscriptions": [{"subscription_id": "c", "notification_index": 1}]},
        {
            "uss_base_url": URL2,
            "subscriptions": [
                {"subscription_id": "a", "notification_index": 7},
                {"subscription_id": "b", "notification_index": 3},
            ],
        },
    ]


def test_bumps_are_collected_for_the_writer(w: World) -> None:
    svc, p1 = w.service, w.p["uss1"]
    s = sid()
    svc.dss_put_subscription(p1, s, None, params())
    item = native(w)

    def run(conn: Any) -> tuple[int, dict[str, Any]]:
        svc._dss_take_affected(conn)
        row = svc._load(conn, item["id"], "activity")
        svc._set_state(conn, w.p["a_cmd"], row, "active", T0)
        affected = svc._dss_take_affected(conn)
        return 200, {"subscribers": svc._dss_subscribers(affected), "again": svc._dss_take_affected(conn)}

    body = svc._write(run)[1]
    assert body == {
        "subscribers": [{"uss_base_url": URL1, "subscriptions": [{"subscription_id": s, "notification_index": 2}]}],
        "again": [],
    }


# --- implicit subscriptions and dependents ---------------------------------------------------------


def _bind(w: World, p: Principal, **kw: Any) -> str:
    svc = w.service

    def run(conn: Any) -> tuple[int, dict[str, Any]]:
        limits = svc._dss_limits(conn)
        kw.setdefault("entity_id", "act_x")
        kw.setdefault("current", None)
        kw.setdefault("subscription_id", None)
        kw.setdefault("new_subscription", None)
        kw.setdefault("state", "Activated")
        return 200, {"sid": svc._dss_bind_subscription(conn, p, now=T0, limits=limits, **kw)}

    return str(svc._write(run, principal=p)[1]["sid"])


def vols(**kw: Any) -> tuple[Any, ...]:
    return (parse_volume(extents(lower=0, upper=120, **kw), "v", max_area_km2=1e9),)


def test_an_implicit_subscription_covers_the_intent_and_is_listed_as_implicit(w: World) -> None:
    svc, p1 = w.service, w.p["uss1"]
    s = _bind(w, p1, volumes=vols(radius=2000), new_subscription={"uss_base_url": URL1})
    sub = svc.dss_get_subscription(p1, s)["subscription"]
    assert sub["implicit_subscription"] is True and sub["notify_for_operational_intents"] is True
    assert sub["notify_for_constraints"] is False and sub["uss_base_url"] == URL1
    assert (sub["time_start"], sub["time_end"]) == (t(0), t(12))
    # the envelope covers the extents: an explicit reference to it passes, and a new
    # intent elsewhere referencing it grows it (it is implicit)
    assert _bind(w, p1, volumes=vols(radius=2000), subscription_id=s) == s
    v_before = svc.dss_get_subscription(p1, s)["subscription"]["version"]
    assert _bind(w, p1, entity_id="act_y", volumes=vols(lng=LNG + 0.1, radius=2000), subscription_id=s) == s
    assert svc.dss_get_subscription(p1, s)["subscription"]["version"] != v_before
    # releasing it with no live dependent deletes it
    svc._write(lambda conn: (svc._dss_release_subscription(conn, s, leaving_item_id="act_x"), (200, {}))[1])
    with pytest.raises(DssError):
        svc.dss_get_subscription(p1, s)


def test_binding_rules(w: World) -> None:
    svc, p1 = w.service, w.p["uss1"]
    explicit = sid()
    svc.dss_put_subscription(p1, explicit, None, params(radius=5000))
    cons_only = sid()
    svc.dss_put_subscription(p1, cons_only, None, params(ois=False, constraints=True))
    theirs = sid()
    svc.dss_put_subscription(w.p["uss2"], theirs, None, params(url=URL2))
    assert _bind(w, p1, volumes=vols(radius=1000), subscription_id=explicit) == explicit
    assert _bind(w, p1, volumes=vols(), state="Accepted") == NULL_SUBSCRIPTION_ID
    before = count(svc, dss_subscriptions)
    for kw, status, field in [
        (dict(volumes=vols(radius=6000), subscription_id=explicit), 400, "subscription_id"),  # not covered
        (dict(volumes=vols(end=13), subscription_id=explicit), 400, "subscription_id"),  # ends later
        (dict(volumes=vols(), subscription_id=cons_only), 400, "subscription_id"),  # no OI notifications
        (dict(volumes=vols(), subscription_id=theirs), 400, "subscription_id"),  # another USS's
        (dict(volumes=vols(), subscription_id=sid()), 400, "subscription_id"),  # none such
        (dict(volumes=vols(), state="Activated"), 400, "subscription_id"),  # Activated needs one
        (
            dict(volumes=vols(), new_subscription={"uss_base_url": URL1, "notify_for_constraints": True}),
            403,
            "new_subscription.notify_for_constraints",
        ),
    ]:
        p = w.p["uss1"] if status != 403 else Principal("uss1", "uss1", "member", "client", frozenset({SC}))
        with pytest.raises(DssError) as info:
            _bind(w, p, **kw)
        assert (info.value.status, info.value.field) == (status, field), info.value.message
    with pytest.raises(ValidationError) as v_info:
        _bind(w, p1, volumes=vols(), new_subscription={"uss_base_url": "nope"})
    assert v_info.value.field == "new_subscription.uss_base_url"
    assert count(svc, dss_subscriptions) == before


def _oir(w: World, p: Principal, entity: str, **kw: Any) -> dict[str, Any]:
    body = {
        "extents": [extents(lower=0, upper=120, **kw.pop("where", {}))],
        "state": kw.pop("state", "Accepted"),
        "uss_base_url": URL1,
        **kw,
    }
    return w.service.dss_put_oir(p, entity, None, body)[1]


def test_dependents_hold_their_subscription(w: World) -> None:
    svc, p1 = w.service, w.p["uss1"]
    s = sid()
    v = svc.dss_put_subscription(p1, s, None, params(radius=5000))["subscription"]["version"]
    entity = sid()
    created = _oir(w, p1, entity, where=dict(radius=1000), subscription_id=s)
    assert created["operational_intent_reference"]["subscription_id"] == s
    sub = svc.dss_get_subscription(p1, s)["subscription"]
    assert sub["dependent_operational_intents"] == [entity]
    assert sub["notification_index"] == 1  # the intent's own creation, in its own subscription
    before = (count(svc, dss_subscriptions), svc.dss_get_subscription(p1, s))
    for call, field in [
        (lambda: svc.dss_delete_subscription(p1, s, v), "subscriptionid"),
        (lambda: svc.dss_put_subscription(p1, s, v, params(radius=500)), "extents"),
        (lambda: svc.dss_put_subscription(p1, s, v, params(start=0, end=0.5)), "extents"),
        (
            lambda: svc.dss_put_subscription(p1, s, v, params(ois=False, constraints=True)),
            "notify_for_operational_intents",
        ),
    ]:
        with pytest.raises(DssError) as info:
            call()
        assert (info.value.status, info.value.field) == (400, field), info.value.message
    assert (count(svc, dss_subscriptions), svc.dss_get_subscription(p1, s)) == before
    # growing it is fine
    grown = svc.dss_put_subscription(p1, s, v, params(radius=8000))["subscription"]
    assert grown["dependent_operational_intents"] == [entity]
    # an implicit subscription of an intent is deleted with the intent
    other = sid()
    made = _oir(w, p1, other, where=dict(lng=LNG + 1), new_subscription={"uss_base_url": URL1})
    implicit = made["operational_intent_reference"]["subscription_id"]
    assert svc.dss_get_subscription(p1, implicit)["subscription"]["implicit_subscription"] is True
    svc.dss_delete_oir(p1, other, made["operational_intent_reference"]["ovn"])
    with pytest.raises(DssError):
        svc.dss_get_subscription(p1, implicit)


# --- expiry and settings -------------------------------------------------------------------------


def test_expired_subscriptions_without_dependents_are_deleted(w: World) -> None:
    svc, p1 = w.service, w.p["uss1"]
    short, long_ = sid(), sid()
    svc.dss_put_subscription(p1, short, None, params(end=1))
    svc.dss_put_subscription(p1, long_, None, params(end=5))
    assert svc.dss_expire_subscriptions() == 0
    w.clock.advance(timedelta(hours=2))
    assert svc.tick()["dss_expired"] == 1  # the scheduler's tick does it
    with pytest.raises(DssError):
        svc.dss_get_subscription(p1, short)
    assert svc.dss_get_subscription(p1, long_)["subscription"]["id"] == long_


def test_dss_settings(w: World) -> None:
    svc = w.service
    assert svc.get_dss_settings() == DssLimits().to_settings()
    got = svc.set_dss_settings({"max_area_km2": 10, "subscription_max_s": 7200})
    assert got["max_area_km2"] == 10.0 and got["subscription_max_s"] == 7200.0
    assert svc.get_dss_settings() == got
    assert any(e.type == "dss.settings_changed" for e in seen_events(svc, "uss1"))
    with pytest.raises(AreaTooLarge):
        svc.dss_put_subscription(w.p["uss1"], sid(), None, params(radius=5000))
    with pytest.raises(ValidationError) as info:
        svc.dss_put_subscription(w.p["uss1"], sid(), None, params(radius=1000, end=3))
    assert info.value.field == "extents"
    for doc, field in [
        ({"nope": 1}, "dss.nope"),
        ({"max_area_km2": -1}, "dss.max_area_km2"),
        ({"activity_kind": "submarine"}, "dss.activity_kind"),
        ({"activity_kind": "humanitarian_movement"}, "dss.activity_kind"),  # late notices refused
        ({"zone_kind": "moat"}, "dss.zone_kind"),
        ({"native_base_url": "https://x.example/"}, "dss.native_base_url"),
    ]:
        with pytest.raises(ValidationError) as info:
            svc.set_dss_settings(doc)
        assert info.value.field == field
    assert svc.get_dss_settings() == got
