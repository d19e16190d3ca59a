"""The hotline over HTTP: threads, messages, receipts, the catalogue; problem documents
naming the field for bad input (and nothing stored); Idempotency-Key replays; a
``message.sent`` event on the recipient's WebSocket carrying every language's rendering
and marking the receipt delivered.  Both back-ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from api_helpers import PROBLEM, T0, Api, open_api, populate, recv
from deconflict.catalogue import load
from deconflict.service import ManualClock, Service
from deconflict.store.schema import events, messages, receipts, thread_parties, threads

DISTRESS = {"callsign": "alpha-1", "position": {"lat": 33.5, "lon": 36.3}, "altitude": {"fl": 120}}
OPENING = {"parties": ["bravo"], "subject": "ALPHA-1", "message": {"code": 401, "params": DISTRESS}}


@pytest.fixture
def api(service: Service, clock: ManualClock) -> Iterator[Api]:
    with open_api(populate(service, clock)) as a:
        yield a


def stored(api: Api) -> dict[str, int]:
    with api.service.store.read() as conn:
        return {
            t.name: int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
            for t in (threads, thread_parties, messages, receipts, events)
        }


def opened(api: Api, body: dict[str, Any] | None = None, user: str = "a_liaison") -> dict[str, Any]:
    return dict(api.ok(api.post(user, "/v1/threads", body or OPENING), 201))


def problem(r: Any, status: int, field: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    doc: dict[str, Any] = r.json()
    assert doc["field"] == field, doc
    assert doc["detail"].startswith(f"{field}: ")
    return doc


def test_a_conversation_over_the_api(api: Api) -> None:
    body = opened(api)
    thread, first = body["thread"], body["message"]
    assert [p["party"] for p in thread["parties"]] == ["alpha", "bravo"] and thread["subject"] == "ALPHA-1"
    assert first["params"]["callsign"] == "ALPHA-1" and first["receipts"][0]["party"] == "bravo"

    listed = api.ok(api.get("b_liaison", "/v1/threads"))["threads"]
    assert [(t["id"], t["unread"], t["unanswered"]) for t in listed] == [(thread["id"], 1, 1)]
    assert listed[0]["last_message"]["rendered"]["direction"] == "rtl"
    api.clock.advance(timedelta(minutes=1))
    pending = api.ok(api.get("b_cmd", "/v1/messages", params={"pending": "true"}))["messages"]
    assert [m["id"] for m in pending] == [first["id"]] and pending[0]["receipt"]["delivered_to"] == "b_cmd"
    whole = api.ok(api.get("b_liaison", f"/v1/threads/{thread['id']}"))
    assert (
        whole["messages"][0]["rendered"]["language"] == "ar"
        and whole["messages"][0]["receipt"]["read_by"] == "b_liaison"
    )
    tr = api.ok(api.get("b_liaison", f"/v1/messages/{first['id']}", params={"language": "tr"}))
    assert tr["rendered"] == {
        "language": "tr",
        "direction": "ltr",
        "text": load().render(401, first["params"], "tr").text,
    }

    api.clock.advance(timedelta(minutes=1))
    r = api.post(
        "b_cmd", f"/v1/threads/{thread['id']}/messages", {"code": 506, "params": {}, "in_reply_to": first["id"]}
    )
    roger = api.ok(r, 201)["message"]
    assert roger["in_reply_to"] == first["id"]
    receipts_doc = api.ok(api.get("a_ro", f"/v1/messages/{first['id']}/receipts"))
    [rb] = receipts_doc["receipts"]
    assert (rb["party"], rb["delivered_to"], rb["read_by"], rb["answered_by"], rb["answer_id"]) == (
        "bravo",
        "b_cmd",
        "b_liaison",
        "b_cmd",
        roger["id"],
    )
    assert rb["answered_at"] == (T0 + timedelta(minutes=2)).isoformat().replace("+00:00", "Z")
    assert api.ok(api.get("b_cmd", "/v1/messages", params={"pending": "true"}))["messages"] == []

    note = api.ok(api.post("a_liaison", f"/v1/threads/{thread['id']}/messages", {"code": 901, "text": "thanks"}), 201)
    acked = api.ok(api.post("b_liaison", f"/v1/messages/{note['message']['id']}/acknowledge"))
    assert acked["receipt"]["acknowledged_by"] == "b_liaison" and acked["untranslated"] is True

    described = api.ok(api.get("b_liaison", "/v1/catalogue"))
    assert described["language"]["code"] == "ar"
    assert api.ok(api.get("b_liaison", "/v1/catalogue", params={"language": "he"}))["language"]["direction"] == "rtl"
    linked = api.get("a_liaison", "/v1/threads", params={"link_type": "activity", "link_id": "act_x"})
    assert api.ok(linked)["threads"] == []


BAD_OPENINGS: list[tuple[dict[str, Any], int, str]] = [
    (OPENING | {"message": {"code": 999, "params": {}}}, 422, "message.code"),
    (OPENING | {"message": {"code": "401", "params": DISTRESS}}, 422, "message.code"),
    (
        OPENING | {"message": {"code": 401, "params": DISTRESS | {"position": [33.5, 36.3]}}},
        422,
        "message.params.position",
    ),
    (OPENING | {"message": {"code": 401, "params": DISTRESS | {"speed": 3}}}, 422, "message.params.speed"),
    (OPENING | {"message": {"code": 401, "params": DISTRESS, "text": "x" * 2001}}, 422, "message.text"),
    (OPENING | {"message": {"code": 401, "params": DISTRESS, "text": "a\x00b"}}, 422, "message.text"),
    (OPENING | {"message": {"code": 401, "params": DISTRESS, "precedence": "routine"}}, 422, "message.precedence"),
    (OPENING | {"message": {"code": 401, "params": DISTRESS, "precedence": "hurry"}}, 422, "message.precedence"),
    (OPENING | {"message": {"code": 401, "params": DISTRESS, "in_reply_to": "m"}}, 422, "message.in_reply_to"),
    (OPENING | {"parties": ["nobody"]}, 422, "parties[0]"),
    (OPENING | {"parties": ["watch"]}, 422, "parties[0]"),
    (OPENING | {"parties": []}, 422, "parties"),
    (OPENING | {"colour": "red"}, 422, "colour"),
    (OPENING | {"link": {"type": "activity", "id": "act_none"}}, 404, "link.id"),
    ({"parties": ["bravo"]}, 422, "message"),
]


@pytest.mark.parametrize(("body", "status", "field"), BAD_OPENINGS, ids=[f"{s}-{f}" for _, s, f in BAD_OPENINGS])
def test_a_bad_thread_is_a_problem_naming_the_field(api: Api, body: dict[str, Any], status: int, field: str) -> None:
    before = stored(api)
    problem(api.post("a_liaison", "/v1/threads", body), status, field)
    assert stored(api) == before


def test_bad_messages_and_reads_are_problems_naming_the_field(api: Api) -> None:
    body = opened(api)
    tid, mid = body["thread"]["id"], body["message"]["id"]
    other = opened(api)["message"]["id"]
    before = stored(api)
    path = f"/v1/threads/{tid}/messages"
    problem(api.post("b_liaison", path, {"code": 501, "in_reply_to": mid}), 422, "code")  # WILCO to a ROGER question
    problem(api.post("b_liaison", path, {"code": 506, "in_reply_to": other}), 422, "in_reply_to")  # across threads
    problem(api.post("b_liaison", path, {"code": 506}), 422, "in_reply_to")
    problem(api.post("b_liaison", path, {"code": 901, "text": "x" * 2001}), 422, "text")
    problem(
        api.post("b_liaison", path, {"code": 901, "text": "ok", "link": {"type": "ship", "id": "x"}}), 422, "link.type"
    )
    problem(
        api.post("b_liaison", path, {"code": 201, "params": {"activity": "act_none", "duration": 60}}),
        404,
        "params.activity",
    )
    problem(api.post("b_liaison", "/v1/threads/thr_none/messages", {"code": 901, "text": "hi"}), 404, "thread_id")
    problem(api.post("a_liaison", f"/v1/messages/{mid}/acknowledge"), 403, "message_id")  # its own message
    problem(api.get("b_liaison", "/v1/messages", params={"limit": 0}), 422, "limit")
    problem(api.get("b_liaison", "/v1/threads", params={"link_type": "activity"}), 422, "link_id")
    problem(api.get("b_liaison", f"/v1/threads/{tid}", params={"language": "xx"}), 422, "language")
    problem(api.get("b_liaison", "/v1/messages/msg_none"), 404, "message_id")
    problem(api.get("b_liaison", "/v1/messages", params={"thread": "thr_none"}), 404, "thread")
    assert stored(api) == before


def test_idempotency_key_replays_a_post(api: Api) -> None:
    headers = {"Idempotency-Key": "open-1"}
    first = api.post("a_liaison", "/v1/threads", OPENING, headers=headers)
    before = stored(api)
    again = api.post("a_liaison", "/v1/threads", OPENING, headers=headers)
    assert (again.status_code, again.json()) == (201, first.json()) and stored(api) == before
    problem(
        api.post("a_liaison", "/v1/threads", OPENING | {"subject": "other"}, headers=headers), 422, "Idempotency-Key"
    )
    tid = first.json()["thread"]["id"]
    note = {"code": 901, "text": "once"}
    sent = api.post("a_liaison", f"/v1/threads/{tid}/messages", note, headers={"Idempotency-Key": "m-1"})
    assert (
        api.post("a_liaison", f"/v1/threads/{tid}/messages", note, headers={"Idempotency-Key": "m-1"}).json()
        == sent.json()
    )
    assert stored(api)["messages"] == before["messages"] + 1


def test_a_message_arrives_on_the_recipients_socket_in_every_language(api: Api) -> None:
    start = int(api.ok(api.get("b_liaison", "/v1/events"))["last_seq"])
    with api.client.websocket_connect(f"/v1/stream?after={start}&access_token={api.token('b_liaison')}") as ws:
        body = opened(api)
        thread_event, sent_event = recv(ws), recv(ws)
        assert (thread_event["type"], thread_event["payload"]["thread"]["id"]) == (
            "thread.opened",
            body["thread"]["id"],
        )
        assert (sent_event["type"], sent_event["subject_type"], sent_event["subject_id"]) == (
            "message.sent",
            "message",
            body["message"]["id"],
        )
        renderings = sent_event["payload"]["message"]["renderings"]
        assert set(renderings) == {"ar", "en", "he", "tr"}
        assert renderings["ar"]["direction"] == renderings["he"]["direction"] == "rtl"
        assert renderings["en"]["text"] == body["message"]["rendered"]["text"]
        assert "receipts" not in sent_event["payload"]["message"]
        # a later message is the sentinel: the first push's receipt is written before it is sent
        note = api.ok(
            api.post("a_liaison", f"/v1/threads/{body['thread']['id']}/messages", {"code": 901, "text": "2"}), 201
        )
        assert recv(ws)["subject_id"] == note["message"]["id"]
    [r] = api.ok(api.get("a_liaison", f"/v1/messages/{body['message']['id']}/receipts"))["receipts"]
    assert (r["delivered_to"], r["read_at"]) == ("b_liaison", None)
