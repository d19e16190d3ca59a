"""Service contract of the ASTM F3548-21 DSS interface: operational intent and constraint
references over the one model underneath, the key rule, states, USS availability and
reports (``docs/design/dss.md`` §8.2, scenarios 1–13 and 22–26, without HTTP).

Two USSs (``uss1`` with every scope, ``uss2`` with strategic coordination only), a
constraint manager (``uss3``) and an availability arbiter (``arb``) — F3548 parties whose
clients are called like them — and a native member (``blue``), over a real database;
nothing is mocked.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from conftest import T0, volume
from deconflict.errors import ValidationError
from deconflict.ledger import canonical, verify_export
from deconflict.service import ItemInput, ManualClock, Principal, Service
from deconflict.service.dss_types import AA, CM, CP, F3548_SCOPES, NULL_SUBSCRIPTION_ID, SC, DssError
from deconflict.store.schema import (
    access_log,
    dss_reports,
    dss_subscriptions,
    events,
    item_versions,
    items,
    liveness,
    notices,
    receipts,
    uss_availability,
)
from deconflict.wire import volumes_from_json
from dss_helpers import Authority

URL1 = "https://uss1.example.com/utm"
URL2 = "https://uss2.example.com/utm"
URL3 = "https://uss3.example.com/utm"

# --- the world ------------------------------------------------------------------------------


@dataclass
class Dss:
    service: Service
    clock: ManualClock
    uss1: Principal
    uss2: Principal
    uss3: Principal
    arb: Principal
    blue: Principal


@pytest.fixture
def dss(service: Service, clock: ManualClock) -> Dss:
    for party in ("uss1", "uss2", "uss3", "arb"):
        service.add_party(party, party.upper(), "member", protocol="f3548")
    service.add_party("blue", "Blue", "member")
    service.add_party("watch", "Observer", "observer")
    service.add_user("b_user", "blue", "liaison", password="correct horse battery staple")
    return Dss(
        service,
        clock,
        Principal("uss1", "uss1", "member", "client", F3548_SCOPES, protocol="f3548"),
        Principal("uss2", "uss2", "member", "client", frozenset({SC}), protocol="f3548"),
        Principal("uss3", "uss3", "member", "client", frozenset({CM, CP}), protocol="f3548"),
        Principal("arb", "arb", "member", "client", frozenset({AA}), protocol="f3548"),
        service.principal_for("b_user"),
    )


def uid() -> str:
    return str(uuid.uuid4())


def t(hours: float) -> dict[str, str]:
    return {"value": (T0 + timedelta(hours=hours)).isoformat().replace("+00:00", "Z"), "format": "RFC3339"}


def vol4(
    lon: float = 36.0,
    lat: float = 35.0,
    *,
    start_h: float = 3.0,
    hours: float = 2.0,
    radius_m: float = 5000.0,
    lower: float = 0.0,
    upper: float = 3000.0,
) -> dict[str, Any]:
    """An F3548 Volume4D: a circle ``start_h`` hours after T0."""
    return {
        "volume": {
            "outline_circle": {"center": {"lng": lon, "lat": lat}, "radius": {"value": radius_m, "units": "M"}},
            "altitude_lower": {"value": lower, "reference": "W84", "units": "M"},
            "altitude_upper": {"value": upper, "reference": "W84", "units": "M"},
        },
        "time_start": t(start_h),
        "time_end": t(start_h + hours),
    }


def oir(
    *extents: dict[str, Any],
    state: str = "Accepted",
    key: tuple[str, ...] = (),
    url: str = URL1,
    subscription: bool = True,
    constraints: bool = False,
) -> dict[str, Any]:
    body: dict[str, Any] = {"extents": list(extents) or [vol4()], "state": state, "uss_base_url": url, "key": list(key)}
    if subscription:
        body["new_subscription"] = {"uss_base_url": url, "notify_for_constraints": constraints}
    return body


def put(d: Dss, who: Principal, entity: str, body: dict[str, Any], ovn: str | None = None) -> dict[str, Any]:
    status, out = d.service.dss_put_oir(who, entity, ovn, body)
    assert status == (201 if ovn is None else 200)
    ref: dict[str, Any] = out["operational_intent_reference"]
    return ref


def refused(fn: Callable[[], Any]) -> DssError | ValidationError:
    """The error ``fn`` raises (a DSS answer, or a validation error: 400)."""
    with pytest.raises((DssError, ValidationError)) as info:
        fn()
    assert isinstance(info.value, DssError | ValidationError)
    return info.value


def status(e: Exception) -> int:
    return e.status if isinstance(e, DssError) else 400


def count(d: Dss, table: sa.Table, *where: Any) -> int:
    with d.service.store.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one())


def counts(d: Dss) -> tuple[int, ...]:
    return tuple(count(d, t) for t in (items, item_versions, dss_subscriptions, notices, uss_availability))


def native_state(d: Dss, entity: str) -> str:
    with d.service.store.read() as conn:
        return str(conn.execute(sa.select(items.c.state).where(items.c.dss_id == entity)).scalar_one())


def native(d: Dss, *vols: dict[str, Any], state: str = "notified") -> dict[str, Any]:
    """A native activity of ``blue`` (native wire volumes)."""
    data = ItemInput(kind="air_sortie", volumes=volumes_from_json(list(vols) or [volume()]))
    code, body = d.service.create_item(d.blue, "activity", data, state=state)
    assert code == 201
    item: dict[str, Any] = body["item"]
    return item


def _item_id(d: Dss, dss_id: str) -> str:
    with d.service.store.read() as conn:
        return str(conn.execute(sa.select(items.c.id).where(items.c.dss_id == dss_id)).scalar_one())


def dss_id_of(d: Dss, item_id: str) -> str:
    with d.service.store.read() as conn:
        return str(conn.execute(sa.select(items.c.dss_id).where(items.c.id == item_id)).scalar_one())


# --- key and OVN (scenarios 1–10) ---------------------------------------------------------------


def test_create_answer_and_the_key_rule_between_two_usss(dss: Dss) -> None:
    a_id, b_id = uid(), uid()
    status_, out = dss.service.dss_put_oir(dss.uss1, a_id, None, oir())
    assert status_ == 201
    a = out["operational_intent_reference"]
    assert a["id"] == a_id and a["manager"] == "uss1" and a["state"] == "Accepted" and a["version"] == 1
    assert 16 <= len(a["ovn"]) <= 128 and a["uss_base_url"] == URL1 and a["uss_availability"] == "Unknown"
    assert a["subscription_id"] != NULL_SUBSCRIPTION_ID  # an implicit subscription
    subscribed = {s["subscription_id"] for group in out["subscribers"] for s in group["subscriptions"]}
    assert a["subscription_id"] in subscribed  # the caller's own subscription is listed (L826)
    assert native_state(dss, a_id) == "notified"

    # 2: uss2 without a key → 409 naming A, without its OVN; nothing written
    before = counts(dss)
    e = refused(lambda: dss.service.dss_put_oir(dss.uss2, b_id, None, oir(url=URL2)))
    assert isinstance(e, DssError) and e.status == 409 and e.body is not None
    assert e.body["message"].startswith("key: ")
    [missing] = e.body["missing_operational_intents"]
    assert missing["id"] == a_id and missing["manager"] == "uss1" and "ovn" not in missing
    assert e.body["missing_constraints"] == []
    assert counts(dss) == before

    # 3: with A's OVN (learnt peer-to-peer) → 201
    b = put(dss, dss.uss2, b_id, oir(key=(a["ovn"],), url=URL2))
    assert b["manager"] == "uss2" and b["version"] == 1

    # 4: uss1 changes A: B's OVN is now needed
    e = refused(lambda: dss.service.dss_put_oir(dss.uss1, a_id, a["ovn"], oir(vol4(hours=3))))
    assert isinstance(e, DssError) and e.status == 409 and e.body is not None
    assert [m["id"] for m in e.body["missing_operational_intents"]] == [b_id]
    a2 = put(dss, dss.uss1, a_id, oir(vol4(hours=3), key=(b["ovn"],)), a["ovn"])
    assert a2["version"] == 2 and a2["ovn"] != a["ovn"]

    # 10: the manager reads the OVN; another USS does not
    assert dss.service.dss_get_oir(dss.uss1, a_id)["operational_intent_reference"]["ovn"] == a2["ovn"]
    seen = dss.service.dss_get_oir(dss.uss2, a_id)["operational_intent_reference"]
    assert "ovn" not in seen and seen["version"] == 2
    assert count(dss, access_log, access_log.c.party_id == "uss2") == 1  # the read is on record


def test_stale_or_missing_ovn_and_existing_ids(dss: Dss) -> None:
    a_id = uid()
    a = put(dss, dss.uss1, a_id, oir())
    before = counts(dss)
    # 5: a stale path OVN, and an update of a never-created id → 409 (no 404 declared, D10)
    e = refused(lambda: dss.service.dss_put_oir(dss.uss1, a_id, "x" * 22, oir()))
    assert status(e) == 409 and e.field == "ovn"
    e = refused(lambda: dss.service.dss_put_oir(dss.uss1, uid(), a["ovn"], oir()))
    assert status(e) == 409 and e.field == "ovn"
    e = refused(lambda: dss.service.dss_put_oir(dss.uss1, a_id, None, oir()))
    assert status(e) == 409 and e.field == "entityid"
    # another USS's intent → 403
    e = refused(lambda: dss.service.dss_put_oir(dss.uss2, a_id, a["ovn"], oir(url=URL2)))
    assert status(e) == 403
    # malformed: entity id not a UUIDv4, OVN too short, unknown state, bad URL
    assert status(refused(lambda: dss.service.dss_put_oir(dss.uss1, str(uuid.uuid1()), None, oir()))) == 400
    assert refused(lambda: dss.service.dss_put_oir(dss.uss1, a_id, "short", oir())).field == "ovn"
    assert refused(lambda: dss.service.dss_put_oir(dss.uss1, uid(), None, oir(state="Ended"))).field == "state"
    e = refused(lambda: dss.service.dss_put_oir(dss.uss1, uid(), None, oir(url="ftp://x/y")))
    assert e.field == "uss_base_url"
    e = refused(lambda: dss.service.dss_put_oir(dss.uss1, uid(), None, oir(vol4(start_h=-5))))
    assert status(e) == 400 and e.field.startswith("extents[0].time_end")
    assert counts(dss) == before
    # 6: the key need not hold the OVN of the intent being updated
    assert put(dss, dss.uss1, a_id, oir(vol4(radius_m=6000)), a["ovn"])["version"] == 2


@pytest.mark.parametrize(
    "other",
    [
        vol4(start_h=5.0, hours=1.0),  # [5h, 6h) after [3h, 5h): time-disjoint (half-open)
        vol4(lower=3100.0, upper=4000.0),  # above
        vol4(lon=38.0),  # 180 km away
    ],
    ids=["time", "altitude", "2d"],
)
def test_disjoint_intents_need_no_key(dss: Dss, other: dict[str, Any]) -> None:
    put(dss, dss.uss1, uid(), oir())
    assert put(dss, dss.uss2, uid(), oir(other, url=URL2))["version"] == 1


def test_the_same_usss_intersecting_intents_need_each_others_ovn(dss: Dss) -> None:
    first = put(dss, dss.uss1, uid(), oir())
    e = refused(lambda: dss.service.dss_put_oir(dss.uss1, uid(), None, oir()))
    assert isinstance(e, DssError) and e.status == 409 and e.body is not None
    [missing] = e.body["missing_operational_intents"]
    assert missing["id"] == first["id"] and missing["ovn"] == first["ovn"]  # its own: OVN shown
    put(dss, dss.uss1, uid(), oir(key=(first["ovn"],)))


def test_a_native_activity_is_in_the_key_and_in_the_record(dss: Dss) -> None:
    blue = native(dss)
    e = refused(lambda: dss.service.dss_put_oir(dss.uss1, uid(), None, oir()))
    assert isinstance(e, DssError) and e.status == 409 and e.body is not None
    [missing] = e.body["missing_operational_intents"]
    assert missing["manager"] == "blue" and missing["id"] == dss_id_of(dss, blue["id"]) and "ovn" not in missing
    a = put(dss, dss.uss1, uid(), oir(key=(blue["version"],)))
    # the native side hears of it: a notice to blue, and a stored conflict by the policy minima
    with dss.service.store.read() as conn:
        row = conn.execute(sa.select(items).where(items.c.dss_id == a["id"])).one()
        assert conn.execute(sa.select(notices.c.id).where(notices.c.item_id == row.id)).first() is not None
    assert len(dss.service.list_conflicts(dss.blue, item=row.id)["conflicts"]) == 1
    # the native party sees it as an activity of uss1, with the F3548 URL as contact
    doc = dss.service.get_item(dss.blue, "activity", row.id)
    assert doc["party"] == "uss1" and doc["contact"] == URL1 and doc["state"] == "notified"


# --- states (scenarios 11–13) ---------------------------------------------------------------------


def test_the_state_machine_and_the_key(dss: Dss) -> None:
    a_id = uid()
    b = put(dss, dss.uss2, uid(), oir(vol4(lon=36.15), url=URL2))  # ~13.6 km east: clear of A at first
    a = put(dss, dss.uss1, a_id, oir())
    a = put(dss, dss.uss1, a_id, oir(state="Activated"), a["ovn"])
    assert a["state"] == "Activated" and native_state(dss, a_id) == "active"
    # Nonconforming: no key, though the grown extents now meet B
    grown = vol4(radius_m=12_000)
    a = put(dss, dss.uss1, a_id, oir(grown, state="Nonconforming"), a["ovn"])
    assert a["state"] == "Nonconforming" and native_state(dss, a_id) == "nonconforming"
    # back to Activated: the key is needed again
    e = refused(lambda: dss.service.dss_put_oir(dss.uss1, a_id, a["ovn"], oir(grown, state="Activated")))
    assert status(e) == 409
    a = put(dss, dss.uss1, a_id, oir(grown, state="Activated", key=(b["ovn"],)), a["ovn"])
    a = put(dss, dss.uss1, a_id, oir(grown, state="Contingent"), a["ovn"])
    assert native_state(dss, a_id) == "contingent" and a["version"] == 5
    out = dss.service.dss_delete_oir(dss.uss1, a_id, a["ovn"])
    assert out["operational_intent_reference"]["id"] == a_id
    assert native_state(dss, a_id) == "completed"  # it flew
    e = refused(lambda: dss.service.dss_get_oir(dss.uss1, a_id))
    assert status(e) == 404


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ((), "Nonconforming"),
        ((), "Contingent"),
        (("Activated", "Contingent"), "Activated"),
        (("Activated",), "Accepted"),
        (("Activated", "Contingent"), "Nonconforming"),
    ],
)
def test_disallowed_transitions_are_400_and_write_nothing(dss: Dss, path: tuple[str, ...], target: str) -> None:
    a_id = uid()
    ovn = None
    if path:
        ovn = put(dss, dss.uss1, a_id, oir())["ovn"]
        for state in path:
            ovn = put(dss, dss.uss1, a_id, oir(state=state), ovn)["ovn"]
    before = counts(dss)
    e = refused(lambda: dss.service.dss_put_oir(dss.uss1, a_id, ovn, oir(state=target)))
    assert status(e) == 400 and e.field == "state"
    assert counts(dss) == before


def test_a_subscription_is_needed_beyond_accepted(dss: Dss) -> None:
    before = counts(dss)
    e = refused(lambda: dss.service.dss_put_oir(dss.uss1, uid(), None, oir(state="Activated", subscription=False)))
    assert status(e) == 400
    assert counts(dss) == before
    a = put(dss, dss.uss1, uid(), oir(subscription=False))
    assert a["subscription_id"] == NULL_SUBSCRIPTION_ID
    assert count(dss, dss_subscriptions) == 0


def test_delete_answers_and_cancels_what_never_flew(dss: Dss) -> None:
    a = put(dss, dss.uss1, uid(), oir())
    assert count(dss, dss_subscriptions) == 1
    before = counts(dss)
    assert status(refused(lambda: dss.service.dss_delete_oir(dss.uss1, uid(), a["ovn"]))) == 404
    assert status(refused(lambda: dss.service.dss_delete_oir(dss.uss1, a["id"], "y" * 22))) == 409
    assert status(refused(lambda: dss.service.dss_delete_oir(dss.uss2, a["id"], a["ovn"]))) == 403
    assert counts(dss) == before
    out = dss.service.dss_delete_oir(dss.uss1, a["id"], a["ovn"])
    assert out["operational_intent_reference"]["ovn"] == a["ovn"]
    assert native_state(dss, a["id"]) == "cancelled"
    assert count(dss, dss_subscriptions) == 0  # its implicit subscription went with it
    assert status(refused(lambda: dss.service.dss_delete_oir(dss.uss1, a["id"], a["ovn"]))) == 404


def test_subscribers_are_the_subscriptions_each_change_counted_in(dss: Dss) -> None:
    sid = uid()
    sub = {"extents": vol4(radius_m=1000.0), "uss_base_url": URL2, "notify_for_operational_intents": True}
    dss.service.dss_put_subscription(dss.uss2, sid, None, sub)
    code, out = dss.service.dss_put_oir(dss.uss1, uid(), None, oir(subscription=False))
    assert code == 201
    assert out["subscribers"] == [
        {"uss_base_url": URL2, "subscriptions": [{"subscription_id": sid, "notification_index": 1}]}
    ]
    a = out["operational_intent_reference"]
    # a native write in the area counts too (D8); blue learnt A's OVN by a native read
    learnt = dss.service.get_item(dss.blue, "activity", _item_id(dss, a["id"]))["version"]
    data = ItemInput(kind="air_sortie", volumes=volumes_from_json([volume(lon=36.01)]))
    assert dss.service.create_item(dss.blue, "activity", data, state="notified", key=(learnt,))[0] == 201
    gone = dss.service.dss_delete_oir(dss.uss1, a["id"], a["ovn"])
    assert gone["subscribers"] == [
        {"uss_base_url": URL2, "subscriptions": [{"subscription_id": sid, "notification_index": 3}]}
    ]
    # an implicit subscription deleted with its intent is not listed as one to notify
    b = put(dss, dss.uss1, uid(), oir(vol4(lon=38.0)))
    gone = dss.service.dss_delete_oir(dss.uss1, b["id"], b["ovn"])
    assert gone["subscribers"] == []


def test_late_notices_are_never_refused_on_the_dss(dss: Dss) -> None:
    dss.service.set_policy({"late_notice": {"air_sortie": "refuse"}, "min_notice_s": {"air_sortie": 4 * 3600}})
    a = put(dss, dss.uss1, uid(), oir(vol4(start_h=0.1)))
    with dss.service.store.read() as conn:
        assert conn.execute(sa.select(items.c.late_by_s).where(items.c.dss_id == a["id"])).scalar_one() is None
    dss.service.set_policy({"min_notice_s": {"air_sortie": 4 * 3600}})  # accepted late: measured
    b = put(dss, dss.uss1, uid(), oir(vol4(lon=38.0, start_h=1.0)))
    with dss.service.store.read() as conn:
        late = conn.execute(sa.select(items.c.late_by_s).where(items.c.dss_id == b["id"])).scalar_one()
    assert late == pytest.approx(3 * 3600)


# --- queries --------------------------------------------------------------------------------------


def test_query_finds_intersecting_live_intents_only(dss: Dss) -> None:
    a = put(dss, dss.uss1, uid(), oir())
    far = put(dss, dss.uss2, uid(), oir(vol4(lon=38.0), url=URL2))
    draft = native(dss, state="draft")
    blue = native(dss, volume(start_h=6.0))
    aoi = {
        "volume": {"outline_circle": {"center": {"lng": 36.0, "lat": 35.0}, "radius": {"value": 100.0, "units": "M"}}}
    }
    found = dss.service.dss_query_oirs(dss.uss2, {"area_of_interest": aoi | {"time_end": t(20)}})
    refs = {r["id"]: r for r in found["operational_intent_references"]}
    assert set(refs) == {a["id"], dss_id_of(dss, blue["id"])}  # not the far one, not the draft
    assert far["id"] not in refs and dss_id_of(dss, draft["id"]) not in refs
    assert all("ovn" not in r for r in refs.values())
    # the default window is [now, now + 24 h]: A (3 h – 5 h after now) is in it
    mine = dss.service.dss_query_oirs(dss.uss1, {"area_of_interest": aoi})["operational_intent_references"]
    assert [r["ovn"] for r in mine if r["id"] == a["id"]] == [a["ovn"]]
    # altitude and time narrow it
    high = aoi | {"volume": aoi["volume"] | {"altitude_lower": {"value": 3500, "reference": "W84", "units": "M"}}}
    assert dss.service.dss_query_oirs(dss.uss2, {"area_of_interest": high})["operational_intent_references"] == []
    late = aoi | {"time_start": t(5.0), "time_end": t(5.5)}
    got = dss.service.dss_query_oirs(dss.uss2, {"area_of_interest": late})["operational_intent_references"]
    assert [r["id"] for r in got] == []
    # no area of interest → 400, naming it
    assert refused(lambda: dss.service.dss_query_oirs(dss.uss2, {})).field == "area_of_interest"


def test_a_query_with_only_a_start_spans_the_longest_query_from_it(dss: Dss) -> None:
    far = put(dss, dss.uss1, uid(), oir(vol4(start_h=30.0, hours=1.0)))
    aoi = {"volume": vol4(radius_m=100.0)["volume"]}
    # [29.5 h, 53.5 h): 24 h (query_max_duration_s) from the start given, not from now
    got = dss.service.dss_query_oirs(dss.uss2, {"area_of_interest": aoi | {"time_start": t(29.5)}})
    assert [r["id"] for r in got["operational_intent_references"]] == [far["id"]]
    # [6 h, 30 h) ends where the intent begins (half-open): nothing
    got = dss.service.dss_query_oirs(dss.uss2, {"area_of_interest": aoi | {"time_start": t(6.0)}})
    assert got["operational_intent_references"] == []
    # constraints alike
    body = {"extents": [vol4(start_h=30.0, hours=1.0)], "uss_base_url": URL3}
    c = dss.service.dss_put_constraint(dss.uss3, uid(), None, body)[1]["constraint_reference"]
    got = dss.service.dss_query_constraints(dss.uss3, {"area_of_interest": aoi | {"time_start": t(29.5)}})
    assert [r["id"] for r in got["constraint_references"]] == [c["id"]]
    # an explicit end still may not lie more than 24 h after the start
    e = refused(
        lambda: dss.service.dss_query_oirs(
            dss.uss2, {"area_of_interest": aoi | {"time_start": t(6), "time_end": t(31)}}
        )
    )
    assert status(e) == 400 and e.field == "area_of_interest.time_end"


def test_an_ended_entitys_id_is_not_used_again(dss: Dss) -> None:
    a = put(dss, dss.uss1, uid(), oir())
    dss.service.dss_delete_oir(dss.uss1, a["id"], a["ovn"])
    c_id = uid()
    c = dss.service.dss_put_constraint(dss.uss3, c_id, None, {"extents": [vol4(lon=38.0)], "uss_base_url": URL3})
    dss.service.dss_delete_constraint(dss.uss3, c_id, c[1]["constraint_reference"]["ovn"])
    live = put(dss, dss.uss1, uid(), oir(vol4(lon=40.0)))
    before = counts(dss)
    constraint = {"extents": [vol4(lon=42.0)], "uss_base_url": URL3}
    for attempt, message in (
        # its manager, another USS, and a constraint under the ended intent's id
        (
            lambda: dss.service.dss_put_oir(dss.uss1, a["id"], None, oir()),
            f"entityid: {a['id']} belongs to an ended operational intent; use a new id",
        ),
        (
            lambda: dss.service.dss_put_oir(dss.uss2, a["id"], None, oir(url=URL2)),
            f"entityid: {a['id']} belongs to an ended operational intent; use a new id",
        ),
        (
            lambda: dss.service.dss_put_constraint(dss.uss3, a["id"], None, constraint),
            f"entityid: {a['id']} belongs to an ended operational intent; use a new id",
        ),
        (
            lambda: dss.service.dss_put_constraint(dss.uss3, c_id, None, constraint),
            f"entityid: {c_id} belongs to an ended constraint; use a new id",
        ),
        (
            lambda: dss.service.dss_put_oir(dss.uss1, c_id, None, oir(vol4(lon=42.0))),
            f"entityid: {c_id} belongs to an ended constraint; use a new id",
        ),
        # a live one: update it instead
        (
            lambda: dss.service.dss_put_oir(dss.uss1, live["id"], None, oir(vol4(lon=40.0))),
            f"entityid: an entity {live['id']} exists already; update it at its OVN",
        ),
    ):
        e = refused(attempt)
        assert isinstance(e, DssError) and e.status == 409 and e.message == message
    assert counts(dss) == before
    # a new id is fine
    assert put(dss, dss.uss1, uid(), oir())["version"] == 1


def test_a_state_change_that_keeps_the_ovn_counts_in_version(dss: Dss) -> None:
    sid = uid()
    sub = {"extents": vol4(start_h=0.0, hours=6.0), "uss_base_url": URL2, "notify_for_operational_intents": True}
    dss.service.dss_put_subscription(dss.uss2, sid, None, sub)
    blue = native(dss, volume(start_h=1.0, hours=1.0))
    entity = dss_id_of(dss, blue["id"])
    before = dss.service.dss_get_oir(dss.uss2, entity)["operational_intent_reference"]
    assert (before["state"], before["version"]) == ("Accepted", 1)
    versions = count(dss, item_versions, item_versions.c.item_id == blue["id"])
    dss.clock.advance(timedelta(hours=1, minutes=1))
    assert dss.service.tick()["activated"] == 1  # the scheduler: notified → active, same OVN
    after = dss.service.dss_get_oir(dss.uss2, entity)["operational_intent_reference"]
    assert (after["state"], after["version"]) == ("Activated", 2)
    details = dss.service.dss_native_details(dss.uss2, "activity", entity)["operational_intent"]["reference"]
    assert details["ovn"] == blue["version"] and details["version"] == 2
    assert count(dss, item_versions, item_versions.c.item_id == blue["id"]) == versions  # no new OVN on record
    index = dss.service.dss_get_subscription(dss.uss2, sid)["subscription"]["notification_index"]
    assert index == 2  # created, then activated


# --- constraints (scenarios 22–23) ----------------------------------------------------------------


def test_constraints_are_zones_and_count_for_constraint_processors_only(dss: Dss) -> None:
    a = put(dss, dss.uss1, uid(), oir(constraints=True))
    c_id = uid()
    status_, out = dss.service.dss_put_constraint(dss.uss3, c_id, None, {"extents": [vol4()], "uss_base_url": URL3})
    assert status_ == 201
    c = out["constraint_reference"]
    assert c["id"] == c_id and c["manager"] == "uss3" and c["version"] == 1 and "ovn" in c
    assert native_state(dss, c_id) == "active"
    # uss1 processes constraints: C is now in its key
    e = refused(lambda: dss.service.dss_put_oir(dss.uss1, a["id"], a["ovn"], oir(constraints=True)))
    assert isinstance(e, DssError) and e.status == 409 and e.body is not None
    assert e.body["missing_operational_intents"] == []
    [missing] = e.body["missing_constraints"]
    assert missing["id"] == c_id and "ovn" not in missing
    put(dss, dss.uss1, a["id"], oir(constraints=True, key=(c["ovn"],)), a["ovn"])
    # uss2 does not: A's OVN only (the subscription has no constraint notifications)
    a_now = dss.service.dss_get_oir(dss.uss1, a["id"])["operational_intent_reference"]
    put(dss, dss.uss2, uid(), oir(url=URL2, key=(a_now["ovn"],)))
    # 23: C is a native zone; a native zone is a constraint reference
    zones = dss.service.list_items(dss.blue, "zone")["items"]
    assert [z["party"] for z in zones] == ["uss3"]
    code, _ = dss.service.create_item(
        dss.blue, "zone", ItemInput(kind="base", volumes=volumes_from_json([volume(lon=36.02)]))
    )
    assert code == 201
    aoi = {"area_of_interest": vol4(radius_m=100.0)}
    refs = dss.service.dss_query_constraints(dss.uss1, aoi)["constraint_references"]
    assert {r["manager"] for r in refs} == {"uss3", "blue"}
    # update, refusals, delete → withdrawn
    c2 = dss.service.dss_put_constraint(dss.uss3, c_id, c["ovn"], {"extents": [vol4(hours=1)], "uss_base_url": URL3})
    assert c2[0] == 200 and c2[1]["constraint_reference"]["version"] == 2
    ovn = c2[1]["constraint_reference"]["ovn"]
    before = counts(dss)
    body3 = {"extents": [vol4()], "uss_base_url": URL3}
    assert status(refused(lambda: dss.service.dss_put_constraint(dss.uss1, c_id, ovn, body3))) == 403
    assert status(refused(lambda: dss.service.dss_put_constraint(dss.uss2, uid(), None, body3))) == 403  # no CM
    assert status(refused(lambda: dss.service.dss_put_constraint(dss.uss3, c_id, c["ovn"], body3))) == 409
    assert status(refused(lambda: dss.service.dss_delete_constraint(dss.uss3, uid(), ovn))) == 404
    assert counts(dss) == before
    dss.service.dss_delete_constraint(dss.uss3, c_id, ovn)
    assert native_state(dss, c_id) == "withdrawn"
    assert status(refused(lambda: dss.service.dss_get_constraint(dss.uss1, c_id))) == 404


# --- availability (scenarios 24–26) ---------------------------------------------------------------


def test_a_down_uss_cannot_plan_and_counts_at_its_worst_case(dss: Dss) -> None:
    a = put(dss, dss.uss1, uid(), oir())
    unknown = dss.service.dss_get_availability(dss.uss2, "uss1")
    assert unknown == {"status": {"uss": "uss1", "availability": "Unknown"}, "version": ""}
    set_ = dss.service.dss_set_availability(dss.arb, "uss1", {"old_version": "", "availability": "Down"})
    assert set_["status"] == {"uss": "uss1", "availability": "Down"} and set_["version"]
    assert dss.service.dss_get_availability(dss.uss2, "uss1") == set_
    # a stale version → 400
    e = refused(
        lambda: dss.service.dss_set_availability(dss.arb, "uss1", {"old_version": "", "availability": "Normal"})
    )
    assert status(e) == 400 and e.field == "old_version"
    # 24: create, keep in Accepted, delete → 412; Nonconforming is allowed
    before = counts(dss)
    for attempt in (
        lambda: dss.service.dss_put_oir(dss.uss1, uid(), None, oir(vol4(lon=38.0))),
        lambda: dss.service.dss_put_oir(dss.uss1, a["id"], a["ovn"], oir()),
        lambda: dss.service.dss_delete_oir(dss.uss1, a["id"], a["ovn"]),
    ):
        assert status(refused(attempt)) == 412
    assert counts(dss) == before
    # 25: at its worst case — B misses A's circle but lies in its bounding box
    corner = vol4(lon=36.05, lat=35.04, radius_m=200.0)
    e = refused(lambda: dss.service.dss_put_oir(dss.uss2, uid(), None, oir(corner, url=URL2)))
    assert isinstance(e, DssError) and e.status == 409 and e.body is not None
    [missing] = e.body["missing_operational_intents"]
    assert missing["id"] == a["id"] and missing["uss_availability"] == "Down"
    with dss.service.store.read() as conn:
        assert conn.execute(sa.select(events.c.seq).where(events.c.type == "party.down")).first() is not None
    # 26: Normal again → the exact extents again
    dss.service.dss_set_availability(dss.arb, "uss1", {"old_version": set_["version"], "availability": "Normal"})
    b = put(dss, dss.uss2, uid(), oir(corner, url=URL2))
    assert b["version"] == 1
    assert dss.service.dss_get_oir(dss.uss2, a["id"])["operational_intent_reference"]["uss_availability"] == "Normal"


def test_a_down_uss_may_still_declare_nonconformance(dss: Dss) -> None:
    a = put(dss, dss.uss1, uid(), oir())
    a = put(dss, dss.uss1, a["id"], oir(state="Activated"), a["ovn"])
    dss.service.dss_set_availability(dss.arb, "uss1", {"old_version": "", "availability": "Down"})
    assert put(dss, dss.uss1, a["id"], oir(state="Nonconforming"), a["ovn"])["state"] == "Nonconforming"


def test_availability_of_a_uss_that_is_no_party(dss: Dss) -> None:
    out = dss.service.dss_set_availability(dss.arb, "elsewhere", {"availability": "Down"})
    assert out["status"]["availability"] == "Down"
    with dss.service.store.read() as conn:
        row = conn.execute(sa.select(uss_availability).where(uss_availability.c.uss_id == "elsewhere")).one()
        assert row.party_id is None and row.updated_by == "arb"
        assert conn.execute(sa.select(events.c.seq).where(events.c.type == "party.down")).first() is None
    assert refused(lambda: dss.service.dss_set_availability(dss.arb, "x", {"availability": "Gone"})).field == (
        "availability"
    )


def _availability_world(dss: Dss) -> Principal:
    """``uss1``'s production client ``uss1-ops`` (bound through a trusted issuer), and its principal."""
    auth = Authority(dss.clock)
    dss.service.add_trusted_issuer(
        auth.issuer, "deconflict", auth.public_pem, algorithms=("RS256",), party_from="sub", audiences=("deconflict",)
    )
    dss.service.add_uss_client("uss1-ops", "uss1", issuer=auth.issuer)
    dss.service.add_uss_client("blue-uss", "blue", issuer=auth.issuer)
    return Principal("uss1-ops", "uss1", "member", "client", F3548_SCOPES, protocol="f3548")


def all_counts(d: Dss) -> tuple[int, ...]:
    return (*counts(d), count(d, events), count(d, liveness))


def test_a_native_partys_availability_is_its_heartbeats(dss: Dss) -> None:
    _availability_world(dss)
    blue = native(dss, volume(start_h=5.0))
    entity = dss_id_of(dss, blue["id"])
    dss.service.heartbeat(dss.blue)
    before = all_counts(dss)
    for uss_id, named in (("blue", "'blue'"), ("blue-uss", "'blue-uss' (a client of 'blue')")):
        for availability in ("Down", "Normal"):
            e = refused(
                lambda u=uss_id, a=availability: dss.service.dss_set_availability(
                    dss.arb, u, {"old_version": "", "availability": a}
                )
            )
            assert isinstance(e, DssError) and e.status == 400
            assert e.message == f"uss_id: {named} is a native party; its liveness follows its heartbeats"
    assert all_counts(dss) == before
    unknown = {"status": {"uss": "blue", "availability": "Unknown"}, "version": ""}
    assert dss.service.dss_get_availability(dss.uss2, "blue") == unknown
    # silent past down_after_s: DOWN on its channel, Down on the DSS (no arbitration, version "")
    dss.clock.advance(timedelta(seconds=dss.service.policy.down_after_s + 60))
    assert dss.service.tick()["down"] == 1
    assert dss.service.dss_get_availability(dss.uss2, "blue") == {
        "status": {"uss": "blue", "availability": "Down"},
        "version": "",
    }
    down = dss.service.dss_get_availability(dss.uss2, "blue-uss")
    assert down == {"status": {"uss": "blue-uss", "availability": "Down"}, "version": ""}
    ref = dss.service.dss_get_oir(dss.uss2, entity)["operational_intent_reference"]
    assert ref["manager"] == "blue" and ref["uss_availability"] == "Down"
    query = dss.service.dss_query_oirs(dss.uss2, {"area_of_interest": vol4(start_h=5.0)})
    assert [r["uss_availability"] for r in query["operational_intent_references"]] == ["Down"]
    # heard again: Unknown again
    dss.service.heartbeat(dss.blue)
    assert dss.service.dss_get_availability(dss.uss2, "blue") == unknown
    assert dss.service.dss_get_oir(dss.uss2, entity)["operational_intent_reference"]["uss_availability"] == "Unknown"


def test_the_manager_is_the_creating_client_and_its_availability_is_its_partys(dss: Dss) -> None:
    ops = _availability_world(dss)
    a = put(dss, ops, uid(), oir())
    assert a["manager"] == "uss1-ops" and "ovn" in a
    # every document shows the client; the OVN to the whole party (its other client too)
    assert dss.service.dss_get_oir(dss.uss2, a["id"])["operational_intent_reference"]["manager"] == "uss1-ops"
    assert "ovn" not in dss.service.dss_get_oir(dss.uss2, a["id"])["operational_intent_reference"]
    assert dss.service.dss_get_oir(dss.uss1, a["id"])["operational_intent_reference"]["ovn"] == a["ovn"]
    [found] = dss.service.dss_query_oirs(dss.uss2, {"area_of_interest": vol4()})["operational_intent_references"]
    assert found["manager"] == "uss1-ops"
    e = refused(lambda: dss.service.dss_put_oir(dss.uss2, uid(), None, oir(url=URL2)))
    assert isinstance(e, DssError) and e.body is not None
    assert [m["manager"] for m in e.body["missing_operational_intents"]] == ["uss1-ops"]
    sub = {"extents": vol4(), "uss_base_url": URL2, "notify_for_operational_intents": True}
    listed = dss.service.dss_put_subscription(dss.uss2, uid(), None, sub)["operational_intent_references"]
    assert [r["manager"] for r in listed] == ["uss1-ops"]
    e = refused(lambda: dss.service.dss_delete_oir(dss.uss2, a["id"], a["ovn"]))
    assert status(e) == 403 and "managed by 'uss1-ops'" in e.message
    # a native item's manager is its party
    blue = native(dss, volume(lon=38.0))
    assert dss.service.dss_get_oir(dss.uss2, dss_id_of(dss, blue["id"]))["operational_intent_reference"]["manager"] == (
        "blue"
    )
    # arbitrated under the manager's id; its party's id answers with the same record
    assert dss.service.dss_get_availability(dss.uss2, "uss1")["status"]["availability"] == "Unknown"
    down = dss.service.dss_set_availability(dss.arb, "uss1-ops", {"old_version": "", "availability": "Down"})
    for uss_id in ("uss1-ops", "uss1"):
        got = dss.service.dss_get_availability(dss.uss2, uss_id)
        assert got == {"status": {"uss": uss_id, "availability": "Down"}, "version": down["version"]}
    assert dss.service.dss_get_oir(dss.uss2, a["id"])["operational_intent_reference"]["uss_availability"] == "Down"
    with dss.service.store.read() as conn:
        assert conn.execute(sa.select(liveness.c.state).where(liveness.c.party_id == "uss1")).scalar_one() == "down"
    # set through the party's id at the version it was shown: the same record changes
    normal = dss.service.dss_set_availability(
        dss.arb, "uss1", {"old_version": down["version"], "availability": "Normal"}
    )
    assert dss.service.dss_get_availability(dss.uss2, "uss1-ops") == {
        "status": {"uss": "uss1-ops", "availability": "Normal"},
        "version": normal["version"],
    }
    assert count(dss, uss_availability) == 1
    assert dss.service.dss_get_oir(dss.uss2, a["id"])["operational_intent_reference"]["uss_availability"] == "Normal"
    with dss.service.store.read() as conn:
        assert conn.execute(sa.select(liveness.c.state).where(liveness.c.party_id == "uss1")).scalar_one() == "up"


# --- reports, scopes, roles -----------------------------------------------------------------------


def test_reports_are_kept_without_bearer_tokens(dss: Dss) -> None:
    report = {
        "exchange": {
            "url": "https://uss2.example.com/uss/v1/operational_intents/x",
            "method": "GET",
            "headers": ["Authorization: Bearer secret.token.value", "Accept: application/json"],
            "recorder_role": "Client",
            "request_time": t(0),
            "request": {"headers": {"authorization": "Bearer other.secret"}},
        }
    }
    out = dss.service.dss_report(dss.uss2, report)
    assert out["report_id"].startswith("rep_")
    headers = out["exchange"]["headers"]
    assert headers[0].startswith("Authorization: Bearer sha256:") and len(headers[0].split("sha256:")[1]) == 12
    assert headers[1] == "Accept: application/json"
    assert out["exchange"]["request"]["headers"]["authorization"].startswith("Bearer sha256:")
    with dss.service.store.read() as conn:
        stored = conn.execute(sa.select(dss_reports)).one()
    assert stored.id == out["report_id"] and stored.party_id == "uss2"
    assert "secret" not in str(stored.report)
    assert refused(lambda: dss.service.dss_report(dss.uss2, {})).field == "exchange"


def test_scopes_and_member_parties(dss: Dss) -> None:
    before = counts(dss)
    none = Principal("nobody", "uss2", "member", "client", frozenset())
    observer = Principal("watcher", "watch", "observer", "client", F3548_SCOPES)
    for attempt in (
        lambda: dss.service.dss_put_oir(dss.uss3, uid(), None, oir()),  # CM is not SC
        lambda: dss.service.dss_query_oirs(dss.arb, {"area_of_interest": vol4()}),
        lambda: dss.service.dss_set_availability(replace(dss.uss1, scopes=F3548_SCOPES - {AA}), "uss2", {}),
        lambda: dss.service.dss_report(none, {"exchange": {}}),
        lambda: dss.service.dss_put_oir(observer, uid(), None, oir()),  # not a member
        lambda: dss.service.dss_put_subscription(observer, uid(), None, {}),  # not a member
        lambda: dss.service.dss_get_availability(dss.uss3, "uss1"),
    ):
        e = refused(attempt)
        assert status(e) == 403
    assert counts(dss) == before


# --- the joint record (scenario 32, at service level) ----------------------------------------------


def test_the_joint_record_holds_every_dss_write_and_each_view_verifies(dss: Dss) -> None:
    a = put(dss, dss.uss1, uid(), oir(constraints=True))
    a = put(dss, dss.uss1, a["id"], oir(state="Activated", constraints=True), a["ovn"])
    dss.service.dss_put_constraint(dss.uss3, uid(), None, {"extents": [vol4(lon=38.0)], "uss_base_url": URL3})
    dss.service.dss_set_availability(dss.arb, "uss1", {"availability": "Down"})
    # a token no hash, signature or version can spell by chance ("~" is in no base64url)
    secret = "token~that~must~never~be~recorded"
    dss.service.dss_report(dss.uss2, {"exchange": {"headers": [f"Authorization: Bearer {secret}"]}})
    dss.service.dss_get_oir(dss.uss2, a["id"])
    lines = list(dss.service.ledger_lines())
    report = verify_export(lines)
    assert report.ok, report
    latest: dict[tuple[str, bytes], Any] = {}
    for e in (json.loads(line) for line in lines[1:]):
        if e.get("kind") == "row":
            latest[(e["payload"]["table"], canonical(e["payload"]["key"]))] = e["payload"]["row"]
    tables = {table for table, _ in latest}
    assert tables >= {"items", "item_versions", "dss_subscriptions", "uss_availability", "dss_reports", "liveness"}
    assert secret not in "".join(lines)  # the bearer token never reached the record
    view = list(dss.service.ledger_lines(dss.uss2))
    assert verify_export(view).ok
    shown = [json.loads(line) for line in view[1:]]
    subscriptions = [e for e in shown if e.get("kind") == "row" and e["payload"]["table"] == "dss_subscriptions"]
    assert subscriptions == []  # uss1's subscription is not uss2's to read (entries redacted)
    assert any(e.get("kind") == "row" and e["payload"]["table"] == "dss_reports" for e in shown)  # its own


# --- the native parties' USS side: details with the OVN, peer to peer ---------------------------


def test_a_uss_learns_a_native_items_ovn_from_the_native_side_and_the_read_is_recorded(dss: Dss) -> None:
    blue = native(dss)
    blue_dss_id = dss_id_of(dss, blue["id"])
    e = refused(lambda: dss.service.dss_put_oir(dss.uss2, uid(), None, oir(url=URL2)))
    assert status(e) == 409 and e.body is not None
    [missing] = e.body["missing_operational_intents"]
    assert missing["uss_base_url"] == dss.service.get_dss_settings()["native_base_url"] and "ovn" not in missing
    # uss2 asks the manager's base URL (this service, for native parties) for the details
    out = dss.service.dss_native_details(dss.uss2, "activity", blue_dss_id)
    ref, details = out["operational_intent"]["reference"], out["operational_intent"]["details"]
    assert ref["id"] == blue_dss_id and ref["ovn"] == blue["version"] and ref["manager"] == "blue"
    assert details["priority"] == 0 and details["off_nominal_volumes"] == []
    [v] = details["volumes"]
    assert v["volume"]["altitude_lower"]["reference"] == "W84" and v["time_start"]["value"] == blue["time_start"]
    # the read is on record as the native GET's: access log, and blue's notice opened by uss2
    with dss.service.store.read() as conn:
        logged = conn.execute(
            sa.select(access_log.c.action).where(access_log.c.party_id == "uss2", access_log.c.subject_id == blue["id"])
        ).scalars()
        assert list(logged) == ["dss_details_activity"]
        opened = conn.execute(
            sa.select(receipts.c.opened_by)
            .join(notices, sa.and_(receipts.c.subject_type == "notice", receipts.c.subject_id == notices.c.id))
            .where(notices.c.item_id == blue["id"], receipts.c.party_id == "uss2")
        ).scalars()
        assert list(opened) == ["uss2"]
    put(dss, dss.uss2, uid(), oir(url=URL2, key=(ref["ovn"],)))


def test_native_details_are_only_for_native_live_items_and_need_the_scope(dss: Dss) -> None:
    a = put(dss, dss.uss1, uid(), oir())
    e = refused(lambda: dss.service.dss_native_details(dss.uss2, "activity", a["id"]))
    assert status(e) == 404  # uss1 answers for its own intents, not this service
    assert status(refused(lambda: dss.service.dss_native_details(dss.uss2, "activity", uid()))) == 404
    assert status(refused(lambda: dss.service.dss_native_details(dss.uss3, "activity", a["id"]))) == 403
    assert status(refused(lambda: dss.service.dss_native_details(dss.uss2, "activity", "not-a-uuid"))) == 400
    zone_data = ItemInput(kind="protected_site", subtype="hospital", volumes=volumes_from_json([volume()]))
    zone = dss.service.create_item(dss.blue, "zone", zone_data)[1]["item"]
    assert status(refused(lambda: dss.service.dss_native_details(dss.uss2, "zone", zone["dss_id"]))) == 403  # needs CP
    got = dss.service.dss_native_details(dss.uss3, "zone", zone["dss_id"])["constraint"]
    assert got["details"]["type"] == "protected_site/hospital" and got["reference"]["ovn"] == zone["version"]
    draft = native(dss, state="draft")
    assert status(refused(lambda: dss.service.dss_native_details(dss.uss2, "activity", draft["dss_id"]))) == 404


def test_an_f3548_party_gets_receipts_without_deadline(dss: Dss) -> None:
    dss.service.add_party("uss9", "USS 9", "member", protocol="f3548")
    dss.service.add_party("red", "Red", "member")
    blue = native(dss)
    with dss.service.store.read() as conn:
        deadlines = dict(
            conn.execute(
                sa.select(receipts.c.party_id, receipts.c.deadline)
                .join(notices, sa.and_(receipts.c.subject_type == "notice", receipts.c.subject_id == notices.c.id))
                .where(notices.c.item_id == blue["id"])
            ).all()
        )
    assert deadlines["uss9"] is None  # an F3548 USS never acknowledges: nothing to escalate
    assert deadlines["red"] is not None  # a native member's receipt is due
