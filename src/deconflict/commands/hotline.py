"""``deconflict msg …`` — the hotline from the command line, over the service.

Parameters are given as ``--param name=value`` in the forms people write, and converted
here, at the edge, into the catalogue's canonical values (by the slot's type):

=========  ==================================================  ================================
slot       written                                             canonical
=========  ==================================================  ================================
time       ``2026-11-25T14:00Z`` (RFC 3339, a zone required)   ``"2026-11-25T14:00:00Z"``
position   ``33.5,36.3`` (latitude,longitude in degrees)       ``{"lat": 33.5, "lon": 36.3}``
altitude   ``3000m-amsl``, ``9800ft-agl``, ``FL120``           ``{"m": 3000, "ref": "amsl"}``, ``{"fl": 120}``
distance   ``500m``, ``5km``, ``3NM``, ``2000ft`` (bare: m)    metres
duration   ``45m``, ``2h``, ``90s``, ``1d`` (bare: seconds)    seconds
count      ``3``                                               ``3``
=========  ==================================================  ================================

Callsigns, unit names and references are passed as written.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from ..catalogue import Catalogue, SlotType, load
from ..errors import DeconflictError, ValidationError
from ..service import Service
from ..units import FOOT_M
from . import DISTANCE_UNITS, DURATION_UNITS, As, AsJson, Db, _fail, _service, amount, console

__all__ = ["parse_param", "register"]

Language = Annotated[str | None, typer.Option("--language", help="Show in this language instead of the user's.")]

_ALTITUDE = re.compile(r"^(-?\d+(?:\.\d+)?)(m|ft)-(amsl|agl|wgs84)$", re.IGNORECASE)
_FL = re.compile(r"^FL(\d{1,3})$", re.IGNORECASE)


def parse_param(kind: SlotType | None, value: str, field: str) -> Any:
    """A parameter as written on the command line → its canonical JSON value."""
    if kind is SlotType.TIME:
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValidationError(field, f"{value!r}: write an RFC 3339 time such as 2026-11-25T14:00Z") from None
        if moment.tzinfo is None:
            raise ValidationError(field, f"{value!r}: give the time zone (Z or ±hh:mm)")
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if kind is SlotType.POSITION:
        parts = value.split(",")
        try:
            lat, lon = (float(p) for p in parts)
        except ValueError:
            raise ValidationError(field, f"{value!r}: write latitude,longitude in degrees (33.5,36.3)") from None
        return {"lat": lat, "lon": lon}
    if kind is SlotType.ALTITUDE:
        fl = _FL.match(value.strip())
        if fl is not None:
            return {"fl": int(fl.group(1))}
        m = _ALTITUDE.match(value.strip())
        if m is None:
            raise ValidationError(field, f"{value!r}: write e.g. 3000m-amsl, 9800ft-agl or FL120")
        metres = float(m.group(1)) * (FOOT_M if m.group(2).lower() == "ft" else 1.0)
        return {"m": round(metres, 3), "ref": m.group(3).lower()}
    if kind is SlotType.DISTANCE:
        return amount(value, DISTANCE_UNITS, field, "500m, 5km, 3NM")
    if kind is SlotType.DURATION:
        return amount(value, DURATION_UNITS, field, "45m, 2h, 90s")
    if kind is SlotType.COUNT:
        try:
            return int(value)
        except ValueError:
            raise ValidationError(field, f"{value!r}: write a whole number") from None
    return value  # callsign, unit, ref — and unknown slots, which the catalogue refuses by name


def _params(cat: Catalogue, code: int, written: list[str]) -> dict[str, Any]:
    entry = cat.entry(code)
    kinds = {slot.name: slot.type for slot in entry.slots}
    out: dict[str, Any] = {}
    for item in written:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValidationError("param", f"{item!r}: write name=value")
        out[name] = parse_param(kinds.get(name), value, f"params.{name}")
    return out


def _receipt_line(r: dict[str, Any]) -> str:
    """One receipt in a few words: how far it got, by whom, and whether it escalated."""
    if r["answered_at"]:
        state = f"answered {r['answered_by']} {r['answered_at'][11:16]}"
    elif r["acknowledged_at"]:
        state = f"acknowledged {r['acknowledged_by']} {r['acknowledged_at'][11:16]}"
    elif r["read_at"]:
        state = f"read {r['read_by']} {r['read_at'][11:16]}"
    elif r["delivered_at"]:
        state = f"delivered {r['delivered_to']} {r['delivered_at'][11:16]}"
    else:
        state = "not delivered"
    if r["level"]:
        state += f" [escalated: {r['escalated_to']}]"
    return f"{r['party']}: {state}"


def _receipts_cell(doc: dict[str, Any]) -> str:
    if doc.get("receipts") is not None:
        return "\n".join(_receipt_line(r) for r in doc["receipts"]) or "—"
    if doc.get("receipt") is not None:
        return _receipt_line(doc["receipt"])
    return "—"


def _table(docs: list[dict[str, Any]], title: str) -> Table:
    table = Table(title=title, show_lines=True)
    for column in ("id", "at (UTC)", "from", "code", "precedence", "message", "receipts"):
        table.add_column(column, overflow="fold")
    for d in docs:
        precedence = d["precedence"].upper()
        table.add_row(
            d["id"],
            d["at"][:16].replace("T", " "),
            f"{d['sender']['party']} ({d['sender']['user']})",
            str(d["code"]) + (f" ↩ {d['in_reply_to']}" if d["in_reply_to"] else ""),
            f"[bold red]{precedence}[/bold red]" if precedence in ("FLASH", "IMMEDIATE") else precedence,
            d["rendered"]["text"],
            _receipts_cell(d),
        )
    return table


def register(app: typer.Typer) -> None:
    """Add ``deconflict msg …`` to ``app``."""
    msg = typer.Typer(help="The hotline: catalogue messages between parties.", no_args_is_help=True)
    app.add_typer(msg, name="msg")

    def act(db: str | None, as_user: str, fn: Any) -> Any:
        with _service(db) as service:
            try:
                return fn(service, service.principal_for(as_user))
            except DeconflictError as e:
                raise _fail(e) from None

    @msg.command("send")
    def send(
        as_user: As,
        code: Annotated[int, typer.Argument(help="The catalogue code (see `deconflict msg catalogue`).")],
        thread: Annotated[str | None, typer.Option("--thread", help="Post in this thread.")] = None,
        to: Annotated[
            list[str] | None, typer.Option("--to", help="Open a thread with this party (repeatable).")
        ] = None,
        param: Annotated[
            list[str] | None, typer.Option("--param", help="A slot value: name=value (repeatable).")
        ] = None,
        text: Annotated[str | None, typer.Option("--text", help="Free text (sent untranslated).")] = None,
        precedence: Annotated[str | None, typer.Option(help="flash | immediate | priority | routine.")] = None,
        reply_to: Annotated[str | None, typer.Option("--reply-to", help="The message this one answers.")] = None,
        subject: Annotated[str | None, typer.Option(help="A new thread's subject.")] = None,
        as_json: AsJson = False,
        db: Db = None,
    ) -> None:
        """Send a catalogue message: in a thread (--thread), or opening one (--to PARTY …)."""

        def run(service: Service, who: Any) -> dict[str, Any]:
            if (thread is None) == (not to):
                raise ValidationError("thread", "give --thread ID, or --to PARTY (not both)")
            if to and reply_to is not None:
                raise ValidationError("reply_to", "a reply goes in the thread of the message it answers (--thread)")
            params = _params(load(), code, param or [])
            if thread is not None:
                return service.send_message(
                    who, thread, code, params, text=text, precedence=precedence, in_reply_to=reply_to
                )[1]
            message = {"code": code, "params": params, "text": text, "precedence": precedence}
            first = {k: v for k, v in message.items() if v is not None}
            try:
                return service.open_thread(who, parties=list(to or []), subject=subject, message=first)[1]
            except DeconflictError as e:  # the command line has no "message" object: name the option
                if e.field.startswith("message."):
                    raise ValidationError(e.field.removeprefix("message."), e.reason) from None
                raise

        body = act(db, as_user, run)
        if as_json:
            print(json.dumps(body, indent=2, ensure_ascii=False))
            return
        m = body["message"]
        console.print(f"sent {m['id']} in thread {m['thread_id']} ({m['precedence']})")
        console.print(m["rendered"]["text"])

    @msg.command("list")
    def list_(
        as_user: As,
        thread: Annotated[str | None, typer.Option("--thread", help="The whole conversation of this thread.")] = None,
        pending: Annotated[bool, typer.Option("--pending", help="Only messages not yet acknowledged.")] = False,
        language: Language = None,
        limit: Annotated[int, typer.Option(help="At most this many.")] = 100,
        as_json: AsJson = False,
        db: Db = None,
    ) -> None:
        """Messages to the user's party (or a whole thread with --thread), in the user's language."""

        def run(service: Service, who: Any) -> dict[str, Any]:
            if thread is not None and not pending:
                return service.get_thread(who, thread, language=language, limit=limit)
            return service.list_messages(who, thread=thread, pending=pending, language=language, limit=limit)

        body = act(db, as_user, run)
        if as_json:
            print(json.dumps(body, indent=2, ensure_ascii=False))
            return
        title = (
            f"thread {thread}" if thread is not None else f"messages to {as_user}" + (" (pending)" if pending else "")
        )
        if not body["messages"]:
            console.print(f"{title}: none")
            return
        console.print(_table(body["messages"], title))

    @msg.command("show")
    def show(
        as_user: As,
        message_id: Annotated[str, typer.Argument(help="The message id.")],
        language: Language = None,
        as_json: AsJson = False,
        db: Db = None,
    ) -> None:
        """One message in full (reading it marks it read for the user's party)."""
        doc = act(db, as_user, lambda service, who: service.get_message(who, message_id, language=language))
        if as_json:
            print(json.dumps(doc, indent=2, ensure_ascii=False))
            return
        console.print(f"[bold]{doc['id']}[/bold]  thread {doc['thread_id']}  {doc['at']}")
        console.print(f"from {doc['sender']['party']} ({doc['sender']['user']})  code {doc['code']} ({doc['group']})")
        console.print(f"precedence {doc['precedence'].upper()}  asks for: {doc['response']}")
        if doc["in_reply_to"]:
            console.print(f"in reply to {doc['in_reply_to']}")
        console.print(doc["rendered"]["text"], markup=False)
        if doc["untranslated"]:
            console.print("untranslated free text:", markup=False)
            console.print(doc["text"], markup=False)
        console.print(_receipts_cell(doc), markup=False)

    @msg.command("ack")
    def ack(
        as_user: As,
        message_id: Annotated[str, typer.Argument(help="The message id.")],
        db: Db = None,
    ) -> None:
        """Acknowledge a message addressed to the user's party."""
        doc = act(db, as_user, lambda service, who: service.acknowledge_message(who, message_id)[1])
        console.print(f"acknowledged {doc['id']}: {_receipt_line(doc['receipt'])}", markup=False)

    @msg.command("catalogue")
    def catalogue(language: Language = None, as_json: AsJson = False) -> None:
        """The message catalogue: codes, what they say, their slots and responses."""
        cat = load()
        try:
            doc = cat.describe(language or "en")
        except DeconflictError as e:
            raise _fail(e) from None
        if as_json:
            print(json.dumps(doc, indent=2, ensure_ascii=False))
            return
        table = Table(title=f"message catalogue ({doc['language']['name']})")
        for column in ("code", "group", "precedence", "asks for", "text", "slots"):
            table.add_column(column, overflow="fold")
        for entry in doc["entries"]:
            table.add_row(
                str(entry["code"]),
                entry["group"],
                entry["precedence"],
                entry["response"],
                entry["text"],
                ", ".join(f"{s['name']}: {s['type']}" for s in entry["slots"]),
            )
        console.print(table)
