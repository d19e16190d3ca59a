"""Tokens and passwords: who is calling, for which party, with which scopes.

This module is framework-free (no web framework, no database) and never reads the
wall clock: every function that needs the time takes ``now`` (an aware
:class:`~datetime.datetime`) from its caller, so tests and replays are exact.

Tokens
    :class:`TokenIssuer` signs short-lived EdDSA (Ed25519) JWTs for the service's own
    users and machine clients; :class:`TokenVerifier` checks them, and also tokens of
    external identity providers configured as :class:`TrustedIssuer`.  The verifier
    picks the key from the token's ``iss`` (and ``kid`` for local keys, so several
    local keys can be valid during a rotation) and only ever accepts the algorithms
    configured for that issuer: ``alg: none`` and HMAC tokens are always refused, which
    closes the "public key used as HMAC secret" algorithm-confusion attack.  Every
    refusal is a :class:`TokenError` whose ``reason`` says what was wrong without
    quoting the token, a key, or any claim value.

Passwords
    :func:`hash_password`, :func:`verify_password` and :func:`needs_rehash` use argon2id
    with argon2-cffi's default parameters; :func:`check_password_policy` enforces length.

Scopes are what authorise a request.  :data:`ROLE_SCOPES` maps each user role to the
scopes it grants; the service decides which scopes to put in a token (for instance the
union of the user's roles' scopes, plus ``"admin"`` for administrators) and
:meth:`TokenIssuer.issue` checks that every one of them is a known scope
(:data:`ALL_SCOPES`: the native API's :data:`SCOPES` and the ASTM F3548-21
:data:`F3548_SCOPES`, which no role grants by itself).

ASTM F3548-21 tokens
    A DSS client's token comes from an external authority (a :class:`TrustedIssuer`
    with ``party_from="sub"``): RS256, ``aud`` the DSS's host name, no party claim and
    possibly no ``iat``.  Its :class:`Claims` carry ``party=None``; the service finds
    the party from the issuer and the subject.
"""

from __future__ import annotations

import hashlib
import math
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, Final, Literal, cast

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed448 import Ed448PublicKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from .errors import AuthError, InvalidTimeWindowError, PasswordError, TokenError, ValidationError

__all__ = [
    "ALL_SCOPES",
    "F3548_SCOPES",
    "PARTY_SOURCES",
    "ROLE_SCOPES",
    "SCOPES",
    "AuthError",
    "Claims",
    "PasswordError",
    "SigningKey",
    "TokenError",
    "TokenIssuer",
    "TokenVerifier",
    "TrustedIssuer",
    "check_password_policy",
    "hash_password",
    "needs_rehash",
    "verify_password",
]

# --------------------------------------------------------------------------- scopes

SCOPES: Final[frozenset[str]] = frozenset(
    {
        "activities:read",
        "activities:write",
        "zones:read",
        "zones:write",
        "conflicts:read",
        "conflicts:write",
        "messages:read",
        "messages:write",
        "incidents:read",
        "incidents:write",
        "admin",
    }
)
"""The native API's scopes.  ``"admin"`` is granted by no role: the service adds it explicitly."""

F3548_SCOPES: Final[frozenset[str]] = frozenset(
    {
        "utm.strategic_coordination",
        "utm.constraint_management",
        "utm.constraint_processing",
        "utm.conformance_monitoring_sa",
        "utm.availability_arbitration",
    }
)
"""The five ASTM F3548-21 scopes (the ``/dss/v1`` interface).  No role grants them: a
machine client (role ``"client"``) may be given them, and an F3548 authority's tokens
carry them."""

ALL_SCOPES: Final[frozenset[str]] = SCOPES | F3548_SCOPES
"""Every scope a token may carry; verified claims keep these and drop any other."""

_READ_SCOPES: Final = frozenset({"activities:read", "zones:read", "conflicts:read", "messages:read", "incidents:read"})
_WRITE_SCOPES: Final = frozenset(
    {"activities:write", "zones:write", "conflicts:write", "messages:write", "incidents:write"}
)

ROLE_SCOPES: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {
        "liaison": _READ_SCOPES | _WRITE_SCOPES,
        # Commanders approve and accept; that is the same set of write scopes.
        "commander": _READ_SCOPES | _WRITE_SCOPES,
        "read_only": _READ_SCOPES,
        # A machine client's scopes are given explicitly when its token is issued.
        "client": frozenset(),
    }
)
"""The scopes each user role grants (read-only mapping).  ``"client"`` grants none by itself."""

_KINDS: Final = ("user", "client")
PARTY_SOURCES: Final = ("claim", "sub")
"""Where a trusted issuer's tokens name their party: a claim, or (F3548) the subject."""
_AUTH_FIELD: Final = "authorization"
_LEEWAY_S: Final = 30.0
_MAX_TTL: Final = timedelta(days=366)
_MIN_TTL: Final = timedelta(seconds=1)
_MAX_TOKEN_CHARS: Final = 16_384
_COMPACT_JWS: Final = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

# Asymmetric algorithms only: HMAC ("HS*") and "none" can never be configured.
_RSA_ALGORITHMS: Final = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
_EC_ALGORITHMS: Final[Mapping[str, type[ec.EllipticCurve]]] = MappingProxyType(
    {"ES256": ec.SECP256R1, "ES384": ec.SECP384R1, "ES512": ec.SECP521R1}
)
_ASYMMETRIC_ALGORITHMS: Final = _RSA_ALGORITHMS | frozenset(_EC_ALGORITHMS) | {"EdDSA"}
_MIN_RSA_BITS: Final = 2048

_PublicKey = Ed25519PublicKey | Ed448PublicKey | RSAPublicKey | ec.EllipticCurvePublicKey


def _token_error(reason: str) -> TokenError:
    return TokenError(_AUTH_FIELD, reason)


# --------------------------------------------------------------------------- claims


@dataclass(frozen=True)
class Claims:
    """What a verified token says about its bearer.

    ``subject`` is the user name or client name, ``party`` the party id the bearer acts
    for (``None`` for an issuer whose ``party_from`` is ``"sub"``: the service resolves
    it from ``issuer`` and ``subject``), ``scopes`` the recognised scopes it grants
    (always a subset of :data:`ALL_SCOPES`), ``token_id`` the ``jti`` (for an external
    token without one, a digest of the token), ``issued_at``/``expires_at`` aware UTC
    datetimes (``issued_at`` is the time of verification for an external token without
    ``iat``) and ``kind`` ``"user"`` or ``"client"`` (external tokens are ``"user"``,
    except those of a ``party_from="sub"`` issuer, which are ``"client"``).
    """

    subject: str
    party: str | None
    roles: frozenset[str]
    scopes: frozenset[str]
    issuer: str
    token_id: str
    issued_at: datetime
    expires_at: datetime
    kind: Literal["user", "client"]


# --------------------------------------------------------------------------- keys


def _key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


class SigningKey:
    """An Ed25519 private key that signs this service's tokens.

    ``key_id`` (the JWT ``kid``) is stable: the first 16 hex digits of the SHA-256 of the
    raw 32-byte public key.  The private key never appears in ``repr``.

    >>> key = SigningKey.generate()
    >>> SigningKey.from_pem(key.to_pem()).key_id == key.key_id
    True
    """

    __slots__ = ("_key_id", "_private")

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        if not isinstance(private_key, Ed25519PrivateKey):
            raise ValidationError("key", "must be an Ed25519 private key")
        self._private = private_key
        self._key_id = _key_id(private_key.public_key())

    @classmethod
    def generate(cls) -> SigningKey:
        """Return a fresh random key."""
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_pem(cls, pem: bytes) -> SigningKey:
        """Load an unencrypted PKCS8 PEM Ed25519 private key (as written by :meth:`to_pem`)."""
        try:
            private = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise ValidationError("key", "not an unencrypted PEM-encoded PKCS8 private key") from None
        if not isinstance(private, Ed25519PrivateKey):
            raise ValidationError("key", "must be an Ed25519 private key")
        return cls(private)

    def to_pem(self) -> bytes:
        """The private key as unencrypted PKCS8 PEM: store it as a secret."""
        return self._private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def public_pem(self) -> bytes:
        """The public key as SubjectPublicKeyInfo PEM, for :class:`TokenVerifier`."""
        return self._private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    @property
    def key_id(self) -> str:
        """First 16 hex digits of SHA-256 of the raw public key."""
        return self._key_id

    def __repr__(self) -> str:
        return f"SigningKey(key_id={self._key_id!r})"


# --------------------------------------------------------------------------- validation helpers


def _aware_timestamp(now: datetime, name: str) -> float:
    if not isinstance(now, datetime):
        raise InvalidTimeWindowError(name, "must be a datetime")
    if now.tzinfo is None or now.utcoffset() is None:
        raise InvalidTimeWindowError(name, "must be time-zone aware (UTC)")
    return now.timestamp()


def _non_empty_str(value: object, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(name, "must be a non-empty string")
    return value


def _str_set(values: object, name: str) -> frozenset[str]:
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise ValidationError(name, "must be a collection of strings, not a single string")
    items = list(values)
    if not all(isinstance(v, str) for v in items):
        raise ValidationError(name, "must contain only strings")
    return frozenset(cast(list[str], items))


def _load_public_key(pem: object, name: str) -> _PublicKey:
    if not isinstance(pem, bytes):
        raise ValidationError(name, "must be PEM bytes")
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ValidationError(name, "not a PEM-encoded public key") from None
    if not isinstance(key, _PublicKey):
        raise ValidationError(name, "unsupported public key type")
    return key


def _algorithms_for_key(key: _PublicKey, configured: Iterable[str]) -> tuple[str, ...]:
    """The configured algorithms this key can actually verify."""

    def fits(alg: str) -> bool:
        if alg in _RSA_ALGORITHMS:
            return isinstance(key, RSAPublicKey)
        if alg in _EC_ALGORITHMS:
            return isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, _EC_ALGORITHMS[alg])
        return alg == "EdDSA" and isinstance(key, Ed25519PublicKey | Ed448PublicKey)

    return tuple(alg for alg in configured if fits(alg))


# --------------------------------------------------------------------------- issuing


class TokenIssuer:
    """Signs this service's access tokens (EdDSA JWTs) with one :class:`SigningKey`.

    >>> from datetime import datetime, timedelta, UTC
    >>> key = SigningKey.generate()
    >>> issuer = TokenIssuer(key, "https://deconflict.example", "deconflict-api")
    >>> now = datetime(2025, 1, 1, tzinfo=UTC)
    >>> token = issuer.issue(subject="alice", party="blue", roles={"read_only"},
    ...                      scopes=ROLE_SCOPES["read_only"], kind="user", now=now, ttl=timedelta(minutes=15))
    >>> verifier = TokenVerifier([(key.key_id, key.public_pem())], "https://deconflict.example", "deconflict-api")
    >>> verifier.verify(token, now=now).party
    'blue'
    """

    def __init__(self, key: SigningKey, issuer: str, audience: str) -> None:
        if not isinstance(key, SigningKey):
            raise ValidationError("key", "must be a SigningKey")
        self._key = key
        self._issuer = _non_empty_str(issuer, "issuer")
        self._audience = _non_empty_str(audience, "audience")

    @property
    def key_id(self) -> str:
        """The ``kid`` this issuer writes in every token header."""
        return self._key.key_id

    def issue(
        self,
        *,
        subject: str,
        party: str,
        roles: Iterable[str],
        scopes: Iterable[str],
        kind: str,
        now: datetime,
        ttl: timedelta,
    ) -> str:
        """Return a signed JWT valid from ``now`` for ``ttl``.

        Claims: ``sub``, ``party``, ``roles`` (sorted list), ``scope`` (space-separated,
        OAuth2 style), ``iss``, ``aud``, ``iat``, ``nbf``, ``exp`` (whole seconds),
        ``jti`` (uuid4 hex), ``kind``; header ``kid``.

        Raises :class:`ValidationError` naming the offending argument: an unknown scope
        (``"scopes"``) or role (``"roles"``), ``kind`` not ``"user"``/``"client"``, a
        client token whose roles are not exactly ``{"client"}`` or a user token with the
        ``"client"`` role, a naive ``now``, or ``ttl`` under one second or over 366 days.
        """
        sub = _non_empty_str(subject, "subject")
        party_id = _non_empty_str(party, "party")
        role_set = _str_set(roles, "roles")
        unknown_roles = role_set - ROLE_SCOPES.keys()
        if unknown_roles:
            raise ValidationError("roles", f"unknown role(s): {', '.join(sorted(unknown_roles))}")
        scope_set = _str_set(scopes, "scopes")
        unknown_scopes = scope_set - ALL_SCOPES
        if unknown_scopes:
            raise ValidationError("scopes", f"unknown scope(s): {', '.join(sorted(unknown_scopes))}")
        if kind not in _KINDS:
            raise ValidationError("kind", "must be 'user' or 'client'")
        if kind == "client" and role_set != {"client"}:
            raise ValidationError("roles", "a client token carries exactly the role 'client'")
        if kind == "user" and "client" in role_set:
            raise ValidationError("roles", "the role 'client' is for client tokens only")
        now_ts = _aware_timestamp(now, "now")
        if not isinstance(ttl, timedelta):
            raise ValidationError("ttl", "must be a timedelta")
        if ttl < _MIN_TTL:
            raise ValidationError("ttl", "must be at least one second")
        if ttl > _MAX_TTL:
            raise ValidationError("ttl", "must be at most 366 days")

        issued = math.floor(now_ts)
        payload: dict[str, Any] = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": sub,
            "party": party_id,
            "roles": sorted(role_set),
            "scope": " ".join(sorted(scope_set)),
            "kind": kind,
            "iat": issued,
            "nbf": issued,
            "exp": issued + int(ttl.total_seconds()),
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(payload, self._key._private, algorithm="EdDSA", headers={"kid": self._key.key_id})

    def __repr__(self) -> str:
        return f"TokenIssuer(key_id={self._key.key_id!r}, issuer={self._issuer!r}, audience={self._audience!r})"


# --------------------------------------------------------------------------- verifying


@dataclass(frozen=True)
class TrustedIssuer:
    """An external identity provider whose tokens this service accepts.

    Its tokens must be signed with ``public_key_pem`` using one of ``algorithms`` (only
    asymmetric algorithms may be configured, and only those that fit the key type are
    used), carry an ``aud`` that is ``audience`` or one of ``audiences``, ``sub``,
    ``exp`` and, when ``party_from`` is ``"claim"``, the party id in the claim named
    ``party_claim`` (with ``"sub"`` no party claim is read: the service resolves the
    party from the subject).  ``iat`` is optional; when ``max_ttl_s`` is set, a token
    living longer than that (``exp - iat``, or ``exp - now`` without ``iat``, beyond a
    30 s leeway) is refused.  Their scopes are the recognised ones (``∩ ALL_SCOPES``) in
    the ``scope`` (space-separated) and ``scp`` (string or list) claims, plus
    ``default_scopes``, which every verified token of this issuer is granted.
    """

    issuer: str
    audience: str
    public_key_pem: bytes
    algorithms: tuple[str, ...] = ("RS256", "ES256", "EdDSA")
    party_claim: str = "party"
    default_scopes: frozenset[str] = field(default_factory=frozenset)
    party_from: Literal["claim", "sub"] = "claim"
    audiences: tuple[str, ...] = ()
    max_ttl_s: float | None = None

    def __post_init__(self) -> None:
        _non_empty_str(self.issuer, "issuer")
        _non_empty_str(self.audience, "audience")
        _non_empty_str(self.party_claim, "party_claim")
        if self.party_from not in PARTY_SOURCES:
            raise ValidationError("party_from", f"must be one of {list(PARTY_SOURCES)}")
        if isinstance(self.audiences, str | bytes) or not isinstance(self.audiences, Iterable):
            raise ValidationError("audiences", "must be a collection of host names, not a single string")
        audiences = tuple(self.audiences)
        for i, aud in enumerate(audiences):
            _non_empty_str(aud, f"audiences[{i}]")
        object.__setattr__(self, "audiences", audiences)
        if self.max_ttl_s is not None:
            ttl = self.max_ttl_s
            if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not math.isfinite(ttl) or ttl < 1:
                raise ValidationError("max_ttl_s", "must be a number of seconds, at least 1")
            object.__setattr__(self, "max_ttl_s", float(ttl))
        algorithms = tuple(self.algorithms) if not isinstance(self.algorithms, str) else (self.algorithms,)
        if not algorithms:
            raise ValidationError("algorithms", "must name at least one algorithm")
        refused = [a for a in algorithms if a not in _ASYMMETRIC_ALGORITHMS]
        if refused:
            raise ValidationError(
                "algorithms", f"only asymmetric algorithms are accepted, not {', '.join(map(str, refused))}"
            )
        object.__setattr__(self, "algorithms", algorithms)
        defaults = _str_set(self.default_scopes, "default_scopes")
        unknown = defaults - ALL_SCOPES
        if unknown:
            raise ValidationError("default_scopes", f"unknown scope(s): {', '.join(sorted(unknown))}")
        object.__setattr__(self, "default_scopes", defaults)


@dataclass(frozen=True)
class _IssuerKeys:
    audience: str | tuple[str, ...]
    algorithms: tuple[str, ...]
    trusted: TrustedIssuer | None


class TokenVerifier:
    """Checks bearer tokens and returns their :class:`Claims`.

    ``local`` lists ``(key_id, public_pem)`` pairs for this service's own Ed25519 keys,
    all of which verify tokens whose ``iss`` is ``issuer``: keep the old key listed
    while rotating, drop it once its tokens have expired.  Each ``key_id`` must be the
    key's :attr:`SigningKey.key_id`.  ``trusted`` lists external identity providers.

    Raises :class:`ValidationError` on a bad configuration (unreadable key, key id that
    does not match its key, duplicate or clashing issuers).
    """

    def __init__(
        self,
        local: Sequence[tuple[str, bytes]],
        issuer: str,
        audience: str,
        trusted: Sequence[TrustedIssuer] = (),
    ) -> None:
        self._issuer = _non_empty_str(issuer, "issuer")
        self._audience = _non_empty_str(audience, "audience")
        self._local: dict[str, Ed25519PublicKey] = {}
        for i, entry in enumerate(local):
            name = f"local[{i}]"
            if not isinstance(entry, tuple) or len(entry) != 2:
                raise ValidationError(name, "must be a (key_id, public_pem) pair")
            kid, pem = entry
            key = _load_public_key(pem, name)
            if not isinstance(key, Ed25519PublicKey):
                raise ValidationError(name, "local keys must be Ed25519 public keys")
            if kid != _key_id(key):
                raise ValidationError(name, "key_id does not match the key (use SigningKey.key_id)")
            self._local[kid] = key
        self._trusted: dict[str, tuple[_IssuerKeys, _PublicKey]] = {}
        for i, t in enumerate(trusted):
            name = f"trusted[{i}]"
            if not isinstance(t, TrustedIssuer):
                raise ValidationError(name, "must be a TrustedIssuer")
            if t.issuer == self._issuer:
                raise ValidationError(f"{name}.issuer", "clashes with this service's own issuer")
            if t.issuer in self._trusted:
                raise ValidationError(f"{name}.issuer", "listed twice")
            key = _load_public_key(t.public_key_pem, f"{name}.public_key_pem")
            if isinstance(key, RSAPublicKey) and key.key_size < _MIN_RSA_BITS:
                raise ValidationError(f"{name}.public_key_pem", f"RSA keys must have at least {_MIN_RSA_BITS} bits")
            algorithms = _algorithms_for_key(key, t.algorithms)
            if not algorithms:
                raise ValidationError(f"{name}.algorithms", "none of the algorithms fits the key type")
            accepted = (t.audience, *t.audiences) if t.audiences else t.audience
            self._trusted[t.issuer] = (_IssuerKeys(accepted, algorithms, t), key)

    def verify(self, token: str, *, now: datetime) -> Claims:
        """Verify ``token`` as of ``now`` and return its claims.

        Checks, in order: the compact form, the header (``alg`` present and not
        ``none``), the issuer (``iss``) and key (``kid`` for local tokens), that ``alg``
        is configured for that issuer, the signature, the audience, the required claims
        and their types, and ``exp``/``nbf``/``iat`` against ``now`` with a 30 s leeway.
        Any failure raises :class:`TokenError`; a naive ``now`` raises
        :class:`~deconflict.errors.InvalidTimeWindowError`.
        """
        now_ts = _aware_timestamp(now, "now")
        if not isinstance(token, str) or len(token) > _MAX_TOKEN_CHARS or not _COMPACT_JWS.fullmatch(token):
            raise _token_error("malformed token: not a signed compact JWT")
        try:
            unverified = jwt.decode_complete(token, options={"verify_signature": False})
        except (jwt.PyJWTError, ValueError, TypeError, RecursionError) as exc:
            raise _token_error("malformed token: header or payload is not valid JSON") from exc
        header: dict[str, Any] = unverified["header"]
        alg = header.get("alg")
        if not isinstance(alg, str):
            raise _token_error("malformed token: missing algorithm (alg) header")
        if alg.lower() == "none":
            raise _token_error("unsigned tokens (alg none) are refused")
        if "b64" in header or "crit" in header:
            raise _token_error("malformed token: unsupported critical header")
        iss = unverified["payload"].get("iss")
        if iss is None:
            raise _token_error("missing claim iss")
        if not isinstance(iss, str):
            raise _token_error("malformed claim iss")

        key: _PublicKey
        if iss == self._issuer:
            kid = header.get("kid")
            if kid is None:
                raise _token_error("missing key id (kid) header")
            local_key = self._local.get(kid) if isinstance(kid, str) else None
            if local_key is None:
                raise _token_error("unknown signing key (retired or never issued by this service)")
            key = local_key
            rules = _IssuerKeys(self._audience, ("EdDSA",), None)
        elif iss in self._trusted:
            rules, key = self._trusted[iss]
        else:
            raise _token_error("unknown issuer")
        if alg not in rules.algorithms:
            raise _token_error("algorithm not accepted for this issuer")

        payload = self._decode_verified(token, key, rules, iss)
        return self._claims(token, payload, rules.trusted, iss, now_ts)

    @staticmethod
    def _decode_verified(token: str, key: _PublicKey, rules: _IssuerKeys, iss: str) -> dict[str, Any]:
        try:
            return jwt.decode(
                token,
                key=key,
                algorithms=list(rules.algorithms),
                audience=list(rules.audience) if isinstance(rules.audience, tuple) else rules.audience,
                issuer=iss,
                options={
                    # Time is checked against the caller's ``now`` in ``_claims``;
                    # claim types there too, uniformly across PyJWT versions.
                    "verify_signature": True,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "verify_aud": True,
                    "verify_iss": True,
                    "verify_sub": False,
                    "verify_jti": False,
                    "require": ["aud"],
                },
            )
        except jwt.InvalidSignatureError as exc:
            raise _token_error("bad signature") from exc
        except jwt.InvalidAudienceError as exc:
            raise _token_error("wrong audience") from exc
        except jwt.InvalidIssuerError as exc:
            raise _token_error("wrong issuer") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise _token_error(f"missing claim {exc.claim}") from exc
        except jwt.InvalidAlgorithmError as exc:
            raise _token_error("algorithm not accepted for this issuer") from exc
        except jwt.InvalidKeyError as exc:
            raise _token_error("algorithm does not fit this issuer's key") from exc
        except (jwt.PyJWTError, ValueError, TypeError, RecursionError) as exc:
            raise _token_error("malformed token") from exc

    def _claims(
        self, token: str, payload: dict[str, Any], trusted: TrustedIssuer | None, iss: str, now_ts: float
    ) -> Claims:
        exp = _required_date(payload, "exp")
        # F3548 lists iss, exp, sub, scope and jti (spec L85–L101): iat is optional for
        # external issuers; this service's own tokens always carry it
        iat = _required_date(payload, "iat") if trusted is None else _numeric_date(payload, "iat")
        nbf = _required_date(payload, "nbf") if trusted is None else _numeric_date(payload, "nbf")
        if iat is not None and exp <= iat:
            raise _token_error("malformed token: expires before it was issued")
        if now_ts >= exp + _LEEWAY_S:
            raise _token_error("token expired")
        if nbf is not None and now_ts < nbf - _LEEWAY_S:
            raise _token_error("token not yet valid")
        if iat is not None and now_ts < iat - _LEEWAY_S:
            raise _token_error("token not yet valid: issued in the future")
        if trusted is not None and trusted.max_ttl_s is not None:
            lifetime = exp - (iat if iat is not None else now_ts)
            if lifetime > trusted.max_ttl_s + _LEEWAY_S:
                raise _token_error(f"token lives too long: this issuer's tokens may live {trusted.max_ttl_s:g} s")
        subject = _claim_str(payload, "sub")

        kind: Literal["user", "client"]
        party: str | None
        if trusted is None:
            party = _claim_str(payload, "party")
            token_id = _claim_str(payload, "jti")
            kind_claim = _claim_str(payload, "kind")
            if kind_claim not in _KINDS:
                raise _token_error("malformed claim kind")
            kind = cast(Literal["user", "client"], kind_claim)
            roles = _claim_str_list(payload, "roles", required=True)
            scope_claim = payload.get("scope")
            if scope_claim is None:
                raise _token_error("missing claim scope")
            if not isinstance(scope_claim, str):
                raise _token_error("malformed claim scope")
            scopes = frozenset(scope_claim.split()) & ALL_SCOPES
        else:
            by_sub = trusted.party_from == "sub"
            party = None if by_sub else _claim_str(payload, trusted.party_claim)
            jti = payload.get("jti")
            if jti is not None and not isinstance(jti, str):
                raise _token_error("malformed claim jti")
            token_id = jti or hashlib.sha256(token.encode("ascii")).hexdigest()[:32]
            kind = "client" if by_sub else "user"
            roles = _claim_str_list(payload, "roles", required=False)
            scopes = (_external_scopes(payload) & ALL_SCOPES) | trusted.default_scopes

        return Claims(
            subject=subject,
            party=party,
            roles=roles,
            scopes=scopes,
            issuer=iss,
            token_id=token_id,
            issued_at=_to_datetime(iat if iat is not None else now_ts, "iat"),
            expires_at=_to_datetime(exp, "exp"),
            kind=kind,
        )

    def __repr__(self) -> str:
        return (
            f"TokenVerifier(local_key_ids={sorted(self._local)!r}, issuer={self._issuer!r}, "
            f"audience={self._audience!r}, trusted={sorted(self._trusted)!r})"
        )


def _claim_str(payload: Mapping[str, Any], name: str) -> str:
    value = payload.get(name)
    if value is None:
        raise _token_error(f"missing claim {name}")
    if not isinstance(value, str) or not value.strip():
        raise _token_error(f"malformed claim {name}")
    return value


def _claim_str_list(payload: Mapping[str, Any], name: str, *, required: bool) -> frozenset[str]:
    value = payload.get(name)
    if value is None:
        if required:
            raise _token_error(f"missing claim {name}")
        return frozenset()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _token_error(f"malformed claim {name}")
    return frozenset(cast(list[str], value))


def _numeric_date(payload: Mapping[str, Any], name: str) -> float | None:
    value = payload.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _token_error(f"malformed claim {name}")
    return float(value)


def _required_date(payload: Mapping[str, Any], name: str) -> float:
    value = _numeric_date(payload, name)
    if value is None:
        raise _token_error(f"missing claim {name}")
    return value


def _to_datetime(seconds: float, name: str) -> datetime:
    try:
        return _EPOCH + timedelta(seconds=seconds)
    except OverflowError:
        raise _token_error(f"malformed claim {name}: out of range") from None


def _external_scopes(payload: Mapping[str, Any]) -> frozenset[str]:
    scopes: set[str] = set()
    for name in ("scope", "scp"):
        value = payload.get(name)
        if value is None:
            continue
        if isinstance(value, str):
            scopes.update(value.split())
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            scopes.update(cast(list[str], value))
        else:
            raise _token_error(f"malformed claim {name}")
    return frozenset(scopes)


# --------------------------------------------------------------------------- passwords

_HASHER: Final = PasswordHasher()
_PASSWORD_MIN_CHARS: Final = 12
_PASSWORD_MAX_CHARS: Final = 1024


def check_password_policy(pw: str) -> None:
    """Refuse a new password shorter than 12 or longer than 1024 characters.

    Raises :class:`ValidationError` with ``field="password"``; the reason never quotes
    the password.

    >>> check_password_policy("correct horse battery staple")
    >>> check_password_policy("short")
    Traceback (most recent call last):
    ...
    deconflict.errors.ValidationError: password: must be at least 12 characters
    """
    if not isinstance(pw, str):
        raise ValidationError("password", "must be a string")
    if len(pw) < _PASSWORD_MIN_CHARS:
        raise ValidationError("password", f"must be at least {_PASSWORD_MIN_CHARS} characters")
    if len(pw) > _PASSWORD_MAX_CHARS:
        raise ValidationError("password", f"must be at most {_PASSWORD_MAX_CHARS} characters")


def hash_password(pw: str) -> str:
    """Hash ``pw`` with argon2id (argon2-cffi defaults, random salt); returns the PHC string."""
    if not isinstance(pw, str):
        raise ValidationError("password", "must be a string")
    return _HASHER.hash(pw)


def verify_password(hash: str, pw: str) -> bool:
    """Whether ``pw`` matches the stored ``hash``.

    Returns ``False`` on a mismatch (never raises for one); raises
    :class:`PasswordError` if ``hash`` is corrupt or not an argon2 hash.
    """
    if not isinstance(hash, str):
        raise PasswordError(_AUTH_FIELD, "stored password hash is not a string")
    if not isinstance(pw, str):
        raise ValidationError("password", "must be a string")
    try:
        return _HASHER.verify(hash, pw)
    except VerifyMismatchError:
        return False
    except (InvalidHashError, VerificationError) as exc:
        raise PasswordError(_AUTH_FIELD, "stored password hash is corrupt or not an argon2 hash") from exc


def needs_rehash(hash: str) -> bool:
    """Whether ``hash`` was made with parameters other than the current defaults.

    Rehash with :func:`hash_password` after a successful :func:`verify_password`.
    Raises :class:`PasswordError` if ``hash`` is corrupt or not an argon2 hash.
    """
    if not isinstance(hash, str):
        raise PasswordError(_AUTH_FIELD, "stored password hash is not a string")
    try:
        return _HASHER.check_needs_rehash(hash)
    except (InvalidHashError, VerificationError, ValueError) as exc:
        raise PasswordError(_AUTH_FIELD, "stored password hash is corrupt or not an argon2 hash") from exc
