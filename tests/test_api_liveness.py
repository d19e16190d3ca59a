"""Liveness over HTTP and the WebSocket: heartbeats by REST or by a stream frame, the
party.down event reaching every connected party (observers too), and the FLASH alert
arriving with every language's rendering."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from api_helpers import Api, open_api, populate, recv
from deconflict.service import ManualClock, Service


@pytest.fixture
def api(service: Service, clock: ManualClock) -> Iterator[Api]:
    with open_api(populate(service, clock)) as a:
        yield a


def states(api: Api, user: str) -> dict[str, dict[str, Any]]:
    return {r["party"]: r for r in api.ok(api.get(user, "/v1/liveness"))}


def test_a_rest_heartbeat_brings_the_party_up(api: Api) -> None:
    assert states(api, "o_user")["bravo"]["state"] == "unknown"
    body = api.ok(api.post("b_liaison", "/v1/heartbeat"))
    assert body == {"party": "bravo", "state": "up", "recorded": True, "at": "2026-11-25T08:00:00Z"}
    assert states(api, "o_user")["bravo"]["state"] == "up"


def test_a_stream_heartbeat_frame_brings_the_party_up(api: Api) -> None:
    after = int(api.ok(api.get("b_liaison", "/v1/events", params={"limit": 1000}))["last_seq"])
    with api.client.websocket_connect(f"/v1/stream?after={after}&access_token={api.token('b_liaison')}") as ws:
        ws.send_text("not json")  # ignored
        ws.send_json({"type": "something else"})  # ignored
        ws.send_json({"type": "heartbeat"})
        # the heartbeat is recorded by the server; its party.up event comes back on the stream
        event = recv(ws)
        assert (event["type"], event["payload"]["party"]) == ("party.up", "bravo")
    assert states(api, "a_liaison")["bravo"]["state"] == "up"


def test_going_down_is_told_to_everyone_on_the_stream(api: Api, clock: ManualClock) -> None:
    api.ok(api.post("a_liaison", "/v1/heartbeat"))
    after = int(api.ok(api.get("o_user", "/v1/events", params={"limit": 1000}))["last_seq"])
    clock.advance(timedelta(seconds=121))
    for user in ("b_liaison", "m_user"):
        api.ok(api.post(user, "/v1/heartbeat"))
    with (
        api.client.websocket_connect(f"/v1/stream?after={after}&access_token={api.token('o_user')}") as watch,
        api.client.websocket_connect(f"/v1/stream?after={after}&access_token={api.token('b_liaison')}") as bravo,
    ):
        assert [recv(watch)["type"] for _ in range(2)] == ["party.up", "party.up"]  # bravo's, the mediator's
        assert [recv(bravo)["type"] for _ in range(2)] == ["party.up", "party.up"]
        assert api.service.tick()["down"] == 1
        down = recv(watch)
        assert (down["type"], down["payload"]["party"], down["audience"]) == ("party.down", "alpha", ["*"])
        assert recv(bravo)["type"] == "party.down"
        # bravo (and not the observer) gets the FLASH alert, rendered in every language
        alert = recv(bravo)
        while alert["type"] != "message.sent":  # the alert's thread is opened first
            assert alert["type"].startswith("thread."), alert
            alert = recv(bravo)
        message = alert["payload"]["message"]
        assert message["code"] == 406 and message["precedence"] == "flash"
        assert set(message["renderings"]) == {"en", "ar", "tr", "he"}
        assert message["renderings"]["ar"]["direction"] == "rtl"
    assert states(api, "o_user")["alpha"]["state"] == "down"
