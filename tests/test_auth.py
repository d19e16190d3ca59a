"""Tokens and passwords (``deconflict.auth``), with real cryptography throughout."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from argon2 import PasswordHasher
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from deconflict.auth import (
    ROLE_SCOPES,
    SCOPES,
    AuthError,
    Claims,
    PasswordError,
    SigningKey,
    TokenError,
    TokenIssuer,
    TokenVerifier,
    TrustedIssuer,
    check_password_policy,
    hash_password,
    needs_rehash,
    verify_password,
)
from deconflict.errors import DeconflictError, InvalidTimeWindowError, ValidationError

ISS = "https://deconflict.example"
AUD = "deconflict-api"
IDP = "https://idp.example/realms/coalition"
NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
TTL = timedelta(minutes=15)
LIAISON_SCOPES = ROLE_SCOPES["liaison"]


# --------------------------------------------------------------------------- helpers


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_json(obj: Any) -> str:
    return b64url(json.dumps(obj, separators=(",", ":")).encode())


def unb64url(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def forge(header: dict[str, Any], payload: dict[str, Any], signature: bytes) -> str:
    return f"{b64url_json(header)}.{b64url_json(payload)}.{b64url(signature)}"


def forge_hs256(header: dict[str, Any], payload: dict[str, Any], secret: bytes) -> str:
    """An HS256 token keyed with ``secret``, built by hand (PyJWT refuses PEM keys as HMAC secrets)."""
    signing_input = f"{b64url_json(header)}.{b64url_json(payload)}".encode("ascii")
    signature = hmac.new(secret, signing_input, hashlib.sha256).digest()
    return f"{signing_input.decode('ascii')}.{b64url(signature)}"


def payload_of(token: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(unb64url(token.split(".")[1]))
    return result


def refused(verifier: TokenVerifier, token: str, now: datetime = NOW) -> TokenError:
    with pytest.raises(TokenError) as info:
        verifier.verify(token, now=now)
    assert info.value.field == "authorization"
    assert token not in str(info.value)
    return info.value


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture(scope="module")
def issuer(key: SigningKey) -> TokenIssuer:
    return TokenIssuer(key, ISS, AUD)


@pytest.fixture(scope="module")
def verifier(key: SigningKey) -> TokenVerifier:
    return TokenVerifier([(key.key_id, key.public_pem())], ISS, AUD)


@pytest.fixture(scope="module")
def user_token(issuer: TokenIssuer) -> str:
    return issuer.issue(
        subject="alice", party="blue", roles={"liaison"}, scopes=LIAISON_SCOPES, kind="user", now=NOW, ttl=TTL
    )


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def rsa_public_pem(rsa_key: rsa.RSAPrivateKey) -> bytes:
    return rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.fixture(scope="module")
def idp(rsa_public_pem: bytes) -> TrustedIssuer:
    return TrustedIssuer(
        issuer=IDP,
        audience=AUD,
        public_key_pem=rsa_public_pem,
        party_claim="org",
        default_scopes=frozenset({"messages:read"}),
    )


@pytest.fixture(scope="module")
def federated(key: SigningKey, idp: TrustedIssuer) -> TokenVerifier:
    return TokenVerifier([(key.key_id, key.public_pem())], ISS, AUD, trusted=[idp])


def idp_payload(**overrides: Any) -> dict[str, Any]:
    ts = int(NOW.timestamp())
    payload: dict[str, Any] = {
        "iss": IDP,
        "aud": AUD,
        "sub": "f:1234:bob",
        "org": "red",
        "iat": ts,
        "exp": ts + 600,
        "scope": "openid profile activities:read bogus:scope",
        "scp": ["zones:read"],
    }
    payload.update(overrides)
    return {k: v for k, v in payload.items() if v is not None}


# --------------------------------------------------------------------------- constants and errors


def test_scopes_and_roles() -> None:
    assert {
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
    } == SCOPES
    reads = {s for s in SCOPES if s.endswith(":read")}
    writes = {s for s in SCOPES if s.endswith(":write")}
    assert ROLE_SCOPES["liaison"] == reads | writes
    assert ROLE_SCOPES["commander"] == ROLE_SCOPES["liaison"]
    assert ROLE_SCOPES["read_only"] == reads
    assert ROLE_SCOPES["client"] == frozenset()
    assert all(scopes <= SCOPES for scopes in ROLE_SCOPES.values())
    with pytest.raises(TypeError):
        ROLE_SCOPES["admin"] = SCOPES  # type: ignore[index]


def test_error_tree() -> None:
    assert issubclass(TokenError, AuthError)
    assert issubclass(PasswordError, AuthError)
    assert issubclass(AuthError, DeconflictError)
    assert not issubclass(AuthError, ValidationError)
    err = TokenError("authorization", "token expired")
    assert (err.field, err.reason) == ("authorization", "token expired")


# --------------------------------------------------------------------------- signing keys


def test_signing_key_pem_round_trip_and_stable_key_id(key: SigningKey) -> None:
    again = SigningKey.from_pem(key.to_pem())
    assert again.key_id == key.key_id
    assert again.public_pem() == key.public_pem()
    assert key.to_pem().startswith(b"-----BEGIN PRIVATE KEY-----")
    public = serialization.load_pem_public_key(key.public_pem())
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert key.key_id == hashlib.sha256(raw).hexdigest()[:16]
    assert len(key.key_id) == 16
    assert SigningKey.generate().key_id != key.key_id
    assert "PRIVATE" not in repr(key)


def test_signing_key_refuses_other_keys(rsa_key: rsa.RSAPrivateKey) -> None:
    rsa_pem = rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ValidationError, match="Ed25519"):
        SigningKey.from_pem(rsa_pem)
    with pytest.raises(ValidationError):
        SigningKey.from_pem(b"not a key")


# --------------------------------------------------------------------------- issue / verify


def test_round_trip(key: SigningKey, verifier: TokenVerifier, user_token: str) -> None:
    header = jwt.get_unverified_header(user_token)
    assert header["alg"] == "EdDSA"
    assert header["kid"] == key.key_id
    payload = payload_of(user_token)
    assert payload["scope"] == " ".join(sorted(LIAISON_SCOPES))
    assert payload["roles"] == ["liaison"]
    assert payload["iat"] == payload["nbf"] == int(NOW.timestamp())
    assert len(payload["jti"]) == 32

    claims = verifier.verify(user_token, now=NOW + timedelta(minutes=5))
    assert claims == Claims(
        subject="alice",
        party="blue",
        roles=frozenset({"liaison"}),
        scopes=LIAISON_SCOPES,
        issuer=ISS,
        token_id=payload["jti"],
        issued_at=NOW,
        expires_at=NOW + TTL,
        kind="user",
    )
    assert claims.issued_at.tzinfo is not None


def test_client_token(issuer: TokenIssuer, verifier: TokenVerifier) -> None:
    token = issuer.issue(
        subject="c2-bridge",
        party="red",
        roles=["client"],
        scopes=["activities:read", "conflicts:read"],
        kind="client",
        now=NOW,
        ttl=timedelta(hours=1),
    )
    claims = verifier.verify(token, now=NOW)
    assert claims.kind == "client"
    assert claims.roles == {"client"}
    assert claims.scopes == {"activities:read", "conflicts:read"}


def test_token_ids_are_unique(issuer: TokenIssuer, verifier: TokenVerifier) -> None:
    ids = {
        verifier.verify(
            issuer.issue(subject="a", party="p", roles=["read_only"], scopes=[], kind="user", now=NOW, ttl=TTL),
            now=NOW,
        ).token_id
        for _ in range(5)
    }
    assert len(ids) == 5


def test_expiry_and_not_before_use_now_with_leeway(verifier: TokenVerifier, user_token: str) -> None:
    verifier.verify(user_token, now=NOW + TTL + timedelta(seconds=29))
    assert "expired" in refused(verifier, user_token, NOW + TTL + timedelta(seconds=31)).reason
    assert "expired" in refused(verifier, user_token, NOW + timedelta(days=400)).reason
    verifier.verify(user_token, now=NOW - timedelta(seconds=29))
    assert "not yet valid" in refused(verifier, user_token, NOW - timedelta(seconds=31)).reason


def test_now_must_be_aware(verifier: TokenVerifier, issuer: TokenIssuer, user_token: str) -> None:
    naive = NOW.replace(tzinfo=None)
    with pytest.raises(InvalidTimeWindowError) as info:
        verifier.verify(user_token, now=naive)
    assert info.value.field == "now"
    with pytest.raises(InvalidTimeWindowError):
        issuer.issue(subject="a", party="p", roles=[], scopes=[], kind="user", now=naive, ttl=TTL)


def test_wrong_audience(key: SigningKey, user_token: str) -> None:
    other = TokenVerifier([(key.key_id, key.public_pem())], ISS, "some-other-api")
    assert refused(other, user_token).reason == "wrong audience"


def test_wrong_issuer(key: SigningKey, verifier: TokenVerifier, user_token: str) -> None:
    other = TokenVerifier([(key.key_id, key.public_pem())], "https://elsewhere.example", AUD)
    assert refused(other, user_token).reason == "unknown issuer"
    # Same key, different issuer name: refused by the service's own verifier too.
    stranger = TokenIssuer(key, "https://elsewhere.example", AUD)
    token = stranger.issue(subject="a", party="p", roles=[], scopes=[], kind="user", now=NOW, ttl=TTL)
    assert refused(verifier, token).reason == "unknown issuer"


def test_tampered_payload(verifier: TokenVerifier, user_token: str) -> None:
    head, _, sig = user_token.split(".")
    payload = payload_of(user_token)
    payload["party"] = "red"
    payload["scope"] = "admin"
    tampered = f"{head}.{b64url_json(payload)}.{sig}"
    assert refused(verifier, tampered).reason == "bad signature"


def test_tampered_signature(verifier: TokenVerifier, user_token: str) -> None:
    head, body, sig = user_token.split(".")
    raw = bytearray(unb64url(sig))
    raw[0] ^= 0x01
    assert refused(verifier, f"{head}.{body}.{b64url(bytes(raw))}").reason == "bad signature"
    assert refused(verifier, f"{head}.{body}.{b64url(bytes(raw[:-1]))}").reason == "bad signature"


def test_alg_none_is_refused(key: SigningKey, verifier: TokenVerifier, user_token: str) -> None:
    payload = payload_of(user_token)
    for alg in ("none", "None", "NONE"):
        header = {"alg": alg, "typ": "JWT", "kid": key.key_id}
        unsigned = f"{b64url_json(header)}.{b64url_json(payload)}."
        refused(verifier, unsigned)
        assert "alg none" in refused(verifier, forge(header, payload, b"x")).reason


def test_hs256_signed_with_public_key_is_refused(
    key: SigningKey, verifier: TokenVerifier, federated: TokenVerifier, user_token: str, rsa_public_pem: bytes
) -> None:
    # The classic algorithm-confusion attack: sign HS256 using the public key as the HMAC secret.
    payload = payload_of(user_token)
    payload["scope"] = "admin"
    header = {"alg": "HS256", "typ": "JWT", "kid": key.key_id}
    for secret in (key.public_pem(), key.public_pem().strip()):
        forged = forge_hs256(header, payload, secret)
        assert refused(verifier, forged).reason == "algorithm not accepted for this issuer"
    external = forge_hs256({"alg": "HS256", "typ": "JWT"}, idp_payload(scope="admin"), rsa_public_pem)
    assert refused(federated, external).reason == "algorithm not accepted for this issuer"


def test_local_token_with_foreign_algorithm_is_refused(
    key: SigningKey, verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey, user_token: str
) -> None:
    token = jwt.encode(payload_of(user_token), rsa_key, algorithm="RS256", headers={"kid": key.key_id})
    assert refused(verifier, token).reason == "algorithm not accepted for this issuer"


def test_key_rotation() -> None:
    old, new = SigningKey.generate(), SigningKey.generate()
    old_token = TokenIssuer(old, ISS, AUD).issue(
        subject="a", party="p", roles=["read_only"], scopes=["zones:read"], kind="user", now=NOW, ttl=TTL
    )
    new_token = TokenIssuer(new, ISS, AUD).issue(
        subject="b", party="p", roles=["read_only"], scopes=["zones:read"], kind="user", now=NOW, ttl=TTL
    )
    both = TokenVerifier([(old.key_id, old.public_pem()), (new.key_id, new.public_pem())], ISS, AUD)
    assert both.verify(old_token, now=NOW).subject == "a"
    assert both.verify(new_token, now=NOW).subject == "b"

    retired = TokenVerifier([(new.key_id, new.public_pem())], ISS, AUD)
    assert retired.verify(new_token, now=NOW).subject == "b"
    assert "unknown signing key" in refused(retired, old_token).reason

    # Relabelling the old token with the new key's kid does not help: the signature fails.
    header = jwt.get_unverified_header(old_token)
    header["kid"] = new.key_id
    _, body, sig = old_token.split(".")
    relabelled = f"{b64url_json(header)}.{body}.{sig}"
    assert refused(retired, relabelled).reason == "bad signature"


def test_missing_kid(key: SigningKey, verifier: TokenVerifier, user_token: str) -> None:
    private = serialization.load_pem_private_key(key.to_pem(), password=None)
    token = jwt.encode(payload_of(user_token), private, algorithm="EdDSA")  # type: ignore[arg-type]
    assert "missing key id" in refused(verifier, token).reason


@pytest.mark.parametrize("claim", ["sub", "party", "scope", "roles", "kind", "jti", "exp", "iat", "nbf", "aud"])
def test_missing_claim_is_named(key: SigningKey, verifier: TokenVerifier, user_token: str, claim: str) -> None:
    payload = payload_of(user_token)
    del payload[claim]
    private = serialization.load_pem_private_key(key.to_pem(), password=None)
    token = jwt.encode(payload, private, algorithm="EdDSA", headers={"kid": key.key_id})  # type: ignore[arg-type]
    assert refused(verifier, token).reason == f"missing claim {claim}"


@pytest.mark.parametrize(
    ("claim", "value"),
    [("sub", 7), ("party", ""), ("roles", "liaison"), ("kind", "robot"), ("exp", "soon"), ("iat", True)],
)
def test_malformed_claim_is_named(
    key: SigningKey, verifier: TokenVerifier, user_token: str, claim: str, value: object
) -> None:
    payload = payload_of(user_token)
    payload[claim] = value
    private = serialization.load_pem_private_key(key.to_pem(), password=None)
    token = jwt.encode(payload, private, algorithm="EdDSA", headers={"kid": key.key_id})  # type: ignore[arg-type]
    assert refused(verifier, token).reason == f"malformed claim {claim}"


def test_missing_issuer(verifier: TokenVerifier) -> None:
    token = forge({"alg": "EdDSA"}, {"sub": "a"}, b"sig")
    assert refused(verifier, token).reason == "missing claim iss"


# --------------------------------------------------------------------------- issue validation


def _issue(issuer: TokenIssuer, **overrides: Any) -> str:
    args: dict[str, Any] = {
        "subject": "alice",
        "party": "blue",
        "roles": {"liaison"},
        "scopes": LIAISON_SCOPES,
        "kind": "user",
        "now": NOW,
        "ttl": TTL,
    }
    args.update(overrides)
    return issuer.issue(**args)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"scopes": {"activities:read", "everything:write"}}, "scopes"),
        ({"scopes": "activities:read"}, "scopes"),
        ({"roles": {"general"}}, "roles"),
        ({"roles": "liaison"}, "roles"),
        ({"roles": {"client"}}, "roles"),
        ({"kind": "client"}, "roles"),
        ({"kind": "robot"}, "kind"),
        ({"subject": ""}, "subject"),
        ({"party": None}, "party"),
        ({"ttl": timedelta(0)}, "ttl"),
        ({"ttl": timedelta(seconds=-5)}, "ttl"),
        ({"ttl": timedelta(days=366, seconds=1)}, "ttl"),
    ],
)
def test_issue_validation(issuer: TokenIssuer, overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        _issue(issuer, **overrides)
    assert info.value.field == field


def test_unknown_scope_is_named(issuer: TokenIssuer) -> None:
    with pytest.raises(ValidationError, match="everything:write"):
        _issue(issuer, scopes={"everything:write"})


def test_longest_ttl_and_admin_scope(issuer: TokenIssuer, verifier: TokenVerifier) -> None:
    token = _issue(issuer, roles={"commander"}, scopes=LIAISON_SCOPES | {"admin"}, ttl=timedelta(days=366))
    claims = verifier.verify(token, now=NOW + timedelta(days=365))
    assert "admin" in claims.scopes
    assert claims.expires_at == NOW + timedelta(days=366)


# --------------------------------------------------------------------------- external issuers


def test_external_rs256_maps_party_and_scopes(federated: TokenVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    token = jwt.encode(idp_payload(roles=["ops"]), rsa_key, algorithm="RS256", headers={"kid": "idp-key-1"})
    claims = federated.verify(token, now=NOW)
    assert claims.issuer == IDP
    assert claims.subject == "f:1234:bob"
    assert claims.party == "red"
    assert claims.scopes == {"activities:read", "zones:read", "messages:read"}
    assert claims.roles == {"ops"}
    assert claims.kind == "user"
    assert claims.issued_at == NOW
    assert claims.expires_at == NOW + timedelta(minutes=10)
    assert len(claims.token_id) == 32
    with_jti = jwt.encode(idp_payload(jti="abc-123"), rsa_key, algorithm="RS256")
    assert federated.verify(with_jti, now=NOW).token_id == "abc-123"
    scp_string = jwt.encode(idp_payload(scope=None, scp="conflicts:read admin"), rsa_key, algorithm="RS256")
    assert federated.verify(scp_string, now=NOW).scopes == {"conflicts:read", "admin", "messages:read"}


def test_external_token_without_party_claim(federated: TokenVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    token = jwt.encode(idp_payload(org=None, party="red"), rsa_key, algorithm="RS256")
    assert refused(federated, token).reason == "missing claim org"


def test_external_token_checks(federated: TokenVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    expired = jwt.encode(idp_payload(), rsa_key, algorithm="RS256")
    assert "expired" in refused(federated, expired, NOW + timedelta(hours=1)).reason
    wrong_aud = jwt.encode(idp_payload(aud="another-api"), rsa_key, algorithm="RS256")
    assert refused(federated, wrong_aud).reason == "wrong audience"
    far = jwt.encode(idp_payload(exp=10**18), rsa_key, algorithm="RS256")
    assert "out of range" in refused(federated, far).reason
    bad_scp = jwt.encode(idp_payload(scp={"zones": "read"}), rsa_key, algorithm="RS256")
    assert refused(federated, bad_scp).reason == "malformed claim scp"
    other_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    impostor = jwt.encode(idp_payload(), other_rsa, algorithm="RS256")
    assert refused(federated, impostor).reason == "bad signature"
    # RS256 is the only configured algorithm that fits an RSA key: ES256 is refused outright.
    ec_key = ec.generate_private_key(ec.SECP256R1())
    es256 = jwt.encode(idp_payload(), ec_key, algorithm="ES256")
    assert refused(federated, es256).reason == "algorithm not accepted for this issuer"
    # A token claiming the local issuer cannot use the external issuer's algorithm.
    local_claim = jwt.encode(idp_payload(iss=ISS), rsa_key, algorithm="RS256", headers={"kid": "x"})
    refused(federated, local_claim)


def test_external_es256_issuer() -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    pem = ec_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    verifier = TokenVerifier([], ISS, AUD, trusted=[TrustedIssuer(IDP, AUD, pem, algorithms=("ES256",))])
    token = jwt.encode(idp_payload(party="green", scope="zones:read"), ec_key, algorithm="ES256")
    claims = verifier.verify(token, now=NOW)
    assert claims.party == "green"
    assert claims.scopes == {"zones:read"}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"algorithms": ("HS256",)}, "algorithms"),
        ({"algorithms": ("RS256", "none")}, "algorithms"),
        ({"algorithms": ()}, "algorithms"),
        ({"default_scopes": frozenset({"root"})}, "default_scopes"),
        ({"issuer": ""}, "issuer"),
        ({"party_claim": ""}, "party_claim"),
    ],
)
def test_trusted_issuer_validation(rsa_public_pem: bytes, overrides: dict[str, Any], field: str) -> None:
    args: dict[str, Any] = {"issuer": IDP, "audience": AUD, "public_key_pem": rsa_public_pem}
    args.update(overrides)
    with pytest.raises(ValidationError) as info:
        TrustedIssuer(**args)
    assert info.value.field == field


def test_verifier_configuration_errors(key: SigningKey, idp: TrustedIssuer, rsa_public_pem: bytes) -> None:
    other = SigningKey.generate()
    with pytest.raises(ValidationError, match="key_id"):
        TokenVerifier([(other.key_id, key.public_pem())], ISS, AUD)
    with pytest.raises(ValidationError, match="Ed25519"):
        TokenVerifier([("abc", rsa_public_pem)], ISS, AUD)
    with pytest.raises(ValidationError):
        TokenVerifier([("abc", b"garbage")], ISS, AUD)
    with pytest.raises(ValidationError, match="twice"):
        TokenVerifier([], ISS, AUD, trusted=[idp, idp])
    with pytest.raises(ValidationError, match="own issuer"):
        TokenVerifier([], IDP, AUD, trusted=[idp])
    with pytest.raises(ValidationError, match="fits the key"):
        TokenVerifier([], ISS, AUD, trusted=[TrustedIssuer(IDP, AUD, rsa_public_pem, algorithms=("EdDSA",))])


# --------------------------------------------------------------------------- fuzzing

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=10,
)
_headerish = st.fixed_dictionaries(
    {},
    optional={
        "alg": st.sampled_from(["EdDSA", "RS256", "HS256", "none", "ES256"]) | _json,
        "kid": st.text(max_size=20) | _json,
        "typ": _json,
        "crit": _json,
    },
)
_TS = int(NOW.timestamp())
_payloadish = st.fixed_dictionaries(
    {},
    optional={
        "iss": st.sampled_from([ISS, IDP, "x"]) | _json,
        "aud": st.just(AUD) | _json,
        "sub": st.just("alice") | _json,
        "exp": st.sampled_from([_TS + 600, _TS - 600, 1e300, -1e300]) | _json,
        "iat": st.sampled_from([_TS, _TS + 600, 0.5]) | _json,
        "nbf": st.sampled_from([_TS, _TS + 600]) | _json,
        "party": st.just("blue") | _json,
        "org": st.just("red") | _json,
        "scope": st.just("zones:read admin bogus") | _json,
        "scp": st.just(["zones:read"]) | _json,
        "roles": st.just(["liaison"]) | _json,
        "kind": st.sampled_from(["user", "client"]) | _json,
        "jti": st.just("abc") | _json,
    },
)


@settings(max_examples=300, deadline=None)
@given(st.text() | st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=1))
def test_fuzz_arbitrary_strings_raise_token_error_only(federated: TokenVerifier, text: str) -> None:
    with pytest.raises(TokenError):
        federated.verify(text, now=NOW)


@settings(max_examples=300, deadline=None)
@given(header=_headerish, payload=_payloadish, signature=st.binary(min_size=1, max_size=80))
def test_fuzz_forged_tokens_raise_token_error_only(
    federated: TokenVerifier, header: dict[str, Any], payload: dict[str, Any], signature: bytes
) -> None:
    with pytest.raises(TokenError):
        federated.verify(forge(header, payload, signature), now=NOW)


_CLAIM_NAMES = ["iss", "aud", "sub", "exp", "iat", "nbf", "party", "org", "scope", "scp", "roles", "kind", "jti"]


@settings(max_examples=300, deadline=None)
@given(
    local=st.booleans(),
    changed=st.dictionaries(st.sampled_from(_CLAIM_NAMES), _json | st.floats(), max_size=3),
    dropped=st.sets(st.sampled_from(_CLAIM_NAMES), max_size=2),
)
def test_fuzz_validly_signed_odd_claims_give_claims_or_token_error(
    federated: TokenVerifier,
    key: SigningKey,
    rsa_key: rsa.RSAPrivateKey,
    local: bool,
    changed: dict[str, Any],
    dropped: set[str],
) -> None:
    # Past the signature check, claim parsing must still refuse odd values cleanly.
    payload: dict[str, Any] = {
        "iss": ISS if local else IDP,
        "aud": AUD,
        "sub": "alice",
        "party": "blue",
        "org": "red",
        "roles": ["liaison"],
        "scope": "zones:read admin bogus",
        "kind": "user",
        "iat": _TS,
        "nbf": _TS,
        "exp": _TS + 600,
        "jti": "abc",
    }
    payload.update(changed)
    for name in dropped:
        payload.pop(name, None)
    if not isinstance(payload.get("iss"), str):
        payload.pop("iss", None)  # PyJWT will not encode a non-string iss
    if local:
        private = serialization.load_pem_private_key(key.to_pem(), password=None)
        token = jwt.encode(payload, private, algorithm="EdDSA", headers={"kid": key.key_id})  # type: ignore[arg-type]
    else:
        token = jwt.encode(payload, rsa_key, algorithm="RS256")
    try:
        claims = federated.verify(token, now=NOW)
    except TokenError:
        return
    assert claims.scopes <= SCOPES
    assert claims.issued_at < claims.expires_at
    assert claims.kind in ("user", "client")


# --------------------------------------------------------------------------- passwords


def test_password_hash_and_verify() -> None:
    stored = hash_password("correct horse battery staple")
    assert stored.startswith("$argon2id$")
    assert stored != hash_password("correct horse battery staple")  # salted
    assert verify_password(stored, "correct horse battery staple") is True
    assert verify_password(stored, "correct horse battery stapler") is False
    assert verify_password(stored, "") is False
    assert needs_rehash(stored) is False


def test_needs_rehash_for_weaker_parameters() -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash("correct horse battery staple")
    assert verify_password(weak, "correct horse battery staple") is True
    assert needs_rehash(weak) is True


@pytest.mark.parametrize("corrupt", ["", "plaintext-password", "$2b$12$abcdefghijklmnopqrstuv", "TRUNCATE", "LOWMEM"])
def test_corrupt_hash_raises_password_error(corrupt: str) -> None:
    good = hash_password("correct horse battery staple")
    if corrupt == "TRUNCATE":
        corrupt = good[:-10]
    elif corrupt == "LOWMEM":
        corrupt = good.replace("m=65536", "m=1")
    with pytest.raises(PasswordError) as info:
        verify_password(corrupt, "correct horse battery staple")
    assert info.value.field == "authorization"
    assert "correct horse" not in str(info.value)


@pytest.mark.parametrize("corrupt", ["", "plaintext-password", "$2b$12$abcdefghijklmnopqrstuv", "$argon2id$v=19$m="])
def test_needs_rehash_on_corrupt_hash_raises_password_error(corrupt: str) -> None:
    with pytest.raises(PasswordError):
        needs_rehash(corrupt)


@pytest.mark.parametrize(("length", "ok"), [(0, False), (11, False), (12, True), (1024, True), (1025, False)])
def test_password_policy(length: int, ok: bool) -> None:
    pw = "x" * length
    if ok:
        check_password_policy(pw)
        return
    with pytest.raises(ValidationError) as info:
        check_password_policy(pw)
    assert info.value.field == "password"
    assert pw not in info.value.reason or not pw
