"""``deconflict uss add-issuer | add-client | list``: F3548 DSS clients from the command line.

Run in-process with typer's ``CliRunner`` against the ``db_url`` databases, as
``tests/test_cli_service.py`` does.  A refusal exits with status 2, names the option that
is wrong and writes nothing (the tables are counted before and after); what a command
writes is checked through :meth:`Service.authenticate` and the tables.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
import sqlalchemy as sa
from click.testing import Result
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from typer.testing import CliRunner

from deconflict.cli import app
from deconflict.service import NotAuthenticated, Service, open_service
from deconflict.store.schema import trusted_issuers, uss_clients

AUTH = "https://auth.example.com"
HOST = "dss.example.com"
SC = "utm.strategic_coordination"


def run(db_url: str, *args: str) -> Result:
    return CliRunner().invoke(app, [*args, "--db", db_url])


def ok(db_url: str, *args: str) -> Result:
    result = run(db_url, *args)
    assert result.exit_code == 0, (args, result.stdout, result.stderr, result.exception)
    return result


def _rsa(bits: int = 2048) -> tuple[rsa.RSAPrivateKey, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return key, pem


KEY, PEM = _rsa()


def token(sub: str, *, aud: str = HOST, ttl: timedelta = timedelta(minutes=30)) -> str:
    now = datetime.now(UTC)  # the CLI's service runs on the wall clock
    claims = {
        "iss": AUTH,
        "sub": sub,
        "aud": aud,
        "exp": int((now + ttl).timestamp()),
        "jti": str(uuid.uuid4()),
        "scope": SC,
    }
    return jwt.encode(claims, KEY, algorithm="RS256")


@pytest.fixture
def db(db_url: str, tmp_path: Path) -> str:
    ok(db_url, "init")
    ok(db_url, "party", "add", "alpha", "--name", "Alpha")
    ok(db_url, "party", "add", "unmed", "--name", "Mediator", "--role", "mediator")
    (tmp_path / "auth.pem").write_bytes(PEM)
    return db_url


@pytest.fixture
def svc(db: str) -> Iterator[Service]:
    """A service over the same database, opened as another process would."""
    service = open_service(db, initialise=False)
    yield service
    service.store.dispose()


def counts(service: Service) -> tuple[int, int]:
    with service.store.read() as conn:
        issuers, clients = (
            int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
            for t in (trusted_issuers, uss_clients)
        )
    return issuers, clients


def refused(service: Service, db_url: str, *args: str, option: str) -> str:
    """Run a command that must exit with status 2 naming ``option``, writing nothing."""
    before = counts(service)
    result = run(db_url, *args)
    message = " ".join(result.stderr.split())  # rich wraps long lines
    assert result.exit_code == 2, (args, result.stdout, result.stderr, result.exception)
    assert f"error {option}:" in message, message
    assert counts(service) == before
    return message


def test_add_issuer_and_client_then_their_tokens_authenticate(db: str, svc: Service, tmp_path: Path) -> None:
    pem = str(tmp_path / "auth.pem")
    out = ok(db, "uss", "add-issuer", AUTH, HOST, "--public-key", pem, "--audience", "localhost", "--max-ttl", "1h")
    assert "trusting https://auth.example.com" in out.stdout
    with svc.store.read() as conn:
        row = conn.execute(sa.select(trusted_issuers)).one()
    assert (row.issuer, row.audience, row.audiences, row.max_ttl_s, row.algorithms, row.party_from) == (
        AUTH,
        HOST,
        ["localhost"],
        3600.0,
        ["RS256"],
        "sub",
    )
    ok(db, "uss", "add-client", "uss-7f3a", "--party", "alpha", "--issuer", AUTH)
    who = svc.authenticate(token("uss-7f3a"))
    assert (who.user_id, who.party_id, who.role, who.scopes) == ("uss-7f3a", "alpha", "client", frozenset({SC}))
    assert svc.authenticate(token("uss-7f3a", aud="localhost")).party_id == "alpha"
    with pytest.raises(NotAuthenticated) as caught:
        svc.authenticate(token("alpha"))  # called like its party: still no binding, no party
    assert f"client 'alpha' of issuer {AUTH!r} is not bound to a USS" in caught.value.reason

    svc.add_party("gamma", "Gamma", protocol="f3548")
    listed: dict[str, Any] = json.loads(ok(db, "uss", "list", "--json").stdout)
    assert [i["issuer"] for i in listed["issuers"]] == [AUTH]
    assert [(c["sub"], c["party"]) for c in listed["clients"]] == [("uss-7f3a", "alpha")]
    assert [p["id"] for p in listed["parties"]] == ["gamma"]
    table = " ".join(ok(db, "uss", "list").stdout.split())
    assert all(word in table for word in (AUTH, "localhost", "uss-7f3a", "gamma", "3600"))

    # again: the client moves, the issuer is replaced (no limit now)
    ok(db, "uss", "add-client", "uss-7f3a", "--party", "gamma", "--issuer", AUTH)
    ok(db, "uss", "add-issuer", AUTH, HOST, "--public-key", pem)
    assert counts(svc) == (1, 1)
    fresh = open_service(db, initialise=False)  # svc caches its verifier for a few seconds
    try:
        assert fresh.authenticate(token("uss-7f3a", ttl=timedelta(hours=3))).party_id == "gamma"
    finally:
        fresh.store.dispose()


def test_bad_options_are_named_and_nothing_is_written(db: str, svc: Service, tmp_path: Path) -> None:
    pem = str(tmp_path / "auth.pem")
    issuer = ("uss", "add-issuer", AUTH, HOST)
    refused(svc, db, *issuer, "--public-key", pem, "--max-ttl", "soon", option="--max-ttl")
    refused(svc, db, *issuer, "--public-key", pem, "--max-ttl", "0s", option="--max-ttl")
    refused(svc, db, *issuer, "--public-key", str(tmp_path / "missing.pem"), option="--public-key")
    (tmp_path / "junk.pem").write_text("not a key")
    refused(svc, db, *issuer, "--public-key", str(tmp_path / "junk.pem"), option="--public-key")
    (tmp_path / "weak.pem").write_bytes(_rsa(1024)[1])
    message = refused(svc, db, *issuer, "--public-key", str(tmp_path / "weak.pem"), option="--public-key")
    assert "2048 bits" in message
    refused(svc, db, *issuer, "--public-key", pem, "--algorithm", "HS256", option="--algorithm")
    refused(svc, db, *issuer, "--public-key", pem, "--audience", " ", option="--audience")
    refused(svc, db, "uss", "add-issuer", "deconflict", HOST, "--public-key", pem, option="issuer")

    ok(db, "uss", "add-issuer", AUTH, HOST, "--public-key", pem)
    ok(db, "key", "trust", "https://idp.example", "--public-key", pem)  # names its party in a claim
    client = ("uss", "add-client", "uss-1")
    refused(svc, db, *client, "--party", "nobody", "--issuer", AUTH, option="--party")
    message = refused(svc, db, *client, "--party", "unmed", "--issuer", AUTH, option="--party")
    assert "only member parties" in message
    refused(svc, db, *client, "--party", "alpha", "--issuer", "https://nobody.example", option="--issuer")
    refused(svc, db, *client, "--party", "alpha", "--issuer", "https://idp.example", option="--issuer")
    refused(svc, db, "uss", "add-client", "", "--party", "alpha", "--issuer", AUTH, option="sub")
    assert svc.list_uss_clients() == []


def test_uss_commands_refuse_a_database_without_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    result = CliRunner().invoke(app, ["uss", "list", "--db", url])
    assert result.exit_code == 2
    assert "deconflict init" in " ".join(result.stderr.split())


def test_party_add_takes_the_protocol_and_list_shows_it(db: str, svc: Service) -> None:
    ok(db, "party", "add", "uss9", "--name", "Drone USS", "--protocol", "f3548")
    listed = ok(db, "party", "list").stdout
    assert "uss9" in listed and "f3548" in listed
    assert {p["id"]: p["protocol"] for p in svc.list_parties()} == {
        "alpha": "native",
        "unmed": "native",
        "uss9": "f3548",
    }
    bad = run(db, "party", "add", "uss8", "--name", "X", "--protocol", "utm")
    assert bad.exit_code != 0 and "protocol" in (bad.stdout + bad.stderr)
    assert "uss8" not in {p["id"] for p in svc.list_parties()}


def test_dss_settings_are_shown_and_changed_by_name(db: str, svc: Service) -> None:
    shown = json.loads(ok(db, "uss", "settings", "--json").stdout)
    assert shown["native_base_url"] == "https://deconflict.invalid/native" and shown["max_area_km2"] == 2500
    ok(db, "uss", "settings", "--set", "native_base_url=https://dss.example.com/native", "--set", "max_area_km2=400")
    got = svc.get_dss_settings()
    assert (got["native_base_url"], got["max_area_km2"], got["burst"]) == ("https://dss.example.com/native", 400.0, 200)
    for bad, named in (
        (["--set", "max_area_km2=lots"], "--set[0]"),
        (["--set", "nonsense=1"], "--set[0]"),
        (["--set", "max_area_km2=-1"], "--set max_area_km2"),
        (["--set", "native_base_url=ftp://x"], "--set native_base_url"),
    ):
        r = run(db, "uss", "settings", *bad)
        assert r.exit_code == 2 and named in (r.stdout + r.stderr), (bad, r.stdout, r.stderr)
    assert svc.get_dss_settings() == got  # nothing written by a refusal
