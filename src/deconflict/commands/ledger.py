"""``deconflict ledger …``: export, verify, replay, tree-head, keys, keygen — the joint record
from the command line.

``verify`` needs no server and no database (it never opens one): a party checks its own
copy with it, trusting nothing but the file, a tree head it kept and, optionally, the
service's first public key.  Every other command is a thin layer over the service
(``--db``), like the rest of the service's commands.
"""

from __future__ import annotations

import base64
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ..errors import DeconflictError, ValidationError
from . import AsJson, Db, _fail, _service, console, err

__all__ = ["register"]

OptionalAs = Annotated[
    str | None, typer.Option("--as", help="Act as this user (need-to-know applies); default: the operator.")
]
RequiredAs = Annotated[str, typer.Option("--as", help="The user acting for its party.")]
File = Annotated[Path, typer.Argument(help="The JSON Lines export.", dir_okay=False)]


def _read_text(path: Path, field: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ValidationError(field, f"{path}: cannot be read ({e.__class__.__name__}: {e})") from None


def _tree_head(path: Path) -> dict[str, Any]:
    """A kept tree head: the object ``ledger tree-head`` writes, or an export's ``{"tree_head": …}`` line."""
    try:
        doc = json.loads(_read_text(path, "tree_head"))
    except json.JSONDecodeError as e:
        raise ValidationError("tree_head", f"{path}: not JSON ({e})") from None
    if isinstance(doc, dict) and isinstance(doc.get("tree_head"), dict):
        doc = doc["tree_head"]
    if not isinstance(doc, dict):
        raise ValidationError("tree_head", f"{path}: not a tree head object")
    return doc


def _state_summary(state: dict[str, list[dict[str, Any]]]) -> str:
    return ", ".join(f"{table}={len(rows)}" for table, rows in sorted(state.items()) if rows) or "empty"


def register(app: typer.Typer) -> None:
    """Add ``deconflict ledger …`` to ``app``."""
    ledger = typer.Typer(help="The joint record: a signed, hash-chained ledger.", no_args_is_help=True)
    keys = typer.Typer(help="Ledger keys: the service's and the parties'.", no_args_is_help=True)
    app.add_typer(ledger, name="ledger")
    ledger.add_typer(keys, name="keys")

    @ledger.command("export")
    def export(
        file: Annotated[Path, typer.Argument(help="Write the JSON Lines export here ('-': stdout).")],
        as_user: OptionalAs = None,
        db: Db = None,
    ) -> None:
        """Export the ledger as JSON Lines: everything (the operator), or one user's party's view (--as)."""
        with _service(db) as service:
            try:
                who = service.principal_for(as_user) if as_user is not None else None
                lines = service.ledger_lines(who)
                count = 0
                if str(file) == "-":
                    for line in lines:
                        sys.stdout.write(line if line.endswith("\n") else line + "\n")
                        count += 1
                else:
                    with file.open("w", encoding="utf-8") as out:
                        for line in lines:
                            out.write(line if line.endswith("\n") else line + "\n")
                            count += 1
            except DeconflictError as e:
                raise _fail(e) from None
        view = f"{as_user}'s party's view" if as_user is not None else "the whole ledger"
        err.print(f"exported {view}: {count} lines to {file}")

    @ledger.command("verify")
    def verify(
        file: File,
        tree_head: Annotated[
            Path | None, typer.Option("--tree-head", help="A tree head kept earlier (JSON): the export must extend it.")
        ] = None,
        service_key: Annotated[
            str | None, typer.Option("--service-key", help="The service's first public key (base64url), to pin it.")
        ] = None,
        signatures: Annotated[
            str,
            typer.Option(
                help="chained (default): every hash and link, the chained signatures, every party signature, "
                "tree head and the last entry's signature — and, if anything is wrong, every signature to find "
                "the first bad entry; all: every entry's signature from the start (slower)."
            ),
        ] = "chained",
    ) -> None:
        """Check an export offline (no server, no database): the hash chain, the signatures,
        the keys' validity, the tree heads, and that a kept tree head is consistent with it."""
        from ..ledger import verify_export

        def run(mode: str) -> Any:
            try:
                handle = file.open(encoding="utf-8")
            except OSError as e:
                raise ValidationError("file", f"{file}: cannot be read ({e.__class__.__name__})") from None
            with handle:
                return verify_export(handle, tree_head=kept, service_key=service_key, signatures=mode)  # type: ignore[arg-type]

        try:
            if signatures not in ("all", "chained"):
                raise ValidationError("signatures", f"{signatures!r}: use all or chained")
            kept = _tree_head(tree_head) if tree_head is not None else None
            report = run(signatures)
            if not report.ok and signatures == "chained":
                # the chained check proves the record was altered; checking every signature
                # says which entry is the first bad one
                report = run("all")
        except DeconflictError as e:
            raise _fail(e) from None
        if report.ok:
            print(f"OK: {report.entries} entries ({report.redacted} redacted), {report.tree_heads} tree heads verified")
            return
        where = f" at entry {report.first_bad}" if report.first_bad is not None else ""
        print(f"FAILED{where}: {report.reason}")
        raise typer.Exit(1)

    @ledger.command("replay")
    def replay(
        file: File,
        db: Annotated[str, typer.Option("--db", help="An empty database to rebuild the state in.")],
        as_json: AsJson = False,
    ) -> None:
        """Rebuild the service's state from an operator export into an empty database."""
        from ..service import open_service
        from ..service.replay import replay as replay_lines
        from ..service.replay import state_of

        service = open_service(db, initialise=False)
        try:
            service.store.migrate()
            if any(state_of(service.store).values()):
                raise _fail(ValidationError("db", "is not empty: replay rebuilds a state into an empty database"))
            try:
                with file.open(encoding="utf-8") as handle:
                    applied = replay_lines(handle, service.store)
            except OSError as e:
                raise _fail(ValidationError("file", f"{file}: cannot be read ({e.__class__.__name__})")) from None
            except DeconflictError as e:
                raise _fail(e) from None
            state = state_of(service.store)
        finally:
            service.store.dispose()
        if as_json:
            print(json.dumps({"applied": applied, "rows": {t: len(r) for t, r in sorted(state.items())}}, indent=2))
            return
        console.print(f"replayed {applied} entries into {db}")
        console.print(f"state: {_state_summary(state)}")

    @ledger.command("tree-head")
    def tree_head_(
        out: Annotated[Path | None, typer.Option("--out", help="Write it to this file (default: stdout).")] = None,
        db: Db = None,
    ) -> None:
        """The latest signed tree head (checkpointing first), as JSON: keep it to verify later exports."""
        with _service(db) as service:
            service.checkpoint()
            heads = service.tree_heads(None, limit=1)["tree_heads"]
        if not heads:
            raise _fail(ValidationError("ledger", "has no entries yet"))
        text = json.dumps(heads[0], indent=2) + "\n"
        if out is None:
            sys.stdout.write(text)
            return
        out.write_text(text, encoding="utf-8")
        err.print(f"tree head of {heads[0]['tree_size']} entries written to {out}")

    @keys.command("list")
    def keys_list(as_json: AsJson = False, db: Db = None) -> None:
        """Every ledger key: the service's and the parties', when registered and revoked."""
        with _service(db) as service:
            found = service.list_ledger_keys()
        if as_json:
            print(json.dumps(found, indent=2))
            return
        table = Table("kid", "owner", "server-side", "created", "revoked", "public key")
        for k in found:
            table.add_row(
                k["kid"], k["owner"], str(k["server_side"]), k["created_at"], k["revoked_at"] or "", k["public_key"]
            )
        console.print(table)

    @keys.command("rotate")
    def keys_rotate(db: Db = None) -> None:
        """Start countersigning the ledger with a new service key (recorded in the ledger)."""
        with _service(db) as service:
            doc = service.rotate_ledger_key()
        console.print(f"new ledger key {doc['kid']}")

    @keys.command("register")
    def keys_register(
        as_user: RequiredAs,
        public_key: Annotated[
            str | None, typer.Option("--public-key", help="The party's client public key (base64url, 32 bytes).")
        ] = None,
        server_side: Annotated[
            bool, typer.Option("--server-side", help="Let the service hold a key and sign the party's writes.")
        ] = False,
        db: Db = None,
    ) -> None:
        """Register a key for the user's party: a client key, or a server-side one."""
        with _service(db) as service:
            try:
                if (public_key is None) == (not server_side):
                    raise ValidationError("public_key", "give --public-key B64, or --server-side (not both)")
                doc = service.register_party_key(service.principal_for(as_user), public_key, server_side=server_side)
            except DeconflictError as e:
                raise _fail(e) from None
        mode = "server-side" if doc["server_side"] else "client"
        console.print(f"registered {mode} key {doc['kid']} for {doc['owner']}")

    @keys.command("revoke")
    def keys_revoke(
        as_user: RequiredAs,
        kid: Annotated[str, typer.Argument(help="The key id.")],
        db: Db = None,
    ) -> None:
        """Revoke one of the user's party's keys (entries after this may not use it)."""
        with _service(db) as service:
            try:
                doc = service.revoke_party_key(service.principal_for(as_user), kid)
            except DeconflictError as e:
                raise _fail(e) from None
        console.print(f"revoked key {doc['kid']} of {doc['owner']}")

    @ledger.command("keygen")
    def keygen(
        out: Annotated[Path, typer.Option("--out", help="Write the private key here (mode 0600).", dir_okay=False)],
    ) -> None:
        """A client key pair for a party: the private key to a file only its owner can read,
        the public key printed (register it with `deconflict ledger keys register`)."""
        from ..ledger import generate_key

        signer = generate_key()
        doc = {
            "kid": signer.kid,
            "public_key": signer.public_b64,
            "private_key": base64.urlsafe_b64encode(signer.private_bytes()).decode().rstrip("="),
        }
        try:
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise _fail(ValidationError("out", f"{out} exists: not overwriting a key")) from None
        except OSError as e:
            raise _fail(ValidationError("out", f"{out}: cannot be written ({e.__class__.__name__})")) from None
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(doc, f)
            f.write("\n")
        print(signer.public_b64)
        err.print(
            f"private key written to {out} (0600); register the public key with `deconflict ledger keys register`"
        )
