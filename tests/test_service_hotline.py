"""Service contract: the hotline — threads, catalogue messages rendered in each reader's
language, responses, receipts (delivered / read / acknowledged / answered), precedence
deadlines and escalation (driven by the manual clock), visibility, and bad input that
stores nothing.  Both back-ends, real databases.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from conftest import T0, World, volume
from deconflict.catalogue import load
from deconflict.errors import DeconflictError, ValidationError
from deconflict.service import Forbidden, Idempotency, IdempotencyMismatch, ItemInput, NotFound, StateConflict
from deconflict.store.schema import access_log, events, idempotency, messages, receipts, thread_parties, threads
from deconflict.wire import volumes_from_json

ARABIC_INDIC = set("٠١٢٣٤٥٦٧٨٩")
DISTRESS = {"callsign": "alpha-1", "position": {"lat": 33.5, "lon": 36.3}, "altitude": {"m": 3000, "ref": "amsl"}}
COUNTED = {
    "threads": threads,
    "thread_parties": thread_parties,
    "messages": messages,
    "receipts": receipts,
    "events": events,
    "idempotency": idempotency,
}


# --- helpers ------------------------------------------------------------------------------


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def sortie(w: World, user: str = "a_liaison", *, state: str = "notified") -> str:
    data = ItemInput(kind="air_sortie", volumes=volumes_from_json([volume()]))
    return str(w.service.create_item(w.p[user], "activity", data, state=state)[1]["item"]["id"])


def open_(
    w: World, user: str, parties: list[str], code: int, params: dict[str, Any], **kw: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Open a thread; returns (thread, first message) as the opener sees them."""
    message = {"code": code, "params": params} | {k: kw.pop(k) for k in ("text", "precedence") if k in kw}
    status, body = w.service.open_thread(w.p[user], parties=parties, message=message, **kw)
    assert status == 201
    return body["thread"], body["message"]


def send(w: World, user: str, thread_id: str, code: int, params: dict[str, Any] | None = None, **kw: Any) -> Any:
    status, body = w.service.send_message(w.p[user], thread_id, code, params or {}, **kw)
    assert status == 201
    return body["message"]


def distress(w: World) -> tuple[dict[str, Any], dict[str, Any]]:
    """alpha (English) tells bravo (Arabic) of an aircraft in distress: 401, FLASH, asks ROGER."""
    return open_(w, "a_liaison", ["bravo"], 401, DISTRESS, subject="ALPHA-1")


def request_delay(w: World, **kw: Any) -> tuple[dict[str, Any], dict[str, Any], str]:
    """alpha asks bravo to delay alpha's own activity by 45 min: 201, asks WILCO/UNABLE."""
    activity = sortie(w)
    thread, msg = open_(w, "a_liaison", ["bravo"], 201, {"activity": activity, "duration": 2700}, **kw)
    return thread, msg, activity


def counts(w: World) -> dict[str, int]:
    with w.service.store.read() as conn:
        return {
            name: int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
            for name, t in COUNTED.items()
        }


def receipt_row(w: World, message_id: str, party: str) -> Any:
    with w.service.store.read() as conn:
        return conn.execute(
            sa.select(receipts).where(
                receipts.c.subject_type == "message",
                receipts.c.subject_id == message_id,
                receipts.c.party_id == party,
            )
        ).first()


def events_of(w: World, type_: str) -> list[Any]:
    with w.service.store.read() as conn:
        return list(conn.execute(sa.select(events).where(events.c.type == type_).order_by(events.c.seq)).all())


def add_member(w: World, party: str = "charlie", user: str = "c_liaison") -> None:
    w.service.add_party(party, party.title(), "member")
    w.service.add_user(user, party, "liaison")
    w.p[user] = w.service.principal_for(user)


def add_reader(w: World, user: str, language: str, party: str = "bravo") -> None:
    w.service.add_user(user, party, "liaison", language=language)
    w.p[user] = w.service.principal_for(user)


# --- four languages ---------------------------------------------------------------------------


def test_a_message_round_trips_in_four_languages(world: World) -> None:
    add_reader(world, "b_turkish", "tr")
    add_reader(world, "b_hebrew", "he")
    cat = load()
    assert set(cat.languages) >= {"en", "ar", "tr", "he"}
    thread, sent = distress(world)
    assert (sent["rendered"]["language"], sent["rendered"]["direction"]) == ("en", "ltr")
    assert "ALPHA-1" in sent["rendered"]["text"] and sent["params"]["callsign"] == "ALPHA-1"  # canonical
    assert (sent["code"], sent["group"], sent["precedence"], sent["response"]) == (401, "emergency", "flash", "roger")
    assert (sent["text"], sent["untranslated"], sent["sender"]) == (
        None,
        False,
        {"party": "alpha", "user": "a_liaison"},
    )

    world.clock.advance(timedelta(minutes=1))
    seen = world.service.get_thread(world.p["b_liaison"], thread["id"])  # bravo's liaison reads Arabic
    [ar] = seen["messages"]
    assert (ar["rendered"]["language"], ar["rendered"]["direction"]) == ("ar", "rtl")
    assert ARABIC_INDIC & set(ar["rendered"]["text"]), ar["rendered"]["text"]  # ٣٣ not 33
    assert ar["rendered"]["text"] == cat.render(401, sent["params"], "ar").text
    assert ar["receipt"]["read_by"] == "b_liaison" and ar["receipts"] is None  # its own receipt only

    tr = world.service.get_message(world.p["b_turkish"], sent["id"])["rendered"]
    he = world.service.get_message(world.p["b_hebrew"], sent["id"])["rendered"]
    assert (tr["language"], tr["direction"], tr["text"]) == ("tr", "ltr", cat.render(401, sent["params"], "tr").text)
    assert (he["language"], he["direction"]) == ("he", "rtl")
    assert any("\u0590" <= c <= "\u05ff" for c in he["text"]), he["text"]
    assert len({sent["rendered"]["text"], ar["rendered"]["text"], tr["text"], he["text"]}) == 4

    world.clock.advance(timedelta(minutes=1))
    roger = send(world, "b_cmd", thread["id"], 506, in_reply_to=sent["id"])
    assert roger["in_reply_to"] == sent["id"] and roger["rendered"]["language"] == "ar"
    mine = world.service.get_message(world.p["a_liaison"], sent["id"])  # the sender, in English
    assert mine["rendered"]["language"] == "en" and mine["receipt"] is None
    [r] = mine["receipts"]
    assert (r["party"], r["delivered_to"], r["delivered_at"]) == ("bravo", "b_liaison", at(1))
    assert (r["read_by"], r["read_at"]) == ("b_liaison", at(1))
    assert (r["acknowledged_by"], r["acknowledged_at"]) == ("b_cmd", at(2))
    assert (r["answered_by"], r["answered_at"], r["answer_id"]) == ("b_cmd", at(2), roger["id"])
    answer = world.service.get_message(world.p["a_liaison"], roger["id"])
    assert answer["rendered"]["language"] == "en" and answer["response"] == "none"

    [event] = [e for e in events_of(world, "message.sent") if e.subject_id == sent["id"]]
    assert event.audience == ["alpha", "bravo"] and event.subject_type == "message"
    renderings = event.payload["message"]["renderings"]
    assert set(renderings) == set(cat.languages)
    assert renderings["ar"] == {"direction": "rtl", "text": ar["rendered"]["text"]}
    assert renderings["he"]["text"] == he["text"] and "receipts" not in event.payload["message"]
    [answered] = events_of(world, "message.answered")
    assert answered.audience == ["alpha", "bravo"] and answered.payload["answer"] == {"id": roger["id"], "code": 506}
    assert [e.payload["message_id"] for e in events_of(world, "message.acknowledged")] == [sent["id"]]


def test_wilco_answers_a_request_and_the_sender_sees_who_and_when(world: World) -> None:
    thread, sent, activity = request_delay(world)
    assert sent["params"] == {"activity": activity, "duration": 2700.0}
    world.clock.advance(timedelta(minutes=3))
    [incoming] = world.service.list_messages(world.p["b_cmd"])["messages"]
    assert incoming["id"] == sent["id"] and incoming["receipt"]["delivered_to"] == "b_cmd"
    wilco = send(world, "b_cmd", thread["id"], 501, in_reply_to=sent["id"])
    r = world.service.message_receipts(world.p["a_cmd"], sent["id"])["receipts"][0]
    assert (r["delivered_to"], r["read_by"], r["acknowledged_by"], r["answered_by"]) == ("b_cmd",) * 4
    assert (r["answered_at"], r["answer_id"]) == (at(3), wilco["id"])
    with pytest.raises(StateConflict) as e:  # answered once: an UNABLE now would contradict the record
        send(world, "b_liaison", thread["id"], 502, in_reply_to=sent["id"])
    assert e.value.field == "in_reply_to"


def test_standby_acknowledges_but_does_not_answer(world: World) -> None:
    thread, sent, _ = request_delay(world)
    send(world, "b_liaison", thread["id"], 503, in_reply_to=sent["id"])  # STANDBY
    r = receipt_row(world, sent["id"], "bravo")
    assert (r.acknowledged_by, r.answered_at, r.answer_id) == ("b_liaison", None, None)
    assert events_of(world, "message.answered") == []
    [summary] = world.service.list_threads(world.p["b_liaison"])["threads"]
    assert summary["unanswered"] == 1
    world.clock.advance(timedelta(minutes=10))
    unable = send(world, "b_cmd", thread["id"], 502, in_reply_to=sent["id"])  # UNABLE closes it
    r = receipt_row(world, sent["id"], "bravo")
    assert (r.answered_by, r.answer_id, r.acknowledged_by) == ("b_cmd", unable["id"], "b_liaison")
    assert world.service.list_threads(world.p["b_liaison"])["threads"][0]["unanswered"] == 0


def test_a_response_must_answer_the_kind_of_question_asked(world: World) -> None:
    thread, sent = distress(world)  # asks ROGER
    other, elsewhere = distress(world)
    cases: list[tuple[int, str | None, str, str]] = [
        (501, sent["id"], "b_liaison", "code"),  # WILCO to a ROGER question
        (503, sent["id"], "b_liaison", "code"),  # STANDBY does not answer ROGER questions
        (201, sent["id"], "b_liaison", "code"),  # a request is not a response
        (506, None, "b_liaison", "in_reply_to"),  # a response answers something
        (506, elsewhere["id"], "b_liaison", "in_reply_to"),  # across threads
        (506, "msg_nonexistent", "b_liaison", "in_reply_to"),
        (506, sent["id"], "a_cmd", "in_reply_to"),  # its own party's message
    ]
    for code, reply_to, user, field in cases:
        params = {"activity": sortie(world, user), "duration": 60} if code == 201 else {}
        before = counts(world)
        with pytest.raises(ValidationError) as e:
            world.service.send_message(world.p[user], thread["id"], code, params, in_reply_to=reply_to)
        assert e.value.field == field, (code, reply_to, e.value)
        assert counts(world) == before
    assert other["id"] != thread["id"]


# --- deadlines and escalation -------------------------------------------------------------


def test_precedence_sets_the_deadline_and_may_only_be_raised(world: World) -> None:
    _, routine_ask, _ = request_delay(world)  # 201: priority by default → one hour
    assert receipt_row(world, routine_ask["id"], "bravo").deadline.isoformat() == (T0 + timedelta(hours=1)).isoformat()
    _, urgent, _ = request_delay(world, precedence="flash")
    assert urgent["precedence"] == "flash"
    assert receipt_row(world, urgent["id"], "bravo").deadline.isoformat() == (T0 + timedelta(minutes=5)).isoformat()
    before = counts(world)
    with pytest.raises(ValidationError) as e:
        open_(world, "a_liaison", ["bravo"], 401, DISTRESS, precedence="routine")
    assert e.value.field == "message.precedence"
    assert counts(world) == before
    thread, sent = distress(world)
    roger = send(world, "b_liaison", thread["id"], 506, in_reply_to=sent["id"])
    assert receipt_row(world, roger["id"], "alpha").deadline is None  # a response asks nothing: no escalation


def test_an_unanswered_message_escalates_to_the_next_contact_then_the_mediator(world: World) -> None:
    thread, sent = distress(world)  # FLASH: five minutes
    with pytest.raises(NotFound):
        world.service.get_thread(world.p["m_user"], thread["id"])
    world.clock.advance(timedelta(minutes=5))
    assert world.service.tick()["escalated"] == 1
    [nxt] = [e for e in events_of(world, "escalation.next_contact") if e.subject_id == sent["id"]]
    assert (nxt.audience, nxt.user_id, nxt.subject_type) == (["bravo"], "b_cmd", "message")
    r = receipt_row(world, sent["id"], "bravo")
    assert (r.level, r.deadline.isoformat()) == (1, (T0 + timedelta(minutes=10)).isoformat())
    assert events_of(world, "thread.joined") == []

    world.clock.advance(timedelta(minutes=5))
    assert world.service.tick()["escalated"] == 1
    [med] = events_of(world, "escalation.mediator")
    assert med.audience == ["bravo", "unmed"] and med.subject_id == sent["id"]
    [joined] = events_of(world, "thread.joined")
    assert joined.payload["party"] == "unmed" and joined.payload["joined_via"] == "escalation"
    assert set(joined.audience) == {"alpha", "bravo", "unmed"}
    seen = world.service.get_thread(world.p["m_user"], thread["id"])  # the mediator reads it now …
    assert {p["party"]: p["joined_via"] for p in seen["thread"]["parties"]} == {
        "alpha": "opened",
        "bravo": "addressed",
        "unmed": "escalation",
    }
    [msg] = seen["messages"]
    assert msg["receipt"]["party"] == "unmed" and msg["receipt"]["read_by"] == "m_user"
    assert {r["party"] for r in msg["receipts"]} == {"bravo", "unmed"}  # the mediator oversees every receipt
    roger = send(world, "m_user", thread["id"], 506, in_reply_to=sent["id"])  # … and answers it
    assert receipt_row(world, sent["id"], "unmed").answer_id == roger["id"]
    assert receipt_row(world, sent["id"], "bravo").answered_at is None
    assert receipt_row(world, roger["id"], "bravo") is not None  # every party in the thread hears the answer
    world.clock.advance(timedelta(hours=1))
    assert world.service.tick()["escalated"] == 0  # the mediator is the top of the ladder


def test_a_message_that_asks_nothing_never_escalates(world: World) -> None:
    thread, sent = distress(world)
    send(world, "b_liaison", thread["id"], 506, in_reply_to=sent["id"])
    world.clock.advance(timedelta(days=1))
    assert world.service.tick()["escalated"] == 0
    assert events_of(world, "escalation.next_contact") == []


# --- visibility ---------------------------------------------------------------------------------


def test_a_bilateral_thread_is_invisible_to_everyone_else(world: World) -> None:
    add_member(world)
    thread, sent = distress(world)
    for user in ("c_liaison", "o_user", "m_user"):
        assert world.service.list_threads(world.p[user])["threads"] == []
        assert world.service.list_messages(world.p[user])["messages"] == []
        with pytest.raises(NotFound):
            world.service.get_thread(world.p[user], thread["id"])
        with pytest.raises(NotFound):
            world.service.get_message(world.p[user], sent["id"])
    with pytest.raises(NotFound) as e:
        world.service.send_message(world.p["c_liaison"], thread["id"], 506, {}, in_reply_to=sent["id"])
    assert e.value.field == "thread_id"
    with pytest.raises(NotFound):
        world.service.acknowledge_message(world.p["c_liaison"], sent["id"])
    with pytest.raises(NotFound):
        world.service.message_receipts(world.p["c_liaison"], sent["id"])
    with pytest.raises(Forbidden):  # observers never send
        world.service.send_message(world.p["o_user"], thread["id"], 506, {}, in_reply_to=sent["id"])
    with pytest.raises(Forbidden):  # read-only users neither
        world.service.send_message(world.p["a_ro"], thread["id"], 506, {})
    assert world.service.get_thread(world.p["a_ro"], thread["id"])["thread"]["id"] == thread["id"]
    with pytest.raises(Forbidden):  # receipts are the sender's and the mediator's
        world.service.message_receipts(world.p["b_liaison"], sent["id"])
    assert len(world.service.message_receipts(world.p["m_user"], sent["id"])["receipts"]) == 1
    world.service.get_thread(world.p["b_cmd"], thread["id"])
    with world.service.store.read() as conn:
        logged = conn.execute(
            sa.select(access_log.c.user_id, access_log.c.action, access_log.c.subject_id).order_by(access_log.c.id)
        ).all()
    assert ("b_cmd", "read_thread", thread["id"]) in logged
    assert ("m_user", "read_message_receipts", sent["id"]) in logged


def test_who_may_take_part_in_a_thread(world: World) -> None:
    add_member(world)
    before = counts(world)
    for parties, field in (
        (["watch"], "parties[0]"),  # an observer
        (["nobody"], "parties[0]"),
        (["bravo", "nobody"], "parties[1]"),
        (["alpha"], "parties"),  # only itself
        (["bravo", "charlie"], "parties"),  # three members without the mediator
        ([], "parties"),
    ):
        with pytest.raises(ValidationError) as e:
            open_(world, "a_liaison", parties, 401, DISTRESS)
        assert e.value.field == field, parties
    with pytest.raises(Forbidden):
        open_(world, "o_user", ["alpha"], 401, DISTRESS)
    assert counts(world) == before
    three, _ = open_(world, "a_liaison", ["bravo", "charlie", "unmed"], 401, DISTRESS)
    assert [p["party"] for p in three["parties"]] == ["alpha", "bravo", "charlie", "unmed"]
    to_mediator, first = open_(world, "m_user", ["bravo"], 201, {"activity": sortie(world), "duration": 600})
    assert first["sender"] == {"party": "unmed", "user": "m_user"}

    def ids(**kw: Any) -> set[str]:
        return {t["id"] for t in world.service.list_threads(world.p["b_liaison"], **kw)["threads"]}

    assert ids(party="unmed") == {three["id"], to_mediator["id"]}
    assert ids(party="charlie") == {three["id"]} and ids(party="watch") == set()


# --- bad input stores nothing -------------------------------------------------------------------

BAD_OPENINGS: list[tuple[dict[str, Any], str]] = [
    ({"code": 999, "params": {}}, "message.code"),
    ({"code": "401", "params": DISTRESS}, "message.code"),
    ({"code": 401, "params": DISTRESS | {"position": "33.5,36.3"}}, "message.params.position"),
    ({"code": 401, "params": DISTRESS | {"altitude": {"m": "high", "ref": "amsl"}}}, "message.params.altitude.m"),
    ({"code": 401, "params": DISTRESS | {"bogus": 1}}, "message.params.bogus"),
    (
        {"code": 401, "params": {"position": DISTRESS["position"], "altitude": DISTRESS["altitude"]}},
        "message.params.callsign",
    ),
    ({"code": 401, "params": DISTRESS, "text": "x" * 2001}, "message.text"),
    ({"code": 401, "params": DISTRESS, "text": "nul \x00 here"}, "message.text"),
    ({"code": 401, "params": DISTRESS, "text": "bell \x07"}, "message.text"),
    ({"code": 401, "params": DISTRESS, "precedence": "routine"}, "message.precedence"),
    ({"code": 401, "params": DISTRESS, "precedence": "urgent"}, "message.precedence"),
    ({"code": 901, "params": {}}, "message.text"),
    ({"code": 401, "params": DISTRESS, "colour": "red"}, "message.colour"),
]


@pytest.mark.parametrize(("message", "field"), BAD_OPENINGS, ids=[f for _, f in BAD_OPENINGS])
def test_a_bad_first_message_is_refused_naming_the_field(world: World, message: dict[str, Any], field: str) -> None:
    before = counts(world)
    with pytest.raises(ValidationError) as e:
        world.service.open_thread(world.p["a_liaison"], parties=["bravo"], message=message)
    assert e.value.field == field, e.value
    assert counts(world) == before


def test_bad_messages_in_a_thread_store_nothing(world: World) -> None:
    thread, sent = distress(world)
    draft = sortie(world, "b_liaison", state="draft")
    svc, a = world.service, world.p["a_liaison"]
    cases: list[tuple[Any, str]] = [
        (lambda: svc.send_message(a, thread["id"], 999, {}), "code"),
        (lambda: svc.send_message(a, thread["id"], 201, {"activity": "act_none", "duration": 60}), "params.activity"),
        (lambda: svc.send_message(a, thread["id"], 201, {"activity": draft, "duration": 60}), "params.activity"),
        (lambda: svc.send_message(a, thread["id"], 201, {"activity": 5, "duration": 60}), "params.activity"),
        (lambda: svc.send_message(a, thread["id"], 901, {}, text="   "), "text"),
        (lambda: svc.send_message(a, thread["id"], 901, {}, text="x" * 2001), "text"),
        (lambda: svc.send_message(a, "thr_none", 901, {}, text="hello"), "thread_id"),
        (lambda: svc.send_message(a, thread["id"], 901, {}, text="hi", link={"type": "zone", "id": "z"}), "link.id"),
        (lambda: svc.send_message(a, thread["id"], 901, {}, text="hi", link={"type": "ship", "id": "z"}), "link.type"),
        (
            lambda: svc.open_thread(
                a,
                parties=["bravo"],
                message={"code": 901, "params": {}, "text": "x"},
                link={"type": "activity", "id": draft},
            ),
            "link.id",
        ),
        (
            lambda: svc.open_thread(
                a, parties=["bravo"], message={"code": 901, "params": {}, "text": "x"}, subject="s" * 201
            ),
            "subject",
        ),
        (lambda: svc.list_threads(a, limit=0), "limit"),
        (lambda: svc.get_message(a, sent["id"], language="xx"), "language"),
    ]
    for i, (call, field) in enumerate(cases):
        before = counts(world)
        with pytest.raises(DeconflictError) as e:
            call()
        assert e.value.field == field, (i, e.value)
        assert counts(world) == before, i


def test_free_text_is_stored_and_shown_as_is_marked_untranslated(world: World) -> None:
    text = "שלום — line one\nسطر ٢ / line 2"
    thread, sent = open_(world, "a_liaison", ["bravo"], 901, {}, text=text)
    assert (sent["text"], sent["untranslated"]) == (text, True)
    assert text in sent["rendered"]["text"]
    with_note = send(world, "a_liaison", thread["id"], 201, {"activity": sortie(world), "duration": 60}, text="ASAP")
    ar = world.service.get_message(world.p["b_liaison"], with_note["id"])
    assert ar["text"] == "ASAP" and ar["untranslated"] is True
    assert "ASAP" in ar["rendered"]["text"] and ar["rendered"]["text"] != "ASAP"
    with world.service.store.read() as conn:
        assert conn.execute(sa.select(messages.c.text).where(messages.c.id == sent["id"])).scalar_one() == text


# --- lists, acknowledgement, idempotency ------------------------------------------------------


def test_listing_marks_delivered_and_pending_means_unacknowledged(world: World) -> None:
    thread, first = distress(world)
    world.clock.advance(timedelta(minutes=1))
    second = send(world, "a_liaison", thread["id"], 901, text="second")
    listed = world.service.list_messages(world.p["b_liaison"], pending=True)["messages"]
    assert [m["id"] for m in listed] == [first["id"], second["id"]]
    assert all(m["receipt"]["delivered_to"] == "b_liaison" and m["receipt"]["read_at"] is None for m in listed)
    assert world.service.list_messages(world.p["a_liaison"])["messages"] == []  # nothing addressed to alpha
    status, doc = world.service.acknowledge_message(world.p["b_cmd"], second["id"])
    assert status == 200 and doc["receipt"]["acknowledged_by"] == "b_cmd" and doc["receipt"]["answered_at"] is None
    world.service.acknowledge_message(world.p["b_liaison"], second["id"])  # once is recorded
    [acked] = events_of(world, "message.acknowledged")
    assert acked.audience == ["alpha", "bravo"] and acked.payload["receipt"]["acknowledged_by"] == "b_cmd"
    pending = world.service.list_messages(world.p["b_liaison"], pending=True, thread=thread["id"])["messages"]
    assert [m["id"] for m in pending] == [first["id"]]
    with pytest.raises(Forbidden):
        world.service.acknowledge_message(world.p["a_cmd"], first["id"])  # not addressed to alpha
    page = world.service.list_messages(world.p["b_liaison"], limit=1)
    assert len(page["messages"]) == 1 and page["next_cursor"] == first["id"]
    rest = world.service.list_messages(world.p["b_liaison"], cursor=page["next_cursor"])
    assert [m["id"] for m in rest["messages"]] == [second["id"]] and rest["next_cursor"] is None


def test_thread_list_summaries_for_the_callers_party(world: World) -> None:
    activity = sortie(world)
    thread, sent = open_(
        world,
        "a_liaison",
        ["bravo"],
        201,
        {"activity": activity, "duration": 900},
        link={"type": "activity", "id": activity},
    )
    world.clock.advance(timedelta(seconds=1))  # ids order by creation time
    distress(world)
    [one, two] = world.service.list_threads(world.p["b_liaison"])["threads"]
    assert (one["id"], one["unread"], one["unanswered"]) == (thread["id"], 1, 1)
    assert one["last_message"]["id"] == sent["id"] and one["last_message"]["rendered"]["language"] == "ar"
    assert one["link"] == {"type": "activity", "id": activity} and two["subject"] == "ALPHA-1"
    assert [t["unread"] for t in world.service.list_threads(world.p["a_liaison"])["threads"]] == [0, 0]
    world.service.get_thread(world.p["b_liaison"], thread["id"])
    linked = world.service.list_threads(world.p["b_liaison"], link=("activity", activity))["threads"]
    assert [(t["id"], t["unread"], t["unanswered"]) for t in linked] == [(thread["id"], 0, 1)]
    assert world.service.list_threads(world.p["b_liaison"], party="charlie")["threads"] == []


def test_posting_again_with_the_same_idempotency_key_replays(world: World) -> None:
    message = {"code": 401, "params": DISTRESS}
    key = Idempotency.of("k-1", "POST", "/v1/threads", {"parties": ["bravo"], "message": message})
    first = world.service.open_thread(world.p["a_liaison"], parties=["bravo"], message=message, idem=key)
    before = counts(world)
    again = world.service.open_thread(world.p["a_liaison"], parties=["bravo"], message=message, idem=key)
    assert again == first and counts(world) == before
    other = Idempotency.of("k-1", "POST", "/v1/threads", {"parties": ["bravo"], "message": {"code": 402}})
    with pytest.raises(IdempotencyMismatch):
        world.service.open_thread(world.p["a_liaison"], parties=["bravo"], message=message, idem=other)
    tid = first[1]["thread"]["id"]
    k2 = Idempotency.of("k-2", "POST", f"/v1/threads/{tid}/messages", {"code": 901})
    sent = world.service.send_message(world.p["a_liaison"], tid, 901, {}, text="once", idem=k2)
    assert world.service.send_message(world.p["a_liaison"], tid, 901, {}, text="once", idem=k2) == sent
    assert counts(world)["messages"] == before["messages"] + 1


# --- the service's own messages -------------------------------------------------------------


def test_system_messages_open_a_system_thread_with_receipts(world: World) -> None:
    def post(thread_id: str | None, code: int, precedence: str | None) -> str:
        out: list[str] = []

        def run(conn: Any) -> tuple[int, dict[str, Any]]:
            params = {"party": "unmed", "time": at(0)}
            out.append(
                world.service._post_system_message(
                    conn, thread_id, ["alpha", "bravo"], code, params, precedence, subject="unmed: DOWN"
                )
            )
            return 200, {}

        world.service._write(run)
        return out[0]

    down = post(None, 406, "flash")
    seen = world.service.get_message(world.p["b_liaison"], down)
    assert seen["sender"] == {"party": "system", "user": "system"} and seen["rendered"]["language"] == "ar"
    thread = world.service.get_thread(world.p["a_liaison"], seen["thread_id"])["thread"]
    assert thread["system"] is True and thread["subject"] == "unmed: DOWN"
    assert {p["party"]: p["joined_via"] for p in thread["parties"]} == {"alpha": "system", "bravo": "system"}
    assert receipt_row(world, down, "alpha").deadline.isoformat() == (T0 + timedelta(minutes=5)).isoformat()
    [opened] = events_of(world, "thread.opened")
    assert opened.audience == ["alpha", "bravo"]
    send(world, "a_cmd", seen["thread_id"], 506, in_reply_to=down)
    [answered] = events_of(world, "message.answered")
    assert answered.audience == ["alpha"]  # the service is no party to tell
    up = post(seen["thread_id"], 109, "priority")
    assert world.service.get_message(world.p["a_cmd"], up)["precedence"] == "immediate"  # never below the code's own
    assert world.service.get_message(world.p["a_cmd"], up)["thread_id"] == seen["thread_id"]
    with pytest.raises(Forbidden):
        world.service.message_receipts(world.p["a_cmd"], down)
    assert len(world.service.message_receipts(world.p["m_user"], down)["receipts"]) == 2


def test_the_catalogue_is_described_in_the_callers_language(world: World) -> None:
    doc = world.service.describe_catalogue(world.p["b_liaison"])
    assert doc["language"]["code"] == "ar" and doc["language"]["direction"] == "rtl"
    assert {e["code"] for e in doc["entries"]} >= {401, 501, 503, 901}
    assert world.service.describe_catalogue(world.p["b_liaison"], "tr")["language"]["code"] == "tr"
    with pytest.raises(ValidationError) as e:
        world.service.describe_catalogue(None, "xx")
    assert e.value.field == "language"
