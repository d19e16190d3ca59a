"""``deconflict ledger …`` in-process (typer's ``CliRunner``) against both back-ends:
export → verify, a tampered copy, a kept tree head against a later export and against a
rewritten history, replay into a fresh database equal to the live state, the keys.

``verify`` is run with no ``--db`` and ``$DECONFLICT_DATABASE_URL`` naming a file that
does not exist: it must not open (or create) any database.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import Result
from typer.testing import CliRunner

from conftest import volume
from deconflict.cli import app
from deconflict.commands import console
from deconflict.ledger import verify_export
from deconflict.service import ItemInput, Service, open_service
from deconflict.service.replay import state_of
from deconflict.store import Store
from deconflict.store.schema import ledger_entries, tree_heads
from deconflict.wire import volumes_from_json


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, list(args), env=env)


def ok(*args: str) -> Result:
    result = run(*args)
    assert result.exit_code == 0, (args, result.stdout, result.stderr, result.exception)
    return result


def refused(*args: str, field: str) -> str:
    result = run(*args)
    message = " ".join(result.stderr.split())
    assert result.exit_code == 2, (args, result.stdout, result.stderr, result.exception)
    assert f"error {field}:" in message, message
    return message


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console, "_width", 250)


def item(title: str, lon: float, *, notes: str | None = None) -> ItemInput:
    return ItemInput(kind="air_sortie", volumes=volumes_from_json([volume(lon, 35.0)]), title=title, notes=notes)


@pytest.fixture
def svc(db_url: str) -> Iterator[Service]:
    """alpha and bravo with liaisons, the mediator; alpha's notified activity with notes and
    its draft; bravo's activity."""
    service = open_service(db_url)
    service.add_party("alpha", "Alpha", "member")
    service.add_party("bravo", "Bravo", "member")
    service.add_party("unmed", "Mediator", "mediator")
    for user, party, role in (
        ("a_liaison", "alpha", "liaison"),
        ("a_cmd", "alpha", "commander"),
        ("a_ro", "alpha", "read_only"),
        ("b_liaison", "bravo", "liaison"),
        ("b_cmd", "bravo", "commander"),
    ):
        service.add_user(user, party, role)
    write(service, "a_liaison", "alpha sortie", 36.0, notes="alpha-secret", state="notified")
    write(service, "a_liaison", "alpha draft", 40.0, notes="alpha-secret")
    write(service, "b_liaison", "bravo sortie", 10.0, state="notified")
    yield service
    service.store.dispose()


def write(service: Service, user: str, title: str, lon: float, **kw: Any) -> None:
    notes = kw.pop("notes", None)
    service.create_item(service.principal_for(user), "activity", item(title, lon, notes=notes), **kw)


def nowhere(tmp_path: Path) -> dict[str, str]:
    return {"DECONFLICT_DATABASE_URL": f"sqlite:///{tmp_path / 'absent' / 'no.db'}"}


def verify(tmp_path: Path, *args: str) -> Result:
    """``ledger verify`` with no database anywhere; checks it made none."""
    result = run("ledger", "verify", *args, env=nowhere(tmp_path))
    assert not (tmp_path / "absent").exists()
    assert not Path("deconflict.db").exists()
    return result


def test_export_then_verify_offline(svc: Service, db_url: str, tmp_path: Path) -> None:
    full, alpha, bravo = tmp_path / "all.jsonl", tmp_path / "alpha.jsonl", tmp_path / "bravo.jsonl"
    ok("ledger", "export", str(full), "--db", db_url)
    ok("ledger", "export", str(alpha), "--as", "a_ro", "--db", db_url)
    ok("ledger", "export", str(bravo), "--as", "b_liaison", "--db", db_url)

    def count(path: Path, what: str) -> int:
        return sum(1 for line in path.read_text().splitlines() if what in line.replace(" ", ""))

    seq = '"seq":'
    result = verify(tmp_path, str(full))
    assert result.exit_code == 0, result.stdout
    assert result.stdout.strip() == f"OK: {count(full, seq)} entries (0 redacted), 0 tree heads verified"
    assert "alpha-secret" not in bravo.read_text() and "alpha draft" not in bravo.read_text()
    redacted = count(bravo, '"redacted":true')
    assert redacted > 0
    result = verify(tmp_path, str(bravo))
    expected = f"OK: {count(bravo, seq)} entries ({redacted} redacted), 0 tree heads verified"
    assert result.stdout.strip() == expected
    assert verify(tmp_path, str(alpha)).exit_code == 0
    # the service's first key pinned: right, then wrong
    first = json.loads(full.read_text().splitlines()[1])
    service_key = first["payload"]["row"]["public_key"]
    assert verify(tmp_path, str(bravo), "--service-key", service_key).exit_code == 0
    wrong = verify(tmp_path, str(bravo), "--service-key", "A" * 43)
    assert wrong.exit_code == 1 and wrong.stdout.startswith("FAILED")
    # unknown options and files
    assert verify(tmp_path, str(tmp_path / "missing.jsonl")).exit_code == 2
    assert verify(tmp_path, str(full), "--signatures", "some").exit_code == 2


def test_a_tampered_copy_fails_at_its_entry(svc: Service, db_url: str, tmp_path: Path) -> None:
    full = tmp_path / "all.jsonl"
    ok("ledger", "export", str(full), "--db", db_url)
    lines = full.read_text().splitlines()
    n = next(i for i, line in enumerate(lines) if "bravo sortie" in line)
    seq = json.loads(lines[n])["seq"]
    tampered = tmp_path / "tampered.jsonl"
    tampered.write_text("\n".join([*lines[:n], lines[n].replace("bravo sortie", "bravo sortiE"), *lines[n + 1 :]]))
    result = verify(tmp_path, str(tampered))
    assert result.exit_code == 1
    assert result.stdout.startswith(f"FAILED at entry {seq}: "), result.stdout
    # a dropped entry and two swapped ones fail too
    dropped = tmp_path / "dropped.jsonl"
    dropped.write_text("\n".join([*lines[:n], *lines[n + 1 :]]))
    assert verify(tmp_path, str(dropped)).stdout.startswith("FAILED at entry ")
    swapped = tmp_path / "swapped.jsonl"
    swapped.write_text("\n".join([*lines[: n - 1], lines[n], lines[n - 1], *lines[n + 1 :]]))
    assert verify(tmp_path, str(swapped)).exit_code == 1


def test_a_kept_tree_head_against_later_exports(svc: Service, db_url: str, tmp_path: Path) -> None:
    kept = tmp_path / "th.json"
    ok("ledger", "tree-head", "--out", str(kept), "--db", db_url)
    head = json.loads(kept.read_text())
    assert set(head) >= {"tree_size", "root", "at", "kid", "sig"}
    assert json.loads(ok("ledger", "tree-head", "--db", db_url).stdout) == head  # nothing new: the same head
    write(svc, "b_liaison", "bravo later", 12.0)
    later = tmp_path / "later.jsonl"
    ok("ledger", "export", str(later), "--as", "b_liaison", "--db", db_url)
    result = verify(tmp_path, str(later), "--tree-head", str(kept))
    assert result.exit_code == 0 and result.stdout.startswith("OK: "), result.stdout
    assert int(result.stdout.split()[1]) > head["tree_size"]

    # the operator rewrites history after entry 3 with the very same key: the new file is a
    # valid chain by itself, but the head bravo kept proves it is not the history it saw
    svc.store.dispose()
    store = Store(db_url)
    try:
        with store.writer.begin() as conn:
            conn.execute(sa.delete(tree_heads))
            conn.execute(sa.delete(ledger_entries).where(ledger_entries.c.seq > 3))
    finally:
        store.dispose()
    rewritten = open_service(db_url)
    try:
        n = 0
        while rewritten.tree_heads(None)["tree_size"] <= head["tree_size"]:  # longer than what bravo saw
            n += 1
            write(rewritten, "b_liaison", f"bravo rewritten {n}", 14.0 + n)
    finally:
        rewritten.store.dispose()
    forked = tmp_path / "forked.jsonl"
    ok("ledger", "export", str(forked), "--as", "b_liaison", "--db", db_url)
    report = verify_export(forked.read_text().splitlines())
    assert report.ok, report  # on its own it verifies
    result = verify(tmp_path, str(forked), "--tree-head", str(kept))
    assert result.exit_code == 1 and result.stdout.startswith("FAILED"), result.stdout
    assert "tree head" in result.stdout and "consistent" in result.stdout


def test_replay_rebuilds_the_live_state(svc: Service, db_url: str, tmp_path: Path) -> None:
    full = tmp_path / "all.jsonl"
    ok("ledger", "export", str(full), "--db", db_url)
    fresh = f"sqlite:///{tmp_path / 'rebuilt.db'}"
    result = ok("ledger", "replay", str(full), "--db", fresh)
    assert "replayed" in result.stdout and "items=3" in " ".join(result.stdout.split())
    rebuilt = Store(fresh)
    try:
        assert state_of(rebuilt) == state_of(svc.store)
    finally:
        rebuilt.dispose()
    refused("ledger", "replay", str(full), "--db", fresh, field="db")  # no longer empty
    refused("ledger", "replay", str(full), "--db", db_url, field="db")


def test_keys_and_keygen(svc: Service, db_url: str, tmp_path: Path) -> None:
    keyfile = tmp_path / "alpha.key"
    public = ok("ledger", "keygen", "--out", str(keyfile)).stdout.strip()
    assert stat.S_IMODE(os.stat(keyfile).st_mode) == 0o600
    doc = json.loads(keyfile.read_text())
    assert doc["public_key"] == public and set(doc) == {"kid", "public_key", "private_key"}
    refused("ledger", "keygen", "--out", str(keyfile), field="out")  # never overwrites a key

    refused("ledger", "keys", "register", "--as", "a_ro", "--public-key", public, "--db", db_url, field="role")
    refused("ledger", "keys", "register", "--as", "a_cmd", "--db", db_url, field="public_key")
    out = ok("ledger", "keys", "register", "--as", "a_cmd", "--public-key", public, "--db", db_url).stdout
    assert doc["kid"] in out
    ok("ledger", "keys", "register", "--as", "b_cmd", "--server-side", "--db", db_url)
    listed = json.loads(ok("ledger", "keys", "list", "--json", "--db", db_url).stdout)
    owners = {k["kid"]: k["owner"] for k in listed}
    assert owners[doc["kid"]] == "alpha" and sorted(owners.values()) == ["alpha", "bravo", "service"]
    assert all("private_key" not in k for k in listed)
    refused("ledger", "keys", "revoke", "--as", "b_cmd", doc["kid"], "--db", db_url, field="kid")  # not bravo's
    ok("ledger", "keys", "revoke", "--as", "a_cmd", doc["kid"], "--db", db_url)
    revoked = {k["kid"]: k for k in json.loads(ok("ledger", "keys", "list", "--json", "--db", db_url).stdout)}
    assert revoked[doc["kid"]]["revoked_at"] is not None

    rotated = ok("ledger", "keys", "rotate", "--db", db_url).stdout
    kid = rotated.split()[-1]
    assert kid in {k["kid"] for k in json.loads(ok("ledger", "keys", "list", "--json", "--db", db_url).stdout)}
    write(svc, "b_liaison", "after rotation", 12.0)
    full = tmp_path / "all.jsonl"
    ok("ledger", "export", str(full), "--db", db_url)
    last = json.loads([line for line in full.read_text().splitlines() if '"seq"' in line][-1])
    assert last["kid"] == kid
    assert verify(tmp_path, str(full)).exit_code == 0
