"""Authorisation, route by route.

Every ``/v1`` route (and the WebSocket) is in :data:`ROUTES`; a test fails when the app
serves a route the table lacks, so a new endpoint cannot ship without its cases.  For
each route:

* no token, a malformed token, an expired one, a forged one (right key id, wrong key),
  a tampered one, and the token of a deactivated user all get 401 (4401 on the stream);
* its own checks: another party never reads private fields (notes) or drafts (404),
  never changes another party's objects (403), never acts on a conflict it is not party
  to (403); read-only users and observers never write (403); observers see only the
  parties that share with them.

Every response to a user of another party is also checked for leaks: the private
notes and the draft's title of alpha and bravo never appear in it.

The world is built once per module and back-end; the refused requests change nothing
(checked: row counts before and after each route's cases).
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from api_helpers import BACKENDS, T0, Api, activity_body, shared_api, volume, walk_routes, ws_refusal, zone_body
from deconflict.auth import SigningKey, TokenIssuer
from deconflict.service import AUDIENCE

SECRETS = {
    "alpha": ("alpha-private-notes", "alpha-draft-title", "alpha-zone-notes"),
    "bravo": ("bravo-private-notes", "bravo-draft-title", "bravo-zone-notes"),
}
PARTY_OF = {
    "a_liaison": "alpha",
    "a_cmd": "alpha",
    "a_ro": "alpha",
    "b_liaison": "bravo",
    "b_cmd": "bravo",
    "c_liaison": "charlie",
    "m_user": "unmed",
    "o_user": "watch",
    "ops": "unmed",
}


@dataclass
class Env:
    api: Api
    a: dict[str, Any] = field(default_factory=dict)  # alpha's notified activity (with notes)
    a_draft: dict[str, Any] = field(default_factory=dict)
    a_zone: dict[str, Any] = field(default_factory=dict)
    b: dict[str, Any] = field(default_factory=dict)  # bravo's, conflicting with a
    b_draft: dict[str, Any] = field(default_factory=dict)
    b_zone: dict[str, Any] = field(default_factory=dict)
    cid: str = ""  # the conflict between a and b
    notice_a: str = ""  # a's notice (to bravo and charlie)
    notice_b: str = ""  # b's notice (to alpha and charlie)
    bad_tokens: dict[str, str] = field(default_factory=dict)

    def call(self, user: str, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        """A request as ``user``, checked for leaks of other parties' private data."""
        r = self.api.request(method, user, path, json=body, **kw)
        assert r.status_code < 500, r.text
        for party, secrets in SECRETS.items():
            if PARTY_OF[user] != party:
                for secret in secrets:
                    assert secret not in r.text, f"{user} got {party}'s {secret!r} from {method} {path}"
        return r

    def status(self, user: str, method: str, path: str, body: Any = None, **kw: Any) -> int:
        return int(self.call(user, method, path, body, **kw).status_code)

    def json(self, user: str, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        r = self.call(user, method, path, body, **kw)
        assert r.status_code in (200, 201), r.text
        return r.json()

    def refused(self, expected: int, users: list[str], method: str, path: str, body: Any = None) -> None:
        for user in users:
            r = self.call(user, method, path, body)
            assert r.status_code == expected, (user, method, path, r.text)
            assert r.headers["content-type"] == "application/problem+json"


def _segment(part: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def _encode(doc: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")


def _forged(kid: str) -> str:
    """A token signed by a key the service does not know, under the real key id."""
    stranger = TokenIssuer(SigningKey.generate(), "deconflict", AUDIENCE).issue(
        subject="a_liaison",
        party="alpha",
        roles={"liaison"},
        scopes={"activities:read"},
        kind="user",
        now=T0,
        ttl=timedelta(hours=1),
    )
    head, payload, sig = stranger.split(".")
    return f"{_encode(_segment(head) | {'kid': kid})}.{payload}.{sig}"


def _tampered(valid: str) -> str:
    """A valid token whose claims were edited (party alpha → bravo): the signature no longer holds."""
    head, payload, sig = valid.split(".")
    return f"{head}.{_encode(_segment(payload) | {'party': 'bravo'})}.{sig}"


@pytest.fixture(scope="module", params=BACKENDS)
def env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    with shared_api(request, tmp_path_factory) as api:
        svc = api.service
        svc.add_party("charlie", "Charlie", "member")
        svc.add_user("c_liaison", "charlie", "liaison")
        svc.add_user("a_gone", "alpha", "liaison")
        e = Env(api)
        valid = api.token("a_liaison")
        e.bad_tokens = {
            "garbage": "not-a-token",
            "empty-ish": "a.b.c",
            "deactivated": svc.issue_token("a_gone")["access_token"],
            "forged": _forged(_segment(valid.split(".")[0])["kid"]),
            "tampered": _tampered(valid),
        }
        svc.deactivate_user("a_gone")
        api.clock.set(T0 - timedelta(days=2))
        e.bad_tokens["expired"] = svc.issue_token("a_liaison", ttl=timedelta(hours=1))["access_token"]
        api.clock.set(T0)

        s_a, s_a_draft, s_a_zone = SECRETS["alpha"]
        s_b, s_b_draft, s_b_zone = SECRETS["bravo"]
        created = api.notify("a_liaison", title="alpha sortie", notes=s_a)
        e.a, e.notice_a = created["item"], created["notice"]["id"]
        e.a_draft = api.draft("a_liaison", title=s_a_draft, notes=s_a, volumes=[volume(36.0, 35.0)])
        e.a_zone = api.zone("a_liaison", title="alpha base", notes=s_a_zone, volumes=[volume(50, 20, start_h=0)])[
            "item"
        ]
        created = api.notify("b_liaison", title="bravo sortie", notes=s_b)
        e.b, e.notice_b = created["item"], created["notice"]["id"]
        [conflict] = created["conflicts"]
        e.cid = conflict["id"]
        e.b_draft = api.draft("b_liaison", title=s_b_draft, notes=s_b, volumes=[volume(10.0, 10.0)])
        e.b_zone = api.zone("b_liaison", title="bravo base", notes=s_b_zone, volumes=[volume(10, 20, start_h=0)])[
            "item"
        ]
        yield e


def test_every_route_has_authorisation_cases(env: Env) -> None:
    served = walk_routes(env.api.app)
    api_routes = {(m, p) for m, p in served if p.startswith("/v1")}
    assert api_routes - set(ROUTES) == set(), "routes without authorisation cases: add them to ROUTES"
    assert set(ROUTES) - api_routes == set(), "ROUTES lists routes the app does not serve"


# --- the route table ------------------------------------------------------------------------
# Each entry: a sample request (path, body) as alpha would make it, whether the route is
# public, and the route's own checks.

Sample = Callable[[Env], tuple[str, Any]]
Check = Callable[[Env], None]


@dataclass(frozen=True)
class Case:
    sample: Sample
    check: Check
    public: bool = False


def _me(e: Env) -> None:
    for user, party in PARTY_OF.items():
        assert e.json(user, "GET", "/v1/me")["party"] == party


def _any_reader(path: str) -> Check:
    def check(e: Env) -> None:
        for user in PARTY_OF:
            assert e.status(user, "GET", path) == 200, user

    return check


def _put_policy(e: Env) -> None:
    policy = e.json("a_ro", "GET", "/v1/policy")
    changed = copy.deepcopy(policy)
    changed["ack_s"]["flash"] = 1.0
    e.refused(
        403, ["a_liaison", "a_cmd", "a_ro", "b_cmd", "m_user", "o_user", "c_liaison"], "PUT", "/v1/policy", changed
    )
    assert e.json("o_user", "GET", "/v1/policy") == policy
    assert e.json("ops", "PUT", "/v1/policy", policy) == policy  # the admin scope may (same policy back)


def _ids(e: Env, user: str, path: str, **params: Any) -> set[str]:
    doc = e.json(user, "GET", path, params=params)
    return {i["id"] for i in doc["items"]}


def _list_activities(e: Env) -> None:
    alpha_sees = _ids(e, "a_ro", "/v1/activities")
    assert {e.a["id"], e.a_draft["id"], e.b["id"]} == alpha_sees
    assert {e.a["id"], e.b["id"], e.b_draft["id"]} == _ids(e, "b_liaison", "/v1/activities")
    assert {e.a["id"], e.b["id"]} == _ids(e, "c_liaison", "/v1/activities") == _ids(e, "m_user", "/v1/activities")
    assert {e.a["id"]} == _ids(e, "o_user", "/v1/activities")  # bravo does not share with observers
    assert _ids(e, "o_user", "/v1/activities", party="bravo") == set()
    assert _ids(e, "b_liaison", "/v1/activities", state="draft") == {e.b_draft["id"]}
    listed = e.json("b_liaison", "GET", "/v1/activities", params={"party": "alpha"})["items"]
    assert [i["id"] for i in listed] == [e.a["id"]] and "notes" not in listed[0]


def _list_zones(e: Env) -> None:
    assert _ids(e, "a_liaison", "/v1/zones") == {e.a_zone["id"], e.b_zone["id"]}
    assert _ids(e, "o_user", "/v1/zones") == {e.a_zone["id"]}
    for z in e.json("b_liaison", "GET", "/v1/zones")["items"]:
        assert ("notes" in z) == (z["party"] == "bravo")


def _create(item_type: str) -> Check:
    path = "/v1/activities" if item_type == "activity" else "/v1/zones"
    body = activity_body(volume(0, 0)) if item_type == "activity" else zone_body(volume(0, 0, start_h=0))

    def check(e: Env) -> None:
        e.refused(403, ["a_ro", "o_user", "m_user", "ops"], "POST", path, body)
        e.refused(403, ["a_ro"], "POST", path, body | ({"state": "notified"} if item_type == "activity" else {}))

    return check


def _check_route(item_type: str) -> Check:
    path = "/v1/activities/check" if item_type == "activity" else "/v1/zones/check"
    body = activity_body() if item_type == "activity" else zone_body()

    def check(e: Env) -> None:
        # a preview shows only what the caller may see
        def others(user: str) -> set[str]:
            return {c["other"]["id"] for c in e.json(user, "POST", path, body)["conflicts"]}

        assert others("c_liaison") == {e.a["id"], e.b["id"]}
        assert others("o_user") == {e.a["id"]}  # bravo's activity is not the observer's to see
        assert e.status("ops", "POST", path, body) == 403  # the admin client reads nothing

    return check


def _get_item(kind: str) -> Check:
    def check(e: Env) -> None:
        mine, draft, theirs = (e.a, e.a_draft, e.b) if kind == "activity" else (e.a_zone, None, e.b_zone)
        base = "/v1/activities" if kind == "activity" else "/v1/zones"
        own = e.json("a_ro", "GET", f"{base}/{mine['id']}")
        assert own["notes"] is not None
        for user in ("b_liaison", "c_liaison", "m_user", "o_user"):
            seen = e.json(user, "GET", f"{base}/{mine['id']}")
            assert "notes" not in seen and seen["id"] == mine["id"]
        e.refused(404, ["o_user"], "GET", f"{base}/{theirs['id']}")  # bravo does not share
        if draft is not None:
            e.refused(404, ["b_liaison", "b_cmd", "c_liaison", "m_user", "o_user"], "GET", f"{base}/{draft['id']}")
            e.refused(404, ["a_liaison"], "GET", f"{base}/{e.b_draft['id']}")
        e.refused(403, ["ops"], "GET", f"{base}/{mine['id']}")

    return check


def _put_item(kind: str) -> Check:
    def check(e: Env) -> None:
        if kind == "activity":
            target, draft, body = e.a, e.a_draft, activity_body(volume(0, 0))
            base = "/v1/activities"
        else:
            target, draft, body = e.a_zone, None, zone_body(volume(0, 0, start_h=0))
            base = "/v1/zones"
        path = f"{base}/{target['id']}"
        versioned = body | {"version": target["version"]}
        e.refused(403, ["b_liaison", "b_cmd", "c_liaison", "m_user", "o_user", "a_ro", "ops"], "PUT", path, versioned)
        if draft is not None:
            dp = f"{base}/{draft['id']}"
            e.refused(404, ["b_liaison", "c_liaison", "m_user"], "PUT", dp, body | {"version": draft["version"]})
        assert e.json("a_liaison", "GET", path)["version"] == target["version"]

    return check


def _transition(kind: str) -> Check:
    def check(e: Env) -> None:
        if kind == "activity":
            target, base, actions = e.a, "/v1/activities", ("cancel", "complete", "activate")
        else:
            target, base, actions = e.a_zone, "/v1/zones", ("withdraw",)
        body = {"version": target["version"]}
        for action in actions:
            path = f"{base}/{target['id']}/{action}"
            e.refused(403, ["b_liaison", "b_cmd", "c_liaison", "m_user", "o_user", "a_ro", "ops"], "POST", path, body)
        if kind == "activity":
            path = f"{base}/{e.a_draft['id']}/notify"
            e.refused(404, ["b_liaison", "c_liaison", "m_user"], "POST", path, {"version": e.a_draft["version"]})
            e.refused(404, ["b_liaison"], "POST", f"{base}/{e.a_draft['id']}/cancel", {"version": "x"})
        assert e.json("a_liaison", "GET", f"{base}/{target['id']}")["state"] == target["state"]

    return check


def _item_receipts(kind: str) -> Check:
    def check(e: Env) -> None:
        mine = e.a if kind == "activity" else e.a_zone
        base = "/v1/activities" if kind == "activity" else "/v1/zones"
        path = f"{base}/{mine['id']}/receipts"
        assert e.json("a_ro", "GET", path)["notices"]
        assert e.json("m_user", "GET", path)["notices"]
        e.refused(403, ["b_liaison", "c_liaison", "o_user", "ops"], "GET", path)
        if kind == "activity":
            e.refused(404, ["b_liaison", "o_user"], "GET", f"{base}/{e.a_draft['id']}/receipts")

    return check


def _list_conflicts(e: Env) -> None:
    for user in ("a_ro", "b_liaison", "c_liaison", "m_user"):
        assert [c["id"] for c in e.json(user, "GET", "/v1/conflicts")["conflicts"]] == [e.cid], user
    assert e.json("o_user", "GET", "/v1/conflicts")["conflicts"] == []  # bravo does not share
    e.refused(403, ["ops"], "GET", "/v1/conflicts")


def _get_conflict(e: Env) -> None:
    for user in ("a_ro", "b_cmd", "c_liaison", "m_user"):
        assert e.json(user, "GET", f"/v1/conflicts/{e.cid}")["id"] == e.cid
    e.refused(404, ["o_user"], "GET", f"/v1/conflicts/{e.cid}")


def _conflict_receipts(e: Env) -> None:
    path = f"/v1/conflicts/{e.cid}/receipts"
    for user in ("a_ro", "b_liaison", "m_user"):
        assert len(e.json(user, "GET", path)["receipts"]) == 2
    e.refused(403, ["c_liaison", "ops"], "GET", path)
    e.refused(404, ["o_user"], "GET", path)  # the observer may not even know of it


def _conflict_action(e: Env) -> None:
    base = f"/v1/conflicts/{e.cid}"
    before = e.json("a_liaison", "GET", base)
    for action in ("acknowledge", "accept", "escalate"):
        e.refused(403, ["c_liaison", "m_user", "a_ro", "o_user", "ops"], "POST", f"{base}/{action}")
    for action in ("comment", "propose"):
        e.refused(403, ["c_liaison", "a_ro", "o_user", "ops"], "POST", f"{base}/{action}", {"text": "hello"})
    after = e.json("a_liaison", "GET", base)
    assert (after["state"], after["notes"], after["a"], after["b"]) == (
        before["state"],
        before["notes"],
        before["a"],
        before["b"],
    )


def _list_notices(e: Env) -> None:
    def ids(user: str) -> set[str]:
        return {n["id"] for n in e.json(user, "GET", "/v1/notices")["notices"]}

    assert ids("a_ro") >= {e.notice_b} and e.notice_a not in ids("a_ro")
    assert ids("b_liaison") >= {e.notice_a} and e.notice_b not in ids("b_liaison")
    assert ids("c_liaison") >= {e.notice_a, e.notice_b}
    assert ids("m_user") == ids("o_user") == set()
    e.refused(403, ["ops"], "GET", "/v1/notices")


def _open_notice(e: Env) -> None:
    assert e.json("b_cmd", "GET", f"/v1/notices/{e.notice_a}")["receipt"]["party"] == "bravo"
    assert e.json("a_liaison", "GET", f"/v1/notices/{e.notice_a}")["receipt"] is None  # the sender's own
    e.refused(404, ["m_user", "o_user"], "GET", f"/v1/notices/{e.notice_a}")
    e.refused(403, ["ops"], "GET", f"/v1/notices/{e.notice_a}")


def _ack_notice(e: Env) -> None:
    path = f"/v1/notices/{e.notice_b}/acknowledge"
    e.refused(403, ["a_ro", "o_user", "ops"], "POST", path)
    e.refused(404, ["m_user"], "POST", path)  # not addressed to the mediator
    receipt = e.json("a_cmd", "GET", f"/v1/notices/{e.notice_b}")["receipt"]
    assert receipt["acknowledged_at"] is None


def _events(e: Env) -> None:
    for user, party in PARTY_OF.items():
        events = e.json(user, "GET", "/v1/events", params={"limit": 1000})["events"]
        assert all("*" in ev["audience"] or party in ev["audience"] for ev in events), user
        assert not [ev for ev in events if e.a_draft["id"] in json.dumps(ev) or e.b_draft["id"] in json.dumps(ev)]
    watch = e.json("o_user", "GET", "/v1/events", params={"limit": 1000})["events"]
    assert not [ev for ev in watch if ev["subject_id"] in {e.notice_b, e.cid}]


def _export(e: Env) -> None:
    def ids(user: str) -> set[str]:
        r = e.call(user, "GET", "/v1/export")
        assert r.status_code == 200
        return {f["properties"]["item_id"] for f in r.json()["features"]}

    assert ids("b_liaison") == {e.a["id"], e.b["id"], e.b_draft["id"]}
    assert ids("o_user") == {e.a["id"]}
    e.refused(403, ["ops"], "GET", "/v1/export")


def _import(e: Env) -> None:
    doc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [1.0, 1.0]},
                "properties": {
                    "item_id": "I-1",
                    "kind": "air_sortie",
                    "radius_m": 100.0,
                    "altitude_lower_m": 0.0,
                    "altitude_upper_m": 10.0,
                    "time_start": "2026-11-26T00:00:00Z",
                    "time_end": "2026-11-26T01:00:00Z",
                },
            }
        ],
    }
    e.refused(403, ["a_ro", "o_user", "m_user", "ops"], "POST", "/v1/import", doc)
    e.refused(403, ["b_liaison"], "POST", "/v1/import", {**doc, "features": [_with_party(doc["features"][0], "alpha")]})


def _with_party(feature: dict[str, Any], party: str) -> dict[str, Any]:
    return {**feature, "properties": {**feature["properties"], "party": party}}


def _stream(e: Env) -> None:
    with e.api.client.websocket_connect(f"/v1/stream?access_token={e.api.token('o_user')}&after=0") as ws:
        ws.close()


def _health(e: Env) -> None:
    assert e.api.get(None, "/v1/health").status_code == 200


def _login(e: Env) -> None:
    # no user in this world has a password: every log-in is refused alike
    for user in ("a_liaison", "ops", "nobody"):
        r = e.api.post(None, "/v1/auth/login", {"username": user, "password": "x" * 12})
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")


def _fixed(path: str, body: Any = None) -> Sample:
    return lambda e: (path, body)


ROUTES: dict[tuple[str, str], Case] = {
    ("GET", "/v1/health"): Case(_fixed("/v1/health"), _health, public=True),
    ("POST", "/v1/auth/login"): Case(
        _fixed("/v1/auth/login", {"username": "a_liaison", "password": "x"}), _login, True
    ),
    ("GET", "/v1/me"): Case(_fixed("/v1/me"), _me),
    ("GET", "/v1/parties"): Case(_fixed("/v1/parties"), _any_reader("/v1/parties")),
    ("GET", "/v1/policy"): Case(_fixed("/v1/policy"), _any_reader("/v1/policy")),
    ("PUT", "/v1/policy"): Case(lambda e: ("/v1/policy", e.api.service.get_policy()), _put_policy),
    ("GET", "/v1/activities"): Case(_fixed("/v1/activities"), _list_activities),
    ("POST", "/v1/activities"): Case(_fixed("/v1/activities", activity_body()), _create("activity")),
    ("POST", "/v1/activities/check"): Case(_fixed("/v1/activities/check", activity_body()), _check_route("activity")),
    ("GET", "/v1/activities/{item_id}"): Case(lambda e: (f"/v1/activities/{e.a['id']}", None), _get_item("activity")),
    ("PUT", "/v1/activities/{item_id}"): Case(
        lambda e: (f"/v1/activities/{e.a['id']}", activity_body(version=e.a["version"])), _put_item("activity")
    ),
    ("GET", "/v1/activities/{item_id}/receipts"): Case(
        lambda e: (f"/v1/activities/{e.a['id']}/receipts", None), _item_receipts("activity")
    ),
    ("POST", "/v1/activities/{item_id}/{action}"): Case(
        lambda e: (f"/v1/activities/{e.a['id']}/cancel", {"version": e.a["version"]}), _transition("activity")
    ),
    ("GET", "/v1/zones"): Case(_fixed("/v1/zones"), _list_zones),
    ("POST", "/v1/zones"): Case(_fixed("/v1/zones", zone_body()), _create("zone")),
    ("POST", "/v1/zones/check"): Case(_fixed("/v1/zones/check", zone_body()), _check_route("zone")),
    ("GET", "/v1/zones/{item_id}"): Case(lambda e: (f"/v1/zones/{e.a_zone['id']}", None), _get_item("zone")),
    ("PUT", "/v1/zones/{item_id}"): Case(
        lambda e: (f"/v1/zones/{e.a_zone['id']}", zone_body(version=e.a_zone["version"])), _put_item("zone")
    ),
    ("GET", "/v1/zones/{item_id}/receipts"): Case(
        lambda e: (f"/v1/zones/{e.a_zone['id']}/receipts", None), _item_receipts("zone")
    ),
    ("POST", "/v1/zones/{item_id}/{action}"): Case(
        lambda e: (f"/v1/zones/{e.a_zone['id']}/withdraw", {"version": e.a_zone["version"]}), _transition("zone")
    ),
    ("GET", "/v1/conflicts"): Case(_fixed("/v1/conflicts"), _list_conflicts),
    ("GET", "/v1/conflicts/{conflict_id}"): Case(lambda e: (f"/v1/conflicts/{e.cid}", None), _get_conflict),
    ("GET", "/v1/conflicts/{conflict_id}/receipts"): Case(
        lambda e: (f"/v1/conflicts/{e.cid}/receipts", None), _conflict_receipts
    ),
    ("POST", "/v1/conflicts/{conflict_id}/{action}"): Case(
        lambda e: (f"/v1/conflicts/{e.cid}/acknowledge", None), _conflict_action
    ),
    ("GET", "/v1/notices"): Case(_fixed("/v1/notices"), _list_notices),
    ("GET", "/v1/notices/{notice_id}"): Case(lambda e: (f"/v1/notices/{e.notice_b}", None), _open_notice),
    ("POST", "/v1/notices/{notice_id}/acknowledge"): Case(
        lambda e: (f"/v1/notices/{e.notice_b}/acknowledge", None), _ack_notice
    ),
    ("GET", "/v1/events"): Case(_fixed("/v1/events"), _events),
    ("GET", "/v1/export"): Case(_fixed("/v1/export"), _export),
    ("POST", "/v1/import"): Case(_fixed("/v1/import", {"type": "FeatureCollection", "features": []}), _import),
    ("WS", "/v1/stream"): Case(_fixed("/v1/stream"), _stream),
}


def _unauthenticated(e: Env, method: str, path: str, body: Any) -> None:
    """No token, and each bad one, gets 401 (the stream: close code 4401) and changes nothing."""
    attempts: dict[str, dict[str, str]] = {"none": {}, "basic scheme": {"Authorization": "Basic YTpi"}}
    attempts |= {name: {"Authorization": f"Bearer {token}"} for name, token in e.bad_tokens.items()}
    for name, headers in attempts.items():
        if method == "WS":
            query = f"?access_token={e.bad_tokens[name]}" if name in e.bad_tokens else ""
            assert ws_refusal(e.api.client, path + query, headers) == 4401, name
            continue
        r = e.api.client.request(method, path, json=body, headers=headers)
        assert r.status_code == 401, (name, r.text)
        assert r.headers["www-authenticate"] == 'Bearer realm="deconflict"'
        assert r.json()["field"] == "authorization"


@pytest.mark.parametrize("route", sorted(ROUTES), ids=lambda r: f"{r[0]} {r[1]}")
def test_route_authorisation(env: Env, route: tuple[str, str]) -> None:
    case = ROUTES[route]
    method = route[0]
    path, body = case.sample(env)
    before = env.api.counts()
    if not case.public:
        _unauthenticated(env, method, path, body)
    case.check(env)
    after = env.api.counts()
    # refused requests store nothing (reads only update receipts and log access); the one
    # allowed write is the admin putting the same policy back, which records an event
    changed = {k for k in after if after[k] != before[k]}
    assert changed == ({"events"} if route == ("PUT", "/v1/policy") else set()), (route, before, after)


def test_read_only_user_cannot_write_anything(env: Env) -> None:
    """a_ro (and the observer) against every write route of the table, in one sweep."""
    before = env.api.counts()
    for (method, route), case in sorted(ROUTES.items()):
        if method in ("GET", "WS") or case.public:
            continue
        path, body = case.sample(env)
        for user in ("a_ro", "o_user"):
            r = env.call(user, method, path, body)
            if route.endswith("/check"):
                assert r.status_code == 200, (user, route)  # previews only read
            else:
                assert r.status_code == 403, (user, method, route, r.text)
    assert env.api.counts() == before


def test_deactivation_revokes_at_once(env: Env) -> None:
    env.api.service.add_user("b_temp", "bravo", "liaison")
    token = env.api.service.issue_token("b_temp")["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert env.api.client.get("/v1/me", headers=headers).status_code == 200
    env.api.service.deactivate_user("b_temp")
    r = env.api.client.get("/v1/me", headers=headers)
    assert r.status_code == 401 and r.json()["field"] == "authorization"
    assert ws_refusal(env.api.client, f"/v1/stream?access_token={token}") == 4401
