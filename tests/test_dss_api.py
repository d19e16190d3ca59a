"""The DSS interface over HTTP (``/dss/v1``): authentication and scopes, limits, malformed
input, rate limiting, reports, and the main key / subscription / availability flows of
``docs/design/dss.md`` §8.2 (scenarios 1–4, 14, 19, 24, 27–32), as a USS sees them.

Every refusal is the standard's ``ErrorResponse`` (``{"message": "<field>: …"}``,
``application/json``) and writes nothing (row counts, the joint record included).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from api_helpers import T0, activity_body, check_invariants, volume
from deconflict.ledger import verify_export
from deconflict.service.dss_types import NULL_SUBSCRIPTION_ID
from deconflict.store.schema import dss_reports
from dss_helpers import (
    AA,
    ALL_SCOPES,
    CM,
    CMSA,
    CP,
    NATIVE_USER,
    SC,
    Authority,
    DssWorld,
    circle,
    extent,
    new_id,
    oir_body,
    open_dss_world,
    polygon,
    subscription_body,
    time_doc,
)

OIR = "/operational_intent_references"
CR = "/constraint_references"


@pytest.fixture
def w(tmp_path: Path) -> Iterator[DssWorld]:
    with open_dss_world(tmp_path) as world:
        yield world


def refused(w: DssWorld, r: Any, status: int, *fields: str) -> str:
    """Assert an ``ErrorResponse`` with ``status`` whose message names each of ``fields``."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"] == "application/json"
    message = r.json()["message"]
    assert isinstance(message, str) and message
    for f in fields:
        assert f in message, (f, message)
    return str(message)


def constraint_body(*extents: dict[str, Any], uss: str = "uss3") -> dict[str, Any]:
    return {"extents": list(extents) or [extent(hours=3)], "uss_base_url": f"https://{uss}.test/utm"}


# --- 27: authentication ----------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _forge(header: dict[str, Any], claims: dict[str, Any], secret: bytes | None) -> str:
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = b"" if secret is None else hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _bad_tokens(w: DssWorld) -> dict[str, str]:
    a = w.authority
    now = w.clock.now()
    return {
        "hs256 keyed with the public key": _forge({"alg": "HS256", "typ": "JWT"}, a.claims("uss1"), a.public_pem),
        "alg none": _forge({"alg": "none", "typ": "JWT"}, a.claims("uss1"), None),
        "wrong audience": a.mint("uss1", aud="dss.elsewhere.example"),
        "expired": a.mint(
            "uss1",
            iat=int((now - timedelta(hours=3)).timestamp()),
            exp=int((now - timedelta(hours=2)).timestamp()),
        ),
        "unknown issuer": Authority(w.clock, issuer="https://evil.test").mint("uss1"),
        "unknown client": a.mint("stranger"),
        "not a JWT": "not-a-token",
    }


def test_without_a_valid_token_every_answer_is_401_with_a_bearer_challenge(w: DssWorld) -> None:
    before = w.counts()
    path = f"{OIR}/{new_id()}"
    r = w.call("PUT", None, path, oir_body())
    refused(w, r, 401, "authorization")
    assert r.headers["www-authenticate"].startswith("Bearer")
    r = w.call("GET", None, path, headers={"Authorization": "Basic dXNzMTp4"})
    refused(w, r, 401, "authorization")
    for why, token in _bad_tokens(w).items():
        r = w.client.put("/dss/v1" + path, json=oir_body(), headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401, (why, r.text)
        assert r.headers["www-authenticate"].startswith("Bearer"), why
        assert token not in r.text and r.json()["message"].startswith("authorization"), why
    assert w.counts() == before


# Each operation of design §1.1 with a well-formed request, and the scopes that satisfy it.
OPERATIONS: list[tuple[str, str, Any, tuple[frozenset[str], ...]]] = [
    ("POST", f"{OIR}/query", {"area_of_interest": extent()}, (frozenset({SC}), frozenset({CMSA}))),
    ("GET", f"{OIR}/{{id}}", None, (frozenset({SC}), frozenset({CMSA}))),
    ("PUT", f"{OIR}/{{id}}", oir_body(), (frozenset({SC}), frozenset({CMSA}))),
    ("PUT", f"{OIR}/{{id}}/{'o' * 22}", oir_body(), (frozenset({SC}), frozenset({CMSA}))),
    ("DELETE", f"{OIR}/{{id}}/{'o' * 22}", None, (frozenset({SC}), frozenset({CMSA}))),
    ("POST", f"{CR}/query", {"area_of_interest": extent()}, (frozenset({CM}), frozenset({CP}))),
    ("GET", f"{CR}/{{id}}", None, (frozenset({CM}), frozenset({CP}))),
    ("PUT", f"{CR}/{{id}}", constraint_body(), (frozenset({CM}),)),
    ("PUT", f"{CR}/{{id}}/{'o' * 22}", constraint_body(), (frozenset({CM}),)),
    ("DELETE", f"{CR}/{{id}}/{'o' * 22}", None, (frozenset({CM}),)),
    ("POST", "/subscriptions/query", {"area_of_interest": extent()}, (frozenset({CP}), frozenset({SC}))),
    ("GET", "/subscriptions/{id}", None, (frozenset({CP}), frozenset({SC}))),
    ("PUT", "/subscriptions/{id}", subscription_body(), (frozenset({CP}), frozenset({SC}))),
    ("PUT", "/subscriptions/{id}/v1", subscription_body(), (frozenset({CP}), frozenset({SC}))),
    ("DELETE", "/subscriptions/{id}/v1", None, (frozenset({CP}), frozenset({SC}))),
    ("POST", "/reports", None, tuple(frozenset({s}) for s in ALL_SCOPES)),
    ("PUT", "/uss_availability/uss2", {"old_version": "", "availability": "Normal"}, (frozenset({AA}),)),
    ("GET", "/uss_availability/uss2", None, (frozenset({AA}), frozenset({SC}), frozenset({CMSA}))),
]


def report_body(token: str = "secret-token-value") -> dict[str, Any]:
    return {
        "exchange": {
            "url": "https://uss2.test/utm/uss/v1/operational_intents/x",
            "method": "GET",
            "headers": [f"Authorization: Bearer {token}", "Accept: application/json"],
            "recorder_role": "Client",
            "request_time": time_doc(T0),
            "request_source": "uss1",
            "response_code": 500,
            "problem": "uss2 answered 500",
        }
    }


@pytest.mark.parametrize(("method", "path", "body", "alternatives"), OPERATIONS, ids=lambda v: str(v)[:40])
def test_each_operation_needs_its_scopes(
    w: DssWorld, method: str, path: str, body: Any, alternatives: tuple[frozenset[str], ...]
) -> None:
    path = path.replace("{id}", new_id())
    body = report_body() if path == "/reports" else body
    before = w.counts()
    used = frozenset().union(*alternatives)
    r = w.call(method, "uss1", path, body, scopes=ALL_SCOPES - used)
    message = refused(w, r, 403, "scope")
    assert all(s in message for s in used)
    for scope in ALL_SCOPES - used:  # one scope is not the other: each alone is refused
        refused(w, w.call(method, "uss1", path, body, scopes={scope}), 403, "scope")
    assert w.counts() == before
    # with one of the alternatives the request gets past the scope check
    r = w.call(method, "uss1", path, body, scopes=alternatives[0])
    assert r.status_code != 403 or not r.json()["message"].startswith("scope:"), r.text


# --- 1–4, 10: the key and OVNs ----------------------------------------------------------


def test_key_flow_over_http(w: DssWorld) -> None:
    a_id, b_id = new_id(), new_id()
    # 1. uss1 creates A in empty airspace
    made = w.ok(w.call("PUT", "uss1", f"{OIR}/{a_id}", oir_body()), 201)
    a = made["operational_intent_reference"]
    assert a["id"] == a_id and a["manager"] == "uss1" and a["version"] == 1 and a["state"] == "Accepted"
    assert 16 <= len(a["ovn"]) <= 128
    assert a["subscription_id"] != NULL_SUBSCRIPTION_ID
    own = [s["subscription_id"] for sub in made["subscribers"] for s in sub["subscriptions"]]
    assert a["subscription_id"] in own  # its own implicit subscription is listed (L826)

    # 2. uss2 creates intersecting B without key → 409 listing A, without A's OVN
    before = w.counts()
    r = w.call("PUT", "uss2", f"{OIR}/{b_id}", oir_body(uss="uss2"))
    assert r.status_code == 409, r.text
    conflict = r.json()
    assert conflict["message"]
    assert [m["id"] for m in conflict["missing_operational_intents"]] == [a_id]
    assert "ovn" not in conflict["missing_operational_intents"][0]
    assert w.counts() == before

    # 3. with A's OVN (learnt from uss1) → 201
    b = w.ok(w.call("PUT", "uss2", f"{OIR}/{b_id}", oir_body(uss="uss2", key=[a["ovn"]])), 201)
    b_ref = b["operational_intent_reference"]

    # 10. GET by another USS: no OVN; by the manager: OVN
    assert "ovn" not in w.ok(w.call("GET", "uss1", f"{OIR}/{b_id}"))["operational_intent_reference"]
    assert w.ok(w.call("GET", "uss2", f"{OIR}/{b_id}"))["operational_intent_reference"]["ovn"] == b_ref["ovn"]

    # 4. uss1 updates A without B's OVN → 409 listing B; with it → 200, version 2, new OVN
    r = w.call("PUT", "uss1", f"{OIR}/{a_id}/{a['ovn']}", oir_body())
    assert r.status_code == 409, r.text
    assert [m["id"] for m in r.json()["missing_operational_intents"]] == [b_id]
    updated = w.ok(w.call("PUT", "uss1", f"{OIR}/{a_id}/{a['ovn']}", oir_body(key=[b_ref["ovn"]])))
    a2 = updated["operational_intent_reference"]
    assert a2["version"] == 2 and a2["ovn"] != a["ovn"]

    # 5. a stale path OVN → 409; a never-created id on the update route → 409 (D10)
    refused(w, w.call("PUT", "uss1", f"{OIR}/{a_id}/{a['ovn']}", oir_body(key=[b_ref["ovn"]])), 409)
    refused(w, w.call("PUT", "uss1", f"{OIR}/{new_id()}/{a['ovn']}", oir_body()), 409)

    # the query shows both, the OVN only of the caller's own
    found = w.ok(w.call("POST", "uss1", f"{OIR}/query", {"area_of_interest": extent()}))
    refs = {ref["id"]: ref for ref in found["operational_intent_references"]}
    assert set(refs) == {a_id, b_id}
    assert "ovn" in refs[a_id] and "ovn" not in refs[b_id]

    # delete: the GET then 404s
    w.ok(w.call("DELETE", "uss1", f"{OIR}/{a_id}/{a2['ovn']}"))
    refused(w, w.call("GET", "uss1", f"{OIR}/{a_id}"), 404)


def test_a_uss_learns_a_native_sorties_ovn_from_the_native_side_over_http(w: DssWorld) -> None:
    """A native party has no USS of its own: the DSS names its sortie with the configured
    ``native_base_url``, where this service answers the ``/uss/v1`` details read — with
    the OVN — and records that uss2's party has opened it."""
    w.service.set_dss_settings({"native_base_url": "http://testserver/native"})
    native = w.service.issue_token(NATIVE_USER)["access_token"]
    body = activity_body(volume(36.0, 35.0, start_h=3), title="blue sortie", state="notified")
    made = w.client.post("/v1/activities", json=body, headers={"Authorization": f"Bearer {native}"})
    assert made.status_code == 201, made.text
    sortie = made.json()["item"]
    b_id = new_id()
    r = w.call("PUT", "uss2", f"{OIR}/{b_id}", oir_body(extent(start_h=3), uss="uss2"))
    assert r.status_code == 409, r.text
    [named] = r.json()["missing_operational_intents"]
    assert named["manager"] == "blue" and named["uss_base_url"] == "http://testserver/native" and "ovn" not in named
    url = named["uss_base_url"] + f"/uss/v1/operational_intents/{named['id']}"
    assert w.client.get(url).status_code == 401  # the read needs a USS's token too
    details = w.ok(w.client.get(url, headers=w.h("uss2")))["operational_intent"]
    assert details["reference"]["ovn"] == sortie["version"]
    [vol] = details["details"]["volumes"]
    assert vol["volume"]["outline_circle"]["radius"]["units"] == "M"
    w.ok(w.call("PUT", "uss2", f"{OIR}/{b_id}", oir_body(extent(start_h=3), uss="uss2", key=[sortie["version"]])), 201)
    # blue's liaison sees, on its own notice, that uss2 opened it
    receipts = w.client.get(
        f"/v1/activities/{sortie['id']}/receipts", headers={"Authorization": f"Bearer {native}"}
    ).json()
    opened = {r["party"]: r["opened_at"] for notice in receipts["notices"] for r in notice["receipts"]}
    assert opened["uss2"] is not None and opened["uss1"] is None


# --- 14, 19: subscriptions ----------------------------------------------------------------


def test_subscription_indices_and_implicit_subscriptions(w: DssWorld) -> None:
    sid = new_id()
    put = w.ok(w.call("PUT", "uss2", f"/subscriptions/{sid}", subscription_body()))
    sub = put["subscription"]
    assert sub["id"] == sid and sub["notification_index"] == 0 and sub["version"]
    assert put["operational_intent_references"] == []

    a_id = new_id()
    a = w.ok(w.call("PUT", "uss1", f"{OIR}/{a_id}", oir_body()), 201)
    theirs = [sub for sub in a["subscribers"] if sub["uss_base_url"] == "https://uss2.test/utm"]
    assert theirs == [
        {"uss_base_url": "https://uss2.test/utm", "subscriptions": [{"subscription_id": sid, "notification_index": 1}]}
    ]
    got = w.ok(w.call("GET", "uss2", f"/subscriptions/{sid}"))["subscription"]
    assert got["notification_index"] == 1 and got["version"] == sub["version"]  # bumps change no version

    # 19. the OIR's implicit subscription: listed as such, with A as its dependent
    implicit_id = a["operational_intent_reference"]["subscription_id"]
    implicit = w.ok(w.call("GET", "uss1", f"/subscriptions/{implicit_id}"))["subscription"]
    assert implicit["implicit_subscription"] is True
    assert implicit["dependent_operational_intents"] == [a_id]
    refused(w, w.call("GET", "uss2", f"/subscriptions/{implicit_id}"), 404)  # another's: not found
    mine = w.ok(w.call("POST", "uss2", "/subscriptions/query", {"area_of_interest": extent()}))
    assert [s["id"] for s in mine["subscriptions"]] == [sid]  # only the caller's (L2900)

    # deleting A bumps uss2's index again and removes the implicit subscription
    gone = w.ok(w.call("DELETE", "uss1", f"{OIR}/{a_id}/{a['operational_intent_reference']['ovn']}"))
    bumped = [s for sub in gone["subscribers"] for s in sub["subscriptions"] if s["subscription_id"] == sid]
    assert bumped == [{"subscription_id": sid, "notification_index": 2}]
    refused(w, w.call("GET", "uss1", f"/subscriptions/{implicit_id}"), 404)

    # update with a stale version → 409; delete with the current one → 200
    refused(w, w.call("PUT", "uss2", f"/subscriptions/{sid}/not-the-version", subscription_body()), 409)
    deleted = w.ok(w.call("DELETE", "uss2", f"/subscriptions/{sid}/{sub['version']}"))
    assert deleted["subscription"]["id"] == sid
    refused(w, w.call("GET", "uss2", f"/subscriptions/{sid}"), 404)


def test_subscription_flags_need_their_scopes(w: DssWorld) -> None:
    before = w.counts()
    r = w.call("PUT", "uss2", f"/subscriptions/{new_id()}", subscription_body(constraints=True), scopes={SC})
    refused(w, r, 403)
    r = w.call("PUT", "uss2", f"/subscriptions/{new_id()}", subscription_body(ois=False, constraints=False))
    refused(w, r, 400)
    assert w.counts() == before


# --- 24: availability ------------------------------------------------------------------


def test_a_down_uss_may_not_plan_but_may_go_nonconforming(w: DssWorld) -> None:
    a_id = new_id()
    a = w.ok(w.call("PUT", "uss1", f"{OIR}/{a_id}", oir_body(state="Activated")), 201)
    ovn = a["operational_intent_reference"]["ovn"]
    unknown = w.ok(w.call("GET", "uss2", "/uss_availability/uss1"))
    assert unknown == {"status": {"uss": "uss1", "availability": "Unknown"}, "version": ""}

    down = w.ok(w.call("PUT", "arb", "/uss_availability/uss1", {"old_version": "", "availability": "Down"}))
    assert down["status"] == {"uss": "uss1", "availability": "Down"} and down["version"]
    refused(w, w.call("PUT", "arb", "/uss_availability/uss1", {"old_version": "", "availability": "Normal"}), 400)

    before = w.counts()
    refused(w, w.call("PUT", "uss1", f"{OIR}/{new_id()}", oir_body(extent(circle(10.0, 10.0)))), 412)
    refused(w, w.call("PUT", "uss1", f"{OIR}/{a_id}/{ovn}", oir_body(state="Activated")), 412)
    refused(w, w.call("DELETE", "uss1", f"{OIR}/{a_id}/{ovn}"), 412)
    assert w.counts() == before
    got = w.ok(w.call("GET", "uss2", f"{OIR}/{a_id}"))["operational_intent_reference"]
    assert got["uss_availability"] == "Down"
    moved = w.ok(w.call("PUT", "uss1", f"{OIR}/{a_id}/{ovn}", oir_body(extent(upper=800.0), state="Nonconforming")))
    assert moved["operational_intent_reference"]["state"] == "Nonconforming"

    w.ok(w.call("PUT", "arb", "/uss_availability/uss1", {"old_version": down["version"], "availability": "Normal"}))
    assert w.ok(w.call("GET", "uss1", f"{OIR}/{a_id}"))["operational_intent_reference"]["uss_availability"] == "Normal"


# --- 28: limits ----------------------------------------------------------------------------

HUGE = circle(36.0, 35.0, radius_m=60_000.0)  # ~11 300 km², over the default 2 500 km²


def test_too_large_an_area_is_413_where_declared(w: DssWorld) -> None:
    before = w.counts()
    refused(w, w.call("PUT", "uss1", f"{OIR}/{new_id()}", oir_body(extent(HUGE))), 413, "extents[0]")
    refused(w, w.call("PUT", "uss3", f"{CR}/{new_id()}", constraint_body(extent(HUGE))), 413, "extents[0]")
    for path in (f"{OIR}/query", f"{CR}/query", "/subscriptions/query"):
        refused(w, w.call("POST", "uss1", path, {"area_of_interest": extent(HUGE)}), 413, "area_of_interest")
    # the subscription routes declare no 413: the same refusal is a 400
    refused(w, w.call("PUT", "uss2", f"/subscriptions/{new_id()}", subscription_body(extent(HUGE))), 400, "extents")
    assert w.counts() == before


def test_an_oversized_body_is_413_as_an_error_response(w: DssWorld) -> None:
    before = w.counts()
    body = oir_body() | {"padding": "x" * 2_100_000}
    r = w.call("PUT", "uss1", f"{OIR}/{new_id()}", body)
    refused(w, r, 413, "body")
    assert w.counts() == before
    # streamed without a Content-Length: cut off at the limit, the same answer
    chunks = (b" " * 100_000 for _ in range(25))
    headers = {"content-type": "application/json"} | w.h("uss1")
    r = w.client.put(f"/dss/v1{OIR}/{new_id()}", content=chunks, headers=headers)
    refused(w, r, 413, "body")
    assert w.counts() == before
    # the native API keeps its problem documents
    r = w.client.post(
        "/v1/activities", content=b"{" + b" " * 2_100_000 + b"}", headers={"content-type": "application/json"}
    )
    assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"


# --- 29: malformed input -------------------------------------------------------------------


def _with_volume(**volume: Any) -> dict[str, Any]:
    e = extent()
    e["volume"] = {k: v for k, v in (e["volume"] | volume).items() if v is not None}
    return oir_body(e)


def _with_times(start: Any, end: Any) -> dict[str, Any]:
    e = extent()
    e["time_start"], e["time_end"] = start, end
    return oir_body(e)


_P = ((36.0, 35.0), (36.01, 35.0), (36.01, 35.01), (36.0, 35.01))
_alt = {"value": 0.0, "reference": "W84", "units": "M"}
MALFORMED: dict[str, tuple[dict[str, Any], str]] = {
    "polygon of 2 vertices": (
        _with_volume(outline_circle=None, **polygon(*_P[:2])),
        "extents[0].volume.outline_polygon",
    ),
    "duplicated vertex": (
        _with_volume(outline_circle=None, **polygon(_P[0], _P[1], _P[1], _P[2])),
        "extents[0].volume.outline_polygon",
    ),
    "closing vertex": (
        _with_volume(outline_circle=None, **polygon(*_P, _P[0])),
        "extents[0].volume.outline_polygon",
    ),
    "self-crossing": (
        _with_volume(outline_circle=None, **polygon(_P[0], _P[2], _P[1], _P[3])),
        "extents[0].volume.outline_polygon",
    ),
    "radius 0": (_with_volume(**circle(radius_m=0.0)), "extents[0].volume.outline_circle.radius"),
    "radius in feet": (
        _with_volume(outline_circle={"center": {"lng": 36.0, "lat": 35.0}, "radius": {"value": 100, "units": "FT"}}),
        "extents[0].volume.outline_circle.radius.units",
    ),
    "both outlines": (_with_volume(**polygon(*_P)), "extents[0].volume"),
    "no outline": (_with_volume(outline_circle=None), "extents[0].volume"),
    "altitude AMSL": (
        _with_volume(altitude_lower=_alt | {"reference": "AMSL"}),
        "extents[0].volume.altitude_lower.reference",
    ),
    "altitude in feet": (
        _with_volume(altitude_upper=_alt | {"value": 300, "units": "FT"}),
        "extents[0].volume.altitude_upper.units",
    ),
    "altitude 100001 m": (
        _with_volume(altitude_upper=_alt | {"value": 100_001}),
        "extents[0].volume.altitude_upper.value",
    ),
    "latitude 91": (
        _with_volume(outline_circle={"center": {"lng": 36.0, "lat": 91}, "radius": {"value": 100, "units": "M"}}),
        "extents[0].volume.outline_circle.center.lat",
    ),
    "time without Z": (
        _with_times({"value": "2026-11-25T09:00:00", "format": "RFC3339"}, time_doc(T0 + timedelta(hours=2))),
        "extents[0].time_start",
    ),
    "time at +02:00": (
        _with_times(time_doc(T0 + timedelta(hours=1)), {"value": "2026-11-25T12:00:00+02:00", "format": "RFC3339"}),
        "extents[0].time_end",
    ),
    "time without format": (
        _with_times({"value": "2026-11-25T09:00:00Z"}, time_doc(T0 + timedelta(hours=2))),
        "extents[0].time_start.format",
    ),
    "start after end": (
        _with_times(time_doc(T0 + timedelta(hours=3)), time_doc(T0 + timedelta(hours=2))),
        "extents[0].time_end",
    ),
    "end in the past": (
        _with_times(time_doc(T0 - timedelta(hours=3)), time_doc(T0 - timedelta(hours=2))),
        "extents[0].time_end",
    ),
    "longer than a day": (
        _with_times(time_doc(T0 + timedelta(hours=1)), time_doc(T0 + timedelta(hours=30))),
        "extents",
    ),
    "no extents": (oir_body() | {"extents": []}, "extents"),
    "unknown state": (oir_body(state="Ended"), "state"),
    "short OVN in the key": (oir_body(key=["short"]), "key[0]"),
    "subscription id not a UUIDv4": (
        oir_body(subscription_id="2f8343be-6482-1d1b-a474-16847e01af1e"),
        "subscription_id",
    ),
    "no uss_base_url": ({k: v for k, v in oir_body().items() if k != "uss_base_url"}, "uss_base_url"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_input_is_400_naming_the_field(w: DssWorld, case: str) -> None:
    body, field = MALFORMED[case]
    before = w.counts()
    refused(w, w.call("PUT", "uss1", f"{OIR}/{new_id()}", body), 400, field)
    assert w.counts() == before


def test_malformed_paths_and_bodies_are_400(w: DssWorld) -> None:
    before = w.counts()
    version_1 = "2f8343be-6482-1d1b-a474-16847e01af1e"
    refused(w, w.call("GET", "uss1", f"{OIR}/{version_1}"), 400, "entityid")
    refused(w, w.call("GET", "uss1", f"{OIR}/not-a-uuid"), 400, "entityid")
    refused(w, w.call("GET", "uss1", f"/subscriptions/{version_1}"), 400, "subscriptionid")
    refused(w, w.call("PUT", "uss1", f"{OIR}/{new_id()}/{'o' * 15}", oir_body()), 400, "ovn")
    refused(w, w.call("DELETE", "uss1", f"{OIR}/{new_id()}/{'o' * 129}"), 400, "ovn")
    headers = {"content-type": "application/json"} | w.h("uss1")
    r = w.client.put(f"/dss/v1{OIR}/{new_id()}", content=b"{not json", headers=headers)
    refused(w, r, 400, "body")
    r = w.client.put(f"/dss/v1{OIR}/{new_id()}", content=b"[1, 2]", headers=headers)
    refused(w, r, 400, "body")
    r = w.client.put(f"/dss/v1{OIR}/{new_id()}", headers=w.h("uss1"))
    refused(w, r, 400, "body")
    r = w.client.put(f"/dss/v1{OIR}/{new_id()}", content=b"[" * 100_000 + b"]" * 100_000, headers=headers)
    refused(w, r, 400, "body")
    r = w.client.put(f"/dss/v1{OIR}/{new_id()}", content=b'{"extents": NaN}', headers=headers)
    refused(w, r, 400, "body")
    refused(w, w.call("POST", "uss1", f"{OIR}/query", {}), 400, "area_of_interest")
    refused(w, w.call("PUT", "arb", "/uss_availability/uss1", {"availability": "Sleepy"}), 400, "availability")
    refused(w, w.call("GET", "uss1", "/no/such/route"), 404)
    refused(w, w.call("POST", "uss1", f"{OIR}/{new_id()}"), 405)
    assert w.counts() == before


def test_unknown_fields_are_ignored_and_null_is_absent(w: DssWorld) -> None:
    body = oir_body(key=None, subscription_id=None) | {"x_vendor": {"anything": [1, 2]}}
    body["extents"][0]["volume"]["outline_polygon"] = None
    made = w.ok(w.call("PUT", "uss1", f"{OIR}/{new_id()}", body), 201)
    assert made["operational_intent_reference"]["state"] == "Accepted"


# --- 30: rate limiting ----------------------------------------------------------------------


def test_a_client_over_its_rate_gets_429_with_retry_after(w: DssWorld) -> None:
    limiter = w.limiter()
    limiter.override(rate_per_s=0.001, burst=2)
    try:
        path = f"{OIR}/{new_id()}"
        assert w.call("GET", "uss1", path).status_code == 404
        assert w.call("GET", "uss1", path).status_code == 404
        r = w.call("GET", "uss1", path)
        refused(w, r, 429)
        assert int(r.headers["retry-after"]) >= 1
        assert w.call("GET", "uss2", path).status_code == 404  # the bucket is per client
    finally:
        limiter.override()


def test_the_rate_limit_follows_the_dss_settings(w: DssWorld) -> None:
    w.service.set_dss_settings({"rate_per_s": 0.001, "burst": 1})
    w.limiter().refresh()
    path = "/uss_availability/uss2"
    assert w.call("GET", "uss1", path).status_code == 200
    refused(w, w.call("GET", "uss1", path), 429)


# --- 31: reports ------------------------------------------------------------------------------


def test_a_report_is_kept_with_the_authorization_redacted(w: DssWorld) -> None:
    token = "eyJhbGciOiJSUzI1NiJ9.secret-part.signature"
    r = w.ok(w.call("POST", "uss1", "/reports", report_body(token) | {"report_id": "mine"}), 201)
    assert r["report_id"] and r["report_id"] != "mine" and len(r["report_id"]) <= 128
    assert r["exchange"]["problem"] == "uss2 answered 500"
    with w.service.store.read() as conn:
        stored = conn.execute(sa.select(dss_reports.c.report)).scalar_one()
    text = json.dumps(stored)
    assert token not in text and "secret-part" not in text
    assert any(h.startswith("Authorization: Bearer ") for h in stored["exchange"]["headers"])
    assert all(token not in line for line in w.service.ledger_lines())
    assert token not in json.dumps(r)
    # a report without its exchange is refused, naming it
    refused(w, w.call("POST", "uss1", "/reports", {"report_id": "x"}), 400, "exchange")


# --- 32: one model, one record ------------------------------------------------------------


def test_after_a_session_the_record_verifies_and_keeps_each_partys_secrets(w: DssWorld) -> None:
    hidden = new_id()
    w.ok(w.call("PUT", "uss1", f"/subscriptions/{hidden}", subscription_body(uss="uss1")))
    w.create_oir("uss1", oir_body())
    w.create_oir("uss2", oir_body(uss="uss2"))
    w.ok(w.call("PUT", "uss3", f"{CR}/{new_id()}", constraint_body()), 201)
    native = w.service.issue_token("blue_liaison")["access_token"]
    listed = w.client.get("/v1/zones", headers={"Authorization": f"Bearer {native}"})
    assert listed.status_code == 200 and len(listed.json()["items"]) == 1  # the constraint is a zone

    check_invariants(w.service)
    assert verify_export(w.service.ledger_lines()).ok
    uss1 = w.service.authenticate(w.token("uss1"))
    uss2 = w.service.authenticate(w.token("uss2"))
    assert any(hidden in line for line in w.service.ledger_lines(uss1))
    assert not any(hidden in line for line in w.service.ledger_lines(uss2))


# --- F3548 clients: through their (issuer, sub) binding only, and on /dss/v1 only -----------


def test_a_client_whose_sub_names_a_party_but_has_no_binding_is_not_authenticated(w: DssWorld) -> None:
    # "blue" is the native party's id; the authority's client called "blue" is bound to nothing
    before = w.counts()
    for method, path, body in (
        ("POST", f"{OIR}/query", {"area_of_interest": extent()}),
        ("PUT", f"{OIR}/{new_id()}", oir_body(uss="blue")),
        ("PUT", f"/subscriptions/{new_id()}", subscription_body(uss="blue")),
    ):
        refused(
            w,
            w.call(method, "blue", path, body),
            401,
            "authorization: the token's client 'blue' of issuer 'https://auth.test' is not bound to a USS",
        )
    assert w.counts() == before
    # bound explicitly, the same token acts for the party it is bound to
    w.service.add_uss_client("blue", "uss2", issuer=w.authority.issuer)
    assert w.service.authenticate(w.token("blue")).party_id == "uss2"
    w.ok(w.call("POST", "blue", f"{OIR}/query", {"area_of_interest": extent()}))


def test_a_binding_under_one_issuer_does_not_admit_another_issuers_token_with_the_same_sub(w: DssWorld) -> None:
    other = Authority(w.clock, issuer="https://other-auth.test")  # trusted too, even with the same key
    w.service.add_trusted_issuer(other.issuer, "testserver", other.public_pem, algorithms=("RS256",), party_from="sub")
    ref = w.create_oir("uss1", oir_body())["operational_intent_reference"]
    before = w.counts()
    impostor = {"Authorization": f"Bearer {other.mint('uss1')}"}
    for method, path in (("GET", f"{OIR}/{ref['id']}"), ("DELETE", f"{OIR}/{ref['id']}/{ref['ovn']}")):
        refused(
            w,
            w.client.request(method, "/dss/v1" + path, headers=impostor),
            401,
            "client 'uss1' of issuer 'https://other-auth.test' is not bound to a USS",
        )
    assert w.counts() == before
    assert w.ok(w.call("GET", "uss1", f"{OIR}/{ref['id']}"))["operational_intent_reference"]["ovn"] == ref["ovn"]


def test_the_native_api_refuses_f3548_clients_and_a_down_uss_stays_down(w: DssWorld) -> None:
    from api_helpers import ws_refusal

    w.ok(w.call("PUT", "arb", "/uss_availability/uss1", {"old_version": "", "availability": "Down"}))
    w.service.add_user("uss1_liaison", "uss1", "liaison")  # a native user of the F3548 USS's party
    liveness_before = w.service.liveness(None)
    assert [p["state"] for p in liveness_before if p["party"] == "uss1"] == ["down"]
    before = w.counts()
    token = w.token("uss1")
    for method, path, body in (
        ("POST", "/v1/heartbeat", None),
        ("GET", "/v1/me", None),
        ("GET", "/v1/activities", None),
        ("POST", "/v1/activities", activity_body(volume(36.0, 35.0, start_h=3), title="uss1 sortie", state="notified")),
    ):
        r = w.client.request(method, path, json=body, headers=w.h("uss1"))
        assert r.status_code == 403, (method, path, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["field"] == "authorization"
        assert "only the F3548 DSS interface (/dss/v1)" in r.json()["reason"]
    assert ws_refusal(w.client, f"/v1/stream?access_token={token}") == 4403
    assert ws_refusal(w.client, "/v1/stream", w.h("uss1")) == 4403
    # the service refuses the F3548 party's heartbeat whoever sends it: its availability is arbitrated
    native = {"Authorization": f"Bearer {w.service.issue_token('uss1_liaison')['access_token']}"}
    r = w.client.post("/v1/heartbeat", headers=native)
    assert r.status_code == 403, r.text
    assert (r.json()["field"], "arbitrated" in r.json()["reason"]) == ("party", True)

    assert w.service.liveness(None) == liveness_before
    assert w.counts() == before
    got = w.ok(w.call("GET", "uss2", "/uss_availability/uss1"))
    assert got["status"] == {"uss": "uss1", "availability": "Down"}
    # the DSS itself still serves the client
    assert w.ok(w.call("GET", "uss1", "/uss_availability/uss1"))["status"]["availability"] == "Down"
