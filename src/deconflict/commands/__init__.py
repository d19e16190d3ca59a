"""The service's commands: ``serve``, ``init``, ``status``, parties, users, tokens, keys,
policy, GeoJSON ``import``/``export`` — a thin layer over :class:`deconflict.service.Service`
(never over the HTTP API).

The database is ``--db URL``, else ``$DECONFLICT_DATABASE_URL``, else
``sqlite:///deconflict.db`` in the current directory.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import sqlalchemy as sa
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..errors import DeconflictError, ValidationError
from ..service import PARTY_ROLES, USER_ROLES, Service, database_url, open_service
from ..service.exchange import geojson_of, import_entries
from ..units import FOOT_M, NAUTICAL_MILE_M

__all__ = ["register"]

console = Console()
err = Console(stderr=True)
Db = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (default: $DECONFLICT_DATABASE_URL or sqlite:///deconflict.db)."),
]


As = Annotated[str, typer.Option("--as", help="The user acting (need-to-know applies).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print the service's JSON document.")]
DISTANCE_UNITS = {"": 1.0, "m": 1.0, "km": 1000.0, "nm": NAUTICAL_MILE_M, "ft": FOOT_M}
DURATION_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_AMOUNT = re.compile(r"^(-?\d+(?:\.\d+)?)\s*([a-zA-Z]*)$")


def amount(text: str, units: dict[str, float], field: str, example: str) -> float:
    """A number with a unit from ``units`` (e.g. "5km" with :data:`DISTANCE_UNITS`), in the
    base unit (metres, seconds); else a ValidationError naming ``field``."""
    m = _AMOUNT.match(text.strip())
    if m is None or m.group(2).lower() not in units:
        raise ValidationError(field, f"{text!r}: write a number and one of {sorted(u for u in units if u)} ({example})")
    return float(m.group(1)) * units[m.group(2).lower()]


def _duration(text: str) -> timedelta:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    try:
        return timedelta(seconds=float(text[:-1]) * units[text[-1]])
    except (KeyError, ValueError, IndexError):
        raise typer.BadParameter(f"{text!r}: use a number and s, m, h or d (e.g. 12h)") from None


@contextmanager
def _service(db: str | None, *, initialise: bool = False) -> Iterator[Service]:
    """The service over ``--db`` for one command; its connections are closed afterwards."""
    service = open_service(db, initialise=False)
    try:
        if initialise:
            service.initialise()
        elif service.store.current_revision() is None:
            err.print(f"[red]error[/red] {_shown(db)} has no deconflict schema: run `deconflict init` first")
            raise typer.Exit(2)
        yield service
    finally:
        service.store.dispose()


def _shown(db: str | None) -> str:
    """The database URL as it may be printed: any password masked."""
    url = database_url(db)
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return url


def _fail(e: DeconflictError) -> typer.Exit:
    err.print(f"[red]error[/red] {e.field}: {e.reason}")
    return typer.Exit(2)


def register(app: typer.Typer) -> None:
    from . import demo, hotline, incidents, ledger

    demo.register(app)
    hotline.register(app)
    incidents.register(app)
    ledger.register(app)
    party = typer.Typer(help="Parties to the mechanism.", no_args_is_help=True)
    user = typer.Typer(help="People and machine clients acting for a party.", no_args_is_help=True)
    token = typer.Typer(help="Bearer tokens.", no_args_is_help=True)
    key = typer.Typer(help="The service's token-signing keys and trusted issuers.", no_args_is_help=True)
    policy = typer.Typer(help="The agreement's policy: notice times, deadlines, minima.", no_args_is_help=True)
    app.add_typer(party, name="party")
    app.add_typer(user, name="user")
    app.add_typer(token, name="token")
    app.add_typer(key, name="key")
    app.add_typer(policy, name="policy")

    @app.command()
    def init(db: Db = None) -> None:
        """Create the database (or upgrade its schema, keeping its data); add a signing key."""
        service = open_service(db, initialise=False)
        try:
            body = service.initialise()
        finally:
            service.store.dispose()
        created = ", ".join(body["created"]) or "nothing new"
        console.print(f"{_shown(db)}: schema at revision {body['revision']}; created {created}.")

    @app.command()
    def serve(
        db: Db = None,
        host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
        scheduler: Annotated[bool, typer.Option(help="Run the deadline/escalation scheduler.")] = True,
        ws_compression: Annotated[
            bool, typer.Option(help="Offer permessage-deflate on WebSockets (saves bandwidth, costs server CPU).")
        ] = False,
        log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "warning",
        tile_url: Annotated[
            str | None,
            typer.Option(help="Online map tiles ({z}/{x}/{y} URL) for a connected deployment; none: offline basemap."),
        ] = None,
    ) -> None:
        """Serve the API (REST + WebSocket) and the web UI over the database."""
        import uvicorn

        from ..api import create_app
        from ..api.web import check_tile_url

        try:
            check_tile_url(tile_url)  # before the database is touched
        except ValueError as e:
            err.print(f"[red]error[/red] {e}")
            raise typer.Exit(2) from e
        with _service(db, initialise=True) as service:
            application = create_app(service, scheduler_interval_s=1.0 if scheduler else None, tile_url=tile_url)
            console.print(f"deconflict serving {_shown(db)} on http://{host}:{port} (web UI at /, API docs at /docs)")
            uvicorn.run(
                application,
                host=host,
                port=port,
                log_level=log_level,
                ws_ping_interval=20.0,
                ws_per_message_deflate=ws_compression,
            )

    @app.command()
    def liveness(db: Db = None, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
        """Each party's channel: unknown (never heard from), up, or DOWN — since when, last heartbeat."""
        with _service(db) as service:
            rows = service.liveness(None)
        if as_json:
            print(json.dumps(rows, indent=2))
            return
        table = Table(title="channels")
        for column in ("party", "role", "state", "since", "last heartbeat", "by", "outages"):
            table.add_column(column)
        colour = {"up": "green", "down": "bold red", "unknown": "yellow"}
        for r in rows:
            state = r["state"] if r["monitored"] else f"{r['state']} (not monitored)"
            table.add_row(
                r["party"],
                r["role"],
                f"[{colour[r['state']]}]{state}[/]",
                r["since"] or "",
                r["last_seen_at"] or "",
                r.get("last_seen_by") or "",
                str(r["outages"]),
            )
        console.print(table)

    @app.command()
    def status(db: Db = None, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
        """What the database holds: parties, items by state, open conflicts, overdue receipts."""
        from ..store.schema import conflicts, events, items, parties, receipts, users

        with _service(db) as service, service.store.read() as conn:
            now = service.clock.now()

            def count(q: Any) -> int:
                return int(conn.execute(q).scalar_one())

            doc: dict[str, Any] = {
                "database": _shown(db),
                "schema_revision": service.store.current_revision(),
                "parties": count(sa.select(sa.func.count()).select_from(parties)),
                "users": count(sa.select(sa.func.count()).select_from(users)),
                "items": {
                    f"{t}:{s}": n
                    for t, s, n in conn.execute(
                        sa.select(items.c.item_type, items.c.state, sa.func.count()).group_by(
                            items.c.item_type, items.c.state
                        )
                    ).all()
                },
                "conflicts": {
                    s: n
                    for s, n in conn.execute(
                        sa.select(conflicts.c.state, sa.func.count()).group_by(conflicts.c.state)
                    ).all()
                },
                "overdue_receipts": count(
                    sa.select(sa.func.count())
                    .select_from(receipts)
                    .where(
                        receipts.c.acknowledged_at.is_(None),
                        receipts.c.deadline.is_not(None),
                        receipts.c.deadline <= now,
                    )
                ),
                "last_event_seq": count(sa.select(sa.func.coalesce(sa.func.max(events.c.seq), 0))),
            }
            doc["channels"] = {c["party"]: c["state"] for c in service.liveness(None) if c["monitored"]}
        if as_json:
            print(json.dumps(doc, indent=2))
            return
        table = Table(title="deconflict status", show_header=False)
        for k, v in doc.items():
            table.add_row(k, ", ".join(f"{a}={b}" for a, b in v.items()) if isinstance(v, dict) else str(v))
        console.print(table)

    # --- parties and users ------------------------------------------------------------

    @party.command("add")
    def party_add(
        party_id: Annotated[str, typer.Argument(help="Short id, e.g. 'alpha'.")],
        name: Annotated[str, typer.Option(help="Display name.")],
        role: Annotated[str, typer.Option(help=f"One of {', '.join(PARTY_ROLES)}.")] = "member",
        shares_with_observers: Annotated[bool, typer.Option(help="Observers may read this party's items.")] = False,
        language: Annotated[str, typer.Option(help="Default language: en, ar, tr, he.")] = "en",
        protocol: Annotated[
            str, typer.Option(help="native, or f3548 (an ASTM F3548 USS that speaks /dss/v1 only).")
        ] = "native",
        db: Db = None,
    ) -> None:
        """Add a party (member, mediator or observer)."""
        try:
            with _service(db) as service:
                doc = service.add_party(
                    party_id,
                    name,
                    role,
                    shares_with_observers=shares_with_observers,
                    language=language,
                    protocol=protocol,
                )
        except DeconflictError as e:
            raise _fail(e) from None
        console.print(f"party {doc['id']} ({doc['role']}) added")

    @party.command("list")
    def party_list(db: Db = None) -> None:
        """List the parties."""
        table = Table("id", "name", "role", "shares with observers", "language", "protocol")
        with _service(db) as service:
            found = service.list_parties()
        for p in found:
            table.add_row(p["id"], p["name"], p["role"], str(p["shares_with_observers"]), p["language"], p["protocol"])
        console.print(table)

    @user.command("add")
    def user_add(
        user_id: Annotated[str, typer.Argument(help="Log-in name.")],
        party_id: Annotated[str, typer.Option("--party", help="The party the user acts for.")],
        role: Annotated[str, typer.Option(help=f"One of {', '.join(USER_ROLES)}.")] = "liaison",
        display_name: Annotated[str | None, typer.Option(help="Full name.")] = None,
        password_stdin: Annotated[bool, typer.Option(help="Read a web log-in password from stdin.")] = False,
        contact_rank: Annotated[int, typer.Option(help="Escalation order among the party's commanders.")] = 0,
        language: Annotated[str | None, typer.Option(help="en, ar, tr or he (default: the party's).")] = None,
        scope: Annotated[list[str] | None, typer.Option(help="Machine clients: a scope they may hold.")] = None,
        db: Db = None,
    ) -> None:
        """Add a user (liaison officer, commander/approver, read-only) or a machine client."""
        password = sys.stdin.readline().rstrip("\n") if password_stdin else None
        try:
            with _service(db) as service:
                doc = service.add_user(
                    user_id,
                    party_id,
                    role,
                    display_name=display_name,
                    password=password,
                    contact_rank=contact_rank,
                    language=language,
                    scopes=scope,
                )
        except DeconflictError as e:
            raise _fail(e) from None
        console.print(f"user {doc['id']} ({doc['role']} of {doc['party']}) added")

    @user.command("list")
    def user_list(party_id: Annotated[str | None, typer.Option("--party")] = None, db: Db = None) -> None:
        """List users."""
        table = Table("id", "party", "role", "name", "language", "rank", "active")
        with _service(db) as service:
            found = service.list_users(party_id)
        for u in found:
            table.add_row(
                u["id"],
                u["party"],
                u["role"],
                u["display_name"],
                u["language"],
                str(u["contact_rank"]),
                str(u["active"]),
            )
        console.print(table)

    @user.command("deactivate")
    def user_deactivate(user_id: str, db: Db = None) -> None:
        """Deactivate a user: their tokens stop working at once."""
        try:
            with _service(db) as service:
                service.deactivate_user(user_id)
        except DeconflictError as e:
            raise _fail(e) from None
        console.print(f"user {user_id} deactivated")

    # --- tokens and keys --------------------------------------------------------------

    @token.command("issue")
    def token_issue(
        user_id: Annotated[str, typer.Argument(help="The user or machine client.")],
        ttl: Annotated[str, typer.Option(help="Lifetime: 30m, 12h, 7d …")] = "12h",
        scope: Annotated[
            list[str] | None, typer.Option(help="Narrow the scopes (default: all the role allows).")
        ] = None,
        db: Db = None,
    ) -> None:
        """Issue a bearer token (printed on stdout, nothing else)."""
        try:
            lifetime = _duration(ttl)
            with _service(db) as service:
                doc = service.issue_token(user_id, ttl=lifetime, scopes=scope)
        except DeconflictError as e:
            raise _fail(e) from None
        print(doc["access_token"])
        err.print(
            f"token for {doc['user']} ({doc['party']}), scopes {' '.join(doc['scopes'])}, expires {doc['expires_at']}"
        )

    @key.command("rotate")
    def key_rotate(db: Db = None) -> None:
        """Start signing tokens with a new key (tokens signed with older keys stay valid)."""
        with _service(db) as service:
            kid = service.rotate_key()["kid"]
        console.print(f"new signing key {kid}")

    @key.command("trust")
    def key_trust(
        issuer: Annotated[str, typer.Argument(help="The external issuer's `iss`.")],
        public_key: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="Its public key (PEM).")],
        audience: Annotated[str, typer.Option(help="The `aud` its tokens carry for us.")] = "deconflict-api",
        algorithm: Annotated[list[str] | None, typer.Option(help="Accepted algorithms.")] = None,
        party_claim: Annotated[str, typer.Option(help="Claim naming the party.")] = "party",
        db: Db = None,
    ) -> None:
        """Trust an external identity provider's tokens."""
        try:
            with _service(db) as service:
                service.add_trusted_issuer(
                    issuer,
                    audience,
                    public_key.read_bytes(),
                    algorithms=tuple(algorithm or ("RS256", "ES256", "EdDSA")),
                    party_claim=party_claim,
                )
        except DeconflictError as e:
            raise _fail(e) from None
        console.print(f"trusting {issuer}")

    # --- policy -------------------------------------------------------------------------

    @policy.command("show")
    def policy_show(db: Db = None) -> None:
        """Print the policy (JSON)."""
        with _service(db) as service:
            doc = service.get_policy()
        print(json.dumps(doc, indent=2))

    @policy.command("set")
    def policy_set(file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)], db: Db = None) -> None:
        """Replace the policy with a JSON document (see `policy show` for the shape)."""
        try:
            doc = json.loads(file.read_text(encoding="utf-8"))
            with _service(db) as service:
                service.set_policy(doc)
        except json.JSONDecodeError as e:
            err.print(f"[red]error[/red] {file}: not JSON ({e.msg}, line {e.lineno})")
            raise typer.Exit(2) from None
        except DeconflictError as e:
            raise _fail(e) from None
        console.print("policy replaced")

    # --- GeoJSON ------------------------------------------------------------------------

    @app.command("import")
    def import_(
        file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="GeoJSON FeatureCollection.")],
        as_user: Annotated[str, typer.Option("--as", help="The user filing them.")],
        db: Db = None,
    ) -> None:
        """Import activities (as drafts) and zones from GeoJSON — all, or none on the first error."""
        try:
            document = json.loads(file.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            err.print(f"[red]error[/red] {file}: not JSON ({e})")
            raise typer.Exit(2) from None
        with _service(db) as service:
            try:
                who = service.principal_for(as_user)
                entries = import_entries(document, who)
                with Progress(
                    TextColumn("importing"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TimeElapsedColumn(),
                    console=err,
                    transient=True,
                ) as bar:
                    task = bar.add_task("import", total=len(entries))
                    _, body = service.import_items(who, entries, progress=lambda n: bar.update(task, completed=n))
            except DeconflictError as e:
                raise _fail(e) from None
        conflicts = sum(c["conflicts"] for c in body["created"])
        console.print(f"imported {len(body['created'])} item(s); {conflicts} conflict(s) found")

    @app.command("export")
    def export(
        file: Annotated[Path, typer.Argument(dir_okay=False, help="Where to write the FeatureCollection.")],
        as_user: Annotated[str, typer.Option("--as", help="Whose view to export (need-to-know applies).")],
        item_type: Annotated[str, typer.Option("--type", help="activity or zone")] = "activity",
        db: Db = None,
    ) -> None:
        """Export the activities or zones a user may see as GeoJSON."""
        if item_type not in ("activity", "zone"):
            err.print(f"[red]error[/red] --type: must be 'activity' or 'zone', not {item_type!r}")
            raise typer.Exit(2)
        docs: list[dict[str, Any]] = []
        with _service(db) as service:
            try:
                who = service.principal_for(as_user)
                cursor = None
                with Progress(
                    TextColumn("exporting"), BarColumn(), MofNCompleteColumn(), console=err, transient=True
                ) as bar:
                    task = bar.add_task("export", total=None)
                    while True:
                        page = service.list_items(who, item_type, limit=1000, cursor=cursor)
                        docs += page["items"]
                        bar.update(task, completed=len(docs))
                        cursor = page["next_cursor"]
                        if cursor is None:
                            break
            except DeconflictError as e:
                raise _fail(e) from None
        file.write_text(json.dumps(geojson_of(docs)), encoding="utf-8")
        console.print(f"wrote {len(docs)} {item_type}(s) to {file}")
