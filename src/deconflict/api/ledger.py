"""Ledger routes: the joint record's entries, its export, signed tree heads, inclusion and
consistency proofs, and the parties' keys.

Everything is filtered by need-to-know in the service: an entry the caller's party may
not see comes back redacted (its seq, hash, signature and key id only), so the chain and
the Merkle tree still verify from the caller's own copy.  The export is JSON Lines
(``application/x-ndjson``), streamed; ``deconflict ledger verify FILE`` checks it offline.
"""

from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from ..errors import ValidationError
from ..service import Idempotency, Service
from .schemas import NoNul

__all__ = ["NDJSON", "install"]

NDJSON = "application/x-ndjson"
Kid = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")]
Limit = Annotated[int, Query(ge=1, le=1000)]
Seq = Annotated[int, Query(ge=1, le=2**62)]


class KeyIn(BaseModel):
    """A party key to register: the client's public key, or ``server_side`` for a key the
    service generates and holds to sign the party's web users' writes."""

    model_config = ConfigDict(extra="forbid")
    public_key: Annotated[str, Field(min_length=1, max_length=200), NoNul] | None = None
    server_side: Annotated[bool, Field(strict=True)] = False


class _Ndjson(StreamingResponse):
    media_type = NDJSON


def _lines(found: Iterator[str]) -> Iterator[bytes]:
    for line in found:
        yield (line if line.endswith("\n") else line + "\n").encode()


def install(
    v1: APIRouter,
    service: Service,
    Who: Any,
    idem: Callable[[str | None, Request, Any], Idempotency | None],
    reply: Callable[[tuple[int, dict[str, Any]]], JSONResponse],
) -> None:
    """Add the ledger's routes to ``v1`` (``Who``: the authenticated principal dependency)."""

    @v1.get("/ledger/entries", tags=["ledger"])
    def ledger_entries(
        who: Who, after: Annotated[int, Query(ge=0, le=2**62)] = 0, limit: Limit = 100
    ) -> dict[str, Any]:
        """Entries after ``after`` in seq order, as export lines (redacted where the caller
        may not see the payload)."""
        return service.ledger_entries(who, after=after, limit=limit)

    @v1.get(
        "/ledger/export",
        tags=["ledger"],
        response_class=_Ndjson,
        responses={200: {"content": {NDJSON: {}}, "description": "the caller's view of the ledger, JSON Lines"}},
    )
    def ledger_export(who: Who) -> _Ndjson:
        """The caller's view of the whole ledger as JSON Lines: a header line, one line
        per entry, one per signed tree head — for ``deconflict ledger verify``."""
        return _Ndjson(_lines(service.ledger_lines(who)), media_type=NDJSON)

    @v1.get("/ledger/tree-heads", tags=["ledger"])
    def tree_heads(who: Who, limit: Limit = 100) -> dict[str, Any]:
        """Signed tree heads (checkpoints), latest first."""
        return service.tree_heads(who, limit=limit)

    @v1.get("/ledger/proofs/inclusion", tags=["ledger"])
    def inclusion_proof(who: Who, seq: Seq, tree_size: Seq) -> dict[str, Any]:
        """The audit path proving entry ``seq`` is in the tree of ``tree_size`` entries."""
        return service.inclusion_proof(who, seq, tree_size)

    @v1.get("/ledger/proofs/consistency", tags=["ledger"])
    def consistency_proof(who: Who, first: Seq, second: Seq) -> dict[str, Any]:
        """The proof that the tree of ``second`` entries extends the tree of ``first``
        (the history a party's old tree head covers was not rewritten)."""
        return service.consistency_proof(who, first, second)

    @v1.get("/ledger/keys", tags=["ledger"])
    def list_keys(who: Who) -> dict[str, Any]:
        """Every ledger key (the service's and the parties'), public parts only."""
        return {"keys": service.list_ledger_keys()}

    @v1.post("/ledger/keys", tags=["ledger"], status_code=201)
    def register_key(who: Who, body: KeyIn) -> JSONResponse:
        """Register a key of the caller's party: a client key (``public_key``, base64url of
        the raw 32 bytes) or a server-side one (``server_side: true``)."""
        if (body.public_key is None) == (not body.server_side):
            raise ValidationError("public_key", "give a public_key, or server_side: true (not both)")
        return JSONResponse(
            service.register_party_key(who, body.public_key, server_side=body.server_side), status_code=201
        )

    @v1.post("/ledger/keys/{kid}/revoke", tags=["ledger"])
    def revoke_key(who: Who, kid: Kid) -> dict[str, Any]:
        """Revoke one of the caller's party's keys: entries after the revocation may not use it."""
        return service.revoke_party_key(who, kid)
