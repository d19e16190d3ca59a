"""What a write changed: the rows of the recorded tables, captured in the write unit.

Every state change must reach the joint record, and no use case may forget to put it
there, so the record is not written by the use cases: while a write transaction runs,
:class:`Capture` watches every ``INSERT``, ``UPDATE`` and ``DELETE`` statement the
write unit's connection executes (a SQLAlchemy ``before_execute`` listener on the
store's writer engine — see :class:`~deconflict.service.ledger.LedgerMixin`) and notes
which rows of which recorded tables it touches:

* ``INSERT``: the primary key from the statement's parameters; for the tables whose
  key the database assigns (``events.seq``, ``conflict_notes.id``, ``access_log.id``,
  ``incident_notes.id``) a placeholder per inserted row, resolved just before commit
  to the rows with a key above the largest key the table had before this
  transaction's first insert (the write lock makes them this transaction's own);
* ``UPDATE``: first ``SELECT`` the keys its ``WHERE`` matches (same parameters);
* ``DELETE``: the same, keeping the row as it was (who could see it decides who may
  see that it went).

Just before commit, :meth:`Capture.changed` reads each touched row once, in the order
the rows were first touched (a parent before its children, as the foreign keys
required when they were written): a row that is there is recorded as it now is
(``upsert``), one that is gone as a ``delete`` — and one both inserted and deleted by
the same write not at all.

A statement the capture cannot read (raw SQL text that changes data, an
``INSERT … SELECT``, an insert whose key is computed by SQL) is refused with a
``RuntimeError``: a write the record cannot see must not happen.

This module also says what the record holds of a row: :func:`row_document` gives its
columns as JSON (times as RFC 3339 UTC with microseconds), without the columns that are
never recorded (:data:`SECRET`); :data:`SENSITIVE` names the columns recorded only as
commitments, their values going to their owner in a ``private`` entry.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.dml import Delete, Insert, Update
from sqlalchemy.sql.elements import TextClause

from ..ledger import format_at
from ..store.schema import metadata

__all__ = ["LEDGERED", "SECRET", "SENSITIVE", "Capture", "Change", "Row", "key_of", "row_document"]

#: Tables never in the record: stored responses, and the record's own tables.
NOT_LEDGERED: Final = frozenset({"idempotency", "ledger_entries", "tree_heads", "alembic_version"})

#: Every recorded table, parents before children (foreign-key order).
LEDGERED: Final[dict[str, sa.Table]] = {t.name: t for t in metadata.sorted_tables if t.name not in NOT_LEDGERED}

#: Columns never recorded at all (secrets the service holds).
SECRET: Final[Mapping[str, frozenset[str]]] = {
    "users": frozenset({"password_hash"}),
    "signing_keys": frozenset({"private_pem"}),
    "ledger_keys": frozenset({"private_key"}),
}

#: Columns recorded only as commitments, grouped by the column naming their owner
#: (``"item"``: the party of the item ``item_id`` points at).  One ``private`` entry
#: per group carries the values to the owner (and the mediators).
SENSITIVE: Final[Mapping[str, tuple[tuple[str, tuple[str, ...]], ...]]] = {
    "items": (("party_id", ("notes", "version")),),
    "item_versions": (("item", ("version", "document")),),
    "conflicts": (("party_a", ("version_a",)), ("party_b", ("version_b",))),
    "notices": (("sender_party", ("item_version",)),),
}

#: Tables whose primary key the database assigns.
AUTOINCREMENT: Final[dict[str, sa.Column[Any]]] = {
    name: t.autoincrement_column for name, t in LEDGERED.items() if t.autoincrement_column is not None
}

_PK_NAMES: Final = {name: tuple(c.name for c in t.primary_key.columns) for name, t in LEDGERED.items()}
_COLUMNS: Final = {
    name: tuple(c.name for c in t.columns if c.name not in SECRET.get(name, ())) for name, t in LEDGERED.items()
}
# the capture's own queries, built once (building a statement costs more than running it)
_MAX: Final = {name: sa.select(sa.func.coalesce(sa.func.max(col), 0)) for name, col in AUTOINCREMENT.items()}
_AFTER: Final = {
    name: sa.select(LEDGERED[name]).where(col > sa.bindparam("base")).order_by(col)
    for name, col in AUTOINCREMENT.items()
}
_BY_KEYS: Final = {
    name: sa.select(t).where(
        (t.primary_key.columns[0] if len(t.primary_key.columns) == 1 else sa.tuple_(*t.primary_key.columns)).in_(
            sa.bindparam("keys", expanding=True)
        )
    )
    for name, t in LEDGERED.items()
}
_TEXT_DML = re.compile(r"^\s*(insert|update|delete|replace|upsert|merge)\b", re.IGNORECASE)
_CHUNK = 500

Key = tuple[Any, ...]
Row = Mapping[Any, Any]  # a stored row (SQLAlchemy's RowMapping) or its values by column name


def json_value(value: Any) -> Any:
    return format_at(value) if isinstance(value, datetime) else value


def row_document(table: str, row: Row) -> dict[str, Any]:
    """A stored row as the record holds it: JSON values, no secret columns."""
    return {name: json_value(row[name]) for name in _COLUMNS[table]}


def key_of(table: str, row: Row) -> Key:
    return tuple(row[name] for name in _PK_NAMES[table])


def pk_names(table: str) -> tuple[str, ...]:
    return _PK_NAMES[table]


class Change:
    """One row a write changed: ``row`` as it is now (``None``: deleted), ``before``
    (as it was, for a deleted row the write saw go)."""

    __slots__ = ("before", "key", "row", "table")

    def __init__(self, table: str, key: Key, row: Row | None, before: Row | None) -> None:
        self.table = table
        self.key = key
        self.row = row
        self.before = before


class Capture:
    """The rows one write transaction touches (see the module's docstring)."""

    __slots__ = ("_baseline", "_before", "_busy", "_markers", "_new", "_touched", "conn")

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        # (table, key) → None, in first-touch order; a key ("#", n) is a placeholder for
        # the next n rows the database numbers in an AUTOINCREMENT table
        self._touched: dict[tuple[str, Key], None] = {}
        self._new: set[tuple[str, Key]] = set()  # first touched by an insert
        self._before: dict[tuple[str, Key], Row] = {}
        self._baseline: dict[str, int] = {}
        self._markers = 0
        self._busy = False

    @property
    def empty(self) -> bool:
        return not self._touched

    def touch(self, table: str, key: Key, *, new: bool = False) -> None:
        entry = (table, key)
        if entry not in self._touched:
            self._touched[entry] = None
            if new:
                self._new.add(entry)

    def touch_all(self, table: str) -> None:
        """Every row of ``table`` (adopting a database that had state before its record began)."""
        t = LEDGERED[table]
        for r in self._select(sa.select(*t.primary_key.columns).order_by(*t.primary_key.columns)):
            self.touch(table, tuple(r))

    # --- watching statements --------------------------------------------------------

    def watch(self, clause: Any, multiparams: Sequence[Mapping[str, Any]], params: Mapping[str, Any]) -> None:
        """Note what ``clause`` (about to run on :attr:`conn`) will change."""
        if self._busy:
            return
        if isinstance(clause, TextClause):
            if _TEXT_DML.match(clause.text):
                raise RuntimeError(f"the joint record cannot see what raw SQL changes: {clause.text[:60]!r}")
            return
        if not isinstance(clause, Insert | Update | Delete):
            return
        table = clause.table
        if not isinstance(table, sa.Table) or table.name not in LEDGERED:
            return
        param_sets: Sequence[Mapping[str, Any]] = multiparams or [params]
        self._busy = True
        try:
            if isinstance(clause, Insert):
                self._watch_insert(table, clause, param_sets)
            else:
                self._watch_change(table, clause, param_sets)
        finally:
            self._busy = False

    def _watch_insert(self, table: sa.Table, clause: Insert, param_sets: Sequence[Mapping[str, Any]]) -> None:
        name = table.name
        if getattr(clause, "select", None) is not None:
            raise RuntimeError(f"the joint record cannot see an INSERT … SELECT into {name}")
        fixed: dict[str, Any] = {}
        for k, v in (clause._values or {}).items():
            col = k if isinstance(k, str) else getattr(k, "key", str(k))
            fixed[col] = v.value if isinstance(v, sa.BindParameter) else v
        rows: list[Mapping[str, Any]]
        multi: Any = clause._multi_values
        if multi:
            rows = [
                {(k if isinstance(k, str) else k.key): getattr(v, "value", v) for k, v in values.items()}
                for values in multi[0]
            ]
        else:
            rows = [{**fixed, **ps} for ps in param_sets]
        names = _PK_NAMES[name]
        for values in rows:
            if all(n in values and not isinstance(values[n], sa.ClauseElement) for n in names):
                self.touch(name, tuple(values[n] for n in names), new=True)
            elif name in AUTOINCREMENT:
                if name not in self._baseline:
                    self._baseline[name] = int(self.conn.execute(_MAX[name]).scalar_one())
                self._markers += 1
                self.touch(name, ("#", self._markers), new=True)
            else:
                raise RuntimeError(f"the joint record cannot tell which row of {name} this insert writes")

    def _watch_change(self, table: sa.Table, clause: Update | Delete, param_sets: Sequence[Mapping[str, Any]]) -> None:
        name = table.name
        delete = isinstance(clause, Delete)
        query = sa.select(table) if delete else sa.select(*table.primary_key.columns)
        where = clause.whereclause
        if where is not None:
            query = query.where(where)
        for ps in param_sets:
            for r in self.conn.execute(query, dict(ps)):
                if delete:
                    m = r._mapping
                    key = key_of(name, m)
                    self._before.setdefault((name, key), dict(m))
                else:
                    key = tuple(r)
                self.touch(name, key)

    def _select(self, query: Any) -> Iterator[Any]:
        self._busy = True
        try:
            yield from self.conn.execute(query).all()
        finally:
            self._busy = False

    # --- what changed ---------------------------------------------------------------

    def changed(self) -> list[Change]:
        """Every touched row, read once, in first-touch order (see the module's docstring)."""
        self._busy = True
        try:
            numbered: dict[str, list[Key]] = {}
            found: dict[tuple[str, Key], Row] = {}
            for name, base in self._baseline.items():
                numbered[name] = []
                for r in self.conn.execute(_AFTER[name], {"base": base}):
                    key = key_of(name, r._mapping)
                    numbered[name].append(key)
                    found[(name, key)] = r._mapping
            order: list[tuple[str, Key]] = []
            seen: set[tuple[str, Key]] = set()
            pending_markers = {name: 0 for name in self._baseline}
            for name, key in self._touched:
                if key and key[0] == "#":
                    pending_markers[name] += 1
            for name, key in self._touched:
                if key and key[0] == "#":
                    pending_markers[name] -= 1
                    fresh = numbered[name]
                    # this placeholder's row; the table's last placeholder takes any left over
                    take = fresh[:1] if pending_markers[name] else fresh
                    numbered[name] = fresh[len(take) :]
                    for k in take:
                        self._new.add((name, k))
                        if (name, k) not in seen:
                            seen.add((name, k))
                            order.append((name, k))
                elif (name, key) not in seen:
                    seen.add((name, key))
                    order.append((name, key))
            rows = self._read([k for k in order if k not in found], found)
            out = []
            for name, key in order:
                row = rows.get((name, key))
                if row is None and (name, key) in self._new:
                    continue  # inserted and deleted by this write: never was
                out.append(Change(name, key, row, self._before.get((name, key))))
            return out
        finally:
            self._busy = False

    def _read(self, wanted: list[tuple[str, Key]], found: dict[tuple[str, Key], Row]) -> dict[tuple[str, Key], Row]:
        """``found`` and the rows at ``wanted``'s keys as they are now: one query per table (and 500 keys)."""
        by_table: dict[str, list[Key]] = {}
        for name, key in wanted:
            by_table.setdefault(name, []).append(key)
        for name, keys in by_table.items():
            single = len(_PK_NAMES[name]) == 1
            for i in range(0, len(keys), _CHUNK):
                chunk = keys[i : i + _CHUNK]
                for r in self.conn.execute(_BY_KEYS[name], {"keys": [k[0] for k in chunk] if single else chunk}):
                    m = r._mapping
                    found[(name, key_of(name, m))] = m
        return found
