"""Rebuild the service's state from the joint record alone.

:func:`replay` applies the operator's export (every entry visible) to a fresh, migrated
database, in order: each ``row`` entry upserts or deletes its row by key; the
``private`` entries that follow it put the sensitive values back in place of their
commitments (each value is checked against its commitment); ``request`` entries change
nothing.  As it goes it checks the chain — each entry's hash recomputed from its
header, its payload hash, and that it names the hash and signature of the entry
before — so a damaged or reordered export is refused at the first bad entry
(``ValidationError`` naming the line).  Signatures and tree heads are
:func:`deconflict.ledger.verify_export`'s job: verify the export first.

The entries and tree heads themselves are copied too, so the rebuilt database can be
exported again (and gives the same export).  What the record never holds is not
rebuilt: password hashes (users log in again after a password is set), the private
part of the token-signing keys (stored empty: issue a new key with
``deconflict key rotate``) and of the record's own keys (so a rebuilt database cannot
sign as the old service: it is a copy to read and check, not a service to go on).

:func:`state_of` is what replay must reproduce: every recorded table's rows, without
the columns the record never holds, as canonical JSON values, sorted by key — so
``state_of(live) == state_of(rebuilt)``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..errors import ValidationError
from ..ledger import EXPORT_FORMAT, Entry, TreeHead, canonical, commitment, sha256_hex
from ..store import Store
from ..store.schema import UTCDateTime, ledger_entries, tree_heads
from .errors import StateConflict
from .ledger_capture import AUTOINCREMENT, LEDGERED, SENSITIVE, key_of, pk_names, row_document

__all__ = ["replay", "state_of"]

#: What a rebuilt row holds for a column the record never carries (NOT NULL ones only).
_ABSENT: Final[Mapping[str, Mapping[str, Any]]] = {"signing_keys": {"private_pem": ""}}
_TIMES: Final = {
    name: frozenset(c.name for c in t.columns if isinstance(c.type, UTCDateTime)) for name, t in LEDGERED.items()
}
_DUMPS = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def _stored(table: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """JSON values as the store takes them (times back to aware datetimes)."""
    times = _TIMES[table]
    return {k: datetime.fromisoformat(v) if k in times and isinstance(v, str) else v for k, v in values.items()}


class _Rebuild:
    """The state of one replay: the row waiting for its private values, the rows present."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.present: set[tuple[str, str]] = set()
        self.pending: dict[str, Any] | None = None  # {"table", "op", "key", "row", "line"}
        self.applied = 0

    def row(self, payload: Mapping[str, Any], line: int) -> None:
        self.flush()
        table = payload.get("table")
        if table not in LEDGERED or payload.get("op") not in ("upsert", "delete"):
            raise ValidationError(f"line {line}", f"a row entry for an unknown table or operation ({table!r})")
        key, row = payload.get("key"), payload.get("row")
        if not isinstance(key, dict) or set(key) != set(pk_names(table)):
            raise ValidationError(f"line {line}", f"the key of a {table} row must name {list(pk_names(table))}")
        if payload["op"] == "upsert" and not isinstance(row, dict):
            raise ValidationError(f"line {line}", "an upsert carries the row")
        self.pending = {
            "table": table,
            "op": payload["op"],
            "key": dict(key),
            "row": dict(row) if isinstance(row, dict) else None,
            "line": line,
        }
        self.applied += 1

    def private(self, payload: Mapping[str, Any], line: int) -> None:
        pending = self.pending
        columns = payload.get("columns")
        if pending is None or payload.get("table") != pending["table"] or payload.get("key") != _committed(pending):
            raise ValidationError(f"line {line}", "a private entry must follow the row entry it belongs to")
        if not isinstance(columns, dict):
            raise ValidationError(f"line {line}", "a private entry carries its columns")
        for name, value in columns.items():
            places = [d for d in (pending["key"], pending["row"]) if d is not None and name in d]
            if not places:
                raise ValidationError(f"line {line}", f"{name!r} is not a column of the row it belongs to")
            for place in places:
                if place[name] != commitment(value):
                    raise ValidationError(f"line {line}", f"the value of {name!r} does not match its commitment")
                place[name] = value
        self.applied += 1

    def flush(self) -> None:
        pending, self.pending = self.pending, None
        if pending is None:
            return
        table, key, row = pending["table"], pending["key"], pending["row"]
        for values in (key, row or {}):
            for name, value in values.items():
                if isinstance(value, str) and value.startswith("sha256:") and _is_commitment_column(table, name):
                    raise ValidationError(f"line {pending['line']}", f"the private value of {table}.{name} is missing")
        t = LEDGERED[table]
        where = [t.c[name] == value for name, value in _stored(table, key).items()]
        ident = (table, canonical(key).decode())
        if pending["op"] == "delete":
            self.conn.execute(t.delete().where(*where))
            self.present.discard(ident)
        elif ident in self.present:
            self.conn.execute(t.update().where(*where).values(_stored(table, row)))
        else:
            self.conn.execute(t.insert().values({**_ABSENT.get(table, {}), **_stored(table, row)}))
            self.present.add(ident)


def _is_commitment_column(table: str, name: str) -> bool:
    return any(name in columns for _, columns in SENSITIVE.get(table, ()))


def _committed(pending: Mapping[str, Any]) -> dict[str, Any]:
    """The key as its row entry showed it (sensitive values as commitments)."""
    key = dict(pending["key"])
    for name, value in key.items():
        if _is_commitment_column(pending["table"], name) and not (
            isinstance(value, str) and value.startswith("sha256:")
        ):
            key[name] = commitment(value)
    return key


def replay(lines: Iterable[str], store: Store) -> int:
    """Rebuild ``store`` (fresh and migrated) from the operator's export ``lines``; the
    number of row and private entries applied."""
    with store.write() as conn:
        for name in (*LEDGERED, "ledger_entries"):
            if conn.execute(sa.select(sa.literal(1)).select_from(sa.table(name)).limit(1)).first() is not None:
                raise StateConflict("database", f"replay needs a fresh database; this one has {name} rows")
        rebuild = _Rebuild(conn)
        prev, prev_sig, seq = None, "", 0
        copied: list[dict[str, Any]] = []
        number = 0
        for number, text in enumerate(lines, start=1):
            if not text.strip():
                continue
            try:
                line = json.loads(text)
            except ValueError:
                raise ValidationError(f"line {number}", "is not JSON") from None
            if number == 1:
                if not isinstance(line, dict) or line.get("format") != EXPORT_FORMAT:
                    raise ValidationError("line 1", f"must be the export header ({EXPORT_FORMAT})")
                if line.get("view") != "*":
                    raise ValidationError("view", "replay needs the operator's export (view \"*\"), not a party's")
                continue
            if isinstance(line, dict) and "tree_head" in line:
                head = TreeHead.from_dict(line["tree_head"])
                conn.execute(tree_heads.insert(), {**head.to_dict(), "at": datetime.fromisoformat(head.at)})
                continue
            try:
                entry = Entry.from_line(line)
            except ValidationError as e:
                raise ValidationError(f"line {number}", f"{e.field}: {e.reason}") from None
            if entry.redacted:
                raise ValidationError(f"line {number}", "is redacted: replay needs the operator's export")
            if entry.seq != seq + 1 or (prev is not None and (entry.prev, entry.prev_sig) != (prev, prev_sig)):
                raise ValidationError(f"line {number}", f"entry {entry.seq} does not follow entry {seq}")
            if sha256_hex(canonical(entry.payload)) != entry.payload_sha256:
                raise ValidationError(f"line {number}", f"entry {entry.seq}: its payload does not match its hash")
            if sha256_hex(canonical(entry.header())) != entry.hash:
                raise ValidationError(f"line {number}", f"entry {entry.seq}: its hash does not match its header")
            seq, prev, prev_sig = entry.seq, entry.hash, entry.sig
            if entry.kind == "row":
                rebuild.row(entry.payload, number)
            elif entry.kind == "private":
                rebuild.private(entry.payload, number)
            else:
                rebuild.flush()
            copied.append(_entry_row(entry))
            if len(copied) >= 1000:
                conn.execute(ledger_entries.insert(), copied)
                copied = []
        rebuild.flush()
        if copied:
            conn.execute(ledger_entries.insert(), copied)
        if store.dialect == "postgresql":  # the database numbers new rows after the rebuilt ones
            for name, column in AUTOINCREMENT.items():
                conn.execute(
                    sa.text(
                        f"SELECT setval(pg_get_serial_sequence('{name}', '{column.name}'), "
                        f"coalesce((SELECT max({column.name}) FROM {name}), 0) + 1, false)"
                    )
                )
        return rebuild.applied


def _entry_row(entry: Entry) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "at": datetime.fromisoformat(entry.at),
        "kind": entry.kind,
        "party": entry.party,
        "user": entry.user,
        "audience": list(entry.audience),
        "payload": _DUMPS(entry.payload),
        "payload_sha256": entry.payload_sha256,
        "prev": entry.prev,
        "prev_sig": entry.prev_sig,
        "kid": entry.kid,
        "hash": entry.hash,
        "sig": entry.sig,
    }


def state_of(store: Store) -> dict[str, list[dict[str, Any]]]:
    """Every recorded table's rows as the record holds them (no secret columns), as
    canonical JSON values, sorted by key."""
    state: dict[str, list[dict[str, Any]]] = {}
    with store.read() as conn:
        for name, table in LEDGERED.items():
            rows = [r._mapping for r in conn.execute(sa.select(table))]
            docs = sorted(rows, key=lambda r: canonical([_json(v) for v in key_of(name, r)]))
            state[name] = [json.loads(canonical(row_document(name, r))) for r in docs]
    return state


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value
