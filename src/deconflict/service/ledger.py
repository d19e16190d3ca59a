"""The joint record, service side: every state change becomes a signed, hash-chained entry.

**What is recorded.**  Every write goes through the write unit (:meth:`ServiceBase._write`),
and the write unit records what it changed (:mod:`.ledger_capture` watches its
statements), so no use case can forget: just before commit, each row the write
changed becomes one ``row`` entry — the row as it now is (``upsert``) or that it is
gone (``delete``) — in the order the rows were first touched.  Sensitive columns (an
item's private notes and version, a version string a conflict or notice holds) appear
in the row only as commitments; their values follow in a ``private`` entry that only
their owner may see.  A request a party signed comes first, as a
``request`` entry (the API sets :attr:`LedgerMixin._pending_request`).  The entries are
inserted in the same transaction as the change (one ``executemany``), so a write that
rolls back leaves no entry, and a committed one cannot lack its entries.

**Who did it.**  Each entry names its actor (party, user): the write's ``principal``
when the use case passes one to the write unit, else the principal its closure acts
for (a use case's ``run`` that names ``principal`` — read from the closure, so no use
case has to remember to pass it); ``null`` for the operator's and the scheduler's
writes.  The signed request (``_pending_request``) is held per thread and per asyncio
task (a ``ContextVar``): set it in the thread that then calls the write.

**Who may see an entry** (its *audience*) follows the service's own need-to-know rules,
decided when the entry is written: an item (and its versions) only its owner while it
is a draft, then the members and mediators (and observers when the owner shares with
them); a notice its sender's audience; a receipt the parties of its subject (a notice's
sender and recipient, a conflict's two parties, a message thread's parties) and the
mediators; a conflict and its notes both parties' audience; an event its own audience;
a thread, its parties and its messages the thread's parties; incidents as incidents
are seen; an ``access_log`` row the reading party and the mediators; parties, users
(never a password hash), settings, liveness and keys (never a private part) everyone.
An audience is fixed when the entry is written: a party that joins a thread later sees
the thread live, but in its export only the entries written after it joined.

**The chain.**  Entry *n* carries the hash and signature of entry *n − 1*; both are
read under the write lock (one indexed ``SELECT`` of the last entry), so several
processes on one database append one chain.  Entries are countersigned by the
service's key; :meth:`rotate_ledger_key` registers a new key (an entry the old key
signs) and revokes the old one (an entry the new key signs), so each key signs only
entries after the one registering it and before the one revoking it.  Keys are
``ledger_keys`` rows, recorded like any other (their private part never).

**Checkpoints.**  :meth:`checkpoint` signs a Merkle tree head (RFC 9162) over the
entries' hashes when entries were added since the last one; the scheduler
(:meth:`tick`) runs it at most every :data:`LEDGER_CHECKPOINT_S`.  The tree is kept in
memory and brought up to date from ``ledger_entries`` when another process appended.

**Export.**  :meth:`ledger_lines` gives the JSON Lines export (docs/ledger.md): a
party's view shows the entries it may not see as hashes only, so the chain and the
tree still verify; every export by a party is written to ``access_log``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..errors import ValidationError
from ..ledger import (
    EXPORT_FORMAT,
    GENESIS_PREV,
    MerkleTree,
    Signer,
    VerifyKey,
    b64url_decode,
    b64url_encode,
    commitment,
    format_at,
    generate_key,
    kid_of,
    make_entry,
    sign_tree_head,
)
from ..store.schema import ledger_entries, ledger_keys, tree_heads
from .core import Body, Principal, Result
from .errors import Forbidden, NotFound, StateConflict
from .ledger_capture import LEDGERED, SENSITIVE, Capture, Change, json_value, pk_names, row_document
from .ledger_rules import Audiences
from .liveness import LivenessMixin

__all__ = ["LEDGER_CHECKPOINT_S", "LedgerMixin"]

LEDGER_CHECKPOINT_S: Final = 10.0
"""How often (at most, in seconds) the scheduler signs a new tree head."""

_PENDING: ContextVar[tuple[int, dict[str, Any]] | None] = ContextVar("deconflict_pending_request", default=None)
_REQUEST_FIELDS: Final = ("method", "path", "request_sha256", "kid", "signature")
_TAIL = (
    sa.select(ledger_entries.c.seq, ledger_entries.c.hash, ledger_entries.c.sig, ledger_entries.c.kid)
    .order_by(ledger_entries.c.seq.desc())
    .limit(1)
)
_SIZE = sa.select(sa.func.coalesce(sa.func.max(ledger_entries.c.seq), 0))
_PAGE = 2000
_MAX_LIMIT = 1000
_DUMPS = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode

Spec = tuple[str, list[str], dict[str, Any], Signer | None]  # kind, audience, payload, service key it registers


def _closure_principal(fn: Callable[..., Any]) -> Principal | None:
    """The principal a use case's closure acts for, when it names one (``principal``)."""
    code = getattr(fn, "__code__", None)
    cells = getattr(fn, "__closure__", None)
    if code is None or not cells or "principal" not in code.co_freevars:
        return None
    try:
        value = cells[code.co_freevars.index("principal")].cell_contents
    except ValueError:  # an empty cell
        return None
    return value if isinstance(value, Principal) else None


def _int(value: Any, field: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValidationError(field, f"must be a whole number from {low} to {high}")
    return value


class LedgerMixin(LivenessMixin):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._capture: Capture | None = None
        self._actor: tuple[str | None, str | None] = (None, None)
        self._request: dict[str, Any] | None = None
        self._signers: dict[str, Signer] = {}
        self._tree = MerkleTree()
        self._tree_lock = threading.Lock()
        self._last_checkpoint: datetime | None = None
        sa.event.listen(self.store.writer, "before_execute", self._on_execute)

    # --- capture (the write unit's hooks) ----------------------------------------------

    @property
    def _pending_request(self) -> dict[str, Any] | None:
        """A signed request for the next write on this thread/task to record (set by the API):
        ``{"method", "path", "request_sha256", "kid", "signature"}``; the write clears it."""
        held = _PENDING.get()
        return held[1] if held is not None and held[0] == id(self) else None

    @_pending_request.setter
    def _pending_request(self, value: dict[str, Any] | None) -> None:
        _PENDING.set((id(self), value) if value is not None else None)

    def _on_execute(self, conn: Connection, clause: Any, multiparams: Any, params: Any, _options: Any) -> None:
        capture = self._capture
        if capture is not None and capture.conn is conn:
            capture.watch(clause, multiparams, params)

    def _ledger_begin(self, conn: Connection, fn: Callable[[Connection], Result], principal: Principal | None) -> None:
        actor = principal if principal is not None else _closure_principal(fn)
        self._actor = (actor.party_id, actor.user_id) if actor is not None else (None, None)
        self._request = self._pending_request
        if self._request is not None:
            self._pending_request = None
        self._capture = Capture(conn)

    def _ledger_append(self, conn: Connection) -> None:
        capture, self._capture = self._capture, None
        request, self._request = self._request, None
        if capture is None or capture.conn is not conn:
            return
        changes = capture.changed() if not capture.empty else []
        if not changes and request is None:
            return
        specs: list[Spec] = []
        if request is not None:
            # the contract's fields, and — when given — when it was signed and by whom (client
            # or the service for a server-side key), so the digest can be recomputed from the body
            fields = (*_REQUEST_FIELDS, "signed_at", "mode")
            specs.append(("request", ["*"], {k: request[k] for k in fields if k in request}, None))
        if any(c.table == "parties" for c in changes):
            self._party_rows = None  # this write changed the parties: audiences need them fresh
        audiences = Audiences(self, conn)
        for change in changes:
            if change.row is not None:
                audiences.know(change.table, change.row)
        for change in changes:
            specs.extend(self._specs(change, audiences))
        self._append(conn, specs)

    def _specs(self, change: Change, audiences: Audiences) -> list[Spec]:
        """The ``row`` entry for one changed row, and the ``private`` entries of its sensitive values."""
        name, row = change.table, change.row
        ref = row if row is not None else change.before
        audience = audiences.of(name, ref) if ref is not None else ["*"]
        key = {n: json_value(v) for n, v in zip(pk_names(name), change.key, strict=True)}
        doc = row_document(name, row) if row is not None else None
        privates: list[Spec] = []
        for owner_column, columns in SENSITIVE.get(name, ()):
            values: dict[str, Any] = {}
            for column in columns:
                if column in key:
                    values[column] = key[column]
                    key[column] = commitment(key[column])
                if doc is not None:
                    values[column] = doc[column]
                    doc[column] = commitment(doc[column])
            if values:
                owner = audiences.owner(name, owner_column, ref) if ref is not None else None
                privates.append(
                    ("private", audiences.private(owner, audience), {"table": name, "columns": values}, None)
                )
        registers = None
        if name == "ledger_keys" and row is not None and row["owner"] == "service" and row["revoked_at"] is None:
            registers = self._held(row["kid"], row["private_key"])
        op = "upsert" if doc is not None else "delete"
        out: list[Spec] = [("row", audience, {"table": name, "op": op, "key": key, "row": doc}, registers)]
        for kind, aud, payload, _ in privates:
            out.append((kind, aud, {"table": payload["table"], "key": dict(key), "columns": payload["columns"]}, None))
        return out

    def _append(self, conn: Connection, specs: Sequence[Spec]) -> None:
        tail = conn.execute(_TAIL).first()
        seq, prev, prev_sig = (tail.seq, tail.hash, tail.sig) if tail is not None else (0, GENESIS_PREV, "")
        signer = self._signer(conn, tail.kid) if tail is not None else None
        party, user = self._actor
        at = self.clock.now()
        rows = []
        for kind, audience, payload, registers in specs:
            key = signer if signer is not None else registers
            if key is None:
                raise RuntimeError("the joint record has no service key yet: initialise the service first")
            entry = make_entry(
                seq=seq + 1,
                at=at,
                kind=kind,
                party=party,
                user=user,
                audience=audience,
                payload=payload,
                prev=prev,
                prev_sig=prev_sig,
                signer=key,
            )
            rows.append(
                {
                    "seq": entry.seq,
                    "at": at,
                    "kind": kind,
                    "party": party,
                    "user": user,
                    "audience": list(entry.audience),
                    "payload": _DUMPS(payload),
                    "payload_sha256": entry.payload_sha256,
                    "prev": prev,
                    "prev_sig": prev_sig,
                    "kid": key.kid,
                    "hash": entry.hash,
                    "sig": entry.sig,
                }
            )
            seq, prev, prev_sig = entry.seq, entry.hash, entry.sig
            if registers is not None:
                signer = registers  # a new service key signs the entries after the one registering it
        conn.execute(ledger_entries.insert(), rows)

    # --- keys ---------------------------------------------------------------------------

    def _held(self, kid: str, private_key: str | None) -> Signer | None:
        if private_key is None:
            return None
        signer = self._signers.get(kid)
        if signer is None:
            signer = self._signers[kid] = Signer.from_private_bytes(kid, b64url_decode(private_key, 32))
        return signer

    def _signer(self, conn: Connection, kid: str) -> Signer:
        """The service key ``kid`` (which signed the last entry) — held here, or the record cannot go on."""
        signer = self._signers.get(kid)
        if signer is None:
            held = conn.execute(sa.select(ledger_keys.c.private_key).where(ledger_keys.c.kid == kid)).scalar()
            signer = self._held(kid, held)
            if signer is None:
                raise RuntimeError(f"the service key {kid} that signed the last entry is not held in this database")
        return signer

    def _new_ledger_key(self, conn: Connection, owner: str, signer: Signer | None, public_key: str | None) -> Body:
        now = self.clock.now()
        public = signer.public_b64 if signer is not None else public_key
        assert public is not None
        kid = kid_of(public)
        if conn.execute(sa.select(ledger_keys.c.kid).where(ledger_keys.c.kid == kid)).first() is not None:
            raise StateConflict("public_key", f"the key {kid} is registered already")
        row = {
            "kid": kid,
            "owner": owner,
            "public_key": public,
            "private_key": b64url_encode(signer.private_bytes()) if signer is not None else None,
            "server_side": signer is not None,
            "created_at": now,
        }
        conn.execute(ledger_keys.insert(), row)
        return _key_doc({**row, "revoked_at": None})

    def _ledger_start(self, conn: Connection) -> bool:
        """An empty record starts with its first service key (the genesis entry, seq 1, signed
        by that key), then — a database that had state before its record began — every row
        it holds, so that the record alone rebuilds it."""
        if conn.execute(sa.select(ledger_entries.c.seq).limit(1)).first() is not None:
            return False
        if self._capture is None:
            raise RuntimeError("the record starts inside a write")
        self._new_ledger_key(conn, "service", generate_key(), None)
        for name in LEDGERED:
            self._capture.touch_all(name)
        return True

    def rotate_ledger_key(self) -> Body:
        """A new service key signs the record from now on; the old one is revoked (operator)."""

        def run(conn: Connection) -> Result:
            old = conn.execute(
                sa.select(ledger_keys.c.kid).where(ledger_keys.c.owner == "service", ledger_keys.c.revoked_at.is_(None))
            ).scalars()
            old_kids = sorted(old)
            doc = self._new_ledger_key(conn, "service", generate_key(), None)
            conn.execute(
                ledger_keys.update().where(ledger_keys.c.kid.in_(old_kids)).values(revoked_at=self.clock.now())
            )
            self._emit(conn, "ledger.key_rotated", ["*"], {"kid": doc["kid"], "revoked": old_kids})
            return 200, {**doc, "revoked": old_kids}

        return self._write(run)[1]

    def _may_manage_keys(self, principal: Principal) -> None:
        if principal.party_role not in ("member", "mediator"):
            raise Forbidden("party", f"only member and mediator parties hold keys; {principal.party_id!r} is not one")
        if principal.role != "commander" and "admin" not in principal.scopes:
            raise Forbidden("role", "a party's keys are registered and revoked by its commander (or an administrator)")

    def register_party_key(
        self, principal: Principal, public_key_b64: str | None, *, server_side: bool = False
    ) -> Body:
        """Register a public key of ``principal``'s party (a ``row`` entry everyone sees).
        ``server_side=True`` without a key: the service generates the pair and signs for the
        party's web users (the party's choice; the private part never leaves the database)."""
        self._may_manage_keys(principal)
        signer: Signer | None = None
        if server_side:
            if public_key_b64 is not None:
                raise ValidationError("public_key", "a server-side key is generated by the service: give none")
            signer = generate_key()
        else:
            if not isinstance(public_key_b64, str):
                raise ValidationError("public_key", "is required: the party's Ed25519 public key, base64url")
            try:
                VerifyKey(kid_of(public_key_b64), public_key_b64)
            except ValueError as e:
                raise ValidationError("public_key", f"is not a 32-byte Ed25519 public key in base64url: {e}") from None

        def run(conn: Connection) -> Result:
            doc = self._new_ledger_key(conn, principal.party_id, signer, public_key_b64)
            self._emit(conn, "ledger.key_registered", ["*"], {"kid": doc["kid"], "owner": principal.party_id})
            return 201, doc

        return self._write(run, principal=principal)[1]

    def revoke_party_key(self, principal: Principal, kid: str) -> Body:
        """Revoke one of ``principal``'s party's keys: it signs nothing from now on."""
        self._may_manage_keys(principal)

        def run(conn: Connection) -> Result:
            row = conn.execute(sa.select(ledger_keys).where(ledger_keys.c.kid == kid)).first()
            if row is None or row.owner != principal.party_id:
                raise NotFound("kid", f"{principal.party_id!r} has no key {kid!r}")
            if row.revoked_at is not None:
                raise StateConflict("kid", f"the key {kid!r} is revoked already")
            now = self.clock.now()
            conn.execute(ledger_keys.update().where(ledger_keys.c.kid == kid).values(revoked_at=now))
            self._emit(conn, "ledger.key_revoked", ["*"], {"kid": kid, "owner": principal.party_id})
            return 200, _key_doc({**row._mapping, "revoked_at": now})

        return self._write(run, principal=principal)[1]

    def list_ledger_keys(self, owner: str | None = None) -> list[Body]:
        """Every key of the record (public parts), oldest first; ``owner``: one party's, or ``"service"``."""
        with self.store.read() as conn:
            q = sa.select(ledger_keys).order_by(ledger_keys.c.created_at, ledger_keys.c.kid)
            if owner is not None:
                q = q.where(ledger_keys.c.owner == owner)
            return [_key_doc(r._mapping) for r in conn.execute(q)]

    def party_key(self, party: str, kid: str) -> VerifyKey | None:
        """``party``'s key ``kid`` if it is registered and not revoked (to check a signed request)."""
        with self.store.read() as conn:
            row = conn.execute(
                sa.select(ledger_keys).where(
                    ledger_keys.c.kid == kid, ledger_keys.c.owner == party, ledger_keys.c.revoked_at.is_(None)
                )
            ).first()
        return VerifyKey(row.kid, row.public_key) if row is not None else None

    def server_side_signer(self, party: str) -> Signer | None:
        """The key the service holds for ``party`` (server-side signing), if the party chose one."""
        with self.store.read() as conn:
            row = conn.execute(
                sa.select(ledger_keys)
                .where(
                    ledger_keys.c.owner == party,
                    ledger_keys.c.server_side.is_(True),
                    ledger_keys.c.revoked_at.is_(None),
                )
                .order_by(ledger_keys.c.created_at.desc())
                .limit(1)
            ).first()
        return self._held(row.kid, row.private_key) if row is not None else None

    # --- checkpoints and proofs ---------------------------------------------------------

    def _tree_at(self, conn: Connection) -> int:
        """Bring the in-memory tree up to date with the committed entries; its size."""
        size = int(conn.execute(_SIZE).scalar_one())
        with self._tree_lock:  # (append-only: a snapshot older than the tree has nothing to add)
            for start in range(self._tree.size, size, _PAGE * 10):
                hashes = conn.execute(
                    sa.select(ledger_entries.c.hash)
                    .where(ledger_entries.c.seq > start, ledger_entries.c.seq <= min(size, start + _PAGE * 10))
                    .order_by(ledger_entries.c.seq)
                ).scalars()
                for h in hashes:
                    self._tree.append(h)
        return size

    def checkpoint(self) -> Body | None:
        """Sign a tree head over every entry, if entries were added since the last one; the new head."""

        def run(conn: Connection) -> Result:
            size = self._tree_at(conn)
            last = conn.execute(sa.select(sa.func.max(tree_heads.c.tree_size))).scalar()
            if size == 0 or (last is not None and last >= size):
                return 200, {}
            tail = conn.execute(_TAIL).one()
            with self._tree_lock:
                root = self._tree.root(size)
            at = self.clock.now()  # read once: the time signed is the time stored
            head = sign_tree_head(size, root, at, self._signer(conn, tail.kid))
            conn.execute(tree_heads.insert(), dict(tree_size=size, root=root, at=at, kid=head.kid, sig=head.sig))
            return 201, head.to_dict()

        body = self._write(run)[1]
        self._last_checkpoint = self.clock.now()
        return body or None

    def tick(self) -> dict[str, int]:
        """What the scheduler did before, then a checkpoint when one is due."""
        counts = super().tick()
        now = self.clock.now()
        due = self._last_checkpoint is None or (now - self._last_checkpoint).total_seconds() >= LEDGER_CHECKPOINT_S
        counts["checkpointed"] = int(due and self.checkpoint() is not None)
        return counts

    def tree_heads(self, principal: Principal | None, limit: int = 100) -> Body:
        """The latest signed tree heads, newest first, and the record's current size."""
        _int(limit, "limit", 1, _MAX_LIMIT)
        with self.store.read() as conn:
            size = int(conn.execute(_SIZE).scalar_one())
            rows = conn.execute(sa.select(tree_heads).order_by(tree_heads.c.tree_size.desc()).limit(limit)).all()
        return {"tree_size": size, "tree_heads": [_head_doc(r) for r in rows]}

    def _sizes(self, conn: Connection, field: str, value: Any, low: int = 1) -> tuple[int, Body | None]:
        """``value`` checked as a tree size this record can prove against: a signed one or the current."""
        size = self._tree_at(conn)
        _int(value, field, low, max(size, low))
        head = conn.execute(sa.select(tree_heads).where(tree_heads.c.tree_size == value)).first()
        if head is None and value != size:
            raise ValidationError(field, f"must be the size of a signed tree head or the current size ({size})")
        return size, _head_doc(head) if head is not None else None

    def inclusion_proof(self, principal: Principal | None, seq: int, tree_size: int) -> Body:
        """Proof that entry ``seq`` is in the tree of ``tree_size`` entries (RFC 9162 §2.1.3)."""
        with self.store.read() as conn:
            _, head = self._sizes(conn, "tree_size", tree_size)
            _int(seq, "seq", 1, tree_size)
            leaf = conn.execute(sa.select(ledger_entries.c.hash).where(ledger_entries.c.seq == seq)).scalar_one()
        with self._tree_lock:
            proof, root = self._tree.inclusion_proof(seq - 1, tree_size), self._tree.root(tree_size)
        return {
            "seq": seq,
            "leaf_index": seq - 1,
            "hash": leaf,
            "tree_size": tree_size,
            "root": root,
            "proof": proof,
            "tree_head": head,
        }

    def consistency_proof(self, principal: Principal | None, first: int, second: int) -> Body:
        """Proof that the tree of ``first`` entries is a prefix of the tree of ``second`` (RFC 9162 §2.1.4)."""
        with self.store.read() as conn:
            _, second_head = self._sizes(conn, "second", second)
            _int(first, "first", 1, second)
            _, first_head = self._sizes(conn, "first", first)
        with self._tree_lock:
            proof = self._tree.consistency_proof(first, second)
            roots = self._tree.root(first), self._tree.root(second)
        return {
            "first": first,
            "second": second,
            "first_root": roots[0],
            "second_root": roots[1],
            "proof": proof,
            "first_tree_head": first_head,
            "second_tree_head": second_head,
        }

    # --- export -------------------------------------------------------------------------

    def _log_export(self, principal: Principal, detail: Body) -> None:
        def run(conn: Connection) -> Result:
            self._log_access(conn, principal, "ledger_export", None, detail)
            return 200, {}

        self._write(run)

    def ledger_lines(self, principal: Principal | None = None) -> Iterator[str]:
        """The export, one JSON text per line (no newline): what ``principal``'s party may see,
        the rest as hashes only (``None``: the operator, everything).  The export by a party
        is written to ``access_log`` first — so it holds its own record."""
        if principal is not None:
            self._log_export(principal, {"view": principal.party_id})
        with self.store.read() as conn:
            size = int(conn.execute(_SIZE).scalar_one())
        return self._export(principal.party_id if principal is not None else None, size)

    def _export(self, view: str | None, size: int) -> Iterator[str]:
        at = format_at(self.clock.now())
        yield _DUMPS({"format": EXPORT_FORMAT, "exported_at": at, "view": view or "*", "tree_size": size})
        for start in range(0, size, _PAGE):
            with self.store.read() as conn:
                rows = conn.execute(
                    sa.select(ledger_entries)
                    .where(ledger_entries.c.seq > start, ledger_entries.c.seq <= min(size, start + _PAGE))
                    .order_by(ledger_entries.c.seq)
                ).all()
            for r in rows:
                yield _line_text(r, view)
        with self.store.read() as conn:
            heads = conn.execute(
                sa.select(tree_heads).where(tree_heads.c.tree_size <= size).order_by(tree_heads.c.tree_size)
            ).all()
        for h in heads:
            yield _DUMPS({"tree_head": _head_doc(h)})

    def ledger_entries(self, principal: Principal | None, after: int = 0, limit: int = 100) -> Body:
        """A page of the export as JSON: the entries after ``after`` (redacted as for the export)."""
        _int(after, "after", 0, 2**53 - 1)
        _int(limit, "limit", 1, _MAX_LIMIT)
        if principal is not None:
            self._log_export(principal, {"view": principal.party_id, "after": after, "limit": limit})
        view = principal.party_id if principal is not None else None
        with self.store.read() as conn:
            size = int(conn.execute(_SIZE).scalar_one())
            rows = conn.execute(
                sa.select(ledger_entries)
                .where(ledger_entries.c.seq > after)
                .order_by(ledger_entries.c.seq)
                .limit(limit)
            ).all()
        entries = [json.loads(_line_text(r, view)) for r in rows]
        last = entries[-1]["seq"] if entries else after
        return {"tree_size": size, "after": after, "entries": entries, "next": last if last < size else None}


def _visible(audience: Sequence[str], view: str | None) -> bool:
    return view is None or "*" in audience or view in audience


def _line_text(r: Any, view: str | None) -> str:
    """One entry's export line, the stored payload text spliced in as it is."""
    if not _visible(r.audience, view):
        return _DUMPS({"seq": r.seq, "redacted": True, "hash": r.hash, "sig": r.sig, "kid": r.kid})
    head = _DUMPS(
        {
            "seq": r.seq,
            "at": format_at(r.at),
            "kind": r.kind,
            "party": r.party,
            "user": r.user,
            "audience": r.audience,
            "payload_sha256": r.payload_sha256,
            "prev": r.prev,
            "prev_sig": r.prev_sig,
            "kid": r.kid,
            "hash": r.hash,
            "sig": r.sig,
        }
    )
    return f'{head[:-1]},"payload":{r.payload}}}'


def _head_doc(r: Any) -> Body:
    return {"tree_size": r.tree_size, "root": r.root, "at": format_at(r.at), "kid": r.kid, "sig": r.sig}


def _key_doc(r: Mapping[Any, Any]) -> Body:
    return {
        "kid": r["kid"],
        "owner": r["owner"],
        "public_key": r["public_key"],
        "server_side": bool(r["server_side"]),
        "created_at": format_at(r["created_at"]),
        "revoked_at": format_at(r["revoked_at"]) if r["revoked_at"] is not None else None,
    }
