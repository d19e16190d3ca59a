"""The service's command line (``deconflict init|party|user|token|key|policy|import|export|status|serve``).

Run in-process with typer's ``CliRunner`` against the ``db_url`` databases (a SQLite
file and a fresh PostgreSQL database), and ``serve`` as a real child process.  Each
refusal must exit with status 2 and name the field that is wrong; what the commands
write is checked through the service (:meth:`Service.authenticate`, :meth:`Service.login`,
the database) rather than trusted from their output.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from click.testing import Result
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from typer.testing import CliRunner

from deconflict.cli import app
from deconflict.geojson import parse_feature_collection
from deconflict.service import NotAuthenticated, Service, open_service
from deconflict.store import Store
from serverproc import ServerProcess

PASSWORD = "correct horse battery staple"
JWT_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


def run(db_url: str, *args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(app, [*args, "--db", db_url], input=input)


def ok(db_url: str, *args: str, input: str | None = None) -> Result:
    result = run(db_url, *args, input=input)
    assert result.exit_code == 0, (args, result.stdout, result.stderr, result.exception)
    return result


def refused(db_url: str, *args: str, field: str, input: str | None = None) -> str:
    """Run a command that must fail with exit status 2, naming ``field``; return its message."""
    result = run(db_url, *args, input=input)
    message = " ".join(result.stderr.split())  # rich wraps long lines
    assert result.exit_code == 2, (args, result.stdout, result.stderr, result.exception)
    assert f"error {field}" in message, message  # "error <field>: <reason>"
    return message


def status(db_url: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(ok(db_url, "status", "--json").stdout)
    return doc


@pytest.fixture
def inited(db_url: str) -> str:
    ok(db_url, "init")
    return db_url


@pytest.fixture
def svc(inited: str) -> Iterator[Service]:
    """A service over the same database, opened as another process would (no initialising)."""
    service = open_service(inited, initialise=False)
    yield service
    service.store.dispose()


def with_members(db_url: str) -> None:
    ok(db_url, "party", "add", "alpha", "--name", "Alpha", "--shares-with-observers")
    ok(db_url, "party", "add", "bravo", "--name", "Bravo", "--language", "ar")
    ok(db_url, "user", "add", "a_liaison", "--party", "alpha")
    ok(db_url, "user", "add", "a_ro", "--party", "alpha", "--role", "read_only")
    ok(db_url, "user", "add", "b_liaison", "--party", "bravo")


# --- init and status --------------------------------------------------------------------


def test_init_creates_schema_and_key_then_is_idempotent(db_url: str) -> None:
    first = " ".join(ok(db_url, "init").stdout.split())
    assert f"schema at revision {Store.head_revision()}" in first
    assert "created policy, signing key" in first
    again = " ".join(ok(db_url, "init").stdout.split())
    assert "created nothing new" in again
    doc = status(db_url)
    assert doc["schema_revision"] == Store.head_revision()
    assert (doc["parties"], doc["users"], doc["items"], doc["conflicts"]) == (0, 0, {}, {})
    if db_url.startswith("postgresql://postgres@"):  # a password given in the URL is never printed
        with_password = db_url.replace("postgres@", "postgres:s3cret@", 1)
        for args in (["init"], ["status", "--json"]):
            shown = ok(with_password, *args).stdout
            assert "s3cret" not in shown and "***" in shown


def test_commands_other_than_init_refuse_a_database_without_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    for args in (["status"], ["party", "add", "alpha", "--name", "Alpha"], ["policy", "show"]):
        result = run(url, *args)
        assert result.exit_code == 2, result.stdout
        assert "run `deconflict init` first" in " ".join(result.stderr.split())


# --- parties and users --------------------------------------------------------------------


def test_parties_and_users(inited: str, svc: Service) -> None:
    db = inited
    with_members(db)
    refused(db, "party", "add", "alpha", "--name", "Again", field="party")
    refused(db, "party", "add", "gamma", "--name", "Gamma", "--role", "king", field="role")
    refused(db, "party", "add", "bad id!", "--name", "Bad", field="party")
    assert [p["id"] for p in svc.list_parties()] == ["alpha", "bravo"]
    assert {p["id"]: p["shares_with_observers"] for p in svc.list_parties()} == {"alpha": True, "bravo": False}

    # a password read from stdin (never from the command line), held to the password policy
    ok(db, "user", "add", "a_cmd", "--party", "alpha", "--role", "commander", "--password-stdin", input=PASSWORD + "\n")
    assert svc.login("a_cmd", PASSWORD)["user"] == "a_cmd"
    with pytest.raises(NotAuthenticated):
        svc.login("a_cmd", PASSWORD + "x")
    refused(db, "user", "add", "a_short", "--party", "alpha", "--password-stdin", input="short\n", field="password")
    refused(db, "user", "add", "a_cmd", "--party", "alpha", field="user")
    refused(db, "user", "add", "z_user", "--party", "nobody", field="party")
    refused(db, "user", "add", "a_x", "--party", "alpha", "--role", "general", field="role")
    users = {u["id"]: u for u in svc.list_users()}
    assert set(users) == {"a_liaison", "a_ro", "a_cmd", "b_liaison"}
    assert users["b_liaison"]["language"] == "ar"  # the party's language by default
    assert status(db)["users"] == 4


# --- tokens and keys ------------------------------------------------------------------------


def test_token_issue_prints_only_a_token_that_authenticates(inited: str, svc: Service) -> None:
    db = inited
    with_members(db)
    result = ok(db, "token", "issue", "a_liaison", "--ttl", "30m")
    token = result.stdout.strip()
    assert result.stdout == token + "\n" and JWT_SHAPE.fullmatch(token), result.stdout
    assert "a_liaison" in result.stderr  # the description goes to stderr
    who = svc.authenticate(token)
    assert (who.user_id, who.party_id, who.role) == ("a_liaison", "alpha", "liaison")
    assert "activities:write" in who.scopes
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]
    assert 29 * 60 <= expires - time.time() <= 31 * 60

    narrow = ok(db, "token", "issue", "a_liaison", "--scope", "activities:read").stdout.strip()
    assert svc.authenticate(narrow).scopes == frozenset({"activities:read"})
    refused(db, "token", "issue", "a_ro", "--scope", "activities:write", field="scopes")
    refused(db, "token", "issue", "nobody", field="user")
    assert run(db, "token", "issue", "a_liaison", "--ttl", "5x").exit_code == 2

    # deactivating a user revokes their tokens at once, and no new one is issued
    ok(db, "user", "deactivate", "a_liaison")
    with pytest.raises(NotAuthenticated):
        svc.authenticate(token)
    refused(db, "token", "issue", "a_liaison", field="user")
    refused(db, "user", "deactivate", "nobody", field="user")
    assert svc.authenticate(ok(db, "token", "issue", "b_liaison").stdout.strip()).user_id == "b_liaison"


def test_key_rotate_keeps_older_tokens_valid(inited: str, svc: Service) -> None:
    db = inited
    with_members(db)
    old = ok(db, "token", "issue", "a_liaison").stdout.strip()
    kid = re.search(r"new signing key (\w+)", ok(db, "key", "rotate").stdout)
    assert kid is not None
    new = ok(db, "token", "issue", "a_liaison").stdout.strip()
    assert jwt.get_unverified_header(new)["kid"] == kid.group(1) != jwt.get_unverified_header(old)["kid"]
    fresh = open_service(db, initialise=False)  # no cached verifier
    try:
        assert fresh.authenticate(old).user_id == fresh.authenticate(new).user_id == "a_liaison"
    finally:
        fresh.store.dispose()


def _rsa_pem(bits: int = 2048) -> tuple[rsa.RSAPrivateKey, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return key, pem


def test_key_trust_accepts_an_external_issuers_rs256_tokens(inited: str, svc: Service, tmp_path: Path) -> None:
    db = inited
    with_members(db)
    idp_key, idp_pem = _rsa_pem()
    pem_file = tmp_path / "idp.pem"
    pem_file.write_bytes(idp_pem)
    ok(db, "key", "trust", "https://idp.example", "--public-key", str(pem_file), "--algorithm", "RS256")

    now = datetime.now(UTC)
    claims = {
        "iss": "https://idp.example",
        "aud": "deconflict-api",
        "sub": "officer.smith",
        "party": "bravo",
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=10)).timestamp()),
        "scope": "activities:read activities:write zones:read bogus:scope",
    }
    token = jwt.encode(claims, idp_key, algorithm="RS256")
    who = svc.authenticate(token)
    assert (who.user_id, who.party_id, who.party_role, who.role) == ("officer.smith", "bravo", "member", "liaison")
    assert who.scopes == frozenset({"activities:read", "activities:write", "zones:read"})
    # signed by someone else, or for a party that is not one here: refused
    other_key, _ = _rsa_pem()
    with pytest.raises(NotAuthenticated):
        svc.authenticate(jwt.encode(claims, other_key, algorithm="RS256"))
    with pytest.raises(NotAuthenticated):
        svc.authenticate(jwt.encode(claims | {"party": "nobody"}, idp_key, algorithm="RS256"))

    # an unusable key is refused when trusted (stored, it would break every log-in), naming the field
    _, weak = _rsa_pem(1024)
    weak_file = tmp_path / "weak.pem"
    weak_file.write_bytes(weak)
    refused(db, "key", "trust", "https://weak.example", "--public-key", str(weak_file), field="public_key_pem")
    es = ("--algorithm", "ES256")
    refused(db, "key", "trust", "https://es.example", "--public-key", str(pem_file), *es, field="algorithms")
    refused(db, "key", "trust", "deconflict", "--public-key", str(pem_file), field="issuer")
    junk = tmp_path / "junk.pem"
    junk.write_text("not a key")
    refused(db, "key", "trust", "https://junk.example", "--public-key", str(junk), field="public_key_pem")
    local = ok(db, "token", "issue", "a_liaison").stdout.strip()
    assert svc.authenticate(local).user_id == "a_liaison"
    assert svc.authenticate(token).user_id == "officer.smith"


# --- policy -------------------------------------------------------------------------------


def test_policy_show_and_set(inited: str, tmp_path: Path) -> None:
    db = inited
    shown = json.loads(ok(db, "policy", "show").stdout)
    assert shown["min_notice_s"]["air_sortie"] == 1800
    assert shown["late_notice"]["humanitarian_movement"] == "refuse"

    changed = json.loads(json.dumps(shown))
    changed["min_notice_s"]["air_sortie"] = 3600
    changed["ack_s"]["flash"] = 120
    changed["minima"]["default"]["lateral_m"] = 500
    good = tmp_path / "policy.json"
    good.write_text(json.dumps(changed))
    ok(db, "policy", "set", str(good))
    now = json.loads(ok(db, "policy", "show").stdout)
    assert now["min_notice_s"]["air_sortie"] == 3600
    assert now["ack_s"]["flash"] == 120
    assert now["minima"]["default"]["lateral_m"] == 500

    bad = tmp_path / "bad.json"
    for doc, field in (
        ({"ack_s": {"flash": 0}}, "ack_s.flash"),
        ({"min_notice_s": {"air_sortie": -5}}, "min_notice_s.air_sortie"),
        ({"min_notice_s": {"teleport": 5}}, "min_notice_s.teleport"),
        ({"late_notice": {"maritime": "maybe"}}, "late_notice.maritime"),
        ({"holidays": []}, "holidays"),
        ({"minima": {"default": {"lateral_m": -1}}}, "minima.default.lateral_m"),
    ):
        bad.write_text(json.dumps(doc))
        refused(db, "policy", "set", str(bad), field=field)
    bad.write_text("{not json")
    result = run(db, "policy", "set", str(bad))
    assert result.exit_code == 2 and "not JSON" in " ".join(result.stderr.split())
    assert json.loads(ok(db, "policy", "show").stdout) == now  # unchanged by the refusals


# --- GeoJSON --------------------------------------------------------------------------------


def _t(hours: float) -> str:
    moment = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1, hours=hours)
    return moment.isoformat().replace("+00:00", "Z")


def _feature(item_id: str, geometry: dict[str, Any], **props: Any) -> dict[str, Any]:
    base = {"item_id": item_id, "altitude_lower_m": 0.0, "altitude_upper_m": 3000.0}
    base |= {"time_start": _t(0), "time_end": _t(2)}
    return {"type": "Feature", "geometry": geometry, "properties": base | props}


def _point(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [lon, lat]}


def plan() -> dict[str, Any]:
    square = [[36.5, 35.0], [36.6, 35.0], [36.6, 35.1], [36.5, 35.1], [36.5, 35.0]]
    return {
        "type": "FeatureCollection",
        "features": [
            _feature("S-1", _point(36.0, 35.0), item_type="activity", kind="air_sortie", volume_index=0,
                     radius_m=2000.0, title="sortie one", callsign="VIPER 1"),
            _feature("S-1", _point(36.1, 35.0), volume_index=1, radius_m=1500.0, time_start=_t(2), time_end=_t(3)),
            _feature("C-1", {"type": "Polygon", "coordinates": [square]}, item_type="activity",
                     kind="ground_movement", title="convoy", altitude_upper_m=50.0),
            _feature("H-1", _point(36.3, 35.3), item_type="zone", kind="protected_site", subtype="hospital",
                     radius_m=500.0, title="hospital", time_end=_t(240)),
        ],
    }  # fmt: skip


def by_title(doc: dict[str, Any]) -> dict[str, Any]:
    return {str(item.properties.get("title")): item for item in parse_feature_collection(doc)}


def test_import_and_export_geojson_round_trip(inited: str, svc: Service, tmp_path: Path) -> None:
    db = inited
    with_members(db)
    source = tmp_path / "plan.geojson"
    source.write_text(json.dumps(plan()))
    out = " ".join(ok(db, "import", str(source), "--as", "a_liaison").stdout.split())
    assert "imported 3 item(s); 0 conflict(s) found" in out
    assert status(db)["items"] == {"activity:draft": 2, "zone:active": 1}

    exported = tmp_path / "out.geojson"
    assert "wrote 2 activity(s)" in " ".join(ok(db, "export", str(exported), "--as", "a_liaison").stdout.split())
    ok(db, "export", str(tmp_path / "zones.geojson"), "--as", "a_liaison", "--type", "zone")
    original = by_title(plan())
    back = by_title(json.loads(exported.read_text()))
    zones = by_title(json.loads((tmp_path / "zones.geojson").read_text()))
    assert set(back) == {"sortie one", "convoy"} and set(zones) == {"hospital"}
    for title, item in (back | zones).items():
        assert item.volumes == original[title].volumes, title
        assert (item.type, item.kind, item.party) == (original[title].type, original[title].kind, "alpha")
    assert back["sortie one"].properties["callsign"] == "VIPER 1"
    assert back["sortie one"].properties["state"] == "draft"

    # drafts are private: bravo's export holds none of them; the zone is shared at once
    ok(db, "export", str(tmp_path / "b.geojson"), "--as", "b_liaison")
    assert json.loads((tmp_path / "b.geojson").read_text())["features"] == []
    ok(db, "export", str(tmp_path / "bz.geojson"), "--as", "b_liaison", "--type", "zone")
    assert set(by_title(json.loads((tmp_path / "bz.geojson").read_text()))) == {"hospital"}

    # an exported file imports again (as new items)
    assert "imported 2 item(s)" in " ".join(ok(db, "import", str(exported), "--as", "a_liaison").stdout.split())
    assert status(db)["items"] == {"activity:draft": 4, "zone:active": 1}

    # a bravo zone over alpha's hospital: a stored conflict, as status shows
    clash = {"type": "FeatureCollection", "features": [
        _feature("T-1", _point(36.3, 35.3), item_type="zone", kind="training_area", radius_m=800.0, title="range")
    ]}  # fmt: skip
    (tmp_path / "clash.geojson").write_text(json.dumps(clash))
    out = " ".join(ok(db, "import", str(tmp_path / "clash.geojson"), "--as", "b_liaison").stdout.split())
    assert "imported 1 item(s); 1 conflict(s) found" in out
    doc = status(db)
    assert doc["conflicts"] == {"open": 1}
    assert doc["items"] == {"activity:draft": 4, "zone:active": 2}
    assert (doc["parties"], doc["users"]) == (2, 3)
    assert doc["last_event_seq"] > 0
    assert doc["overdue_receipts"] == 0


def test_a_bad_geojson_file_stores_nothing(inited: str, tmp_path: Path) -> None:
    db = inited
    with_members(db)
    before = status(db)
    bad = tmp_path / "bad.geojson"

    doc = plan()
    doc["features"][2]["properties"]["time_end"] = _t(-5)  # ends before it starts
    bad.write_text(json.dumps(doc))
    message = refused(db, "import", str(bad), "--as", "a_liaison", field="features[2]")
    assert "time" in message

    doc = plan()  # valid GeoJSON, but the third item is refused by the service after two were filed
    doc["features"][3]["properties"]["subtype"] = "castle"
    bad.write_text(json.dumps(doc))
    refused(db, "import", str(bad), "--as", "a_liaison", field="items[2].subtype")

    doc = plan()  # another party's items
    doc["features"][0]["properties"]["party"] = "bravo"
    bad.write_text(json.dumps(doc))
    refused(db, "import", str(bad), "--as", "a_liaison", field="items[0].party")

    doc = plan()  # a NUL character: PostgreSQL cannot store it, so both back-ends refuse it
    doc["features"][1]["properties"]["title"] = "convoy\x00 2"
    bad.write_text(json.dumps(doc))
    refused(db, "import", str(bad), "--as", "a_liaison", field="features[1].properties.title")

    source = tmp_path / "plan.geojson"
    source.write_text(json.dumps(plan()))
    refused(db, "import", str(source), "--as", "nobody", field="user")
    refused(db, "import", str(source), "--as", "a_ro", field="scope")  # read-only users file nothing
    bad.write_text("{]")
    result = run(db, "import", str(bad), "--as", "a_liaison")
    assert result.exit_code == 2 and "not JSON" in " ".join(result.stderr.split())
    refused(db, "export", str(tmp_path / "x.geojson"), "--as", "a_liaison", "--type", "aircraft", field="--type")
    assert not (tmp_path / "x.geojson").exists()

    after = status(db)
    assert (after["items"], after["conflicts"], after["last_event_seq"]) == (
        before["items"],
        before["conflicts"],
        before["last_event_seq"],
    )


# --- serve ------------------------------------------------------------------------------------


def test_serve_answers_with_cli_issued_tokens_and_stops_cleanly(inited: str, tmp_path: Path) -> None:
    db = inited
    with_members(db)
    token = ok(db, "token", "issue", "a_liaison").stdout.strip()
    server = ServerProcess(db, tmp_path / "serve.log", scheduler=False)
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=30.0) as client:
            health = client.get("/v1/health").json()
            assert health["status"] == "ok"
            assert health["database"] == ("sqlite" if db.startswith("sqlite") else "postgresql")
            me = client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
            assert me.status_code == 200 and me.json()["user"] == "a_liaison"
            assert client.get("/v1/me").status_code == 401
            ok(db, "user", "deactivate", "a_liaison")  # another process, same database: effective at once
            assert client.get("/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    finally:
        stopped = server.stop()
    assert stopped, f"no clean shutdown on SIGTERM (exit status {server.proc and server.proc.returncode})"
    assert "deconflict serving" in server.log_tail()


def test_liveness_shows_every_party_and_its_state(inited: str, svc: Service) -> None:
    with_members(inited)
    ok(inited, "party", "add", "watch", "--name", "Watch", "--role", "observer")
    assert status(inited)["channels"] == {"alpha": "unknown", "bravo": "unknown"}
    svc.heartbeat(svc.principal_for("a_liaison"))
    rows = {r["party"]: r for r in json.loads(ok(inited, "liveness", "--json").stdout)}
    assert rows["alpha"]["state"] == "up" and rows["alpha"]["last_seen_by"] == "a_liaison"
    assert rows["bravo"]["state"] == "unknown" and rows["watch"]["monitored"] is False
    assert status(inited)["channels"] == {"alpha": "up", "bravo": "unknown"}
    table = ok(inited, "liveness").stdout
    assert "alpha" in table and "up" in table and "monitored" in table  # (rich may wrap "not monitored")


@pytest.mark.parametrize(
    ("url", "reason"),
    [("ftp://tiles.example.org/{z}/{x}/{y}.png", "http(s) URL"), ("https://tiles.example.org/tile.png", "{z}")],
)
def test_serve_refuses_a_bad_tile_url_before_touching_the_database(tmp_path: Path, url: str, reason: str) -> None:
    db = tmp_path / "never.db"
    message = refused(f"sqlite:///{db}", "serve", "--tile-url", url, field="tile_url")
    assert reason in message
    assert not db.exists()
