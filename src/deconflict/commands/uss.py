"""``deconflict uss …``: ASTM F3548-21 DSS clients — the authority whose tokens they carry
and which party each client acts for.

An F3548 client (a USS) calls ``/dss/v1`` with an RS256 token of an external authority:
``aud`` is the DSS's host name and the token names no party, only its client (``sub``).
``add-issuer`` trusts such an authority (its public key, the host names accepted as
``aud``, optionally the longest token lifetime accepted), ``add-client`` binds an
issuer's ``sub`` to a member party (every client needs its binding: a token whose
``(iss, sub)`` is not bound is refused, even if its ``sub`` names a party), ``list`` shows
both and the parties registered with ``--protocol f3548``.  An F3548 client uses only
``/dss/v1``: the native API (``/v1``) refuses its tokens.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..errors import DeconflictError, ValidationError
from . import DURATION_UNITS, AsJson, Db, _fail, _service, amount, console

__all__ = ["register"]

# the service's field → the option a person typed
_OPTIONS = {
    "public_key_pem": "--public-key",
    "algorithms": "--algorithm",
    "audiences": "--audience",
    "max_ttl_s": "--max-ttl",
    "party": "--party",
    "issuer": "issuer",
    "audience": "host",
}


def _option_error(e: DeconflictError, *, issuer_option: bool = False) -> typer.Exit:
    field = e.field.split("[", 1)[0]
    name = "--issuer" if issuer_option and field == "issuer" else _OPTIONS.get(field, e.field)
    return _fail(ValidationError(name, e.reason))


def _read_pem(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise ValidationError(
            "--public-key", f"{path}: cannot be read ({e.strerror or e.__class__.__name__})"
        ) from None


def register(app: typer.Typer) -> None:
    """Add ``deconflict uss …`` to ``app``."""
    uss = typer.Typer(help="ASTM F3548-21 DSS clients: their token authority and parties.", no_args_is_help=True)
    app.add_typer(uss, name="uss")

    @uss.command("add-issuer")
    def add_issuer(
        issuer: Annotated[str, typer.Argument(help="The authority's `iss`, e.g. https://auth.example.com.")],
        host: Annotated[str, typer.Argument(help="This DSS's host name, the `aud` its tokens carry.")],
        public_key: Annotated[Path, typer.Option(dir_okay=False, help="The authority's public key (PEM, RSA ≥ 2048).")],
        audience: Annotated[
            list[str] | None, typer.Option(help="A further accepted `aud` (another host name); repeatable.")
        ] = None,
        max_ttl: Annotated[
            str | None, typer.Option(help="Refuse tokens living longer than this (1h, 3600s …); default: no limit.")
        ] = None,
        algorithm: Annotated[list[str] | None, typer.Option(help="Accepted algorithms (default RS256).")] = None,
        db: Db = None,
    ) -> None:
        """Trust an F3548 authority: its tokens' `sub` is the client, bound to a party by add-client."""
        try:
            ttl = amount(max_ttl, DURATION_UNITS, "--max-ttl", "e.g. 1h or 3600s") if max_ttl is not None else None
            pem = _read_pem(public_key)
            with _service(db) as service:
                doc = service.add_trusted_issuer(
                    issuer,
                    host,
                    pem,
                    algorithms=tuple(algorithm or ("RS256",)),
                    party_from="sub",
                    audiences=tuple(audience or ()),
                    max_ttl_s=ttl,
                )
        except DeconflictError as e:
            raise _option_error(e) from None
        hosts = ", ".join([doc["audience"], *doc["audiences"]])
        console.print(f"trusting {doc['issuer']} for F3548 clients (aud {hosts})")

    @uss.command("add-client")
    def add_client(
        sub: Annotated[str, typer.Argument(help="The client's `sub` in the authority's tokens.")],
        party_id: Annotated[str, typer.Option("--party", help="The member party it acts for.")],
        issuer: Annotated[str, typer.Option("--issuer", help="The authority (as added by add-issuer).")],
        db: Db = None,
    ) -> None:
        """Bind an F3548 client to the party it acts for (again: move it to another party)."""
        try:
            with _service(db) as service:
                doc = service.add_uss_client(sub, party_id, issuer=issuer)
        except DeconflictError as e:
            raise _option_error(e, issuer_option=True) from None
        console.print(f"client {doc['sub']} of {doc['issuer']} acts for {doc['party']}")

    @uss.command("list")
    def list_(as_json: AsJson = False, db: Db = None) -> None:
        """The F3548 authorities, the clients bound to parties and the F3548 parties."""
        with _service(db) as service:
            issuers = [i for i in service.list_trusted_issuers() if i["party_from"] == "sub"]
            clients = service.list_uss_clients()
            parties = [p for p in service.list_parties() if p["protocol"] == "f3548"]
        if as_json:
            print(json.dumps({"issuers": issuers, "clients": clients, "parties": parties}, indent=2))
            return
        table = Table("issuer", "aud", "algorithms", "max ttl (s)", title="F3548 authorities")
        for i in issuers:
            ttl = "" if i["max_ttl_s"] is None else f"{i['max_ttl_s']:g}"
            table.add_row(i["issuer"], ", ".join([i["audience"], *i["audiences"]]), ", ".join(i["algorithms"]), ttl)
        console.print(table)
        table = Table("issuer", "sub", "party", "since", title="F3548 clients")
        for c in clients:
            table.add_row(c["issuer"], c["sub"], c["party"], c["created_at"])
        console.print(table)
        table = Table("id", "name", "role", title="F3548 parties")
        for p in parties:
            table.add_row(p["id"], p["name"], p["role"])
        console.print(table)

    @uss.command("settings")
    def settings_(
        assign: Annotated[
            list[str] | None,
            typer.Option(
                "--set",
                help="KEY=VALUE, e.g. native_base_url=https://dss.example.com/native or max_area_km2=500 "
                "(repeatable; the others keep their values).",
            ),
        ] = None,
        as_json: AsJson = False,
        db: Db = None,
    ) -> None:
        """Show the DSS settings (limits, the kinds behind intents and constraints, the URL
        at which this service answers for the native parties' items); change some."""
        try:
            with _service(db) as service:
                current = service.get_dss_settings()
                if assign:
                    changed = dict(current)
                    for n, item in enumerate(assign):
                        key, sep, raw = item.partition("=")
                        if not sep or key not in current:
                            raise ValidationError(
                                f"--set[{n}]", f"{item!r}: give KEY=VALUE with KEY one of {sorted(current)}"
                            )
                        changed[key] = _typed(raw, current[key], f"--set[{n}]")
                    current = service.set_dss_settings(changed, by="cli")
        except DeconflictError as e:
            raise _fail(ValidationError(e.field.replace("dss.", "--set ", 1), e.reason)) from None
        if as_json:
            print(json.dumps(current, indent=2))
            return
        table = Table("setting", "value", title="DSS settings")
        for key, value in current.items():
            table.add_row(key, str(value))
        console.print(table)


def _typed(raw: str, like: object, field: str) -> object:
    """``raw`` as the type of the setting's current value ``like``."""
    if isinstance(like, str):
        return raw
    try:
        return int(raw) if isinstance(like, int) else float(raw)
    except ValueError:
        raise ValidationError(field, f"{raw!r} is not a number") from None
