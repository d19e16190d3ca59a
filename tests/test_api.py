"""The HTTP API end to end: happy paths over HTTP, the problem-details shape, and bad
input that must be refused with a problem naming the field while storing nothing.

Every test runs against SQLite and PostgreSQL (the ``world`` fixture, or the
module-scoped ``shared`` world for tests that only read or are refused).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from api_helpers import (
    BACKENDS,
    PASSWORD,
    PROBLEM,
    T0,
    Api,
    activity_body,
    check_invariants,
    open_api,
    populate,
    shared_api,
    volume,
    walk_routes,
    zone_body,
)
from conftest import World
from deconflict.service import ManualClock, Service
from deconflict.store.schema import item_versions
from deconflict.wire import rfc3339

PROBLEM_KEYS = {"type", "title", "status", "detail", "field", "reason", "instance"}


@pytest.fixture
def api(service: Service, clock: ManualClock) -> Iterator[Api]:
    with open_api(populate(service, clock)) as a:
        yield a


@pytest.fixture(scope="module", params=BACKENDS)
def shared(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """One world per back-end for the tests that change nothing (or must change nothing)."""
    with shared_api(request, tmp_path_factory) as a:
        a.draft("a_liaison", title="existing draft", notes="alpha only")
        yield a


def assert_problem(r: Any, status: int, field: str | None = None, *, path: str | None = None) -> dict[str, Any]:
    """``r`` is an RFC 9457 problem document of ``status`` (naming ``field`` when given)."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    doc = dict(r.json())
    assert doc.keys() >= PROBLEM_KEYS, doc
    assert doc["status"] == status
    assert doc["type"].startswith("https://deconflict.example/problems/")
    assert doc["title"] and doc["reason"]
    assert doc["detail"] == (f"{doc['field']}: {doc['reason']}" if doc["field"] else doc["reason"])
    if path is not None:
        assert doc["instance"] == path
    if field is not None:
        assert doc["field"] == field, doc
    return doc


# --- service endpoints -----------------------------------------------------------------


def test_health_openapi_and_docs(shared: Api) -> None:
    health = shared.ok(shared.get(None, "/v1/health"))
    assert health["status"] == "ok"
    assert health["database"] == shared.service.store.dialect

    doc = shared.ok(shared.get(None, "/openapi.json"))
    assert doc["info"]["title"] == "deconflict"
    served = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    http_routes = {(m, p) for m, p in walk_routes(shared.app) if p.startswith("/v1") and m != "WS"}
    assert http_routes == served
    # errors are documented as problem documents
    create = doc["paths"]["/v1/activities"]["post"]["responses"]
    for status in ("401", "403", "409", "412", "413", "422"):
        assert "application/problem+json" in create[status]["content"]
    assert "application/geo+json" in doc["paths"]["/v1/export"]["get"]["responses"]["200"]["content"]

    docs = shared.get(None, "/docs")
    assert docs.status_code == 200
    assert docs.headers["content-type"].startswith("text/html")
    assert "/openapi.json" in docs.text


def test_parties_listed(shared: Api) -> None:
    parties = shared.ok(shared.get("o_user", "/v1/parties"))
    assert [(p["id"], p["role"]) for p in parties] == [
        ("alpha", "member"),
        ("bravo", "member"),
        ("unmed", "mediator"),
        ("watch", "observer"),
    ]


def test_login_and_me(world: World) -> None:
    with open_api(world) as api:
        login_and_me(api)


def login_and_me(api: Api) -> None:
    r = api.post(None, "/v1/auth/login", {"username": "b_cmd", "password": PASSWORD})
    token = api.ok(r)
    assert token["token_type"] == "Bearer" and token["user"] == "b_cmd" and token["party"] == "bravo"
    me = api.ok(api.client.get("/v1/me", headers={"Authorization": f"Bearer {token['access_token']}"}))
    assert me == {
        "user": "b_cmd",
        "party": "bravo",
        "party_role": "member",
        "role": "commander",
        "scopes": sorted(token["scopes"]),
        "language": "ar",
    }
    assert "admin" not in me["scopes"]

    for username, password in (("b_cmd", PASSWORD + "x"), ("nobody", PASSWORD), ("b_cmd", "")):
        r = api.post(None, "/v1/auth/login", {"username": username, "password": password})
        doc = assert_problem(r, 401, "credentials", path="/v1/auth/login")
        assert r.headers["www-authenticate"] == 'Bearer realm="deconflict"'
        assert doc["reason"] == "unknown user or wrong password"  # the same for both: no user enumeration

    api.service.deactivate_user("b_cmd")
    assert_problem(api.post(None, "/v1/auth/login", {"username": "b_cmd", "password": PASSWORD}), 401)
    assert_problem(api.post(None, "/v1/auth/login", {"username": "b_cmd"}), 422, "password")


def test_me_of_each_role(shared: Api) -> None:
    ro = shared.ok(shared.get("a_ro", "/v1/me"))
    assert ro["role"] == "read_only" and not [s for s in ro["scopes"] if s.endswith(":write")]
    obs = shared.ok(shared.get("o_user", "/v1/me"))
    assert (obs["party"], obs["party_role"]) == ("watch", "observer")
    ops = shared.ok(shared.get("ops", "/v1/me"))
    assert ops["scopes"] == ["admin"]


# --- activities --------------------------------------------------------------------------


def test_activity_draft_update_and_transitions(api: Api) -> None:
    before = api.counts()
    created = api.ok(
        api.post("a_liaison", "/v1/activities", activity_body(title="Recce", callsign="EAGLE 1", notes="2 ships")),
        201,
    )
    item = created["item"]
    assert (item["state"], item["party"], item["title"], item["notes"]) == ("draft", "alpha", "Recce", "2 ships")
    assert created["notice"] is None and created["conflicts"] == []
    assert item["notified_at"] is None
    after = api.counts()
    assert after["items"] == before["items"] + 1 and after["notices"] == before["notices"]
    path = f"/v1/activities/{item['id']}"

    got = api.ok(api.get("a_cmd", path))
    assert got == item  # a colleague of the same party sees everything, notes included

    # change the draft (its version changes)
    body = activity_body(volume(start_h=5), title="Recce 2", callsign="EAGLE 1", version=item["version"])
    changed = api.ok(api.put("a_liaison", path, body))["item"]
    assert changed["title"] == "Recce 2" and changed["version"] != item["version"]
    assert changed["time_start"] == rfc3339(T0 + timedelta(hours=5))
    assert changed["notes"] is None  # a PUT replaces the whole item

    # a stale version is refused
    stale = api.put("a_liaison", path, body)
    doc = assert_problem(stale, 412, "version")
    assert doc["current_version"] == changed["version"]

    notified = api.ok(api.post("a_liaison", f"{path}/notify", {"version": changed["version"]}))
    assert notified["item"]["state"] == "notified"
    assert notified["item"]["notified_at"] == rfc3339(T0)
    notice = notified["notice"]
    assert notice["recipients"] == ["bravo"] and notice["change"] == "notified"
    assert notice["late_by_s"] == 0

    # notifying twice is a state conflict
    again = api.post("a_liaison", f"{path}/notify", {"version": notified["item"]["version"]})
    assert_problem(again, 409, "state")
    # an unknown action is not a route
    assert_problem(api.post("a_liaison", f"{path}/explode", {"version": "x"}), 422, "action")

    active = api.ok(api.post("a_liaison", f"{path}/activate", {"version": notified["item"]["version"]}))
    assert active["item"]["state"] == "active"
    done = api.ok(api.post("a_cmd", f"{path}/complete", {"version": active["item"]["version"]}))
    assert done["item"]["state"] == "completed"
    assert_problem(
        api.put("a_liaison", path, body | {"version": done["item"]["version"]}), 409, "state"
    )  # a completed activity cannot be changed

    # bravo heard of it once: drafts and their changes are not notified
    bravo_notices = api.ok(api.get("b_liaison", "/v1/notices"))["notices"]
    assert [(n["item_id"], n["change"]) for n in bravo_notices] == [(item["id"], "notified")]
    # the history keeps every version the activity had
    with api.service.store.read() as conn:
        kept = conn.execute(sa.select(item_versions.c.version).where(item_versions.c.item_id == item["id"])).all()
    versions = [item, changed, notified["item"], active["item"], done["item"]]
    assert {r.version for r in kept} == {v["version"] for v in versions}
    check_invariants(api.service)


def test_activity_cancel_and_list_filters(api: Api) -> None:
    a1 = api.notify("a_liaison", volumes=[volume(36.0, 35.0)], title="one")["item"]
    api.clock.advance(timedelta(seconds=1))  # ids sort by creation time (to the millisecond)
    a2 = api.draft("a_liaison", volumes=[volume(40.0, 30.0, start_h=30)], title="two")
    api.clock.advance(timedelta(seconds=1))
    b1 = api.notify("b_liaison", volumes=[volume(20.0, 10.0)], title="bravo's")["item"]

    def ids(user: str, **params: Any) -> list[str]:
        return [i["id"] for i in api.ok(api.get(user, "/v1/activities", params=params))["items"]]

    assert ids("a_liaison") == [a1["id"], a2["id"], b1["id"]]
    assert ids("b_liaison") == [a1["id"], b1["id"]]  # alpha's draft is private
    assert ids("a_liaison", state="draft") == [a2["id"]]
    assert ids("a_liaison", party="bravo") == [b1["id"]]
    assert ids("a_liaison", bbox="35,34,37,36") == [a1["id"]]
    assert ids("a_liaison", start=rfc3339(T0 + timedelta(hours=20))) == [a2["id"]]
    assert ids("a_liaison", end=rfc3339(T0 + timedelta(hours=1))) == []
    assert ids("a_liaison", kind=["air_sortie", "maritime"]) == [a1["id"], a2["id"], b1["id"]]
    assert_problem(api.get("a_liaison", "/v1/activities", params={"start": "2026-11-25T10:00:00"}), 422, "start")
    assert_problem(api.get("a_liaison", "/v1/activities", params={"bbox": "1,2,3"}), 422, "bbox")
    assert_problem(api.get("a_liaison", "/v1/activities", params={"limit": 0}), 422, "limit")

    # paging: limit and next_cursor walk the list without gaps or repeats
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 1} | ({"cursor": cursor} if cursor else {})
        page = api.ok(api.get("a_liaison", "/v1/activities", params=params))
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [a1["id"], a2["id"], b1["id"]]

    cancelled = api.ok(api.post("a_liaison", f"/v1/activities/{a1['id']}/cancel", {"version": a1["version"]}))
    assert cancelled["item"]["state"] == "cancelled"
    assert cancelled["notice"]["change"] == "cancelled"  # a live activity's cancellation is notified
    dropped = api.ok(api.post("a_liaison", f"/v1/activities/{a2['id']}/cancel", {"version": a2["version"]}))
    assert dropped["notice"] is None  # a draft's is not: nobody else knew of it
    assert ids("b_liaison", state="cancelled") == [a1["id"]]


def test_check_previews_without_storing(api: Api) -> None:
    mine = api.notify("a_liaison", title="mine")["item"]
    before = api.counts()
    preview = api.ok(api.post("b_liaison", "/v1/activities/check", activity_body()))
    [c] = preview["conflicts"]
    assert c["other"] == {"id": mine["id"], "type": "activity", "party": "alpha", "kind": "air_sortie", "title": "mine"}
    [pair] = c["volumes"]
    assert (pair["volume"], pair["other_volume"], pair["lateral_gap_m"]) == (0, 0, 0.0)
    assert pair["window_start"] == mine["time_start"] and pair["window_end"] == mine["time_end"]
    assert "version" not in c["other"]  # a preview does not reveal the version (that needs a recorded read)
    clear = api.ok(api.post("b_liaison", "/v1/activities/check", activity_body(volume(0.0, 0.0))))
    assert clear == {"conflicts": []}
    zone_check = api.ok(api.post("b_liaison", "/v1/zones/check", zone_body()))
    assert [c["other"]["id"] for c in zone_check["conflicts"]] == [mine["id"]]
    assert api.counts() == before


def test_late_notice_policy_over_http(api: Api) -> None:
    # humanitarian movements need 48 h notice and late ones are refused
    before = api.counts()
    r = api.post("a_liaison", "/v1/activities", activity_body(kind="humanitarian_movement", state="notified"))
    doc = assert_problem(r, 422, "volumes")
    assert doc["required_notice_s"] == 172800.0 and doc["late_by_s"] > 0
    assert api.counts() == before
    # an air sortie 10 minutes out is accepted, late by 20 minutes
    late = api.notify("a_liaison", volumes=[volume(start_h=1 / 6)])
    assert late["item"]["late_by_s"] == pytest.approx(1200.0)
    assert late["notice"]["late_by_s"] == pytest.approx(1200.0)


def test_idempotent_create(api: Api) -> None:
    body = activity_body(title="once")
    first = api.post("a_liaison", "/v1/activities", body, headers={"Idempotency-Key": "k-1"})
    again = api.post("a_liaison", "/v1/activities", body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    listed = api.ok(api.get("a_liaison", "/v1/activities"))["items"]
    assert [i["title"] for i in listed] == ["once"]
    before = api.counts()
    reused = api.post("a_liaison", "/v1/activities", body | {"title": "twice"}, headers={"Idempotency-Key": "k-1"})
    assert_problem(reused, 422, "Idempotency-Key")
    assert api.counts() == before
    # keys are per user: another user's same key is another request
    other = api.post("a_cmd", "/v1/activities", body, headers={"Idempotency-Key": "k-1"})
    assert other.status_code == 201 and other.json()["item"]["id"] != first.json()["item"]["id"]


# --- zones -------------------------------------------------------------------------------


def test_zone_lifecycle(api: Api) -> None:
    created = api.ok(
        api.post(
            "b_liaison",
            "/v1/zones",
            zone_body(subtype="hospital", title="Hospital", minima={"lateral_m": 2000, "vertical_m": 0, "time_s": 0}),
        ),
        201,
    )
    zone = created["item"]
    assert (zone["type"], zone["state"], zone["subtype"]) == ("zone", "active", "hospital")
    assert zone["minima"] == {"lateral_m": 2000.0, "vertical_m": 0.0, "time_s": 0.0}
    assert created["notice"]["change"] == "created" and created["notice"]["recipients"] == ["alpha"]
    path = f"/v1/zones/{zone['id']}"
    seen = api.ok(api.get("a_liaison", path))
    assert seen["title"] == "Hospital" and "notes" not in seen
    assert [z["id"] for z in api.ok(api.get("o_user", "/v1/zones"))["items"]] == []  # bravo does not share
    assert [z["id"] for z in api.ok(api.get("m_user", "/v1/zones"))["items"]] == [zone["id"]]

    api.clock.advance(timedelta(seconds=1))  # notice ids sort by creation time (to the millisecond)
    changed = api.ok(api.put("b_liaison", path, zone_body(title="Hospital (east wing)", version=zone["version"])))
    assert changed["item"]["title"] == "Hospital (east wing)" and changed["notice"]["change"] == "updated"

    # an activity over the zone conflicts with it; the key must hold the zone's version
    act = api.notify("a_liaison")
    [conflict] = act["conflicts"]
    assert {conflict["a"]["item"]["id"], conflict["b"]["item"]["id"]} == {act["item"]["id"], zone["id"]}

    receipts = api.ok(api.get("b_liaison", f"{path}/receipts"))["notices"]
    assert [n["change"] for n in receipts] == ["created", "updated"]
    assert all(r["party"] == "alpha" for n in receipts for r in n["receipts"])
    assert receipts[-1]["receipts"][0]["opened_by"] == "a_liaison"  # alpha read the zone to build its key

    withdrawn = api.ok(api.post("b_liaison", f"{path}/withdraw", {"version": changed["item"]["version"]}))
    assert withdrawn["item"]["state"] == "withdrawn"
    gone = api.ok(api.get("a_liaison", f"/v1/conflicts/{conflict['id']}"))
    assert (gone["state"], gone["resolution"]) == ("resolved", "withdrawn")
    assert_problem(api.post("b_liaison", f"{path}/notify", {"version": "x"}), 422, "action")
    check_invariants(api.service)


# --- conflicts, notices and receipts -------------------------------------------------------


def test_conflict_flow(api: Api) -> None:
    a = api.notify("a_liaison", title="alpha sortie")["item"]
    # bravo is refused until it has read alpha's activity (proof of awareness)
    body = activity_body(title="bravo sortie", state="notified")
    refused = assert_problem(api.post("b_liaison", "/v1/activities", body), 409, "key")
    assert [m["id"] for m in refused["missing"]] == [a["id"]]
    assert "version" not in refused["missing"][0]
    version = api.read_version("b_liaison", "activity", a["id"])
    created = api.ok(api.post("b_liaison", "/v1/activities", body | {"key": [version]}), 201)
    [c] = created["conflicts"]
    assert c["state"] == "open"
    assert {c["a"]["party"], c["b"]["party"]} == {"alpha", "bravo"}
    cid = c["id"]

    for user in ("a_liaison", "b_liaison", "m_user"):
        listed = api.ok(api.get(user, "/v1/conflicts"))["conflicts"]
        assert [x["id"] for x in listed] == [cid]
    assert api.ok(api.get("a_liaison", "/v1/conflicts", params={"state": "resolved"}))["conflicts"] == []
    assert [x["id"] for x in api.ok(api.get("a_liaison", "/v1/conflicts", params={"item": a["id"]}))["conflicts"]] == [
        cid
    ]

    got = api.ok(api.get("a_liaison", f"/v1/conflicts/{cid}"))
    assert got["id"] == cid and got["volumes"]

    one = api.ok(api.post("b_liaison", f"/v1/conflicts/{cid}/acknowledge"))
    assert one["state"] == "open"
    both = api.ok(api.post("a_liaison", f"/v1/conflicts/{cid}/acknowledge"))
    assert both["state"] == "acknowledged"

    assert_problem(api.post("a_liaison", f"/v1/conflicts/{cid}/accept"), 403, "role")  # liaisons do not accept
    assert_problem(api.post("m_user", f"/v1/conflicts/{cid}/comment", {"text": "  "}), 422, "text")
    noted = api.ok(api.post("m_user", f"/v1/conflicts/{cid}/propose", {"text": "bravo moves 1 h later"}))
    assert noted["notes"][-1] | {"at": None} == {
        "party": "unmed",
        "user": "m_user",
        "kind": "proposal",
        "text": "bravo moves 1 h later",
        "at": None,
    }
    assert_problem(api.post("m_user", f"/v1/conflicts/{cid}/acknowledge"), 403)  # the mediator does not decide

    api.ok(api.post("a_cmd", f"/v1/conflicts/{cid}/accept"))
    accepted = api.ok(api.post("b_cmd", f"/v1/conflicts/{cid}/accept"))
    assert accepted["state"] == "accepted"
    assert (accepted["a"]["accepted_by"], accepted["b"]["accepted_by"]) in {("a_cmd", "b_cmd"), ("b_cmd", "a_cmd")}
    assert_problem(api.post("a_liaison", f"/v1/conflicts/{cid}/escalate"), 409, "state")

    receipts = api.ok(api.get("a_liaison", f"/v1/conflicts/{cid}/receipts"))["receipts"]
    assert [r["party"] for r in receipts] == ["alpha", "bravo"]
    assert {r["party"]: r["acknowledged_by"] for r in receipts} == {"alpha": "a_liaison", "bravo": "b_liaison"}
    assert all(r["deadline"] is None for r in receipts)  # accepted: nothing to escalate
    assert_problem(api.get("a_liaison", "/v1/conflicts/cfl_nope"), 404, "id")
    check_invariants(api.service)


def test_conflict_escalation_by_a_party(api: Api) -> None:
    api.notify("a_liaison")
    cid = api.notify("b_liaison")["conflicts"][0]["id"]
    escalated = api.ok(api.post("b_liaison", f"/v1/conflicts/{cid}/escalate"))
    assert (escalated["state"], escalated["escalated_by"]) == ("escalated", "b_liaison")
    receipts = api.ok(api.get("m_user", f"/v1/conflicts/{cid}/receipts"))["receipts"]
    assert {r["escalated_to"] for r in receipts} == {"mediator"}
    assert_problem(api.post("a_liaison", f"/v1/conflicts/{cid}/escalate"), 409, "state")


def test_notices_open_and_acknowledge(api: Api) -> None:
    a = api.notify("a_liaison", title="alpha sortie")
    nid = a["notice"]["id"]
    listed = api.ok(api.get("b_liaison", "/v1/notices"))["notices"]
    assert [n["id"] for n in listed] == [nid]
    receipt = listed[0]["receipt"]
    assert (receipt["party"], receipt["delivered_to"], receipt["opened_at"]) == ("bravo", "b_liaison", None)
    assert api.ok(api.get("a_liaison", "/v1/notices"))["notices"] == []  # nothing was sent to alpha

    opened = api.ok(api.get("b_cmd", f"/v1/notices/{nid}"))
    assert opened["receipt"]["opened_by"] == "b_cmd"
    assert opened["receipt"]["delivered_to"] == "b_liaison"  # the first delivery stays on record

    assert [n["id"] for n in api.ok(api.get("b_liaison", "/v1/notices", params={"pending": True}))["notices"]] == [nid]
    assert_problem(api.post("b_cmd", "/v1/notices/ntc_nope/acknowledge"), 404, "id")
    acked = api.ok(api.post("b_liaison", f"/v1/notices/{nid}/acknowledge"))
    assert acked["receipt"]["acknowledged_by"] == "b_liaison"
    assert api.ok(api.get("b_liaison", "/v1/notices", params={"pending": True}))["notices"] == []

    # the sender sees the receipts of its activity's notices
    [entry] = api.ok(api.get("a_liaison", f"/v1/activities/{a['item']['id']}/receipts"))["notices"]
    [r] = entry["receipts"]
    assert (r["party"], r["delivered_to"], r["opened_by"], r["acknowledged_by"]) == (
        "bravo",
        "b_liaison",
        "b_cmd",
        "b_liaison",
    )
    assert api.ok(api.get("m_user", f"/v1/activities/{a['item']['id']}/receipts")) == {"notices": [entry]}
    # the sender may open its own notice (no receipt of its own)
    assert api.ok(api.get("a_liaison", f"/v1/notices/{nid}"))["receipt"] is None


def test_events_paging(api: Api) -> None:
    api.notify("a_liaison")
    api.notify("b_liaison")
    everything = api.ok(api.get("b_liaison", "/v1/events", params={"limit": 1000}))
    events = everything["events"]
    assert everything["last_seq"] == events[-1]["seq"]
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(set(seqs))
    assert all("*" in e["audience"] or "bravo" in e["audience"] for e in events)
    types = [e["type"] for e in events]
    assert "activity.notified" in types and "conflict.opened" in types
    # alpha's own membership events are not bravo's to see
    assert not any(e["type"] == "membership.user_added" and e["audience"] == ["alpha"] for e in events)

    paged: list[dict[str, Any]] = []
    after = 0
    while True:
        page = api.ok(api.get("b_liaison", "/v1/events", params={"after": after, "limit": 3}))
        if not page["events"]:
            assert page["last_seq"] == after
            break
        assert len(page["events"]) <= 3
        paged += page["events"]
        after = page["last_seq"]
    assert paged == events
    assert_problem(api.get("b_liaison", "/v1/events", params={"after": -1}), 422, "after")
    # larger than a 64-bit sequence number: refused, not an overflow in the database
    assert_problem(api.get("b_liaison", "/v1/events", params={"after": 2**63}), 422, "after")


def test_policy_get_and_put(api: Api) -> None:
    policy = api.ok(api.get("a_ro", "/v1/policy"))
    assert policy["min_notice_s"]["air_sortie"] == 1800.0

    changed = copy.deepcopy(policy)
    changed["min_notice_s"]["air_sortie"] = 3 * 3600.0
    for user in ("a_cmd", "a_liaison", "m_user", "o_user"):
        assert_problem(api.put(user, "/v1/policy", changed), 403, "scope")
    assert api.ok(api.get("a_ro", "/v1/policy")) == policy

    stored = api.ok(api.put("ops", "/v1/policy", changed))
    assert stored["min_notice_s"]["air_sortie"] == 3 * 3600.0
    assert api.ok(api.get("b_liaison", "/v1/policy")) == stored
    # the new rule applies at once: a sortie 2 h out is now an hour late
    late = api.notify("a_liaison", volumes=[volume(start_h=2)])
    assert late["item"]["late_by_s"] == pytest.approx(3600.0)
    events = api.ok(api.get("b_liaison", "/v1/events", params={"limit": 1000}))["events"]
    assert [e["payload"]["by"] for e in events if e["type"] == "policy.changed"] == ["ops"]

    before = api.counts()
    bad = copy.deepcopy(stored)
    bad["min_notice_s"]["air_sortie"] = -1
    assert_problem(api.put("ops", "/v1/policy", bad), 422)
    assert_problem(api.put("ops", "/v1/policy", {"colour": "red"}), 422, "colour")
    assert api.counts() == before
    assert api.ok(api.get("a_ro", "/v1/policy")) == stored


# --- the problem document --------------------------------------------------------------------


def test_problem_details_shape(api: Api) -> None:
    """Pins the error shape clients rely on, status by status."""
    # 401
    r = api.get(None, "/v1/me")
    doc = assert_problem(r, 401, "authorization", path="/v1/me")
    assert r.headers["www-authenticate"] == 'Bearer realm="deconflict"'
    assert doc["title"] == "Not authenticated"
    assert doc["type"] == "https://deconflict.example/problems/not-authenticated"
    # 403
    doc = assert_problem(api.post("a_ro", "/v1/activities", activity_body()), 403, "scope", path="/v1/activities")
    assert doc["title"] == "Forbidden"
    # 404 (unknown object, and unknown route)
    assert_problem(api.get("a_liaison", "/v1/activities/act_nope"), 404, "id", path="/v1/activities/act_nope")
    assert_problem(api.get("a_liaison", "/v1/nowhere"), 404, "", path="/v1/nowhere")
    # 409 with the objects the key lacks
    mine = api.notify("a_liaison", title="first")["item"]
    r = api.post("b_liaison", "/v1/activities", activity_body(state="notified"))
    doc = assert_problem(r, 409, "key", path="/v1/activities")
    assert doc["missing"] == [
        {
            "id": mine["id"],
            "type": "activity",
            "party": "alpha",
            "kind": "air_sortie",
            "title": "first",
            "time_start": mine["time_start"],
            "time_end": mine["time_end"],
        }
    ]
    # 412 with the current version
    path = f"/v1/activities/{mine['id']}"
    doc = assert_problem(
        api.post("a_liaison", f"{path}/cancel", {"version": "old"}), 412, "version", path=path + "/cancel"
    )
    assert doc["current_version"] == mine["version"]
    # 413 before the body is even parsed
    big = b'{"kind": "air_sortie", "title": "' + b"x" * 2_100_000 + b'"}'
    r = api.client.post(
        "/v1/activities", content=big, headers=api.h("a_liaison", **{"content-type": "application/json"})
    )
    assert_problem(r, 413, "body", path="/v1/activities")
    # 422 with every error listed
    bad = volume()
    bad["time_start"]["value"] = "2026-11-25T11:00:00"
    bad["altitude_upper"]["value"] = "high"
    doc = assert_problem(api.post("a_liaison", "/v1/activities", activity_body(bad)), 422, path="/v1/activities")
    assert doc["type"] == "https://deconflict.example/problems/validation"
    fields = {e["field"] for e in doc["errors"]}
    assert {"volumes[0].time_start.value", "volumes[0].altitude_upper.value"} <= fields
    assert doc["field"] in fields
    assert all(e["reason"] for e in doc["errors"])
    # 405 is a problem too
    assert_problem(api.client.delete("/v1/activities", headers=api.h("a_liaison")), 405)


# --- bad input, by hand ------------------------------------------------------------------------


def _vol(**patch: Any) -> dict[str, Any]:
    v = volume()
    for key, value in patch.items():
        if value is None:
            v.pop(key, None)
        else:
            v[key] = value
    return v


def _ring(n: int, lon: float = 36.0, lat: float = 35.0, r: float = 0.1) -> list[dict[str, float]]:
    return [
        {"lng": lon + r * math.cos(2 * math.pi * i / n), "lat": lat + r * math.sin(2 * math.pi * i / n)}
        for i in range(n)
    ]


BOWTIE = [
    {"lng": 36.0, "lat": 35.0},
    {"lng": 36.1, "lat": 35.1},
    {"lng": 36.1, "lat": 35.0},
    {"lng": 36.0, "lat": 35.1},
]


def _feature(**props: Any) -> dict[str, Any]:
    geometry = props.pop("geometry", {"type": "Point", "coordinates": [36.0, 35.0]})
    base = {
        "item_id": "X-1",
        "kind": "air_sortie",
        "radius_m": 1000.0,
        "altitude_lower_m": 0.0,
        "altitude_upper_m": 1000.0,
        "time_start": "2026-11-25T11:00:00Z",
        "time_end": "2026-11-25T12:00:00Z",
    }
    merged = {k: v for k, v in {**base, **props}.items() if v is not None}
    return {"type": "Feature", "geometry": geometry, "properties": merged}


def _fc(*features: dict[str, Any]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


POLYGON = {"type": "Polygon", "coordinates": [[[36.0, 35.0], [36.1, 35.0], [36.1, 35.1], [36.0, 35.0]]]}
BOWTIE_GEOMETRY = {
    "type": "Polygon",
    "coordinates": [[[36.0, 35.0], [36.1, 35.1], [36.1, 35.0], [36.0, 35.1], [36.0, 35.0]]],
}

# (name, method, path, body, status, field: exact, or a prefix ending in '*'); a body of
# bytes is sent as it is, a tuple of bytes as a chunked (streamed) body
# fmt: off
BAD_INPUT: list[tuple[str, str, str, Any, int, str]] = [
    ("bowtie polygon", "POST", "/v1/activities",
     activity_body(_vol(outline_circle=None, outline_polygon={"vertices": BOWTIE})), 422, "volumes[0].*"),
    ("too many vertices", "POST", "/v1/activities",
     activity_body(_vol(outline_circle=None, outline_polygon={"vertices": _ring(2001)})), 422,
     "volumes[0].outline_polygon.vertices"),
    ("two vertices", "POST", "/v1/activities",
     activity_body(_vol(outline_circle=None, outline_polygon={"vertices": _ring(2)})), 422,
     "volumes[0].outline_polygon.vertices"),
    ("two footprints", "POST", "/v1/activities",
     activity_body(_vol(outline_polygon={"vertices": _ring(5)})), 422, "volumes[0]"),
    ("no footprint", "POST", "/v1/activities", activity_body(_vol(outline_circle=None)), 422, "volumes[0]"),
    ("latitude 91", "POST", "/v1/activities",
     activity_body(_vol(outline_circle={"center": {"lng": 36, "lat": 91}, "radius": {"value": 100}})), 422,
     "volumes[0].outline_circle.center.lat"),
    ("longitude -181", "POST", "/v1/zones",
     zone_body(_vol(outline_circle={"center": {"lng": -181, "lat": 0}, "radius": {"value": 100}})), 422,
     "volumes[0].outline_circle.center.lng"),
    ("NaN as a string", "POST", "/v1/activities",
     activity_body(_vol(outline_circle={"center": {"lng": "NaN", "lat": 35}, "radius": {"value": 100}})), 422,
     "volumes[0].outline_circle.center.lng"),
    ("inf as a string", "POST", "/v1/activities",
     activity_body(_vol(altitude_upper={"value": "inf"})), 422, "volumes[0].altitude_upper.value"),
    ("-Infinity radius", "POST", "/v1/activities/check",
     activity_body(_vol(outline_circle={"center": {"lng": 36, "lat": 35}, "radius": {"value": "-Infinity"}})),
     422, "volumes[0].outline_circle.radius.value"),
    ("time without zone", "POST", "/v1/activities",
     activity_body(_vol(time_start={"value": "2026-11-25T11:00:00"})), 422, "volumes[0].time_start.value"),
    ("date only", "POST", "/v1/activities",
     activity_body(_vol(time_end={"value": "2026-11-26"})), 422, "volumes[0].time_end.value"),
    ("end before start", "POST", "/v1/activities",
     activity_body(_vol(time_end={"value": "2026-11-25T10:00:00Z"})), 422, "volumes[0].time_end"),
    ("lower above upper", "POST", "/v1/activities",
     activity_body(_vol(altitude_upper={"value": -5})), 422, "volumes[0].altitude_lower"),
    ("unknown altitude reference", "POST", "/v1/activities",
     activity_body(_vol(altitude_upper={"value": 5, "reference": "AGL"})), 422,
     "volumes[0].altitude_upper.reference"),
    ("huge circle", "POST", "/v1/activities",
     activity_body(_vol(outline_circle={"center": {"lng": 36, "lat": 35}, "radius": {"value": 9e6}})), 422,
     "volumes[0].*"),
    ("empty volumes", "POST", "/v1/activities", activity_body() | {"volumes": []}, 422, "volumes"),
    ("volumes missing", "POST", "/v1/activities", {"kind": "air_sortie"}, 422, "volumes"),
    ("101 volumes", "POST", "/v1/activities", activity_body(*[volume()] * 101), 422, "volumes"),
    ("volumes not a list", "POST", "/v1/activities", activity_body() | {"volumes": {"a": 1}}, 422, "volumes"),
    ("unknown field", "POST", "/v1/activities", activity_body(colour="red"), 422, "colour"),
    ("unknown volume field", "POST", "/v1/activities", activity_body(_vol(colour="red")), 422, "volumes[0].colour"),
    ("wrong type: title", "POST", "/v1/activities", activity_body(title=["x"]), 422, "title"),
    ("wrong type: altitude", "POST", "/v1/activities",
     activity_body(_vol(altitude_lower={"value": [1]})), 422, "volumes[0].altitude_lower.value"),
    ("title too long", "POST", "/v1/activities", activity_body(title="x" * 201), 422, "title"),
    ("unknown kind", "POST", "/v1/activities", activity_body(kind="spaceship"), 422, "kind"),
    ("zone kind on an activity", "POST", "/v1/activities", activity_body(kind="base"), 422, "kind"),
    ("state active", "POST", "/v1/activities", activity_body(state="active"), 422, "state"),
    ("minima on an activity", "POST", "/v1/activities", activity_body(minima={"lateral_m": 1}), 422, "minima"),
    ("unknown zone subtype", "POST", "/v1/zones", zone_body(subtype="castle"), 422, "subtype"),
    ("negative minima", "POST", "/v1/zones", zone_body(minima={"lateral_m": -1}), 422, "minima.lateral_m"),
    ("body is a list", "POST", "/v1/activities", [activity_body()], 422, "body"),
    ("body is not JSON", "POST", "/v1/activities", b"{kind: air_sortie", 422, "body"),
    ("NaN literal", "POST", "/v1/activities",
     b'{"kind": "air_sortie", "volumes": [{"altitude_lower": {"value": NaN}}]}', 422,
     "volumes[0].altitude_lower.value"),
    ("huge payload", "POST", "/v1/activities", b'{"title": "' + b"x" * 2_000_001 + b'"}', 413, "body"),
    ("huge import", "POST", "/v1/import", b'{"features": ["' + b"x" * 2_000_001 + b'"]}', 413, "body"),
    ("huge payload, chunked", "POST", "/v1/activities", (b'{"t": "', b"x" * 2_000_001, b'"}'), 413, "body"),
    ("PUT without version", "PUT", "/v1/activities/{draft}", activity_body(), 422, "version"),
    ("PUT bad geometry", "PUT", "/v1/activities/{draft}",
     activity_body(_vol(time_end={"value": "2026-11-25T10:00:00Z"}), version="{version}"), 422,
     "volumes[0].time_end"),
    ("transition without version", "POST", "/v1/activities/{draft}/notify", {}, 422, "version"),
    ("transition, unknown field", "POST", "/v1/activities/{draft}/notify", {"version": "{version}", "x": 1},
     422, "x"),
    ("bad Idempotency-Key", "POST", "/v1/activities", activity_body(), 422, "Idempotency-Key"),
    ("import: not GeoJSON", "POST", "/v1/import", {"type": "Point", "coordinates": [0, 0]}, 422, "type"),
    ("import: no features member", "POST", "/v1/import", {"type": "FeatureCollection"}, 422, "features"),
    ("import: feature without item_id", "POST", "/v1/import", _fc(_feature(item_id=None)), 422,
     "features[0].properties.item_id"),
    ("import: latitude 91", "POST", "/v1/import",
     _fc(_feature(geometry={"type": "Point", "coordinates": [36.0, 91.0]})), 422, "features[0].geometry.*"),
    ("import: bowtie", "POST", "/v1/import", _fc(_feature(geometry=BOWTIE_GEOMETRY, radius_m=None)), 422,
     "features[0].*"),
    ("import: time without zone", "POST", "/v1/import", _fc(_feature(time_start="2026-11-25T11:00:00")), 422,
     "features[0].properties.time_start"),
    ("import: NaN radius", "POST", "/v1/import", _fc(_feature(radius_m="NaN")), 422,
     "features[0].properties.radius_m"),
    ("import: end before start", "POST", "/v1/import", _fc(_feature(time_end="2026-11-25T10:00:00Z")), 422,
     "features[0].*"),
    ("import: one bad feature among good", "POST", "/v1/import",
     _fc(_feature(item_id="G-1"), _feature(item_id="G-2", geometry=POLYGON, radius_m=None),
         _feature(item_id="B-3", kind="spaceship")), 422, "features[2].*"),
    ("import: an item of another party", "POST", "/v1/import", _fc(_feature(party="bravo")), 403,
     "items[0].party"),
    ("import: radius on a polygon", "POST", "/v1/import", _fc(_feature(geometry=POLYGON)), 422,
     "features[0].properties.radius_m"),
    ("policy: bad value", "PUT", "/v1/policy", {"min_notice_s": {"air_sortie": "soon"}}, 403, "scope"),
    # NUL cannot be stored by PostgreSQL: refused on every back-end, wherever it is
    ("NUL in title", "POST", "/v1/activities", activity_body(title="a\x00b"), 422, "title"),
    ("NUL in notes", "POST", "/v1/zones", zone_body(notes="\x00"), 422, "notes"),
    ("NUL in callsign", "POST", "/v1/activities", activity_body(callsign="\x00"), 422, "callsign"),
    ("NUL in the key", "POST", "/v1/activities", activity_body(state="notified", key=["v\x00"]), 422, "key[0]"),
    ("NUL in a version", "PUT", "/v1/activities/{draft}", activity_body(version="\x00"), 422, "version"),
    ("NUL in a comment", "POST", "/v1/conflicts/cfl_x/comment", {"text": "\x00"}, 422, "text"),
    ("NUL in a query", "GET", "/v1/activities?party=al%00pha", None, 422, "party"),
    ("NUL in a list query", "GET", "/v1/conflicts?state=open&state=%00", None, 422, "state"),
    ("import: NUL in a title", "POST", "/v1/import", _fc(_feature(title="t\x00")), 422,
     "features[0].properties.title"),
]
# fmt: on


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "field"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD_INPUT],
)
def test_bad_input_is_refused_and_stores_nothing(
    shared: Api, method: str, path: str, body: Any, status: int, field: str
) -> None:
    draft = shared.ok(shared.get("a_liaison", "/v1/activities", params={"state": "draft"}))["items"][0]
    path = path.format(draft=draft["id"])
    headers: dict[str, str] = {}
    if field == "Idempotency-Key":
        headers["Idempotency-Key"] = "bad\tkey"
    if isinstance(body, dict) and body.get("version") == "{version}":
        body = body | {"version": draft["version"]}
    before = shared.counts()
    if isinstance(body, (bytes, tuple)):
        content = body if isinstance(body, bytes) else iter(body)
        r = shared.client.request(
            method, path, content=content, headers=shared.h("a_liaison", **{"content-type": "application/json"})
        )
    else:
        r = shared.request(method, "a_liaison", path, json=body, headers=headers)
    doc = assert_problem(r, status, path=path.split("?")[0])
    if field.endswith("*"):
        assert doc["field"].startswith(field[:-1]), doc
    else:
        assert doc["field"] == field, doc
    assert shared.counts() == before
    # the draft is untouched
    assert shared.ok(shared.get("a_liaison", f"/v1/activities/{draft['id']}")) == draft
