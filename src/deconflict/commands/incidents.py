"""``deconflict incident …``: report, list, show, timeline, comment, review, close, reopen — over the service.

Values are written as people write them and converted here, at the edge: ``--at`` is
RFC 3339 with a zone (``2026-11-25T11:05Z``), ``--position`` is ``LAT,LON`` in degrees,
``--radius`` a distance (``5km``, ``800m``, ``2NM``; bare: metres), ``--link`` a
``type:id`` (``activity:act_…``), ``--before``/``--after`` durations (``24h``, ``90m``).
Errors name the field the service names (``error occurred_at: …``) and exit with 2.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from ..errors import DeconflictError, ValidationError
from . import DISTANCE_UNITS, DURATION_UNITS, As, AsJson, Db, _fail, _service, amount, console

__all__ = ["register"]

IncidentId = Annotated[str, typer.Argument(help="The incident's id (inc_…).")]
Text = Annotated[str | None, typer.Option(help="The comment or note.")]


def _time(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValidationError(
            "occurred_at", f"{text!r} is not an RFC 3339 date-time (e.g. 2026-11-25T11:05Z)"
        ) from None


def _position(text: str) -> dict[str, float]:
    parts = text.split(",")
    try:
        lat, lon = (float(p) for p in parts)
    except ValueError:
        raise ValidationError("position", f"{text!r}: write LAT,LON in degrees (e.g. 35.0,36.2)") from None
    return {"lat": lat, "lon": lon}


def _link(text: str, i: int) -> dict[str, str]:
    kind, sep, ident = text.partition(":")
    if not sep or not kind or not ident:
        raise ValidationError(f"links[{i}]", f"{text!r}: write TYPE:ID (e.g. activity:act_0123)")
    return {"type": kind, "id": ident}


def _show(doc: dict[str, Any]) -> None:
    table = Table(title=f"incident {doc['id']}", show_header=False)
    pos = doc["position"]
    rows = [
        ("state", doc["state"]),
        ("kind", doc["kind"]),
        ("title", doc["title"]),
        ("reported", f"{doc['created_at']} by {doc['reported_by']} ({doc['party']})"),
        ("occurred", doc["occurred_at"]),
        ("where", f"{pos['lat']}, {pos['lon']} (radius {doc['radius_m']:,.0f} m)"),
        ("description", doc["description"] or ""),
        ("findings", doc["findings"] or ""),
        ("links", ", ".join(f"{lk['type']}:{lk['id']}" for lk in doc["links"])),
    ]
    for key, value in rows:
        table.add_row(key, str(value))
    for n in doc["notes"]:
        table.add_row(n["kind"], f"{n['at']} {n['party']} ({n['user']}): {n['text']}")
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add the incident commands to ``app``."""
    incident = typer.Typer(
        help="Incident reports, their timelines, comments, review and findings.", no_args_is_help=True
    )
    app.add_typer(incident, name="incident")

    @incident.command("report")
    def report(
        as_user: As,
        kind: Annotated[
            str, typer.Option(help="near_miss, unplanned_encounter, zone_violation, strike_on_notified_site, other.")
        ],
        title: Annotated[str, typer.Option(help="One line, up to 200 characters (shown as written).")],
        at: Annotated[str, typer.Option("--at", help="When it happened: RFC 3339 with a zone.")],
        position: Annotated[str, typer.Option(help="Where: LAT,LON in degrees.")],
        radius: Annotated[str, typer.Option(help="How far around to look: 5km, 800m, 2NM.")] = "5km",
        link: Annotated[
            list[str] | None, typer.Option(help="TYPE:ID of an activity, zone, conflict, thread or message.")
        ] = None,
        description: Annotated[str | None, typer.Option(help="What happened (up to 4,000 characters).")] = None,
        as_json: AsJson = False,
        db: Db = None,
    ) -> None:
        """Report an incident."""
        try:
            links = [_link(text, i) for i, text in enumerate(link or [])]
            where = _position(position)
            metres = amount(radius, DISTANCE_UNITS, "radius_m", "e.g. 5km")
            when = _time(at)
            with _service(db) as service:
                who = service.principal_for(as_user)
                _, doc = service.report_incident(
                    who, kind, title, when, where, radius_m=metres, description=description, links=links
                )
        except DeconflictError as e:
            raise _fail(e) from None
        if as_json:
            print(json.dumps(doc, indent=2, ensure_ascii=False))
            return
        console.print(f"incident {doc['id']} reported ({doc['state']})")

    @incident.command("list")
    def list_(
        as_user: As,
        state: Annotated[list[str] | None, typer.Option(help="open, under_review or closed (repeatable).")] = None,
        party: Annotated[str | None, typer.Option(help="Only this party's reports.")] = None,
        as_json: AsJson = False,
        db: Db = None,
    ) -> None:
        """List the incidents the user may see."""
        found: list[dict[str, Any]] = []
        try:
            with _service(db) as service:
                who = service.principal_for(as_user)
                cursor = None
                while True:
                    page = service.list_incidents(who, state=state or (), party=party, limit=1000, cursor=cursor)
                    found += page["incidents"]
                    cursor = page["next_cursor"]
                    if cursor is None:
                        break
        except DeconflictError as e:
            raise _fail(e) from None
        if as_json:
            print(json.dumps(found, indent=2, ensure_ascii=False))
            return
        table = Table("state", "kind", "party", "occurred (UTC)", "title")
        table.add_column("id", no_wrap=True)
        for i in found:
            table.add_row(i["state"], i["kind"], i["party"], i["occurred_at"], i["title"], i["id"])
        console.print(table)

    @incident.command("show")
    def show(as_user: As, incident_id: IncidentId, as_json: AsJson = False, db: Db = None) -> None:
        """Show one incident: its report, links, comments and findings."""
        try:
            with _service(db) as service:
                doc = service.get_incident(service.principal_for(as_user), incident_id)
        except DeconflictError as e:
            raise _fail(e) from None
        if as_json:
            print(json.dumps(doc, indent=2, ensure_ascii=False))
            return
        _show(doc)

    @incident.command("timeline")
    def timeline(
        as_user: As,
        incident_id: IncidentId,
        before: Annotated[str, typer.Option(help="How far back from the occurrence: 24h, 90m, 2d.")] = "24h",
        after: Annotated[str, typer.Option(help="How far on after it.")] = "2h",
        as_json: AsJson = False,
        db: Db = None,
    ) -> None:
        """Everything recorded around the incident, in time order: who was told what, and when."""
        try:
            before_s = amount(before, DURATION_UNITS, "before_s", "e.g. 24h")
            after_s = amount(after, DURATION_UNITS, "after_s", "e.g. 2h")
            with _service(db) as service:
                who = service.principal_for(as_user)
                doc = service.incident_timeline(who, incident_id, before_s=before_s, after_s=after_s)
        except DeconflictError as e:
            raise _fail(e) from None
        if as_json:
            print(json.dumps(doc, indent=2, ensure_ascii=False))
            return
        window = doc["window"]
        table = Table(
            "time (UTC)",
            "type",
            "party",
            "user",
            "summary",
            title=f"incident {incident_id}: {window['start']} – {window['end']} (as of {doc['as_of']})",
        )
        for en in doc["entries"]:
            table.add_row(en["at"].replace("T", " "), en["type"], en["party"] or "", en["user"] or "", en["summary"])
        console.print(table)
        if doc["told"]:
            told = Table("sent (UTC)", "what", "who was told", title="who was told what, and when")
            for t in doc["told"]:
                lines = "\n".join(r["status"] for r in t["receipts"]) or "(receipts not yours to see)"
                told.add_row(t["at"].replace("T", " "), t["about"], lines)
            console.print(told)
        if doc["truncated"]:
            console.print("[yellow]the timeline was cut short; narrow --before/--after[/yellow]")

    def act(action: str, as_user: str, incident_id: str, text: str | None, db: str | None) -> None:
        try:
            with _service(db) as service:
                _, doc = service.incident_action(service.principal_for(as_user), incident_id, action, text=text)
        except DeconflictError as e:
            if action == "close" and e.field == "text":  # the option is --findings
                raise _fail(ValidationError("findings", e.reason)) from None
            raise _fail(e) from None
        console.print(
            f"incident {doc['id']} is {doc['state']}" + (f"; {len(doc['notes'])} note(s)" if doc["notes"] else "")
        )

    @incident.command("comment")
    def comment(as_user: As, incident_id: IncidentId, text: Text = None, db: Db = None) -> None:
        """Comment on an incident (an involved party or the mediator)."""
        act("comment", as_user, incident_id, text, db)

    @incident.command("review")
    def review(as_user: As, incident_id: IncidentId, text: Text = None, db: Db = None) -> None:
        """Take an open incident under review (the mediator; with none, an involved party)."""
        act("review", as_user, incident_id, text, db)

    @incident.command("close")
    def close(
        as_user: As,
        incident_id: IncidentId,
        findings: Annotated[str | None, typer.Option(help="The findings (required).")] = None,
        db: Db = None,
    ) -> None:
        """Close an incident under review with findings (the mediator; with none, the reporter's commander)."""
        act("close", as_user, incident_id, findings, db)

    @incident.command("reopen")
    def reopen(as_user: As, incident_id: IncidentId, text: Text = None, db: Db = None) -> None:
        """Reopen a closed incident: back under review."""
        act("reopen", as_user, incident_id, text, db)
