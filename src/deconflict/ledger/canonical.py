"""Canonical bytes, hashes, commitments and the small encodings the joint record uses.

Everything the ledger signs or hashes is first turned into bytes by :func:`canonical`,
the JSON Canonicalization Scheme of RFC 8785: the same value always gives the same
bytes, whoever encodes it, so each party can recompute every hash from its own copy.

Hashes are lowercase hexadecimal SHA-256; signatures and public keys travel as
base64url without padding (RFC 4648 §5).  Decoding is strict: a base64url text must be
the one canonical encoding of its bytes, so no two texts stand for the same signature.

>>> canonical({"b": 1, "a": [True, None, "é"]})
b'{"a":[true,null,"\\xc3\\xa9"],"b":1}'
>>> commitment("secret")[:7]
'sha256:'
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any, Final, TypeGuard

import rfc8785

from ..errors import ValidationError

__all__ = [
    "GENESIS_PREV",
    "b64url_decode",
    "b64url_encode",
    "canonical",
    "check_at",
    "check_kid",
    "check_sig",
    "commitment",
    "format_at",
    "is_hex64",
    "sha256_hex",
]

GENESIS_PREV: Final = "0" * 64
"""The ``prev`` of the first entry: there is no entry before it."""

_HEX64 = re.compile(r"[0-9a-f]{64}")
_AT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
_INT_LIMIT: Final = 2**53 - 1
_SIG = re.compile(r"[A-Za-z0-9_-]{85}[AQgw]")  # the canonical base64url texts of 64 bytes
_KID = re.compile(r"[0-9a-f]{16}")


def canonical(obj: Any) -> bytes:
    """The RFC 8785 canonical JSON bytes of ``obj``.

    A value JSON cannot carry exactly (NaN, an integer beyond ±(2**53 − 1), a lone
    surrogate, a key that is not a string) is refused with a ``ValidationError``.
    """
    try:
        return rfc8785.dumps(obj)
    except rfc8785.CanonicalizationError as exc:
        raise ValidationError("payload", f"cannot be encoded as canonical JSON: {exc}") from None


def sha256_hex(data: bytes) -> str:
    """Lowercase hexadecimal SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def commitment(value: Any) -> str:
    """``"sha256:" + hex(SHA-256(canonical(value)))`` — stands in a row for a sensitive value.

    The value itself goes in a ``private`` entry that only its owner may see; anyone
    who later learns the value can check it against the commitment.
    """
    return "sha256:" + sha256_hex(canonical(value))


def is_hex64(text: object) -> TypeGuard[str]:
    """Whether ``text`` is a SHA-256 digest in lowercase hexadecimal."""
    return isinstance(text, str) and _HEX64.fullmatch(text) is not None


def format_at(at: datetime) -> str:
    """An aware datetime as RFC 3339 UTC with microseconds: ``2026-11-25T08:00:00.123456Z``."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValidationError("at", "must be an aware datetime (with a time zone)")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def check_at(text: object, field: str = "at") -> str:
    """``text`` if it is an RFC 3339 UTC time with microseconds, else a ``ValidationError``."""
    if not isinstance(text, str) or _AT.fullmatch(text) is None:
        raise ValidationError(field, "must be an RFC 3339 UTC time with microseconds, e.g. 2026-11-25T08:00:00.000000Z")
    try:
        datetime.fromisoformat(text[:-1])
    except ValueError:
        raise ValidationError(field, "is not a real date and time") from None
    return text


def check_sig(value: object, field: str = "sig") -> str:
    """``value`` if it is an Ed25519 signature (64 bytes) in canonical base64url, else a ``ValidationError``."""
    if not isinstance(value, str) or _SIG.fullmatch(value) is None:
        raise ValidationError(field, "must be an Ed25519 signature: 86 characters of base64url")
    return value


def check_kid(value: object, field: str = "kid") -> str:
    """``value`` if it is a key id (16 lowercase hexadecimal characters), else a ``ValidationError``."""
    if not isinstance(value, str) or _KID.fullmatch(value) is None:
        raise ValidationError(field, "must be a key id: 16 lowercase hexadecimal characters")
    return value


def b64url_encode(data: bytes) -> str:
    """base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str, length: int | None = None) -> bytes:
    """Decode base64url without padding, strictly: only the canonical text of the bytes.

    Raises ``ValueError`` on anything else (wrong alphabet, padding, stray bits, wrong
    length when ``length`` is given).
    """
    if not isinstance(text, str) or not text.isascii() or "=" in text:
        raise ValueError("not base64url text")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not base64url text") from None
    if b64url_encode(data) != text:
        raise ValueError("not the canonical base64url text of its bytes")
    if length is not None and len(data) != length:
        raise ValueError(f"must encode {length} bytes, not {len(data)}")
    return data


# --- the verifier's fast path -------------------------------------------------------------
#
# ``rfc8785.dumps`` is written in Python; the C JSON encoder gives the very same bytes
# when every string is ASCII, no number is a float and every integer is within the
# canonical range.  The verifier parses each line with hooks that flag anything else
# and falls back to ``canonical`` for that line (tests compare the two on random values).

_FAST: Final = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)


class LineDecoder:
    """Parses one export line and says whether its values may take the fast canonical path."""

    def __init__(self) -> None:
        self._odd = False

        def parse_float(text: str) -> float:
            self._odd = True
            return float(text)

        def parse_int(text: str) -> int:
            value = int(text)
            if value > _INT_LIMIT or value < -_INT_LIMIT:
                self._odd = True
            return value

        def parse_constant(text: str) -> float:
            self._odd = True
            return float(text)

        self._decoder = json.JSONDecoder(parse_float=parse_float, parse_int=parse_int, parse_constant=parse_constant)

    def decode(self, line: str) -> tuple[Any, bool]:
        """``(value, fast)``: the parsed line, and whether :func:`fast_canonical` is exact for it."""
        self._odd = False
        value = self._decoder.decode(line)
        return value, not self._odd and line.isascii() and "\\u" not in line


def fast_canonical(obj: Any) -> bytes:
    """``canonical(obj)`` for values without floats, non-ASCII text or out-of-range integers."""
    return _FAST.encode(obj).encode("utf-8")
