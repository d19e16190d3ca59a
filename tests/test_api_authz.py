"""Authorisation, route by route.

Every ``/v1`` route (and the WebSocket) is in :data:`ROUTES`; a test fails when the app
serves a route the table lacks, so a new endpoint cannot ship without its cases.  For
each route:

* no token, a malformed token, an expired one, a forged one (right key id, wrong key),
  a tampered one, and the token of a deactivated user all get 401 (4401 on the stream);
* an F3548 DSS client's token (valid, bound to a member party) gets 403 (4403 on the
  stream): such a client uses ``/dss/v1`` only;
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
from deconflict.api.signing import signature_headers
from deconflict.auth import SigningKey, TokenIssuer
from deconflict.ledger import generate_key, verify_export
from deconflict.service import AUDIENCE
from deconflict.wire import rfc3339
from dss_helpers import AUDIENCE as DSS_AUDIENCE
from dss_helpers import ISSUER, Authority

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
    uss_authority: Authority | None = None  # mints F3548 tokens of charlie's DSS client

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
        e.uss_authority = Authority(api.clock, issuer=ISSUER)
        svc.add_trusted_issuer(
            ISSUER, DSS_AUDIENCE, e.uss_authority.public_pem, algorithms=("RS256",), party_from="sub"
        )
        svc.add_uss_client("charlie-uss", "charlie", issuer=ISSUER)
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


def _events_head(e: Env) -> None:
    # One number for everyone (event sequence numbers are global, so it tells no more than their gaps do),
    # at least the last event each user can see.
    heads = {user: e.json(user, "GET", "/v1/events/head")["seq"] for user in PARTY_OF}
    assert len(set(heads.values())) == 1, heads
    for user in PARTY_OF:
        seen = e.json(user, "GET", "/v1/events", params={"limit": 1000})["events"]
        assert seen and heads[user] >= seen[-1]["seq"], user


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
    ("GET", "/v1/events/head"): Case(_fixed("/v1/events/head"), _events_head),
    ("GET", "/v1/export"): Case(_fixed("/v1/export"), _export),
    ("POST", "/v1/import"): Case(_fixed("/v1/import", {"type": "FeatureCollection", "features": []}), _import),
    ("WS", "/v1/stream"): Case(_fixed("/v1/stream"), _stream),
}

# --- hotline routes: threads, messages, catalogue (their checks and cases) ----------------------
# One thread between alpha and bravo, made once per world (before any test, so that no
# route's counts include it): alpha's FLASH distress message to bravo, bravo's note back.


@dataclass(frozen=True)
class Hotline:
    thread: str
    first: str  # alpha → bravo, asks ROGER
    note: str  # bravo → alpha, free text


_HOTLINE: dict[int, Hotline] = {}
_DISTRESS = {"callsign": "alpha-1", "position": {"lat": 33.5, "lon": 36.3}, "altitude": {"fl": 120}}
_NOTE = {"code": 901, "text": "hello"}


@pytest.fixture(scope="module", autouse=True)
def _hotline_world(env: Env) -> None:
    svc = env.api.service
    _, body = svc.open_thread(
        svc.principal_for("a_liaison"), parties=["bravo"], message={"code": 401, "params": _DISTRESS}
    )
    thread = body["thread"]["id"]
    _, note = svc.send_message(svc.principal_for("b_liaison"), thread, 901, {}, text="bravo's note")
    _HOTLINE[id(env)] = Hotline(thread, body["message"]["id"], note["message"]["id"])


def _hl(e: Env) -> Hotline:
    return _HOTLINE[id(e)]


def _message_ids(e: Env, user: str) -> set[str]:
    return {m["id"] for m in e.json(user, "GET", "/v1/messages")["messages"]}


def _list_threads(e: Env) -> None:
    for user in ("a_ro", "b_liaison"):
        assert [t["id"] for t in e.json(user, "GET", "/v1/threads")["threads"]] == [_hl(e).thread], user
    for user in ("c_liaison", "m_user", "o_user"):  # not party to it: not even its existence
        assert e.json(user, "GET", "/v1/threads")["threads"] == [], user
    e.refused(403, ["ops"], "GET", "/v1/threads")


def _open_thread(e: Env) -> None:
    e.refused(403, ["a_ro", "o_user", "ops"], "POST", "/v1/threads", {"parties": ["bravo"], "message": _NOTE})
    e.refused(422, ["a_liaison", "c_liaison"], "POST", "/v1/threads", {"parties": ["watch"], "message": _NOTE})


def _get_thread(e: Env) -> None:
    path = f"/v1/threads/{_hl(e).thread}"
    for user in ("a_ro", "b_cmd"):
        assert len(e.json(user, "GET", path)["messages"]) == 2, user
    e.refused(404, ["c_liaison", "m_user", "o_user"], "GET", path)
    e.refused(403, ["ops"], "GET", path)


def _send_message(e: Env) -> None:
    path = f"/v1/threads/{_hl(e).thread}/messages"
    e.refused(403, ["a_ro", "o_user", "ops"], "POST", path, _NOTE)
    e.refused(404, ["c_liaison", "m_user"], "POST", path, _NOTE)


def _list_messages(e: Env) -> None:
    assert _message_ids(e, "b_liaison") == {_hl(e).first}
    assert _message_ids(e, "a_ro") == {_hl(e).note}
    for user in ("c_liaison", "m_user", "o_user"):
        assert _message_ids(e, user) == set(), user
    e.refused(403, ["ops"], "GET", "/v1/messages")


def _get_message(e: Env) -> None:
    path = f"/v1/messages/{_hl(e).first}"
    assert e.json("a_ro", "GET", path)["receipts"][0]["party"] == "bravo"  # the sender sees the receipts
    seen = e.json("b_cmd", "GET", path)
    assert seen["receipt"]["party"] == "bravo" and seen["receipts"] is None  # a recipient its own only
    e.refused(404, ["c_liaison", "m_user", "o_user"], "GET", path)
    e.refused(403, ["ops"], "GET", path)


def _ack_message(e: Env) -> None:
    path = f"/v1/messages/{_hl(e).first}/acknowledge"
    e.refused(403, ["a_ro", "o_user", "ops", "a_liaison"], "POST", path)  # alpha sent it: not alpha's to acknowledge
    e.refused(404, ["c_liaison", "m_user"], "POST", path)
    assert e.json("b_cmd", "GET", f"/v1/messages/{_hl(e).first}")["receipt"]["acknowledged_at"] is None


def _message_receipts(e: Env) -> None:
    path = f"/v1/messages/{_hl(e).first}/receipts"
    for user in ("a_ro", "m_user"):  # the sending party, and the mediator overseeing timeliness
        assert [r["party"] for r in e.json(user, "GET", path)["receipts"]] == ["bravo"], user
    e.refused(403, ["b_liaison", "ops"], "GET", path)
    e.refused(404, ["c_liaison", "o_user"], "GET", path)


HOTLINE_ROUTES: dict[tuple[str, str], Case] = {
    ("GET", "/v1/catalogue"): Case(_fixed("/v1/catalogue"), _any_reader("/v1/catalogue")),
    ("GET", "/v1/threads"): Case(_fixed("/v1/threads"), _list_threads),
    ("POST", "/v1/threads"): Case(_fixed("/v1/threads", {"parties": ["bravo"], "message": _NOTE}), _open_thread),
    ("GET", "/v1/threads/{thread_id}"): Case(lambda e: (f"/v1/threads/{_hl(e).thread}", None), _get_thread),
    ("POST", "/v1/threads/{thread_id}/messages"): Case(
        lambda e: (f"/v1/threads/{_hl(e).thread}/messages", _NOTE), _send_message
    ),
    ("GET", "/v1/messages"): Case(_fixed("/v1/messages"), _list_messages),
    ("GET", "/v1/messages/{message_id}"): Case(lambda e: (f"/v1/messages/{_hl(e).first}", None), _get_message),
    ("POST", "/v1/messages/{message_id}/acknowledge"): Case(
        lambda e: (f"/v1/messages/{_hl(e).first}/acknowledge", None), _ack_message
    ),
    ("GET", "/v1/messages/{message_id}/receipts"): Case(
        lambda e: (f"/v1/messages/{_hl(e).first}/receipts", None), _message_receipts
    ),
}

# --- end of hotline routes ------------------------------------------------------------------------

# --- incident routes (their checks and cases) -----------------------------------------------------

_INCIDENTS: dict[int, dict[str, str]] = {}


def _incidents(e: Env) -> dict[str, str]:
    """``bravo``: bravo's report linked to alpha's activity and the conflict (bravo does not
    share with observers); ``alpha``: alpha's own (it shares).  Reported once per world."""
    if id(e) not in _INCIDENTS:
        svc, now, here = e.api.service, e.api.clock.now(), {"lat": 35.0, "lon": 36.0}
        links = [{"type": "activity", "id": e.a["id"]}, {"type": "conflict", "id": e.cid}]
        p = {u: svc.principal_for(u) for u in ("a_liaison", "b_liaison")}
        _INCIDENTS[id(e)] = {
            "bravo": svc.report_incident(p["b_liaison"], "near_miss", "bravo report", now, here, links=links)[1]["id"],
            "alpha": svc.report_incident(p["a_liaison"], "other", "alpha report", now, here)[1]["id"],
        }
    return _INCIDENTS[id(e)]


@pytest.fixture(autouse=True)
def _incidents_reported(env: Env) -> None:
    """The incidents exist before any test counts rows."""
    _incidents(env)


def _incident_body(**extra: Any) -> dict[str, Any]:
    return {
        "kind": "near_miss",
        "title": "close pass",
        "occurred_at": "2026-11-25T07:00:00Z",
        "position": {"lat": 35.0, "lon": 36.0},
        **extra,
    }


def _report_incident(e: Env) -> None:
    e.refused(403, ["a_ro", "o_user", "ops"], "POST", "/v1/incidents", _incident_body())
    draft = _incident_body(links=[{"type": "activity", "id": e.a_draft["id"]}])
    e.refused(404, ["b_liaison", "c_liaison", "m_user"], "POST", "/v1/incidents", draft)  # another's draft


def _list_incidents(e: Env) -> None:
    ids = _incidents(e)
    for user in ("a_ro", "b_liaison", "c_liaison", "m_user"):
        assert {i["id"] for i in e.json(user, "GET", "/v1/incidents")["incidents"]} >= set(ids.values()), user
    assert [i["id"] for i in e.json("o_user", "GET", "/v1/incidents")["incidents"]] == [ids["alpha"]]
    e.refused(403, ["ops"], "GET", "/v1/incidents")


def _get_incident(e: Env) -> None:
    ids = _incidents(e)
    for user in ("a_ro", "b_cmd", "c_liaison", "m_user"):
        assert e.json(user, "GET", f"/v1/incidents/{ids['bravo']}")["party"] == "bravo"
    assert e.json("o_user", "GET", f"/v1/incidents/{ids['alpha']}")["party"] == "alpha"
    e.refused(404, ["o_user"], "GET", f"/v1/incidents/{ids['bravo']}")
    e.refused(403, ["ops"], "GET", f"/v1/incidents/{ids['bravo']}")


def _incident_timeline(e: Env) -> None:
    ids = _incidents(e)
    path = f"/v1/incidents/{ids['bravo']}/timeline"
    for user in ("a_ro", "b_liaison", "c_liaison", "m_user"):  # e.call checks each for others' secrets
        entries = e.json(user, "GET", path, params={"before_s": 86400, "after_s": 86400})["entries"]
        assert {en["subject"]["id"] for en in entries} >= {e.a["id"], e.cid, ids["bravo"]}, user
    watch = e.json("o_user", "GET", f"/v1/incidents/{ids['alpha']}/timeline")["entries"]
    assert not [en for en in watch if en["party"] == "bravo"]  # bravo does not share with observers
    e.refused(404, ["o_user"], "GET", path)
    e.refused(403, ["ops"], "GET", path)


def _link_incident(e: Env) -> None:
    ids = _incidents(e)
    path = f"/v1/incidents/{ids['bravo']}/links"
    link = {"links": [{"type": "activity", "id": e.b["id"]}]}
    e.refused(403, ["a_ro", "o_user", "ops", "c_liaison"], "POST", path, link)  # charlie is not involved
    e.refused(404, ["b_liaison", "m_user"], "POST", path, {"links": [{"type": "activity", "id": e.a_draft["id"]}]})
    e.refused(404, ["a_liaison"], "POST", f"/v1/incidents/{ids['bravo']}x/links", link)
    assert len(e.json("b_liaison", "GET", f"/v1/incidents/{ids['bravo']}")["links"]) == 2


def _incident_action(e: Env) -> None:
    ids = _incidents(e)
    base = f"/v1/incidents/{ids['bravo']}"
    e.refused(403, ["a_ro", "o_user", "ops", "c_liaison"], "POST", f"{base}/comment", {"text": "hello"})
    e.refused(403, ["a_liaison", "b_liaison", "b_cmd", "a_ro", "o_user"], "POST", f"{base}/review")
    e.refused(403, ["b_cmd", "a_cmd"], "POST", f"{base}/close", {"text": "findings"})
    e.refused(409, ["m_user"], "POST", f"{base}/close", {"text": "findings"})  # not under review yet
    e.refused(409, ["m_user"], "POST", f"{base}/reopen")
    e.refused(404, ["m_user"], "POST", f"/v1/incidents/{ids['bravo']}x/review")
    after = e.json("b_liaison", "GET", base)
    assert (after["state"], after["notes"]) == ("open", [])


INCIDENT_ROUTES: dict[tuple[str, str], Case] = {
    ("POST", "/v1/incidents"): Case(_fixed("/v1/incidents", _incident_body()), _report_incident),
    ("GET", "/v1/incidents"): Case(_fixed("/v1/incidents"), _list_incidents),
    ("GET", "/v1/incidents/{incident_id}"): Case(
        lambda e: (f"/v1/incidents/{_incidents(e)['bravo']}", None), _get_incident
    ),
    ("GET", "/v1/incidents/{incident_id}/timeline"): Case(
        lambda e: (f"/v1/incidents/{_incidents(e)['bravo']}/timeline", None), _incident_timeline
    ),
    ("POST", "/v1/incidents/{incident_id}/links"): Case(
        lambda e: (f"/v1/incidents/{_incidents(e)['bravo']}/links", {"links": [{"type": "activity", "id": e.b["id"]}]}),
        _link_incident,
    ),
    ("POST", "/v1/incidents/{incident_id}/{action}"): Case(
        lambda e: (f"/v1/incidents/{_incidents(e)['bravo']}/comment", {"text": "hello"}), _incident_action
    ),
}

# --- end of incident routes -----------------------------------------------------------------------

# --- liveness routes (their checks and cases) -----------------------------------------------------


def _heartbeat(e: Env) -> None:
    # any authenticated user may say its party is on the channel — for its own party only
    for user in PARTY_OF:
        body = e.json(user, "POST", "/v1/heartbeat")
        assert body["party"] == PARTY_OF[user] and body["state"] == "up"


def _liveness(e: Env) -> None:
    for user, party in PARTY_OF.items():
        rows = {r["party"]: r for r in e.json(user, "GET", "/v1/liveness")}
        assert set(rows) >= {"alpha", "bravo", "unmed", "watch"}
        # who sent a party's last heartbeat is that party's own business
        assert [p for p, r in rows.items() if "last_seen_by" in r] == [party], user


LIVENESS_ROUTES: dict[tuple[str, str], Case] = {
    ("POST", "/v1/heartbeat"): Case(_fixed("/v1/heartbeat"), _heartbeat),
    ("GET", "/v1/liveness"): Case(_fixed("/v1/liveness"), _liveness),
}

# --- end of liveness routes -----------------------------------------------------------------------

# --- ledger routes (their checks and cases) -------------------------------------------------------
# Every reader gets its party's view; another party's notes and drafts appear only as
# hashes (e.call checks every response for them).  A key registered in a check is
# revoked in it, so that no party is left signing for the other routes' checks.


# Private entries (notes, versions) go to their owner alone (docs/ledger.md): the mediator's
# reads of the record are checked for every member party's secrets too (e.call).
_MEDIATOR_USERS = [u for u, p in PARTY_OF.items() if p == "unmed"]
_NOT_MEDIATOR = [u for u in PARTY_OF if u not in _MEDIATOR_USERS]


def _mediator_reads(e: Env, path: str, **params: Any) -> Any:
    r = e.call(_MEDIATOR_USERS[0], "GET", path, params=params)
    assert r.status_code == 200, r.text
    return r


def _ledger_reader(path: str) -> Check:
    def check(e: Env) -> None:
        e.api.service.checkpoint()
        for user in PARTY_OF:
            assert e.status(user, "GET", path) == 200, user

    return check


def _ledger_proof(kind: str) -> Check:
    def check(e: Env) -> None:
        e.api.service.checkpoint()
        sizes = [h["tree_size"] for h in e.api.service.tree_heads(None)["tree_heads"]]
        first, last = sizes[-1], sizes[0]
        params = {"seq": 1, "tree_size": last} if kind == "inclusion" else {"first": first, "second": last}
        for user in _NOT_MEDIATOR:
            assert e.json(user, "GET", f"/v1/ledger/proofs/{kind}", params=params)["proof"] is not None, user
        _mediator_reads(e, f"/v1/ledger/proofs/{kind}", **params)

    return check


def _ledger_entries(e: Env) -> None:
    for user in _NOT_MEDIATOR:
        entries = e.json(user, "GET", "/v1/ledger/entries", params={"limit": 1000})["entries"]
        assert entries and entries[0]["seq"] == 1, user
    assert _mediator_reads(e, "/v1/ledger/entries", limit=1000).json()["entries"][0]["seq"] == 1
    bravo = e.json("b_liaison", "GET", "/v1/ledger/entries", params={"limit": 1000})["entries"]
    assert [x for x in bravo if x.get("redacted")]  # alpha's drafts and notes, among others


def _ledger_export(e: Env) -> None:
    for user in ("b_liaison", "o_user", "c_liaison"):
        r = e.call(user, "GET", "/v1/ledger/export")
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
        lines = r.text.splitlines()
        assert json.loads(lines[0])["view"] == PARTY_OF[user]
        assert any('"redacted":true' in line.replace(" ", "") for line in lines), user
        assert verify_export(lines).ok, user
    assert verify_export(_mediator_reads(e, "/v1/ledger/export").text.splitlines()).ok


def _register_and_revoke(e: Env, owner: str, refused_by: list[str], other_commander: str) -> None:
    """``owner`` registers a client key of its party; ``refused_by`` may not revoke it (403), nor
    may another party's commander (404: no such key of its own); ``owner`` does (signing with
    it: its party now signs every write)."""
    signer = generate_key()
    # a party's keys are its commander's (or an administrator's): not a read-only user's, a liaison's, an observer's
    e.refused(403, ["a_ro", "o_user", "a_liaison"], "POST", "/v1/ledger/keys", {"public_key": signer.public_b64})
    made = e.json(owner, "POST", "/v1/ledger/keys", {"public_key": signer.public_b64})
    try:
        assert (made["kid"], made["owner"]) == (signer.kid, PARTY_OF[owner])
        path = f"/v1/ledger/keys/{signer.kid}/revoke"
        e.refused(403, refused_by, "POST", path)
        e.refused(404, [other_commander], "POST", path)
        unsigned = e.call(owner, "POST", path)  # unsigned, even the revocation is refused
        assert unsigned.status_code == 401 and unsigned.json()["field"] == "Deconflict-Signature"
        headers = signature_headers(signer, "POST", path, None, owner, rfc3339(e.api.clock.now()))
        assert e.json(owner, "POST", path, headers=headers)["revoked_at"] is not None
    finally:  # never leave a party signing for the other routes' checks
        if any(k["kid"] == signer.kid and k["revoked_at"] is None for k in e.api.service.list_ledger_keys()):
            e.api.service.revoke_party_key(e.api.service.principal_for(owner), signer.kid)


def _ledger_keys(e: Env) -> None:
    for user in PARTY_OF:
        keys = e.json(user, "GET", "/v1/ledger/keys")["keys"]
        assert "service" in {k["owner"] for k in keys} and all("private_key" not in k for k in keys), user


LEDGER_ROUTES: dict[tuple[str, str], Case] = {
    ("GET", "/v1/ledger/entries"): Case(_fixed("/v1/ledger/entries"), _ledger_entries),
    ("GET", "/v1/ledger/export"): Case(_fixed("/v1/ledger/export"), _ledger_export),
    ("GET", "/v1/ledger/tree-heads"): Case(_fixed("/v1/ledger/tree-heads"), _ledger_reader("/v1/ledger/tree-heads")),
    ("GET", "/v1/ledger/proofs/inclusion"): Case(
        _fixed("/v1/ledger/proofs/inclusion?seq=1&tree_size=1"), _ledger_proof("inclusion")
    ),
    ("GET", "/v1/ledger/proofs/consistency"): Case(
        _fixed("/v1/ledger/proofs/consistency?first=1&second=2"), _ledger_proof("consistency")
    ),
    ("GET", "/v1/ledger/keys"): Case(_fixed("/v1/ledger/keys"), _ledger_keys),
    ("POST", "/v1/ledger/keys"): Case(
        _fixed("/v1/ledger/keys", {"server_side": True}),
        lambda e: _register_and_revoke(e, "ops", ["b_liaison", "a_liaison", "a_ro"], "b_cmd"),
    ),
    ("POST", "/v1/ledger/keys/{kid}/revoke"): Case(
        _fixed("/v1/ledger/keys/nokey0000000000/revoke"),
        lambda e: _register_and_revoke(e, "b_cmd", ["a_liaison", "c_liaison", "a_ro", "o_user"], "a_cmd"),
    ),
}

# --- end of ledger routes -------------------------------------------------------------------------

ROUTES |= HOTLINE_ROUTES | INCIDENT_ROUTES | LIVENESS_ROUTES
ROUTES |= LEDGER_ROUTES

# The tables a route's check may change, for the checks that make an allowed write (the
# admin putting the same policy back records an event; a first heartbeat records the party up).
WRITES: dict[tuple[str, str], set[str]] = {
    ("PUT", "/v1/policy"): {"events"},
    ("POST", "/v1/heartbeat"): {"events", "liveness"},
    # a key registered and revoked: an event each (ledger_keys is not counted)
    ("POST", "/v1/ledger/keys"): {"events"},
    ("POST", "/v1/ledger/keys/{kid}/revoke"): {"events"},
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


def _f3548_client(e: Env, method: str, path: str, body: Any) -> None:
    """An F3548 DSS client's valid token gets 403 naming the authorization (the stream:
    close code 4403): it may use only ``/dss/v1``."""
    assert e.uss_authority is not None
    token = e.uss_authority.mint("charlie-uss")
    assert e.api.service.authenticate(token).protocol == "f3548"  # authentic, just not for /v1
    if method == "WS":
        assert ws_refusal(e.api.client, f"{path}?access_token={token}") == 4403
        assert ws_refusal(e.api.client, path, {"Authorization": f"Bearer {token}"}) == 4403
        return
    r = e.api.client.request(method, path, json=body, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["field"] == "authorization"
    assert "only the F3548 DSS interface (/dss/v1)" in r.json()["reason"]


@pytest.mark.parametrize("route", sorted(ROUTES), ids=lambda r: f"{r[0]} {r[1]}")
def test_route_authorisation(env: Env, route: tuple[str, str]) -> None:
    case = ROUTES[route]
    method = route[0]
    path, body = case.sample(env)
    before = env.api.counts()
    if not case.public:
        _unauthenticated(env, method, path, body)
        _f3548_client(env, method, path, body)
    case.check(env)
    after = env.api.counts()
    # refused requests store nothing (reads only update receipts and log access); the
    # allowed writes a check makes are listed in WRITES
    changed = {k for k in after if after[k] != before[k]}
    assert changed == WRITES.get(route, set()), (route, before, after)


def test_read_only_user_cannot_write_anything(env: Env) -> None:
    """a_ro (and the observer) against every write route of the table, in one sweep."""
    before = env.api.counts()
    for (method, route), case in sorted(ROUTES.items()):
        if method in ("GET", "WS") or case.public or route == "/v1/heartbeat":
            continue  # a heartbeat is presence, not a write: any user of a party may send one
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
