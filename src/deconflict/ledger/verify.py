"""Offline verification of an export: no server, no database, only the file.

:func:`verify_export` reads an export line by line and reports the *first* entry that
is wrong, and why, in words an officer can act on:

* the form of each line (a malformed line is named by its line number and field);
* the order: entries must be 1, 2, 3 … with none missing;
* each visible entry's hash (recomputed from its header) and its payload hash;
* the chain: each entry's ``prev`` and ``prev_sig`` are the hash and signature of the one before;
* the keys: who may sign what, and when.  Key state comes from the ``ledger_keys`` row
  entries in the file itself — entry 1 registers the service's first key (and is signed
  by it), a new row registers (rotates in) a key, a row with ``revoked_at`` revokes it.
  A key signs validly the entries after the one that registered it and before the one
  that revoked it.  ``service_key`` pins the first key, so a wholly forged ledger under
  another key is refused;
* the service's signature of entries, and each party's signature of its requests;
* the signed tree heads, in the file and the one given as ``tree_head`` (which the
  verifier kept from earlier): each signature, that the export is not shorter than a
  head, and that the export's entries give the same Merkle root at that size.

Two depths of signature checking
    ``signatures="all"`` verifies the service signature of every entry.
    ``signatures="chained"`` verifies every hash and every link (``prev`` *and*
    ``prev_sig``), every party request signature and every tree head signature, but the
    service signature of only the last entry, of each redacted entry and of each entry
    followed by a redacted one.  That is as sound: each header holds the hash and the
    signature of the entry before it, so the last signature covers, link by link, every
    visible entry back to the previous verified one; to forge a middle entry one must
    change its hash, hence the ``prev`` of the next entry, hence that entry's hash, and
    so on to a signature that is checked.  (A redacted entry hides its ``prev``, so the
    entry before it and itself are checked directly.)

With ``signatures="all"`` and more than ``POOL_THRESHOLD`` entries (as the export's header
line declares) the signatures are verified in a pool of ``os.cpu_count()`` processes in
batches; the result is the same, the first bad entry still wins.
"""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from multiprocessing.pool import AsyncResult, Pool
from typing import Any, Final, Literal, NoReturn

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ..errors import ValidationError
from .canonical import (
    GENESIS_PREV,
    LineDecoder,
    b64url_decode,
    canonical,
    check_at,
    check_kid,
    check_sig,
    fast_canonical,
    is_hex64,
)
from .entry import Entry
from .keys import kid_of
from .merkle import MerkleTree
from .treehead import TreeHead

__all__ = ["EXPORT_FORMAT", "POOL_THRESHOLD", "Report", "verify_export"]

EXPORT_FORMAT: Final = "deconflict-ledger/1"
POOL_THRESHOLD: Final = 20_000
_BATCH: Final = 2_000
_NEVER: Final = 2**63  # orders problems that belong to no entry after every entry


@dataclass(frozen=True)
class Report:
    """What :func:`verify_export` found.

    ``first_bad`` is the seq of the first bad entry (``None`` when the problem is a tree
    head or the file as a whole), ``reason`` says why, ``line`` is the line of the file
    it is on when there is one.  ``root`` is the Merkle root of all the entries read,
    worth keeping to compare with a later export.
    """

    ok: bool
    entries: int
    redacted: int
    tree_heads: int
    first_bad: int | None
    reason: str | None
    line: int | None = None
    root: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON."""
        return asdict(self)


@dataclass
class _Key:
    owner: str
    public: bytes
    registered: int  # valid for entries after this one (0: the first key, valid from entry 1)
    revoked: int | None = None  # valid for entries before this one


class _Stop(Exception):
    """A problem was found; the verification ends."""


_KEY_CACHE: dict[bytes, Ed25519PublicKey] = {}


def _verify_one(public: bytes, sig: str, message: bytes) -> bool:
    key = _KEY_CACHE.get(public)
    if key is None:
        key = _KEY_CACHE[public] = Ed25519PublicKey.from_public_bytes(public)
    try:
        key.verify(b64url_decode(sig, 64), message)
    except (InvalidSignature, ValueError):
        return False
    return True


def _verify_batch(tasks: Sequence[tuple[bytes, str, bytes]]) -> list[bool]:
    """Verify a batch of ``(public key, signature, message)``; runs in a worker process."""
    return [_verify_one(public, sig, message) for public, sig, message in tasks]


class _Verifier:
    def __init__(
        self,
        tree_head: dict[str, Any] | None,
        service_key: str | None,
        signatures: str,
        workers: int | None,
        pool_threshold: int,
    ) -> None:
        if signatures not in ("all", "chained"):
            raise ValidationError("signatures", 'must be "all" or "chained"')
        self.external = tree_head
        self.service_key = service_key
        self.all = signatures == "all"
        self.workers = workers if workers is not None else (os.cpu_count() or 1)
        self.pool_threshold = pool_threshold
        self.pool: Pool | None = None
        self.pending: list[tuple[AsyncResult[list[bool]], list[tuple[int, str, int]]]] = []
        self.batch: list[tuple[bytes, str, bytes]] = []
        self.batch_meta: list[tuple[int, str, int]] = []
        self.problem: tuple[int, int, str, int | None, int | None] | None = None
        self.keys: dict[str, _Key] = {}
        self.tree = MerkleTree()
        self.expected = 1
        self.prev_hash = GENESIS_PREV
        self.prev_sig = ""
        self.last: tuple[int, str, str, str, int] | None = None  # seq, kid, sig, hash, line of the entry before
        self.last_checked = True
        self.redacted = 0
        self.declared: int | None = None
        self.heads: list[tuple[int, Any]] = []
        self.current_line: int | None = None

    # --- problems -------------------------------------------------------------------------

    def fail(self, seq: int | None, reason: str, *, line: int | None = None, phase: int = 0) -> NoReturn:
        """Record a problem (the earliest wins) and stop reading."""
        self.note(seq, reason, line=line, phase=phase)
        raise _Stop

    def note(self, seq: int | None, reason: str, *, line: int | None = None, phase: int = 0) -> None:
        if line is None and seq is not None:
            if seq == self.expected:
                line = self.current_line
            elif self.last is not None and seq == self.last[0]:
                line = self.last[4]
        order = _NEVER if seq is None else seq
        if self.problem is None or (order, phase) < self.problem[:2]:
            self.problem = (order, phase, reason, seq, line)

    # --- signatures -----------------------------------------------------------------------

    def signature(self, seq: int, reason: str, public: bytes, sig: str, message: bytes, line: int) -> None:
        if self.pool is None:
            if not _verify_one(public, sig, message):
                self.fail(seq, reason, line=line, phase=1)
            return
        self.batch.append((public, sig, message))
        self.batch_meta.append((seq, reason, line))
        if len(self.batch) >= _BATCH:
            self.flush()
            self.collect(wait=False)

    def flush(self) -> None:
        """Send the batch being filled to the pool."""
        if self.pool is not None and self.batch:
            self.pending.append((self.pool.apply_async(_verify_batch, (self.batch,)), self.batch_meta))
            self.batch, self.batch_meta = [], []

    def collect(self, *, wait: bool) -> None:
        """Take the results of finished batches, in order; stop at the first bad signature."""
        # Waiting when too many batches are queued keeps memory bounded (the workers are slower).
        limit = 4 * self.workers
        while self.pending and (wait or len(self.pending) > limit or self.pending[0][0].ready()):
            result, meta = self.pending.pop(0)
            for ok, (seq, reason, line) in zip(result.get(), meta, strict=True):
                if not ok:
                    self.fail(seq, reason, line=line, phase=1)

    def entry_signature(self, seq: int, kid: str, sig: str, hash_: str, line: int) -> None:
        self.signature(seq, f"entry {seq}: bad signature", self.keys[kid].public, sig, bytes.fromhex(hash_), line)

    # --- keys -----------------------------------------------------------------------------

    def service_key_problem(self, seq: int, kid: str) -> str | None:
        key = self.keys.get(kid)
        if key is None:
            return f"entry {seq}: unknown key {kid}"
        if key.owner != "service":
            return f"entry {seq}: signed by key {kid}, which is party {key.owner}'s, not the service's"
        if key.registered >= seq:
            return f"entry {seq}: signed by key {kid}, registered only at entry {key.registered}"
        if key.revoked is not None and seq >= key.revoked:
            return f"entry {seq}: signed by key {kid}, revoked at entry {key.revoked}"
        return None

    def genesis(self, entry: Entry) -> None:
        if entry.redacted:
            if self.service_key is None:
                self.fail(
                    1, "entry 1 is redacted: the service's first key cannot be established (give the service key)"
                )
            self.keys[entry.kid] = _Key("service", self.pinned(), 0)
            return
        payload = entry.payload
        row = payload.get("row")
        if (
            entry.kind != "row"
            or payload.get("table") != "ledger_keys"
            or payload.get("op") != "upsert"
            or not isinstance(row, dict)
            or row.get("kid") != entry.kid
            or row.get("owner") != "service"
        ):
            self.fail(1, "entry 1 must register the service's first key (a ledger_keys row signed by that key)")
        public = self.public_key(1, row)
        if self.service_key is not None and public != self.pinned():
            self.fail(
                1, f"entry 1: the ledger's first key {entry.kid} is not the pinned service key {self.pinned_kid()}"
            )
        self.keys[entry.kid] = _Key("service", public, 0)

    def pinned(self) -> bytes:
        assert self.service_key is not None
        try:
            return b64url_decode(self.service_key, 32)
        except ValueError:
            raise ValidationError("service_key", "must be an Ed25519 public key in base64url") from None

    def pinned_kid(self) -> str:
        return kid_of(self.pinned())

    def public_key(self, seq: int, row: dict[str, Any]) -> bytes:
        kid = row.get("kid")
        try:
            public = b64url_decode(row.get("public_key"), 32)  # type: ignore[arg-type]
        except ValueError:
            self.fail(seq, f"entry {seq}: malformed ledger_keys row: field 'public_key' is not an Ed25519 public key")
        if kid_of(public) != kid:
            self.fail(seq, f"entry {seq}: ledger_keys row: kid {kid} is not the SHA-256 of its public key")
        return public

    def key_row(self, entry: Entry) -> None:
        """Apply a ``ledger_keys`` row entry: register, rotate in, or revoke a key."""
        seq, payload = entry.seq, entry.payload
        key, row, op = payload.get("key"), payload.get("row"), payload.get("op")
        kid = key.get("kid") if isinstance(key, dict) else None
        if not isinstance(kid, str):
            self.fail(seq, f"entry {seq}: malformed ledger_keys row: field 'key.kid' is missing")
        if op == "delete":
            known = self.keys.get(kid)
            if known is not None and known.revoked is None:
                known.revoked = seq
            return
        if op != "upsert" or not isinstance(row, dict) or row.get("kid") != kid:
            self.fail(seq, f"entry {seq}: malformed ledger_keys row: field 'row' must hold the key {kid}")
        owner = row.get("owner")
        if not isinstance(owner, str) or not owner:
            self.fail(seq, f"entry {seq}: malformed ledger_keys row: field 'owner' is missing")
        if row.get("private_key") is not None:
            self.fail(seq, f"entry {seq}: a private key is in the ledger (key {kid})")
        public = self.public_key(seq, row)
        known = self.keys.get(kid)
        if known is None:
            known = self.keys[kid] = _Key(owner, public, seq)
        elif known.owner != owner:
            self.fail(seq, f"entry {seq}: changes the owner of key {kid}")
        if row.get("revoked_at") is not None and known.revoked is None:
            known.revoked = seq

    def request(self, entry: Entry, line: int) -> None:
        """Check the party's signature on the request this entry records."""
        seq, payload = entry.seq, entry.payload
        for name in ("method", "path", "request_sha256", "kid", "signature"):
            if not isinstance(payload.get(name), str):
                self.fail(seq, f"request entry {seq}: malformed payload: field {name!r} is missing")
        try:
            kid = check_kid(payload["kid"])
            sig = check_sig(payload["signature"], "signature")
            if not is_hex64(payload["request_sha256"]):
                raise ValidationError("request_sha256", "must be 64 lowercase hexadecimal characters")
        except ValidationError as exc:
            self.fail(seq, f"request entry {seq}: malformed payload: field {exc.field!r} {exc.reason}")
        key = self.keys.get(kid)
        who = f"party {entry.party}'s" if entry.party else "a party's"
        if key is None or key.registered >= seq:
            self.fail(seq, f"request entry {seq}: unknown key {kid}")
        if key.owner == "service" or (entry.party is not None and key.owner != entry.party):
            self.fail(seq, f"request entry {seq}: key {kid} is not {who} key (it is {key.owner}'s)")
        if key.revoked is not None and seq >= key.revoked:
            self.fail(seq, f"request entry {seq}: signed by {who} key {kid}, revoked at entry {key.revoked}")
        reason = f"request entry {seq}: bad signature by {who} key {kid}"
        self.signature(seq, reason, key.public, sig, bytes.fromhex(payload["request_sha256"]), line)

    # --- lines ----------------------------------------------------------------------------

    def header_line(self, obj: Any, line: int) -> None:
        if not isinstance(obj, dict) or obj.get("format") != EXPORT_FORMAT:
            self.fail(None, f"line {line}: not a {EXPORT_FORMAT} export (the first line must be its header)", line=line)
        size = obj.get("tree_size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            self.fail(None, f"line {line}: malformed header: field 'tree_size' must be a whole number", line=line)
        try:
            check_at(obj.get("exported_at"), "exported_at")
            if not isinstance(obj.get("view"), str):
                raise ValidationError("view", 'must be a party id or "*"')
        except ValidationError as exc:
            self.fail(None, f"line {line}: malformed header: field {exc.field!r} {exc.reason}", line=line)
        self.declared = size
        if self.all and size > self.pool_threshold and self.workers > 1:
            self.pool = multiprocessing.get_context("spawn").Pool(self.workers)

    def entry_line(self, obj: Any, fast: bool, line: int) -> None:
        seq = self.expected
        self.current_line = line
        try:
            entry = Entry.from_line(obj)
        except ValidationError as exc:
            self.fail(seq, f"line {line}: malformed entry {seq}: field {exc.field!r} {exc.reason}", line=line)
        if entry.seq != seq:
            self.fail(
                seq,
                f"missing entry {seq} / out of order (entries must be 1, 2, 3 …; line {line} holds entry {entry.seq})",
                line=line,
            )
        if not entry.redacted:
            try:
                header = fast_canonical(entry.header()) if fast else canonical(entry.header())
                payload = fast_canonical(entry.payload) if fast else canonical(entry.payload)
            except ValidationError as exc:
                self.fail(seq, f"line {line}: malformed entry {seq}: {exc.reason}", line=line)
            if hashlib.sha256(header).hexdigest() != entry.hash:
                self.fail(seq, f"entry {seq}: its content does not match its hash (a field was changed)", line=line)
            if hashlib.sha256(payload).hexdigest() != entry.payload_sha256:
                self.fail(seq, f"entry {seq}: payload does not match payload_sha256", line=line)
            if entry.prev != self.prev_hash:
                self.fail(
                    seq, f"broken chain: prev of entry {seq} does not match the hash of entry {seq - 1}", line=line
                )
            if entry.prev_sig != self.prev_sig:
                self.fail(seq - 1, f"entry {seq - 1}: its signature is not the one entry {seq} chained", phase=2)
        if seq == 1:
            self.genesis(entry)
        problem = self.service_key_problem(seq, entry.kid)
        if problem is not None:
            self.fail(seq, problem, line=line)
        if entry.redacted:
            self.redacted += 1
            if not self.all and not self.last_checked and self.last is not None:
                self.entry_signature(*self.last)
        if self.all or entry.redacted:
            self.entry_signature(seq, entry.kid, entry.sig, entry.hash, line)
        if not entry.redacted:
            if entry.kind == "request":
                self.request(entry, line)
            elif entry.kind == "row" and entry.payload.get("table") == "ledger_keys":
                self.key_row(entry)
        self.tree.append(entry.hash)
        self.prev_hash, self.prev_sig = entry.hash, entry.sig
        self.last = (seq, entry.kid, entry.sig, entry.hash, line)
        self.last_checked = self.all or entry.redacted
        self.expected += 1

    def tree_head(self, data: Any, line: int | None) -> None:
        where = f"the tree head on line {line}" if line is not None else "the tree head given"
        count = self.tree.size
        try:
            head = TreeHead.from_dict(data)
        except ValidationError as exc:
            self.fail(None, f"{where}: malformed: field {exc.field!r} {exc.reason}", line=line)
        truncated = f"truncated: a tree head covers {head.tree_size} entries but the export has {count}"
        key = self.keys.get(head.kid)
        if key is None or key.owner != "service":
            if head.tree_size > count:
                self.fail(count + 1, truncated, line=line)
            self.fail(None, f"{where}: signed by unknown key {head.kid}", line=line)
        if not _verify_one(key.public, head.sig, head.signed_bytes()):
            self.fail(None, f"bad tree head signature ({where}, size {head.tree_size})", line=line)
        if key.registered > head.tree_size:
            self.fail(None, f"{where}: signed by key {head.kid}, registered only at entry {key.registered}", line=line)
        if key.revoked is not None and key.revoked <= head.tree_size:
            self.fail(None, f"{where}: signed by key {head.kid}, revoked at entry {key.revoked}", line=line)
        if head.tree_size > count:
            self.fail(count + 1, truncated, line=line)
        if self.tree.root(head.tree_size) != head.root:
            self.fail(
                None,
                f"inconsistent tree head: root at size {head.tree_size} differs (the history was rewritten)",
                line=line,
            )

    def run(self, lines: Iterable[str | bytes]) -> None:
        decoder = LineDecoder()
        seen_header = False
        for number, raw in enumerate(lines, 1):
            text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
            text = text.strip()
            if not text:
                continue
            try:
                obj, fast = decoder.decode(text)
            except ValueError as exc:
                self.fail(
                    None if not seen_header else self.expected, f"line {number}: not valid JSON ({exc})", line=number
                )
            if not seen_header:
                self.header_line(obj, number)
                seen_header = True
            elif isinstance(obj, dict) and "tree_head" in obj:
                self.heads.append((number, obj["tree_head"]))
            else:
                self.entry_line(obj, fast, number)
        if not seen_header:
            self.fail(None, "empty: the export has no header line")
        if not self.all and not self.last_checked and self.last is not None:
            self.entry_signature(*self.last)
        self.flush()
        self.collect(wait=True)
        for number, data in self.heads:
            self.tree_head(data, number)
        if self.external is not None:
            self.tree_head(self.external, None)
        count = self.tree.size
        if self.declared is not None and self.declared > count:
            self.fail(count + 1, f"truncated: the export declares {self.declared} entries but has {count}")
        if self.declared is not None and self.declared < count:
            self.fail(self.declared + 1, f"the export declares {self.declared} entries but has {count}")

    def verify(self, lines: Iterable[str | bytes]) -> Report:
        try:
            self.run(lines)
        except _Stop:
            # Signatures of earlier entries may still be waiting: the first bad entry wins.
            if self.pool is not None:
                self.flush()
                with contextlib.suppress(_Stop):
                    self.collect(wait=True)
        finally:
            if self.pool is not None:
                self.pool.terminate()
                self.pool.join()
        heads = len(self.heads) + (self.external is not None)
        if self.problem is None:
            return Report(True, self.tree.size, self.redacted, heads, None, None, root=self.tree.root())
        _, _, reason, seq, line = self.problem
        return Report(False, self.tree.size, self.redacted, heads, seq, reason, line)


def verify_export(
    lines: Iterable[str | bytes],
    *,
    tree_head: dict[str, Any] | None = None,
    service_key: str | None = None,
    signatures: Literal["all", "chained"] = "all",
    workers: int | None = None,
    pool_threshold: int = POOL_THRESHOLD,
) -> Report:
    """Verify an export (its lines, as read from the file) and report the first bad entry.

    ``tree_head`` is a signed tree head the verifier kept from earlier (a dict as in the
    export's ``{"tree_head": …}`` lines); ``service_key`` the service's first public key
    (base64url) to pin.  ``signatures`` is ``"all"`` or ``"chained"`` (see the module
    docstring).  ``workers`` processes (default ``os.cpu_count()``) verify signatures when
    the export declares more than ``pool_threshold`` entries.

    A ``ValidationError`` is raised only for bad arguments; anything wrong with the
    export itself is in the :class:`Report`.
    """
    return _Verifier(tree_head, service_key, signatures, workers, pool_threshold).verify(lines)
