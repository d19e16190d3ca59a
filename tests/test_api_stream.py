"""The event stream ``WS /v1/stream``: live delivery, resume without loss or duplicates,
authentication, privacy of drafts and of parties that do not share, delivered receipts.

No test waits for time to pass: "nothing else arrived" is shown by a *sentinel* — a
later event the user may see; when it is the very next message, nothing was sent in
between.  A message that never comes fails the test (after a generous safety timeout)
instead of hanging it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import WebSocketTestSession

from api_helpers import T0, Api, activity_body, open_api, populate, recv, volume, ws_refusal
from deconflict.service import ManualClock, Service
from deconflict.store.schema import events, receipts
from deconflict.wire import rfc3339


@pytest.fixture
def api(service: Service, clock: ManualClock) -> Iterator[Api]:
    with open_api(populate(service, clock)) as a:
        yield a


def last_seq(api: Api, user: str) -> int:
    return int(api.ok(api.get(user, "/v1/events", params={"limit": 1000}))["last_seq"])


def missed(api: Api, user: str, after: int) -> list[dict[str, Any]]:
    return list(api.ok(api.get(user, "/v1/events", params={"after": after, "limit": 1000}))["events"])


def connect(api: Api, user: str, after: int) -> Any:
    return api.client.websocket_connect(f"/v1/stream?after={after}&access_token={api.token(user)}")


def sentinel(api: Api, ws: WebSocketTestSession, lon: float) -> dict[str, Any]:
    """alpha notifies an activity far from everything; it must be ``ws``'s next message."""
    notice = api.notify("a_cmd", volumes=[volume(lon, -40.0)], title=f"sentinel {lon}")["notice"]
    event = recv(ws)
    assert (event["type"], event["subject_id"]) == ("activity.notified", notice["id"]), event
    return event


def receipt(api: Api, subject_type: str, subject_id: str, party: str) -> Any:
    with api.service.store.read() as conn:
        return conn.execute(
            sa.select(receipts).where(
                receipts.c.subject_type == subject_type,
                receipts.c.subject_id == subject_id,
                receipts.c.party_id == party,
            )
        ).one()


def test_live_events_of_a_conflicting_notification(api: Api) -> None:
    a = api.notify("a_liaison", title="alpha sortie")
    start = last_seq(api, "a_liaison")
    with connect(api, "a_liaison", start) as ws:
        b = api.notify("b_liaison", title="bravo sortie")  # reads alpha's activity, then notifies
        first, second = recv(ws), recv(ws)
        assert first["type"] == "activity.notified"
        assert first["subject_type"] == "notice" and first["subject_id"] == b["notice"]["id"]
        assert first["payload"]["item"]["id"] == b["item"]["id"]
        assert "notes" not in first["payload"]["item"]
        assert second["type"] == "conflict.opened"
        assert second["payload"]["conflict"]["id"] == b["conflicts"][0]["id"]
        sides = {second["payload"]["conflict"][s]["item"]["id"] for s in ("a", "b")}
        assert sides == {a["item"]["id"], b["item"]["id"]}
        assert [first, second] == missed(api, "a_liaison", start)  # the stream and the table agree
        assert first["seq"] < second["seq"]
        sentinel(api, ws, 100.0)


def test_resume_gets_exactly_the_missed_events(api: Api) -> None:
    start = last_seq(api, "a_liaison")
    with connect(api, "a_liaison", start) as ws:
        x = api.notify("b_liaison", volumes=[volume(10.0, 10.0)], title="x")
        seen = recv(ws)
        assert seen["subject_id"] == x["notice"]["id"]
    last = seen["seq"]

    # while alpha is away: things it may see, and things it may not
    cancelled = api.ok(
        api.post("b_liaison", f"/v1/activities/{x['item']['id']}/cancel", {"version": x["item"]["version"]})
    )
    api.service.add_user("b_new", "bravo", "liaison")  # bravo's own membership event
    api.draft("b_liaison", volumes=[volume(12.0, 12.0)])  # a draft: no event at all
    own = api.notify("a_liaison", volumes=[volume(14.0, 14.0)], title="alpha's own")
    y = api.notify("b_liaison", volumes=[volume(14.0, 14.0)], title="y")  # conflicts with alpha's

    expected = missed(api, "a_liaison", last)
    assert [e["type"] for e in expected] == [
        "activity.cancelled",
        "activity.notified",
        "activity.notified",
        "conflict.opened",
    ]
    assert [e["subject_id"] for e in expected[:3]] == [
        cancelled["notice"]["id"],
        own["notice"]["id"],
        y["notice"]["id"],
    ]
    with connect(api, "a_liaison", last) as ws:
        got = [recv(ws) for _ in expected]
        assert got == expected  # nothing lost, nothing older than `after`
        sentinel(api, ws, 110.0)  # and nothing more (no duplicates)
        more = api.notify("b_liaison", volumes=[volume(16.0, 16.0)], title="z")
        assert recv(ws)["subject_id"] == more["notice"]["id"]  # and it goes on live after the replay

    # a resume from the very start replays everything alpha may see, once, in order
    everything = missed(api, "a_liaison", 0)
    with connect(api, "a_liaison", 0) as ws:
        replay = [recv(ws) for _ in everything]
        assert replay == everything
        assert [e["seq"] for e in replay] == sorted({e["seq"] for e in replay})
        sentinel(api, ws, 120.0)


def test_authentication(api: Api) -> None:
    assert ws_refusal(api.client, "/v1/stream") == 4401
    assert ws_refusal(api.client, "/v1/stream?access_token=garbage") == 4401
    token = api.token("a_liaison")
    assert ws_refusal(api.client, f"/v1/stream?after={2**63}&access_token={token}") == 1008  # policy violation
    assert ws_refusal(api.client, f"/v1/stream?after=-1&access_token={token}") == 1008
    assert ws_refusal(api.client, "/v1/stream", {"Authorization": "Bearer garbage"}) == 4401
    revoked = api.token("b_cmd")
    api.service.deactivate_user("b_cmd")
    assert ws_refusal(api.client, f"/v1/stream?access_token={revoked}") == 4401
    # a bearer header on the upgrade request is as good as the query parameter
    start = last_seq(api, "b_liaison")
    with api.client.websocket_connect(f"/v1/stream?after={start}", headers=api.h("b_liaison")) as ws:
        sentinel(api, ws, 130.0)


def test_drafts_and_unshared_items_never_reach_others(api: Api) -> None:
    b_start, o_start = last_seq(api, "b_liaison"), last_seq(api, "o_user")
    with connect(api, "b_liaison", b_start) as b_ws, connect(api, "o_user", o_start) as o_ws:
        draft = api.draft("a_liaison", title="secret plan", notes="very")
        changed = api.ok(
            api.put(
                "a_liaison",
                f"/v1/activities/{draft['id']}",
                activity_body(volume(37.0, 35.0), title="secret plan 2", version=draft["version"]),
            )
        )["item"]
        api.ok(api.post("a_liaison", f"/v1/activities/{draft['id']}/cancel", {"version": changed["version"]}))
        # bravo does not share with observers: its notification reaches bravo's peers, not the observer
        bravo = api.notify("b_liaison", volumes=[volume(60.0, 10.0)])
        # bravo's first message is its own notification: nothing about alpha's draft came before
        own = recv(b_ws)
        assert (own["type"], own["subject_id"]) == ("activity.notified", bravo["notice"]["id"])
        event = sentinel(api, b_ws, 140.0)
        # the observer's first message is that same sentinel: neither the draft nor bravo's
        # notification reached it
        assert recv(o_ws) == event
    with api.service.store.read() as conn:
        rows = conn.execute(sa.select(events)).all()
    about_draft = [r for r in rows if draft["id"] in str(r.payload) or r.subject_id == draft["id"]]
    assert all(list(r.audience) == ["alpha"] for r in about_draft)
    assert "secret plan" not in str([r.payload for r in rows if list(r.audience) != ["alpha"]])
    about_bravo = [r for r in rows if r.subject_id == bravo["notice"]["id"]]
    assert about_bravo and all("watch" not in r.audience and "*" not in r.audience for r in about_bravo)


def test_push_records_delivered_receipts(api: Api) -> None:
    start = last_seq(api, "b_liaison")
    with connect(api, "b_liaison", start) as ws:
        a = api.notify("a_liaison", title="alpha sortie")
        event = recv(ws)
        assert event["subject_id"] == a["notice"]["id"]
        sentinel(api, ws, 150.0)  # the first push's receipt is written before the next is sent
        r = receipt(api, "notice", a["notice"]["id"], "bravo")
        assert (r.delivered_to, r.delivered_at, r.opened_at) == ("b_liaison", T0, None)

    # a conflict event pushed to alpha marks alpha's conflict receipt delivered, not bravo's
    start = last_seq(api, "a_liaison")
    with connect(api, "a_liaison", start) as ws:
        b = api.notify("b_liaison", title="bravo sortie")
        cid = b["conflicts"][0]["id"]
        assert [recv(ws)["type"], recv(ws)["type"]] == ["activity.notified", "conflict.opened"]
        sentinel(api, ws, 160.0)
        mine = receipt(api, "conflict", cid, "alpha")
        assert (mine.delivered_to, mine.delivered_at) == ("a_liaison", api.clock.now())
        theirs = receipt(api, "conflict", cid, "bravo")
        assert theirs.delivered_at is None  # bravo was not connected
        notice = receipt(api, "notice", b["notice"]["id"], "alpha")
        assert notice.delivered_to == "a_liaison"
    # the receipts endpoint shows it
    got = api.ok(api.get("b_liaison", f"/v1/conflicts/{cid}/receipts"))["receipts"]
    assert {r["party"]: r["delivered_to"] for r in got} == {"alpha": "a_liaison", "bravo": None}
    assert rfc3339(api.clock.now()) == got[0]["delivered_at"]
