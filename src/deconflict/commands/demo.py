"""``deconflict demo`` — the service on a synthetic day, with simulated liaison clients.

It builds a fictional theatre (:mod:`deconflict.demo.theatre`), writes the day so far
into a fresh embedded SQLite database through the service (:mod:`deconflict.demo.stage`),
prints the URL and the people's log-ins (passwords drawn afresh at every start), starts
the simulated operations cells of both members and of the UTM service supplier — a USS
whose drone flights go through the ASTM F3548-21 DSS interface (:mod:`deconflict.demo.liaison`,
:mod:`deconflict.demo.uss`) — and serves the API (native ``/v1``, DSS ``/dss/v1``) and the
web UI until Ctrl-C (or ``--duration`` seconds).

The database file (``--db``, ``./deconflict-demo.db`` by default) is replaced at every
start — but only when it is a previous demo's; any other file is left alone.
"""

from __future__ import annotations

import secrets
import socket
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from ..service import ManualClock, Service, open_service
from . import err

__all__ = ["register"]

DEFAULT_DB = Path("deconflict-demo.db")


def _sqlite_path(db: str) -> Path:
    if "://" in db:
        if not db.startswith("sqlite:///"):
            raise typer.BadParameter("the demo runs on the embedded SQLite store: give a file path", param_hint="--db")
        db = db.removeprefix("sqlite:///")
    path = Path(db)
    if path.is_dir():
        raise typer.BadParameter(f"{db} is a directory: give a file path", param_hint="--db")
    return path


def _clear(path: Path, parties: set[str], *earlier: set[str]) -> None:
    """Remove ``path`` (and its SQLite side files) if it is a previous demo's database:
    one with ``parties``, or the parties of an ``earlier`` demo."""
    if path.exists():
        try:
            old = open_service(f"sqlite:///{path}", initialise=False)
            try:
                # a demo's parties — or none yet: a demo stopped while it was being written
                ours = old.store.current_revision() is not None and {p["id"] for p in old.list_parties()} in (
                    parties,
                    *earlier,
                    set(),
                )
            finally:
                old.store.dispose()
        except Exception:  # not SQLite, not ours, unreadable: all the same here
            ours = False
        if not ours:
            raise typer.BadParameter(
                f"{path} exists and is not a deconflict demo database; it is left alone: give another path",
                param_hint="--db",
            )
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _check_port(host: str, port: int) -> None:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as e:
        raise typer.BadParameter(f"cannot resolve {host!r}: {e.strerror or e}", param_hint="--host") from None
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(address)
        except OSError as e:
            raise typer.BadParameter(
                f"cannot listen on {host}:{port} ({e.strerror or e}); choose another port", param_hint="--port"
            ) from None


def _check_tile_url(tile_url: str | None) -> None:
    """The web UI's own check of ``--tile-url``, before anything is written."""
    from ..api.web import check_tile_url

    try:
        check_tile_url(tile_url)
    except ValueError as e:
        raise typer.BadParameter(str(e).removeprefix("tile_url: "), param_hint="--tile-url") from None


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        db: Annotated[
            str,
            typer.Option(help="SQLite file for the demo; replaced at every start (only if a previous demo's)."),
        ] = str(DEFAULT_DB),
        host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
        seed: Annotated[int, typer.Option(help="Scenario seed (same seed, same day).")] = 7,
        activities: Annotated[
            int, typer.Option(min=1, max=5000, help="Activities in the day (a few hundred start in seconds).")
        ] = 300,
        clients: Annotated[
            bool, typer.Option("--clients/--no-clients", help="Run the simulated liaison clients.")
        ] = True,
        tile_url: Annotated[
            str | None,
            typer.Option(help="Online map tiles ({z}/{x}/{y} URL) over the offline basemap."),
        ] = None,
        duration: Annotated[
            float | None, typer.Option(min=1.0, help="Stop after this many seconds (default: run until Ctrl-C).")
        ] = None,
        log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "warning",
    ) -> None:
        """Serve a synthetic day — two members, a mediator, an observer, a fictional theatre,
        live simulated liaison clients — and print the URL and the log-ins to open it with."""
        import uvicorn

        from ..api import create_app
        from ..demo.liaison import Simulator
        from ..demo.stage import stage
        from ..demo.theatre import build

        t0 = time.perf_counter()
        path = _sqlite_path(db)
        _check_port(host, port)
        _check_tile_url(tile_url)
        scenario = build(seed, activities, datetime.now(UTC))
        ids = {p.id for p in scenario.parties}
        _clear(path, ids, ids - {p.id for p in scenario.parties if p.protocol != "native"})  # before the USS came
        site = f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"
        url = f"sqlite:///{path}"
        clock = ManualClock(scenario.start)
        history = open_service(url, clock=clock)
        service: Service | None = None
        try:
            service = open_service(url, initialise=False)
            application = create_app(service, scheduler_interval_s=1.0, tile_url=tile_url)
            people = [u for u in scenario.users if not u.simulated]
            passwords = {u.id: secrets.token_urlsafe(12) for u in people}
            staged = stage(history, clock, scenario, passwords, native_base_url=f"{site}native")
        except BaseException:
            if service is not None:
                service.store.dispose()
            raise
        finally:
            history.store.dispose()

        names = {p.id: p.name for p in scenario.parties}
        uss = staged.uss
        lines = [
            "deconflict demo — a synthetic day in a fictional theatre (every name and place is invented)",
            f"database   {path} (replaced at every start)",
            f"scenario   seed {seed}: {len(scenario.parties)} parties, {staged.items['zone']} zones, "
            f"{staged.items['activity']} activities, {sum(staged.states.values())} conflicts "
            f"({', '.join(f'{n} {s}' for s, n in sorted(staged.states.items()))}), "
            f"{staged.threads} hotline threads, {staged.incidents} incident(s)",
            *(
                [
                    f"uss        {uss.party} ({names[uss.party]}): {len(uss.flights)} drone operational intents "
                    f"written on the DSS ({_states(uss.states())}); {uss.conflicted} writes refused for want of "
                    f"a key, made again once the missing OVNs were learnt ({uss.learnt} read from the members' "
                    "items, recorded as opened)",
                ]
                if uss is not None
                else []
            ),
            f"dss        {site}dss/v1 (ASTM F3548-21); the members' items answered for at {site}native/uss/v1",
            "clients    "
            + (
                ", ".join(f"{u.id} ({names[u.party]})" for u in scenario.users if u.simulated)
                + " — simulated: file, acknowledge, answer, heartbeat"
                + (
                    f"; {uss.principal.user_id} ({names[uss.party]}) — simulated USS: drone intents filed, "
                    "activated, ended"
                    if uss is not None
                    else ""
                )
                if clients
                else "none (--no-clients)"
            ),
            *(f"refused    {line}" for line in staged.refused),  # none, unless the agreement changed
            f"ready in   {time.perf_counter() - t0:.1f} s",
            *(
                []
                if host in ("127.0.0.1", "localhost", "::1")
                else [f"warning    listening on {host}: anyone who can reach it can sign in with the passwords below"]
            ),
            "",
            f"Open {site} and sign in as one of (passwords for this run only):",
            "",
            _table(people, names, passwords),
            *(
                [f"  ({uss.party}, {names[uss.party]}, has no log-in: a USS acts on /dss/v1 with its client's token)"]
                if uss is not None
                else []
            ),
            "",
            "Ctrl-C to stop." if duration is None else f"Stopping after {duration:g} s.",
        ]
        print("\n".join(lines), flush=True)

        simulator = Simulator(service, scenario, uss=uss) if clients else None
        server = uvicorn.Server(
            uvicorn.Config(application, host=host, port=port, log_level=log_level, ws_ping_interval=20.0)
        )
        timer = None
        if duration is not None:
            timer = threading.Timer(duration, lambda: setattr(server, "should_exit", True))
            timer.daemon = True
            timer.start()
        try:
            if simulator is not None:
                simulator.start()
            server.run()
        except KeyboardInterrupt:
            pass  # Ctrl-C: uvicorn has shut down; stop the clients below and exit normally
        finally:
            if timer is not None:
                timer.cancel()
            if simulator is not None:
                simulator.stop()
            service.store.dispose()
        if not server.started:
            err.print(f"[red]error[/red] --port: the server could not start on {host}:{port}")
            raise typer.Exit(2)
        print("deconflict demo stopped.", flush=True)


def _states(counts: dict[str, int]) -> str:
    order = ("Accepted", "Activated", "Nonconforming", "Contingent", "Ended")
    return ", ".join(f"{counts[s]} {s}" for s in order if counts.get(s))


def _table(people: list[Any], names: dict[str, str], passwords: dict[str, str]) -> str:
    rows = [("user", "party", "role", "language", "password")]
    rows += [(u.id, names[u.party], u.role, u.language, passwords[u.id]) for u in people]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)
