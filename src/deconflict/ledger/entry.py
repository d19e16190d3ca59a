"""Entries of the joint record: one state change, or one request a party signed.

An entry's *header* says who did what, when, and who may see it::

    {"seq", "at", "kind", "party", "user", "audience", "payload_sha256", "prev", "prev_sig", "kid"}

``hash = hex(SHA-256(canonical(header)))`` and ``sig`` is the service's Ed25519
signature of the 32 bytes of ``hash`` by the key ``kid``.  ``prev`` and ``prev_sig``
are the hash and the signature of the entry before, so changing any byte of any entry
(its signature included) breaks the chain at that entry or the next one.

The payload is kept out of the header (only its hash is in it) so that an entry a
party may not see can be *redacted*: its export line then carries only ``seq``,
``hash``, ``sig`` and ``kid``, which still prove the chain is unbroken.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final

from ..errors import ValidationError
from .canonical import GENESIS_PREV, canonical, check_at, check_kid, check_sig, format_at, is_hex64, sha256_hex
from .keys import Signer

__all__ = ["KINDS", "Entry", "make_entry", "redact", "request_digest"]

KINDS: Final = ("row", "private", "request")
"""What an entry records: a row written, a private (sensitive) value, a signed request."""

_HEADER_FIELDS: Final = ("seq", "at", "kind", "party", "user", "audience", "payload_sha256", "prev", "prev_sig", "kid")
_LINE_FIELDS: Final = frozenset((*_HEADER_FIELDS, "hash", "sig", "payload"))
_REDACTED_FIELDS: Final = frozenset(("seq", "redacted", "hash", "sig", "kid"))


@dataclass(frozen=True)
class Entry:
    """One entry: the header's fields, ``hash``, ``sig`` and ``payload``.

    A redacted entry read from an export knows only ``seq``, ``kid``, ``hash`` and
    ``sig``; its other header fields are empty (``at == ""``, ``kind == "redacted"``)
    and ``payload`` is ``None``.  ``redact`` of a full entry keeps the header (the
    holder knows it) but its :meth:`line` shows only what a redacted line shows.
    """

    seq: int
    at: str
    kind: str
    party: str | None
    user: str | None
    audience: tuple[str, ...]
    payload_sha256: str
    prev: str
    prev_sig: str
    kid: str
    hash: str
    sig: str
    payload: Any = None
    redacted: bool = False

    def header(self) -> dict[str, Any]:
        """The header as signed (``hash`` is the SHA-256 of its canonical bytes)."""
        if self.kind not in KINDS:
            raise ValidationError("redacted", f"entry {self.seq} is redacted: its header is not known")
        return {
            "seq": self.seq,
            "at": self.at,
            "kind": self.kind,
            "party": self.party,
            "user": self.user,
            "audience": list(self.audience),
            "payload_sha256": self.payload_sha256,
            "prev": self.prev,
            "prev_sig": self.prev_sig,
            "kid": self.kid,
        }

    def line(self) -> dict[str, Any]:
        """The entry as an export line: full, or ``{"seq", "redacted", "hash", "sig", "kid"}``."""
        if self.redacted:
            return {"seq": self.seq, "redacted": True, "hash": self.hash, "sig": self.sig, "kid": self.kid}
        return {**self.header(), "hash": self.hash, "sig": self.sig, "payload": self.payload}

    def visible_to(self, party: str | None) -> bool:
        """Whether ``party`` may see the payload (``None``: the operator, who sees everything)."""
        return party is None or "*" in self.audience or party in self.audience

    @classmethod
    def from_line(cls, line: Mapping[str, Any]) -> Entry:
        """Read an export line; a ``ValidationError`` names the first field that is wrong.

        Checks form only (types, formats, sizes); whether the hashes and signatures
        are right is :func:`~deconflict.ledger.verify_export`'s job.
        """
        if not isinstance(line, Mapping):
            raise ValidationError("line", "must be a JSON object")
        seq = _seq(line.get("seq"))
        hash_ = line.get("hash")
        if not is_hex64(hash_):
            raise ValidationError("hash", "must be 64 lowercase hexadecimal characters")
        sig = check_sig(line.get("sig"), "sig")
        kid = check_kid(line.get("kid"), "kid")
        if line.get("redacted", False) is not False:
            if line.get("redacted") is not True:
                raise ValidationError("redacted", "must be true or absent")
            extra = sorted(set(line) - _REDACTED_FIELDS)
            if extra:
                raise ValidationError(extra[0], "a redacted entry carries only seq, redacted, hash, sig and kid")
            return cls(seq, "", "redacted", None, None, (), "", "", "", kid, hash_, sig, None, True)
        missing = [name for name in (*_HEADER_FIELDS, "payload") if name not in line]
        if missing:
            raise ValidationError(missing[0], "is missing")
        extra = sorted(set(line) - _LINE_FIELDS)
        if extra:
            raise ValidationError(extra[0], "is not a field of an entry")
        kind = line["kind"]
        if kind not in KINDS:
            raise ValidationError("kind", "must be one of row, private, request")
        payload_sha256 = line["payload_sha256"]
        if not is_hex64(payload_sha256):
            raise ValidationError("payload_sha256", "must be 64 lowercase hexadecimal characters")
        prev = line["prev"]
        if not is_hex64(prev):
            raise ValidationError("prev", "must be 64 lowercase hexadecimal characters")
        prev_sig = line["prev_sig"]
        if seq == 1:
            if prev != GENESIS_PREV or prev_sig != "":
                raise ValidationError("prev", "the first entry has prev 64 zeros and prev_sig empty")
        else:
            check_sig(prev_sig, "prev_sig")
        payload = line["payload"]
        if not isinstance(payload, dict):
            raise ValidationError("payload", "must be a JSON object")
        return cls(
            seq=seq,
            at=check_at(line["at"]),
            kind=kind,
            party=_actor(line["party"], "party"),
            user=_actor(line["user"], "user"),
            audience=_audience(line["audience"]),
            payload_sha256=payload_sha256,
            prev=prev,
            prev_sig=prev_sig,
            kid=kid,
            hash=hash_,
            sig=sig,
            payload=payload,
        )


def make_entry(
    *,
    seq: int,
    at: datetime | str,
    kind: str,
    party: str | None,
    user: str | None,
    audience: Iterable[str],
    payload: Mapping[str, Any],
    prev: str,
    prev_sig: str,
    signer: Signer,
) -> Entry:
    """Build and sign entry ``seq`` after the entry whose hash is ``prev`` and signature ``prev_sig``.

    ``audience`` is ``["*"]`` (everyone) or the party ids that may see the payload (sorted
    and de-duplicated here).  For the first entry pass ``prev=GENESIS_PREV, prev_sig=""``.
    """
    if kind not in KINDS:
        raise ValidationError("kind", "must be one of row, private, request")
    if not isinstance(payload, Mapping):
        raise ValidationError("payload", "must be a mapping")
    seq = _seq(seq)
    if not is_hex64(prev):
        raise ValidationError("prev", "must be 64 lowercase hexadecimal characters")
    if seq == 1:
        if prev != GENESIS_PREV or prev_sig != "":
            raise ValidationError("prev", "the first entry has prev 64 zeros and prev_sig empty")
    else:
        check_sig(prev_sig, "prev_sig")
    payload_dict = dict(payload)
    payload_sha256 = sha256_hex(canonical(payload_dict))
    unsigned = Entry(
        seq=seq,
        at=format_at(at) if isinstance(at, datetime) else check_at(at),
        kind=kind,
        party=_actor(party, "party"),
        user=_actor(user, "user"),
        audience=_audience(sorted(set(audience))),
        payload_sha256=payload_sha256,
        prev=prev,
        prev_sig=prev_sig,
        kid=signer.kid,
        hash="",
        sig="",
        payload=payload_dict,
    )
    hash_ = sha256_hex(canonical(unsigned.header()))
    return replace(unsigned, hash=hash_, sig=signer.sign(bytes.fromhex(hash_)))


def redact(entry: Entry) -> Entry:
    """The entry as shown to a party that may not see it: hash, signature and kid only."""
    return replace(entry, payload=None, redacted=True)


def request_digest(method: str, path: str, body: Any, user: str | None, signed_at: str) -> str:
    """Hex SHA-256 of the canonical request a party signs.

    ``rfc8785({"method", "path", "body", "user", "signed_at"})`` with ``body`` the JSON
    body (``None`` when there is none); the party signs ``bytes.fromhex(digest)``.
    """
    return sha256_hex(canonical({"method": method, "path": path, "body": body, "user": user, "signed_at": signed_at}))


def _seq(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1 or value > 2**53 - 1:
        raise ValidationError("seq", "must be a whole number from 1")
    return value


def _actor(value: object, field: str) -> str | None:
    if value is not None and (not isinstance(value, str) or not value):
        raise ValidationError(field, "must be a non-empty text or null")
    return value


def _audience(value: object) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not value:
        raise ValidationError("audience", 'must be ["*"] or a list of party ids')
    if any(not isinstance(item, str) or not item for item in value):
        raise ValidationError("audience", "must hold non-empty party ids")
    if "*" in value and len(value) != 1:
        raise ValidationError("audience", '"*" (everyone) stands alone')
    if list(value) != sorted(set(value)):
        raise ValidationError("audience", "party ids must be sorted and distinct")
    return tuple(value)
