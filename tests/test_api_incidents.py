"""The incident routes over HTTP: report, list, read, timeline, links, comment, review,
close, reopen — the happy path, the problem documents of bad input (naming the field,
storing nothing), idempotent retries.  Both back-ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from api_helpers import PROBLEM, Api, open_api, populate, volume
from deconflict.service import ManualClock, Service
from deconflict.store.schema import events, incident_links, incident_notes, incidents

WHEN = "2026-11-25T07:30:00Z"


@pytest.fixture
def api(service: Service, clock: ManualClock) -> Iterator[Api]:
    with open_api(populate(service, clock)) as a:
        yield a


def body(**fields: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "kind": "near_miss",
        "title": "two aircraft within 300 m",
        "occurred_at": WHEN,
        "position": {"lat": 35.0, "lon": 36.0},
    }
    return doc | fields


def counts(api: Api) -> dict[str, int]:
    with api.service.store.read() as conn:
        return {
            t.name: int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
            for t in (incidents, incident_links, incident_notes, events)
        }


def problem(r: Any, status: int, field: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    doc = dict(r.json())
    assert (doc["status"], doc["field"]) == (status, field), doc
    assert doc["detail"].startswith(f"{field}: ")
    return doc


def test_report_read_list_and_timeline(api: Api) -> None:
    a = api.notify("a_liaison", title="alpha sortie", volumes=[volume(start_h=-1, hours=3)])
    api.clock.advance(timedelta(minutes=30))
    link = {"type": "activity", "id": a["item"]["id"]}
    created = api.ok(api.post("b_liaison", "/v1/incidents", body(links=[link], radius_m=2000)), 201)
    assert (created["state"], created["party"], created["reported_by"], created["radius_m"]) == (
        "open",
        "bravo",
        "b_liaison",
        2000.0,
    )
    assert created["occurred_at"] == WHEN and created["links"][0]["id"] == a["item"]["id"]
    iid = created["id"]
    assert api.ok(api.get("a_ro", f"/v1/incidents/{iid}"))["title"] == "two aircraft within 300 m"
    listed = api.ok(api.get("m_user", "/v1/incidents", params={"state": ["open"], "party": "bravo"}))
    assert [i["id"] for i in listed["incidents"]] == [iid] and listed["next_cursor"] is None
    assert api.ok(api.get("m_user", "/v1/incidents", params={"state": "closed"}))["incidents"] == []
    problem(api.get("m_user", "/v1/incidents", params={"state": "lost"}), 422, "state[0]")
    tl = api.ok(api.get("b_liaison", f"/v1/incidents/{iid}/timeline", params={"before_s": 3600, "after_s": 600}))
    assert tl["window"] == {
        "start": "2026-11-25T06:30:00Z",
        "end": "2026-11-25T07:40:00Z",
        "before_s": 3600.0,
        "after_s": 600.0,
    }
    # the occurrence (07:30), alpha's activity and notice (08:00), the report (08:30)
    assert [e["type"] for e in tl["entries"]] == [
        "incident.occurred",
        "activity.notified",
        "notice.sent",
        "incident.reported",
    ]
    notice = next(e for e in tl["entries"] if e["type"] == "notice.sent")
    assert notice["detail"]["receipts"][0]["status"].startswith("to bravo: never delivered")
    for bad in ({"before_s": -1}, {"after_s": 7 * 86400 + 1}, {"before_s": "nan"}):
        name = next(iter(bad))
        problem(api.get("b_liaison", f"/v1/incidents/{iid}/timeline", params=bad), 422, name)
    problem(api.get("b_liaison", "/v1/incidents/inc_missing"), 404, "id")
    problem(api.get("b_liaison", "/v1/incidents/inc_missing/timeline"), 404, "id")
    seen = api.ok(api.get("a_liaison", "/v1/events", params={"limit": 1000}))["events"]
    assert [e["subject_id"] for e in seen if e["type"] == "incident.reported"] == [iid]


def test_comment_review_close_reopen_over_http(api: Api) -> None:
    iid = api.ok(api.post("b_liaison", "/v1/incidents", body()), 201)["id"]
    base = f"/v1/incidents/{iid}"
    doc = api.ok(api.post("m_user", f"{base}/comment", {"text": "tapes requested"}))
    assert doc["notes"][0]["text"] == "tapes requested"
    problem(api.post("b_liaison", f"{base}/review"), 403, "party")
    problem(api.post("m_user", f"{base}/close", {"text": "done"}), 409, "state")
    assert api.ok(api.post("m_user", f"{base}/review"))["state"] == "under_review"
    before = counts(api)
    problem(api.post("m_user", f"{base}/close"), 422, "text")
    problem(api.post("m_user", f"{base}/close", {"text": "   "}), 422, "text")
    problem(api.post("m_user", f"{base}/close", {"findings": "x"}), 422, "findings")
    problem(api.post("m_user", f"{base}/close", {"text": "a\x00b"}), 422, "text")
    problem(api.post("m_user", f"{base}/shred", {"text": "x"}), 422, "action")
    assert counts(api) == before
    closed = api.ok(api.post("m_user", f"{base}/close", {"text": "late notice, no breach"}))
    assert (closed["state"], closed["findings"], closed["closed_by"]) == ("closed", "late notice, no breach", "m_user")
    problem(api.post("b_liaison", f"{base}/comment", {"text": "no"}), 409, "state")
    assert api.ok(api.post("m_user", f"{base}/reopen", {"text": "new radar data"}))["state"] == "under_review"


def test_links_route(api: Api) -> None:
    a = api.notify("a_liaison", title="alpha sortie")
    draft = api.draft("a_liaison", title="alpha draft", volumes=[volume(50, 10)])
    iid = api.ok(api.post("a_liaison", "/v1/incidents", body()), 201)["id"]
    path = f"/v1/incidents/{iid}/links"
    before = counts(api)
    problem(api.post("a_liaison", path, {"links": []}), 422, "links")
    problem(api.post("a_liaison", path, {"links": [{"type": "person", "id": "x"}]}), 422, "links[0].type")
    problem(api.post("b_liaison", path, {"links": [{"type": "activity", "id": draft["id"]}]}), 403, "party")
    problem(
        api.post(
            "a_liaison", path, {"links": [{"type": "activity", "id": a["item"]["id"]}, {"type": "zone", "id": "z"}]}
        ),
        404,
        "links[1].id",
    )
    assert counts(api) == before
    doc = api.ok(api.post("a_liaison", path, {"links": [{"type": "activity", "id": a["item"]["id"]}]}))
    assert [lk["id"] for lk in doc["links"]] == [a["item"]["id"]]
    # the mediator may add links, but not to another party's draft (it does not exist for it)
    problem(api.post("m_user", path, {"links": [{"type": "activity", "id": draft["id"]}]}), 404, "links[0].id")


@pytest.mark.parametrize(
    ("change", "field", "status"),
    [
        ({"kind": "mid_air"}, "kind", 422),
        ({"title": ""}, "title", 422),
        ({"title": "x" * 201}, "title", 422),
        ({"title": "nul\x00"}, "title", 422),
        ({"description": "x" * 4001}, "description", 422),
        ({"occurred_at": "2026-11-25T07:30:00"}, "occurred_at", 422),  # no time zone
        ({"occurred_at": "2026-11-25T09:00:00Z"}, "occurred_at", 422),  # the future
        ({"occurred_at": "yesterday"}, "occurred_at", 422),
        ({"position": {"lat": 91, "lon": 0}}, "position.lat", 422),
        ({"position": {"lat": 0}}, "position.lon", 422),
        ({"position": {"lat": 0, "lon": 0, "alt": 1}}, "position.alt", 422),
        ({"radius_m": 100_001}, "radius_m", 422),
        ({"radius_m": -5}, "radius_m", 422),
        ({"links": [{"type": "activity"}]}, "links[0].id", 422),
        ({"links": [{"type": "incident", "id": "inc_x"}]}, "links[0].type", 422),
        ({"links": [{"type": "activity", "id": "act_missing"}]}, "links[0].id", 404),
        ({"severity": "high"}, "severity", 422),
    ],
)
def test_bad_reports_are_problems_naming_the_field(api: Api, change: dict[str, Any], field: str, status: int) -> None:
    before = counts(api)
    problem(api.post("a_liaison", "/v1/incidents", body(**change)), status, field)
    assert counts(api) == before


def test_an_incident_report_is_idempotent(api: Api) -> None:
    key = {"Idempotency-Key": "inc-1"}
    first = api.post("a_liaison", "/v1/incidents", body(), headers=key)
    before = counts(api)
    again = api.post("a_liaison", "/v1/incidents", body(), headers=key)
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    assert counts(api) == before
    problem(api.post("a_liaison", "/v1/incidents", body(title="other"), headers=key), 422, "Idempotency-Key")
    iid = first.json()["id"]
    path = f"/v1/incidents/{iid}/comment"
    one = api.post("a_liaison", path, {"text": "once"}, headers={"Idempotency-Key": "c-1"})
    two = api.post("a_liaison", path, {"text": "once"}, headers={"Idempotency-Key": "c-1"})
    assert one.json() == two.json() and len(two.json()["notes"]) == 1
    assert counts(api)["incident_notes"] == 1


def test_the_timeline_of_an_incident_an_observer_may_not_see_is_404(api: Api) -> None:
    iid = api.ok(api.post("b_liaison", "/v1/incidents", body()), 201)["id"]
    problem(api.get("o_user", f"/v1/incidents/{iid}/timeline"), 404, "id")
    assert api.ok(api.get("o_user", "/v1/incidents"))["incidents"] == []
