"""Ed25519 keys of the service and of the parties.

A key is named by its *kid*: the first 16 hexadecimal characters of the SHA-256 of its
raw 32-byte public key, so anyone holding the public key can recompute the name.
Signatures are base64url without padding; :meth:`VerifyKey.verify` returns ``False``
(never raises) for a signature that is malformed or does not verify.

>>> signer = generate_key()
>>> signer.verify_key().verify(signer.sign(b"notice"), b"notice")
True
>>> signer.verify_key().verify(signer.sign(b"notice"), b"other")
False
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..errors import ValidationError
from .canonical import b64url_decode, b64url_encode

__all__ = ["Signer", "VerifyKey", "generate_key", "kid_of"]

_RAW = serialization.Encoding.Raw
_RAW_PUB = serialization.PublicFormat.Raw
_RAW_PRIV = serialization.PrivateFormat.Raw


def kid_of(public_key: str | bytes) -> str:
    """The key id of a public key (base64url text or the raw 32 bytes)."""
    raw = b64url_decode(public_key, 32) if isinstance(public_key, str) else public_key
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class Signer:
    """A private signing key and its kid (the service's, or a party's held server-side)."""

    kid: str
    private_key: Ed25519PrivateKey = field(repr=False)

    @classmethod
    def from_private_bytes(cls, kid: str, raw: bytes) -> Signer:
        """Rebuild a signer from its raw 32-byte private key; ``kid`` must match the key."""
        if len(raw) != 32:
            raise ValidationError("private_key", "must be 32 raw bytes")
        signer = cls(kid, Ed25519PrivateKey.from_private_bytes(raw))
        if kid_of(signer.public_bytes) != kid:
            raise ValidationError("kid", "does not match the key")
        return signer

    def private_bytes(self) -> bytes:
        """The raw 32-byte private key (to store; never to put in the ledger)."""
        return self.private_key.private_bytes(_RAW, _RAW_PRIV, serialization.NoEncryption())

    @property
    def public_bytes(self) -> bytes:
        """The raw 32-byte public key."""
        return self.private_key.public_key().public_bytes(_RAW, _RAW_PUB)

    @property
    def public_b64(self) -> str:
        """The public key as base64url (what ``ledger_keys.public_key`` holds)."""
        return b64url_encode(self.public_bytes)

    def sign(self, data: bytes) -> str:
        """The Ed25519 signature of ``data``, base64url without padding."""
        return b64url_encode(self.private_key.sign(data))

    def verify_key(self) -> VerifyKey:
        """The public half, to verify with."""
        return VerifyKey(self.kid, self.public_b64)


def generate_key() -> Signer:
    """A fresh Ed25519 key pair with its kid."""
    private = Ed25519PrivateKey.generate()
    return Signer(kid_of(private.public_key().public_bytes(_RAW, _RAW_PUB)), private)


@dataclass(frozen=True)
class VerifyKey:
    """A public key and its kid; refuses a public key that is not 32 bytes of base64url."""

    kid: str
    public_b64: str
    _key: Ed25519PublicKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            raw = b64url_decode(self.public_b64, 32)
            key = Ed25519PublicKey.from_public_bytes(raw)
        except ValueError as exc:
            raise ValidationError("public_key", f"is not an Ed25519 public key: {exc}") from None
        object.__setattr__(self, "_key", key)

    def verify(self, sig_b64: str, data: bytes) -> bool:
        """Whether ``sig_b64`` is this key's signature of ``data``."""
        try:
            self._key.verify(b64url_decode(sig_b64, 64), data)
        except (ValueError, InvalidSignature):
            return False
        return True
