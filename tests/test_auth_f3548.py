"""ASTM F3548-21 DSS clients' tokens (docs/design/dss.md §5): an external authority's
RS256 tokens whose ``aud`` is the DSS's host name, which name no party (only the client,
``sub``), may lack ``iat``, and carry the five ``utm.*`` scopes.

Tokens are minted here with ``cryptography`` (2048-bit RSA) and PyJWT, as an authority
would; refusals are checked by their reason.  The service runs over real databases
(``service`` fixture); what is written is read back from the tables.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import jwt
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from conftest import T0
from deconflict.auth import (
    ALL_SCOPES,
    F3548_SCOPES,
    ROLE_SCOPES,
    SCOPES,
    SigningKey,
    TokenError,
    TokenIssuer,
    TokenVerifier,
    TrustedIssuer,
)
from deconflict.errors import DeconflictError, ValidationError
from deconflict.service import (
    Forbidden,
    ManualClock,
    NotAuthenticated,
    NotFound,
    Principal,
    Service,
    dss_types,
    open_service,
)
from deconflict.store import Store
from deconflict.store.schema import UTCDateTime, events, parties, trusted_issuers, uss_clients

AUTH = "https://auth.example.com"
HOST = "dss.example.com"
SC, CP = "utm.strategic_coordination", "utm.constraint_processing"


def _rsa(bits: int = 2048) -> tuple[rsa.RSAPrivateKey, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return key, pem


KEY, PEM = _rsa()
OTHER_KEY, _ = _rsa()


def claims(**changes: Any) -> dict[str, Any]:
    """An F3548 access token's claims as of T0 (valid for 30 minutes); ``None`` drops a claim."""
    doc: dict[str, Any] = {
        "iss": AUTH,
        "sub": "uss-7f3a",
        "aud": HOST,
        "iat": int(T0.timestamp()),
        "exp": int((T0 + timedelta(minutes=30)).timestamp()),
        "jti": str(uuid.uuid4()),
        "scope": f"{SC} {CP}",
    }
    doc.update(changes)
    return {k: v for k, v in doc.items() if v is not None}


def mint(key: rsa.RSAPrivateKey = KEY, **changes: Any) -> str:
    return jwt.encode(claims(**changes), key, algorithm="RS256")


def _b64(doc: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()


def hs256_with_public_key() -> str:
    """The algorithm-confusion attack: HMAC-signed with the authority's public key as the secret."""
    signing_input = f"{_b64({'alg': 'HS256', 'typ': 'JWT'})}.{_b64(claims())}"
    mac = hmac.new(PEM, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def alg_none() -> str:
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims())}.c2ln"


@pytest.fixture
def dss(service: Service) -> Service:
    """alpha (an F3548 USS) and bravo (native) members, a mediator, and the F3548 authority."""
    service.add_party("alpha", "Alpha", protocol="f3548")
    service.add_party("bravo", "Bravo", language="ar")
    service.add_party("unmed", "Mediator", "mediator")
    service.add_trusted_issuer(AUTH, HOST, PEM, algorithms=("RS256",), party_from="sub", audiences=("localhost",))
    return service


def count(service: Service, table: sa.Table) -> int:
    with service.store.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def refused(service: Service, token: str, reason: str) -> None:
    with pytest.raises(NotAuthenticated) as caught:
        service.authenticate(token)
    assert caught.value.field == "authorization"
    assert reason in caught.value.reason, caught.value.reason


# --- scopes ---------------------------------------------------------------------------------


def test_the_five_f3548_scopes_are_known_but_granted_by_no_role() -> None:
    assert (
        F3548_SCOPES
        == dss_types.F3548_SCOPES
        == {
            "utm.strategic_coordination",
            "utm.constraint_management",
            "utm.constraint_processing",
            "utm.conformance_monitoring_sa",
            "utm.availability_arbitration",
        }
    )
    assert ALL_SCOPES == SCOPES | F3548_SCOPES
    assert not SCOPES & F3548_SCOPES
    assert all(not scopes & F3548_SCOPES for scopes in ROLE_SCOPES.values())


def test_a_machine_client_may_be_given_f3548_scopes_and_keeps_them(service: Service) -> None:
    service.add_party("alpha", "Alpha")
    service.add_user("alpha-uss", "alpha", "client", scopes=[SC, CP, "activities:read"])
    token = service.issue_token("alpha-uss", scopes=[SC])["access_token"]
    who = service.authenticate(token)
    assert (who.role, who.scopes) == ("client", frozenset({SC}))
    with pytest.raises(ValidationError, match="scopes"):  # a person's role never grants them
        service.add_user("a_liaison", "alpha", "liaison", scopes=[SC])
    with pytest.raises(ValidationError, match="scopes"):
        service.issue_token("alpha-uss", scopes=["utm.everything"])


# --- accepted -------------------------------------------------------------------------------


def test_a_client_bound_to_a_party_acts_for_it_with_its_f3548_scopes(dss: Service) -> None:
    before = count(dss, events)
    doc = dss.add_uss_client("uss-7f3a", "alpha", issuer=AUTH)
    assert doc == {"issuer": AUTH, "sub": "uss-7f3a", "party": "alpha"}
    assert count(dss, events) == before + 1
    with dss.store.read() as conn:
        event = conn.execute(sa.select(events).order_by(events.c.seq.desc()).limit(1)).one()
    assert (event.type, event.payload) == ("membership.uss_client_added", {"client": doc})

    # unknown and native scopes are dropped: an F3548 authority grants F3548 scopes only
    token = mint(scope=f"{SC} {CP} bogus.scope activities:write admin")
    who = dss.authenticate(token)
    assert who == Principal("uss-7f3a", "alpha", "member", "client", frozenset({SC, CP}), "en", "f3548")
    # any of the configured audiences; a list holding one of them too
    assert dss.authenticate(mint(aud="localhost")).party_id == "alpha"
    assert dss.authenticate(mint(aud=["other.example", HOST])).party_id == "alpha"
    # iat and jti are optional (F3548 lists iss, exp, sub, scope, jti; jti kept lenient)
    assert dss.authenticate(mint(iat=None, jti=None)).party_id == "alpha"


def test_only_a_binding_of_its_issuer_and_sub_makes_a_client_act_for_a_party(dss: Service) -> None:
    # a sub that names a party stands for nothing without a binding
    refused(dss, mint(sub="bravo", scope=SC), f"the token's client 'bravo' of issuer {AUTH!r} is not bound to a USS")
    refused(dss, mint(sub="unmed"), "the token's client 'unmed'")
    dss.add_uss_client("bravo", "alpha", issuer=AUTH)
    assert dss.authenticate(mint(sub="bravo")).party_id == "alpha"
    # binding again moves the client; one row per (issuer, sub)
    dss.add_uss_client("bravo", "bravo", issuer=AUTH)
    who = dss.authenticate(mint(sub="bravo", scope=SC))
    assert who == Principal("bravo", "bravo", "member", "client", frozenset({SC}), "ar", "f3548")
    assert [c["party"] for c in dss.list_uss_clients() if c["sub"] == "bravo"] == ["bravo"]


def test_a_binding_under_one_issuer_does_not_admit_another_issuers_same_sub(dss: Service) -> None:
    other = "https://other-auth.example"
    dss.add_trusted_issuer(other, HOST, PEM, algorithms=("RS256",), party_from="sub")
    dss.add_uss_client("uss-7f3a", "alpha", issuer=AUTH)
    assert dss.authenticate(mint()).party_id == "alpha"
    refused(dss, mint(iss=other), f"the token's client 'uss-7f3a' of issuer {other!r} is not bound to a USS")
    dss.add_uss_client("uss-7f3a", "bravo", issuer=other)  # each issuer's client is its own
    assert dss.authenticate(mint(iss=other)).party_id == "bravo"
    assert dss.authenticate(mint()).party_id == "alpha"


def test_the_native_api_refuses_an_f3548_clients_principal(dss: Service) -> None:
    dss.add_uss_client("uss-7f3a", "alpha", issuer=AUTH)
    token = mint()
    assert dss.authenticate(token).protocol == "f3548"
    with pytest.raises(Forbidden) as caught:
        dss.authenticate_native(token)
    assert caught.value.field == "authorization"
    assert "only the F3548 DSS interface (/dss/v1)" in caught.value.reason
    dss.add_user("bravo-liaison", "bravo", "liaison")
    local = dss.issue_token("bravo-liaison")["access_token"]
    assert dss.authenticate_native(local).protocol == "native"


# --- refused --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (lambda: mint(sub="nobody"), f"the token's client 'nobody' of issuer {AUTH!r} is not bound to a USS here"),
        (lambda: mint(aud="deconflict-api"), "wrong audience"),
        (lambda: mint(aud=None), "missing claim aud"),
        (
            lambda: mint(
                iat=int((T0 - timedelta(hours=1)).timestamp()), exp=int((T0 - timedelta(minutes=1)).timestamp())
            ),
            "token expired",
        ),
        (lambda: mint(iat=None, exp=int((T0 - timedelta(minutes=1)).timestamp())), "token expired"),
        (lambda: mint(iss="https://evil.example"), "unknown issuer"),
        (lambda: mint(OTHER_KEY), "bad signature"),
        (hs256_with_public_key, "algorithm not accepted for this issuer"),
        (alg_none, "unsigned tokens (alg none) are refused"),
        (lambda: mint(sub=None), "missing claim sub"),
        (
            lambda: mint(
                iat=int((T0 + timedelta(hours=1)).timestamp()), exp=int((T0 + timedelta(hours=2)).timestamp())
            ),
            "issued in the future",
        ),
    ],
    ids=[
        "unknown-sub",
        "wrong-aud",
        "no-aud",
        "expired",
        "expired-no-iat",
        "unknown-iss",
        "other-key",
        "hs256",
        "none",
        "no-sub",
        "iat",
    ],
)
def test_refused_tokens_name_the_reason(dss: Service, token: Any, reason: str) -> None:
    refused(dss, token(), reason)


def test_a_maximum_lifetime_refuses_longer_lived_tokens(dss: Service) -> None:
    hour = int(timedelta(hours=1).total_seconds())
    t0 = int(T0.timestamp())
    long_lived = mint(exp=t0 + 2 * hour)
    no_iat_long = mint(iat=None, exp=t0 + 2 * hour)
    dss.add_uss_client("uss-7f3a", "alpha", issuer=AUTH)
    assert dss.authenticate(long_lived).party_id == "alpha"  # no limit configured: accepted
    dss.add_trusted_issuer(AUTH, HOST, PEM, algorithms=("RS256",), party_from="sub", max_ttl_s=hour)
    refused(dss, long_lived, "token lives too long")
    refused(dss, no_iat_long, "token lives too long")  # exp - now without iat
    assert dss.authenticate(mint(exp=t0 + hour)).party_id == "alpha"
    assert dss.authenticate(mint(iat=t0 - hour, exp=t0 + 10)).party_id == "alpha"
    assert dss.authenticate(mint(iat=None, exp=t0 + hour - 60)).party_id == "alpha"


def test_iat_is_optional_for_external_issuers_but_required_for_local_tokens() -> None:
    local = SigningKey.generate()
    verifier = TokenVerifier(
        [(local.key_id, local.public_pem())],
        "deconflict",
        "deconflict-api",
        [TrustedIssuer(AUTH, HOST, PEM, ("RS256",), party_from="sub"), TrustedIssuer("https://idp", "api", PEM)],
    )
    f3548 = verifier.verify(mint(iat=None), now=T0)
    assert (f3548.party, f3548.kind, f3548.issued_at, f3548.scopes) == (None, "client", T0, frozenset({SC, CP}))
    person = verifier.verify(
        jwt.encode(claims(iss="https://idp", aud="api", iat=None, party="red"), KEY, "RS256"), now=T0
    )
    assert (person.party, person.kind) == ("red", "user")
    with pytest.raises(TokenError, match="missing claim party"):  # a "claim" issuer still needs it
        verifier.verify(jwt.encode(claims(iss="https://idp", aud="api"), KEY, "RS256"), now=T0)

    issued = TokenIssuer(local, "deconflict", "deconflict-api").issue(
        subject="a", party="red", roles={"read_only"}, scopes=(), kind="user", now=T0, ttl=timedelta(minutes=5)
    )
    payload = jwt.decode(issued, options={"verify_signature": False})
    del payload["iat"]
    unsigned_iat = jwt.encode(payload, local._private, algorithm="EdDSA", headers={"kid": local.key_id})
    with pytest.raises(TokenError, match="missing claim iat"):
        verifier.verify(unsigned_iat, now=T0)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"party_from": "header"}, "party_from"),
        ({"audiences": "localhost"}, "audiences"),
        ({"audiences": ("localhost", "")}, "audiences[1]"),
        ({"max_ttl_s": 0}, "max_ttl_s"),
        ({"max_ttl_s": float("inf")}, "max_ttl_s"),
        ({"max_ttl_s": True}, "max_ttl_s"),
        ({"algorithms": ("HS256",)}, "algorithms"),
        ({"algorithms": ("ES256",)}, "algorithms"),
    ],
)
def test_a_bad_issuer_is_refused_naming_the_field_and_nothing_is_written(
    dss: Service, changes: dict[str, Any], field: str
) -> None:
    before = count(dss, trusted_issuers)
    args: dict[str, Any] = {"algorithms": ("RS256",), "party_from": "sub"} | changes
    with pytest.raises(ValidationError) as caught:
        dss.add_trusted_issuer("https://new.example", HOST, PEM, **args)
    assert caught.value.field == field
    assert count(dss, trusted_issuers) == before
    _, weak = _rsa(1024)
    with pytest.raises(ValidationError) as caught:
        dss.add_trusted_issuer("https://new.example", HOST, weak, party_from="sub")
    assert caught.value.field == "public_key_pem"
    assert count(dss, trusted_issuers) == before


def test_bad_clients_are_refused_naming_the_field_and_nothing_is_written(dss: Service) -> None:
    dss.add_trusted_issuer("https://idp.example", "deconflict-api", PEM)  # names the party in a claim
    before = (count(dss, uss_clients), count(dss, events))
    cases: Iterable[tuple[dict[str, Any], type[DeconflictError], str, str]] = [
        ({"issuer": "https://nobody.example"}, NotFound, "issuer", "not a trusted issuer"),
        ({"issuer": "https://idp.example"}, ValidationError, "issuer", "names the party in its tokens' 'party' claim"),
        ({"party_id": "nobody"}, NotFound, "party", "no party 'nobody'"),
        ({"party_id": "unmed"}, ValidationError, "party", "only member parties act as USSs"),
        ({"party_id": "not a party"}, ValidationError, "party", "letters, digits"),
        ({"sub": ""}, ValidationError, "sub", "characters"),
        ({"sub": "x" * 201}, ValidationError, "sub", "characters"),
    ]
    for changes, error, field, reason in cases:
        args: dict[str, Any] = {"sub": "uss-1", "party_id": "alpha", "issuer": AUTH} | changes
        with pytest.raises(error) as caught:
            dss.add_uss_client(args["sub"], args["party_id"], issuer=args["issuer"])
        assert caught.value.field == field
        assert reason in caught.value.reason, caught.value
    assert (count(dss, uss_clients), count(dss, events)) == before


# --- what is stored -------------------------------------------------------------------------


def test_protocol_and_issuer_settings_round_trip_through_the_tables(dss: Service, db_url: str) -> None:
    dss.add_trusted_issuer(
        "https://uss-auth.example",
        HOST,
        PEM,
        algorithms=("RS256",),
        party_from="sub",
        audiences=("localhost", "testserver"),
        max_ttl_s=3600,
    )
    with dss.store.read() as conn:
        row = conn.execute(
            sa.select(trusted_issuers).where(trusted_issuers.c.issuer == "https://uss-auth.example")
        ).one()
        auth_row = conn.execute(sa.select(trusted_issuers).where(trusted_issuers.c.issuer == AUTH)).one()
        protocols = dict(conn.execute(sa.select(parties.c.id, parties.c.protocol)).all())
    assert (row.party_from, row.audiences, row.max_ttl_s, row.algorithms) == (
        "sub",
        ["localhost", "testserver"],
        3600.0,
        ["RS256"],
    )
    assert (auth_row.party_from, auth_row.audiences, auth_row.max_ttl_s) == ("sub", ["localhost"], None)
    assert protocols == {"alpha": "f3548", "bravo": "native", "unmed": "native"}
    assert {p["id"]: p["protocol"] for p in dss.list_parties()} == protocols
    assert dss.list_trusted_issuers()[-1] == {
        "issuer": "https://uss-auth.example",
        "audience": HOST,
        "audiences": ["localhost", "testserver"],
        "algorithms": ["RS256"],
        "party_claim": "party",
        "party_from": "sub",
        "max_ttl_s": 3600.0,
    }
    # another process over the same database builds its verifier from the rows
    other = open_service(db_url, clock=ManualClock(T0), initialise=False)
    try:
        token = mint(iss="https://uss-auth.example", sub="bravo", aud="testserver")
        refused(other, token, "not bound to a USS")
        dss.add_uss_client("bravo", "bravo", issuer="https://uss-auth.example")
        assert other.authenticate(token).party_id == "bravo"
        refused(other, mint(iss="https://uss-auth.example", sub="bravo", exp=int(T0.timestamp()) + 7200), "too long")
    finally:
        other.store.dispose()


def test_a_bad_protocol_is_refused_and_nothing_is_written(dss: Service) -> None:
    before = count(dss, parties)
    with pytest.raises(ValidationError) as caught:
        dss.add_party("gamma", "Gamma", protocol="astm")
    assert caught.value.field == "protocol"
    assert count(dss, parties) == before


def test_issuers_and_parties_from_before_the_migration_keep_working(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    store = Store(url)
    store.migrate("0005")
    old_parties = sa.table(
        "parties",
        *(sa.column(c) for c in ("id", "name", "role", "shares_with_observers", "language")),
        sa.column("created_at", UTCDateTime(timezone=True)),
    )
    old_issuers = sa.table(
        "trusted_issuers",
        *(sa.column(c) for c in ("issuer", "audience", "public_pem", "party_claim")),
        sa.column("algorithms", sa.JSON()),
        sa.column("created_at", UTCDateTime(timezone=True)),
    )
    with store.writer.begin() as conn:
        conn.execute(
            old_parties.insert(),
            dict(id="red", name="Red", role="member", shares_with_observers=False, language="en", created_at=T0),
        )
        conn.execute(
            old_issuers.insert(),
            dict(
                issuer="https://idp",
                audience="api",
                public_pem=PEM.decode(),
                party_claim="org",
                algorithms=["RS256"],
                created_at=T0,
            ),
        )
    store.dispose()
    service = open_service(url, clock=ManualClock(T0))
    try:
        assert service.list_parties()[0]["protocol"] == "native"
        assert service.list_trusted_issuers()[0] | {"algorithms": None} == {
            "issuer": "https://idp",
            "audience": "api",
            "audiences": [],
            "algorithms": None,
            "party_claim": "org",
            "party_from": "claim",
            "max_ttl_s": None,
        }
        who = service.authenticate(jwt.encode(claims(iss="https://idp", aud="api", org="red"), KEY, "RS256"))
        assert (who.party_id, who.role) == ("red", "read_only")
    finally:
        service.store.dispose()
