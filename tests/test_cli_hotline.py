"""``deconflict msg send|list|show|ack|catalogue``: the hotline from the command line.

Run in-process with typer's ``CliRunner`` against both back-ends.  Parameters written
the way people write them (``position=33.5,36.3``, ``altitude=FL120``, ``duration=45m``)
are converted at the edge into the catalogue's canonical values — checked in the
database through the service, not trusted from the output.  Every refusal exits with
status 2 saying ``error <field>: <reason>`` and stores nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import Result
from typer.testing import CliRunner

from deconflict.catalogue import SlotType
from deconflict.cli import app
from deconflict.commands import console
from deconflict.commands.hotline import parse_param
from deconflict.errors import ValidationError
from deconflict.service import ItemInput, Service, open_service
from deconflict.store.schema import messages, receipts, threads
from deconflict.wire import volumes_from_json


def run(db_url: str | None, *args: str) -> Result:
    return CliRunner().invoke(app, [*args, "--db", db_url] if db_url is not None else list(args))


def ok(db_url: str | None, *args: str) -> Result:
    result = run(db_url, *args)
    assert result.exit_code == 0, (args, result.stdout, result.stderr, result.exception)
    return result


def doc(db_url: str, *args: str) -> Any:
    return json.loads(ok(db_url, *args, "--json").stdout)


def refused(db_url: str | None, *args: str, field: str) -> str:
    result = run(db_url, *args)
    message = " ".join(result.stderr.split())
    assert result.exit_code == 2, (args, result.stdout, result.stderr, result.exception)
    assert f"error {field}:" in message, message
    return message


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables as wide as they need to be (the runner's terminal would wrap their cells)."""
    monkeypatch.setattr(console, "_width", 250)


@pytest.fixture
def svc(db_url: str) -> Iterator[Service]:
    """alpha (English) and bravo (Arabic) with liaisons and a commander, and the mediator."""
    service = open_service(db_url)
    service.add_party("alpha", "Alpha", "member")
    service.add_party("bravo", "Bravo", "member", language="ar")
    service.add_party("unmed", "Mediator", "mediator")
    for user, party, role in (
        ("a_liaison", "alpha", "liaison"),
        ("a_ro", "alpha", "read_only"),
        ("b_liaison", "bravo", "liaison"),
        ("b_cmd", "bravo", "commander"),
    ):
        service.add_user(user, party, role)
    yield service
    service.store.dispose()


def stored(svc: Service) -> tuple[int, int, int]:
    with svc.store.read() as conn:
        return tuple(  # type: ignore[return-value]
            int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
            for t in (threads, messages, receipts)
        )


def draft_activity(svc: Service) -> str:
    """An activity of alpha's (a draft is its own party's to refer to), starting tomorrow."""
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    vol = {
        "outline_circle": {"center": {"lng": 36.0, "lat": 35.0}, "radius": {"value": 5000.0, "units": "M"}},
        "altitude_lower": {"value": 0.0, "reference": "W84", "units": "M"},
        "altitude_upper": {"value": 3000.0, "reference": "W84", "units": "M"},
        "time_start": {"value": start.isoformat(), "format": "RFC3339"},
        "time_end": {"value": (start + timedelta(hours=2)).isoformat(), "format": "RFC3339"},
    }
    data = ItemInput(kind="air_sortie", volumes=volumes_from_json([vol]))
    return str(svc.create_item(svc.principal_for("a_liaison"), "activity", data, state="draft")[1]["item"]["id"])


def test_send_list_show_answer_and_acknowledge(db_url: str, svc: Service) -> None:
    sent = doc(
        db_url,
        "msg", "send", "--as", "a_liaison", "--to", "bravo", "401",
        "--param", "callsign=alpha-1", "--param", "position=33.5,36.3", "--param", "altitude=FL120",
        "--subject", "ALPHA-1",
    )  # fmt: skip
    first, thread = sent["message"], sent["thread"]["id"]
    assert first["params"] == {"callsign": "ALPHA-1", "position": {"lat": 33.5, "lon": 36.3}, "altitude": {"fl": 120}}
    assert first["precedence"] == "flash" and sent["thread"]["subject"] == "ALPHA-1"

    activity = draft_activity(svc)
    out = ok(
        db_url,
        "msg", "send", "--as", "a_liaison", "--thread", thread, "201",
        "--param", f"activity={activity}", "--param", "duration=45m", "--precedence", "immediate",
    ).stdout  # fmt: skip
    assert f"in thread {thread} (immediate)" in out
    with svc.store.read() as conn:
        request = conn.execute(sa.select(messages).where(messages.c.code == 201)).one()
    assert request.params == {"activity": activity, "duration": 2700.0}

    incoming = doc(db_url, "msg", "list", "--as", "b_liaison", "--pending")["messages"]
    assert [m["id"] for m in incoming] == [first["id"], request.id]
    assert incoming[0]["rendered"]["language"] == "ar" and incoming[0]["rendered"]["direction"] == "rtl"
    table = ok(db_url, "msg", "list", "--as", "b_liaison").stdout
    assert "FLASH" in table and "IMMEDIATE" in table and "delivered b_liaison" in table

    shown = doc(db_url, "msg", "show", "--as", "b_liaison", first["id"])
    assert shown["receipt"]["read_by"] == "b_liaison" and shown["rendered"]["language"] == "ar"
    in_turkish = doc(db_url, "msg", "show", "--as", "b_liaison", first["id"], "--language", "tr")
    assert in_turkish["rendered"]["language"] == "tr"

    ok(db_url, "msg", "send", "--as", "b_cmd", "--thread", thread, "506", "--reply-to", first["id"])
    ok(db_url, "msg", "send", "--as", "b_cmd", "--thread", thread, "501", "--reply-to", request.id)
    whole = ok(db_url, "msg", "list", "--as", "a_liaison", "--thread", thread).stdout
    assert "answered b_cmd" in " ".join(whole.split())
    receipts_of = svc.message_receipts(svc.principal_for("a_liaison"), first["id"])["receipts"]
    assert [(r["party"], r["answered_by"], r["read_by"]) for r in receipts_of] == [("bravo", "b_cmd", "b_liaison")]

    note = doc(db_url, "msg", "send", "--as", "a_liaison", "--thread", thread, "901", "--text", "thank you")["message"]
    assert "thank you" in ok(db_url, "msg", "show", "--as", "b_liaison", note["id"]).stdout
    acked = ok(db_url, "msg", "ack", "--as", "b_cmd", note["id"]).stdout
    assert f"acknowledged {note['id']}" in acked and "bravo: acknowledged b_cmd" in acked
    assert doc(db_url, "msg", "list", "--as", "b_liaison", "--pending")["messages"] == []


def test_refusals_name_the_field_and_store_nothing(db_url: str, svc: Service) -> None:
    thread = doc(db_url, "msg", "send", "--as", "a_liaison", "--to", "bravo", "901", "--text", "hello")["thread"]["id"]
    before = stored(svc)
    send = ("msg", "send", "--as", "a_liaison")
    distress = ("401", "--param", "callsign=A1", "--param", "position=33.5,36.3")
    refused(db_url, *send, "--to", "bravo", "999", field="code")
    refused(db_url, *send, "--to", "bravo", *distress, field="params.altitude")  # missing
    refused(db_url, *send, "--to", "bravo", *distress, "--param", "altitude=high", field="params.altitude")
    refused(db_url, *send, "--to", "bravo", "401", "--param", "position=north", field="params.position")
    refused(
        db_url,
        *send,
        "--to",
        "bravo",
        *distress,
        "--param",
        "altitude=FL90",
        "--param",
        "speed=3",
        field="params.speed",
    )
    refused(db_url, *send, "--to", "bravo", *distress, "--param", "altitude", field="param")
    full = (*distress, "--param", "altitude=3000m-amsl")
    refused(db_url, *send, "--to", "bravo", *full, "--precedence", "routine", field="precedence")
    refused(db_url, *send, "--to", "bravo", *full, "--text", "x" * 2001, field="text")
    refused(db_url, *send, "--to", "nobody", *full, field="parties[0]")
    refused(db_url, *send, "--to", "bravo", "--thread", thread, *full, field="thread")
    refused(db_url, *send, *full, field="thread")
    refused(db_url, *send, "--thread", "thr_none", "901", "--text", "hi", field="thread_id")
    refused(db_url, *send, "--thread", thread, "402", "--param", "unit=x", "--param", "position=1,1",
            "--param", "time=2026-11-25T14:00", field="params.time")  # fmt: skip
    refused(db_url, "msg", "send", "--as", "a_ro", "--thread", thread, "901", "--text", "hi", field="scope")
    refused(db_url, "msg", "send", "--as", "nobody", "--thread", thread, "901", "--text", "hi", field="user")
    refused(db_url, "msg", "show", "--as", "a_liaison", "msg_none", field="message_id")
    refused(db_url, "msg", "list", "--as", "a_liaison", "--language", "xx", field="language")
    refused(None, "msg", "catalogue", "--language", "xx", field="language")
    assert stored(svc) == before


def test_the_catalogue_in_each_language() -> None:
    hebrew = json.loads(ok(None, "msg", "catalogue", "--language", "he", "--json").stdout)
    assert hebrew["language"]["code"] == "he" and hebrew["language"]["direction"] == "rtl"
    assert {e["code"] for e in hebrew["entries"]} >= {401, 501, 503, 506, 901}
    table = ok(None, "msg", "catalogue").stdout
    assert "401" in table and "wilco_unable" in table


@pytest.mark.parametrize(
    ("kind", "written", "canonical"),
    [
        (SlotType.TIME, "2026-11-25T14:00Z", "2026-11-25T14:00:00Z"),
        (SlotType.TIME, "2026-11-25T16:30+02:00", "2026-11-25T14:30:00Z"),
        (SlotType.POSITION, "33.5,36.3", {"lat": 33.5, "lon": 36.3}),
        (SlotType.ALTITUDE, "3000m-amsl", {"m": 3000.0, "ref": "amsl"}),
        (SlotType.ALTITUDE, "1000ft-agl", {"m": 304.8, "ref": "agl"}),
        (SlotType.ALTITUDE, "FL120", {"fl": 120}),
        (SlotType.ALTITUDE, "fl85", {"fl": 85}),
        (SlotType.DISTANCE, "5km", 5000.0),
        (SlotType.DISTANCE, "3NM", 5556.0),
        (SlotType.DISTANCE, "250", 250.0),
        (SlotType.DURATION, "45m", 2700.0),
        (SlotType.DURATION, "2h", 7200.0),
        (SlotType.DURATION, "90", 90.0),
        (SlotType.COUNT, "3", 3),
        (SlotType.CALLSIGN, "alpha-1", "alpha-1"),  # the catalogue upper-cases it
        (None, "anything", "anything"),  # an unknown slot: the catalogue refuses it by name
    ],
)
def test_parameters_are_converted_at_the_edge(kind: SlotType | None, written: str, canonical: Any) -> None:
    assert parse_param(kind, written, "params.x") == canonical


@pytest.mark.parametrize(
    ("kind", "written"),
    [
        (SlotType.TIME, "tomorrow"),
        (SlotType.TIME, "2026-11-25T14:00"),  # no zone
        (SlotType.POSITION, "33.5"),
        (SlotType.ALTITUDE, "3000"),
        (SlotType.ALTITUDE, "3000m-msl"),
        (SlotType.DISTANCE, "5 parsecs"),
        (SlotType.DURATION, "soon"),
        (SlotType.COUNT, "many"),
    ],
)
def test_unreadable_parameters_name_the_slot(kind: SlotType, written: str) -> None:
    with pytest.raises(ValidationError) as e:
        parse_param(kind, written, "params.x")
    assert e.value.field == "params.x" and written in e.value.reason
