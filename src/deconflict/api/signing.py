"""Signed requests: a party's client signs what it submits, and the service checks the
signature before it accepts the write.

A write (every POST and PUT under ``/v1`` but the log-in) may carry two headers::

    Deconflict-Signature: kid=<the party's key id>, sig=<base64url Ed25519 signature>
    Deconflict-Signed-At: 2026-11-25T08:00:00.000000Z

The signature is over ``bytes.fromhex(request_digest(method, path, body, user,
signed_at))`` (:func:`deconflict.ledger.request_digest`: SHA-256 of the RFC 8785 form of
``{"method", "path", "body", "user", "signed_at"}``; ``body`` is the JSON body, or null).
The service accepts it when the key is the caller's party's, registered and not
revoked, the signature verifies, ``signed_at`` is within :data:`WINDOW` of the service's
clock and the same signature was not presented before; anything else is a 401 problem
naming the header, and nothing is stored.  The accepted signature becomes the write's
``request`` entry in the ledger — the party's own proof of what it asked for.

How a party signs is decided by its keys (``ledger_keys``):

* it has an active **client** key (registered with a public key): its users' writes
  must be signed — an unsigned one is refused (401, ``Deconflict-Signature``);
* else it has an active **server-side** key: the service signs each of its users'
  writes with that key itself (``mode: "server"`` in the request entry) — for parties
  whose people use a web client that holds no key;
* else writes are unsigned (the service still countersigns every ledger entry).
"""

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool

from ..ledger import Signer, VerifyKey, request_digest
from ..service import NotAuthenticated, Principal, Service
from ..store.schema import ledger_keys
from ..wire import rfc3339

__all__ = ["SIGNATURE", "SIGNED_AT", "SIGNED_METHODS", "WINDOW", "dependency", "signature_headers"]

SIGNATURE = "Deconflict-Signature"
SIGNED_AT = "Deconflict-Signed-At"
#: how far ``Deconflict-Signed-At`` may be from the service's clock, either way
WINDOW = timedelta(minutes=5)
SIGNED_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
UNSIGNED_PATHS = frozenset({"/v1/auth/login"})


def signature_headers(signer: Signer, method: str, path: str, body: Any, user: str, signed_at: str) -> dict[str, str]:
    """The two headers a client sends with a write (``body``: the JSON it sends, or None)."""
    digest = request_digest(method, path, body, user, signed_at)
    return {SIGNATURE: f"kid={signer.kid}, sig={signer.sign(bytes.fromhex(digest))}", SIGNED_AT: signed_at}


def parse_signature(value: str) -> tuple[str, str]:
    """``kid=…, sig=…`` as (kid, sig); else NotAuthenticated naming the header."""
    found: dict[str, str] = {}
    for part in value.split(","):
        name, sep, v = part.strip().partition("=")
        if not sep or name.strip().lower() not in ("kid", "sig") or name.strip().lower() in found:
            raise NotAuthenticated(SIGNATURE, "write kid=<key id>, sig=<base64url signature>")
        found[name.strip().lower()] = v.strip()
    if set(found) != {"kid", "sig"} or not found["kid"] or not found["sig"]:
        raise NotAuthenticated(SIGNATURE, "write kid=<key id>, sig=<base64url signature>")
    return found["kid"], found["sig"]


def parse_signed_at(value: str) -> datetime:
    """An RFC 3339 time with its offset; else NotAuthenticated naming the header."""
    try:
        at = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise NotAuthenticated(SIGNED_AT, f"{value[:40]!r} is not an RFC 3339 time") from None
    if at.tzinfo is None or "T" not in value.upper():
        raise NotAuthenticated(SIGNED_AT, "write an RFC 3339 time with its offset, e.g. 2026-11-25T08:00:00Z")
    return at.astimezone(UTC)


def _json_body(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise NotAuthenticated(SIGNATURE, "the body is not JSON, so it cannot be signed") from None


class _Verifier:
    """The checks of one service; its memory of signatures seen is per process."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self._seen: dict[str, datetime] = {}  # signature → until when it could still be replayed

    def keys_of(self, party: str) -> list[Any]:
        with self.service.store.read() as conn:
            return list(
                conn.execute(
                    sa.select(ledger_keys).where(ledger_keys.c.owner == party, ledger_keys.c.revoked_at.is_(None))
                ).all()
            )

    def key(self, kid: str) -> Any:
        with self.service.store.read() as conn:
            return conn.execute(sa.select(ledger_keys).where(ledger_keys.c.kid == kid)).first()

    def request_entry(
        self, who: Principal, method: str, path: str, raw: bytes, signature: str | None, signed_at: str | None
    ) -> dict[str, Any] | None:
        """The payload of the write's ``request`` entry (None: the write goes unsigned);
        raises NotAuthenticated naming the header when the request may not proceed."""
        if signature is None and signed_at is not None:
            raise NotAuthenticated(SIGNATURE, f"{SIGNED_AT} was given without a signature")
        if signature is None:
            keys = self.keys_of(who.party_id)
            if any(not k.server_side for k in keys):
                raise NotAuthenticated(
                    SIGNATURE, f"party {who.party_id!r} signs its writes: sign this request with its key"
                )
            signer = self.service.server_side_signer(who.party_id) if keys else None
            if signer is None:
                return None
            at = rfc3339(self.service.clock.now())
            digest = request_digest(method, path, _json_body(raw), who.user_id, at)
            return _payload(method, path, digest, signer.kid, signer.sign(bytes.fromhex(digest)), at, "server")
        kid, sig = parse_signature(signature)
        if signed_at is None:
            raise NotAuthenticated(SIGNED_AT, "a signed request must say when it was signed")
        when = parse_signed_at(signed_at)
        now = self.service.clock.now()
        if abs(now - when) > WINDOW:
            raise NotAuthenticated(
                SIGNED_AT, f"{signed_at} is more than {int(WINDOW.total_seconds() // 60)} minutes from {rfc3339(now)}"
            )
        row = self.key(kid)
        if row is None:
            raise NotAuthenticated(SIGNATURE, f"no key {kid!r} is registered")
        if row.owner != who.party_id:
            raise NotAuthenticated(SIGNATURE, f"key {kid!r} is not party {who.party_id!r}'s")
        if row.revoked_at is not None:
            raise NotAuthenticated(SIGNATURE, f"key {kid!r} was revoked")
        if row.server_side:
            raise NotAuthenticated(SIGNATURE, f"key {kid!r} is held by the service, which signs with it itself")
        digest = request_digest(method, path, _json_body(raw), who.user_id, signed_at)
        if not VerifyKey(kid, row.public_key).verify(sig, bytes.fromhex(digest)):
            raise NotAuthenticated(SIGNATURE, "does not verify for this request (its method, path, body and user)")
        return _payload(method, path, digest, kid, sig, signed_at, "client")

    def first_use(self, payload: dict[str, Any]) -> None:
        """Refuse a signature presented before (a replay inside the window)."""
        now = self.service.clock.now()
        for sig in [s for s, until in self._seen.items() if until < now]:
            del self._seen[sig]
        if payload["signature"] in self._seen:
            raise NotAuthenticated(SIGNATURE, "this signature was presented before: sign each request afresh")
        self._seen[payload["signature"]] = now + 2 * WINDOW


def _payload(method: str, path: str, digest: str, kid: str, sig: str, signed_at: str, mode: str) -> dict[str, Any]:
    return {
        "method": method,
        "path": path,
        "request_sha256": digest,
        "kid": kid,
        "signature": sig,
        "signed_at": signed_at,
        "mode": mode,
    }


def dependency(service: Service, principal: Callable[..., Principal]) -> Callable[..., Awaitable[None]]:
    """The ``v1`` router's dependency: checks a write's signature (or signs it for a
    party with a server-side key) and hands the ``request`` entry to the service for
    this request's write only."""
    verifier = _Verifier(service)

    async def signed_request(request: Request, who: Annotated[Principal, Depends(principal)]) -> None:
        if request.method not in SIGNED_METHODS or request.url.path in UNSIGNED_PATHS:
            return
        raw = await request.body()  # the body FastAPI read (cached), or read here under the size limit
        payload = await run_in_threadpool(
            verifier.request_entry,
            who,
            request.method,
            request.url.path,
            raw,
            request.headers.get(SIGNATURE),
            request.headers.get(SIGNED_AT),
        )
        if payload is None:
            return
        if payload["mode"] == "client":
            verifier.first_use(payload)
        # the service records it with this request's write only (a context variable: the
        # endpoint runs in a worker thread with a copy of this task's context)
        service._pending_request = payload

    return signed_request
