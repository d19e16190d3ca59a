"""``deconflict incident …`` in-process (typer's ``CliRunner``) against both back-ends:
report, list, show, timeline, comment, review, close, reopen; refusals exit with 2 and
name the field, storing nothing.

The CLI runs on the machine's clock, so times are written relative to it (an incident
a few minutes ago); nothing here asserts on how long anything takes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import Result
from typer.testing import CliRunner

from conftest import volume
from deconflict.cli import app
from deconflict.service import ItemInput, Service, open_service
from deconflict.store.schema import incident_links, incident_notes, incidents
from deconflict.wire import volumes_from_json


def run(db_url: str, *args: str) -> Result:
    return CliRunner().invoke(app, [*args, "--db", db_url])


def ok(db_url: str, *args: str) -> str:
    result = run(db_url, *args)
    assert result.exit_code == 0, (args, result.stdout, result.stderr, result.exception)
    return " ".join(result.stdout.split())


def refused(db_url: str, *args: str, field: str) -> str:
    result = run(db_url, *args)
    message = " ".join(result.stderr.split())
    assert result.exit_code == 2, (args, result.stdout, result.stderr, result.exception)
    assert f"error {field}:" in message, message
    return message


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@pytest.fixture
def db(db_url: str) -> Iterator[str]:
    ok(db_url, "init")
    ok(db_url, "party", "add", "alpha", "--name", "Alpha", "--shares-with-observers")
    ok(db_url, "party", "add", "bravo", "--name", "Bravo")
    ok(db_url, "party", "add", "unmed", "--name", "Mediator", "--role", "mediator")
    for user, party, role in (
        ("a_liaison", "alpha", "liaison"),
        ("b_liaison", "bravo", "liaison"),
        ("b_ro", "bravo", "read_only"),
        ("m_user", "unmed", "liaison"),
    ):
        ok(db_url, "user", "add", user, "--party", party, "--role", role)
    yield db_url


@pytest.fixture
def svc(db: str) -> Iterator[Service]:
    service = open_service(db, initialise=False)
    yield service
    service.store.dispose()


def alpha_activity(svc: Service) -> str:
    """A sortie of alpha's at 35°N 36°E starting an hour from now (by the machine's clock)."""
    now = svc.clock.now()
    vol = volume()
    vol["time_start"]["value"] = iso(now + timedelta(hours=1))
    vol["time_end"]["value"] = iso(now + timedelta(hours=2))
    data = ItemInput(kind="air_sortie", volumes=volumes_from_json([vol]), title="alpha sortie", notes="alpha-notes")
    _, body = svc.create_item(svc.principal_for("a_liaison"), "activity", data, state="notified")
    return str(body["item"]["id"])


def counts(svc: Service) -> dict[str, int]:
    with svc.store.read() as conn:
        return {
            t.name: int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
            for t in (incidents, incident_links, incident_notes)
        }


def report(db: str, *extra: str, user: str = "b_liaison") -> str:
    at = iso(datetime.now(UTC) - timedelta(minutes=5))
    out = ok(db, "incident", "report", "--as", user, "--kind", "near_miss", "--title", "close pass", "--at", at,
             "--position", "35.0,36.0", *extra)  # fmt: skip
    found = re.search(r"incident (inc_\w+) reported \(open\)", out)
    assert found, out
    return found.group(1)


def test_report_list_show_and_the_timeline(db: str, svc: Service) -> None:
    act = alpha_activity(svc)
    iid = report(db, "--radius", "2km", "--link", f"activity:{act}", "--description", "passed within 300 m")
    doc: dict[str, Any] = json.loads(run(db, "incident", "show", "--as", "a_liaison", iid, "--json").stdout)
    assert (doc["state"], doc["party"], doc["radius_m"], doc["description"]) == (
        "open",
        "bravo",
        2000.0,
        "passed within 300 m",
    )
    assert doc["links"][0] == doc["links"][0] | {"type": "activity", "id": act}
    shown = ok(db, "incident", "show", "--as", "a_liaison", iid)
    assert "close pass" in shown and f"activity:{act}" in shown
    assert iid in ok(db, "incident", "list", "--as", "m_user", "--state", "open")
    assert iid not in ok(db, "incident", "list", "--as", "m_user", "--state", "closed")
    listed = json.loads(run(db, "incident", "list", "--as", "b_ro", "--json").stdout)
    assert [i["id"] for i in listed] == [iid]
    timeline = json.loads(run(db, "incident", "timeline", "--as", "b_liaison", iid, "--json").stdout)
    # the occurrence (five minutes ago), then alpha's activity and notice, then the report
    assert [e["type"] for e in timeline["entries"]] == [
        "incident.occurred",
        "activity.notified",
        "notice.sent",
        "incident.reported",
    ]
    [told] = timeline["told"]
    assert told["receipts"][0]["status"] == "to bravo: never delivered, never opened, not acknowledged"
    assert "alpha-notes" not in json.dumps(timeline)
    table = ok(db, "incident", "timeline", "--as", "b_liaison", iid, "--before", "2h", "--after", "30m")
    for word in ("time (UTC)", "notice.sent", "incident.reported", "who was told", "never opened"):
        assert word in table, (word, table)


def test_comment_review_close_reopen(db: str, svc: Service) -> None:
    iid = report(db)
    assert "1 note(s)" in ok(db, "incident", "comment", "--as", "m_user", iid, "--text", "tapes requested")
    refused(db, "incident", "review", "--as", "b_liaison", iid, field="party")  # the mediator reviews
    refused(db, "incident", "close", "--as", "m_user", iid, "--findings", "x", field="state")  # not under review
    assert "is under_review" in ok(db, "incident", "review", "--as", "m_user", iid)
    before = counts(svc)
    refused(db, "incident", "close", "--as", "m_user", iid, field="findings")
    refused(db, "incident", "comment", "--as", "b_liaison", iid, field="text")
    refused(db, "incident", "comment", "--as", "b_ro", iid, "--text", "x", field="scope")
    assert counts(svc) == before
    assert "is closed" in ok(db, "incident", "close", "--as", "m_user", iid, "--findings", "late notice, no breach")
    assert "is under_review" in ok(db, "incident", "reopen", "--as", "m_user", iid, "--text", "new radar data")
    doc = svc.get_incident(svc.principal_for("b_liaison"), iid)
    assert [n["kind"] for n in doc["notes"]] == ["comment", "review", "findings", "reopen"]


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("--kind", "mid_air"), "kind"),
        (("--at", "yesterday"), "occurred_at"),
        (("--at", "2026-01-01T10:00:00"), "occurred_at"),  # no zone
        (("--at", "2999-01-01T10:00:00Z"), "occurred_at"),  # the future
        (("--position", "north"), "position"),
        (("--position", "95,0"), "position.lat"),
        (("--radius", "200km"), "radius_m"),
        (("--radius", "5 parsecs"), "radius_m"),
        (("--link", "activity"), "links[0]"),
        (("--link", "person:x"), "links[0].type"),
        (("--link", "activity:act_missing"), "links[0].id"),
        (("--title", "x" * 201), "title"),
        (("--description", "a\x00b"), "description"),
        (("--as", "nobody"), "user"),
    ],
)
def test_bad_reports_exit_2_naming_the_field(db: str, svc: Service, args: tuple[str, ...], field: str) -> None:
    given = dict(zip(args[::2], args[1::2], strict=True))
    base = {
        "--as": "b_liaison",
        "--kind": "near_miss",
        "--title": "close pass",
        "--at": iso(datetime.now(UTC) - timedelta(minutes=5)),
        "--position": "35.0,36.0",
    } | given
    before = counts(svc)
    refused(db, "incident", "report", *[x for kv in base.items() for x in kv], field=field)
    assert counts(svc) == before


def test_reading_refusals(db: str) -> None:
    iid = report(db)
    refused(db, "incident", "show", "--as", "a_liaison", "inc_missing", field="id")
    refused(db, "incident", "timeline", "--as", "a_liaison", iid, "--before", "3 weeks", field="before_s")
    refused(db, "incident", "timeline", "--as", "a_liaison", iid, "--after", "8d", field="after_s")
    refused(db, "incident", "list", "--as", "a_liaison", "--state", "lost", field="state")
