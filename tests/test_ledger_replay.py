"""Rebuilding the service's state from the joint record alone: the rebuilt state equals the
live one (SQLite and PostgreSQL, and across them), a rebuilt database exports the same
record, and replay refuses what is not a whole, unbroken operator export.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from conftest import World
from deconflict.errors import ValidationError
from deconflict.service import ManualClock, Service, StateConflict, open_service
from deconflict.service.replay import replay, state_of
from deconflict.store import Store
from deconflict.store.schema import events, parties, users
from ledger_story import tell


def fresh(db_url: str, tmp_path: Path, request: pytest.FixtureRequest, name: str) -> Store:
    """An empty, migrated database on the same back-end as ``db_url``."""
    if db_url.startswith("sqlite"):
        store = Store(f"sqlite:///{tmp_path / name}")
        store.migrate()
        return store
    return Store(request.getfixturevalue("pg_server").fresh_database())


def test_the_record_rebuilds_the_live_state(
    world: World, db_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    svc = world.service
    tell(world)
    svc.checkpoint()
    lines = list(svc.ledger_lines())
    records = [json.loads(line) for line in lines[1:]]
    changes = sum(1 for e in records if e.get("kind") in ("row", "private"))
    live = state_of(svc.store)
    assert sum(len(rows) for rows in live.values()) > 100
    for target in (fresh(db_url, tmp_path, request, "same.db"), fresh("sqlite", tmp_path, request, "other.db")):
        try:
            assert replay(lines, target) == changes
            assert state_of(target) == live
            again = list(Service(target, world.clock).ledger_lines())
            assert again[1:] == lines[1:]  # the same entries and tree heads
            with target.write() as conn:  # the database numbers new rows after the rebuilt ones
                seq = conn.execute(
                    events.insert().returning(events.c.seq),
                    dict(at=world.clock.now(), type="t", audience=["*"], payload={}),
                ).scalar_one()
            assert seq == max(e["seq"] for e in live["events"]) + 1
        finally:
            target.dispose()


def test_replay_refuses_what_is_not_a_whole_operator_export(
    world: World, db_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    svc = world.service
    svc.add_party("charlie", "Charlie", language="tr")
    lines = list(svc.ledger_lines())
    target = fresh(db_url, tmp_path, request, "t.db")
    try:
        with pytest.raises(ValidationError) as e:
            replay(svc.ledger_lines(world.p["b_liaison"]), target)
        assert e.value.field == "view"
        at = next(i for i, line in enumerate(lines) if '"name":"Bravo"' in line)
        tampered = lines.copy()
        tampered[at] = tampered[at].replace('"name":"Bravo"', '"name":"Brav0"')
        missing = lines[:at] + lines[at + 1 :]
        for bad, field in ((tampered, f"line {at + 1}"), (missing, f"line {at + 1}"), (lines[1:], "line 1")):
            with pytest.raises(ValidationError) as e:
                replay(bad, target)
            assert e.value.field == field
        empty = fresh(db_url, tmp_path, request, "empty.db")
        assert state_of(target) == state_of(empty)  # nothing kept
        empty.dispose()
        replay(lines, target)
        with pytest.raises(StateConflict):
            replay(lines, target)
    finally:
        target.dispose()


def test_state_from_before_the_record_began_is_adopted(db_url: str, clock: ManualClock, tmp_path: Path) -> None:
    store = Store(db_url)
    store.migrate()
    with store.write() as conn:  # written by a deployment from before the record
        conn.execute(
            parties.insert(),
            dict(
                id="old", name="Old", role="member", shares_with_observers=False, language="en", created_at=clock.now()
            ),
        )
        conn.execute(
            users.insert(),
            dict(
                id="old.user",
                party_id="old",
                role="liaison",
                display_name="Old",
                language="en",
                password_hash="$argon2id$secret",
                contact_rank=0,
                active=True,
                created_at=datetime(2026, 1, 1, tzinfo=UTC),
            ),
        )
    store.dispose()
    svc = open_service(db_url, clock=clock)
    try:
        lines = list(svc.ledger_lines())
        tables = [json.loads(line)["payload"]["table"] for line in lines[1:]]
        assert tables[0] == "ledger_keys" and {"parties", "users", "settings", "signing_keys"} <= set(tables)
        assert "$argon2id$secret" not in "\n".join(lines)
        rebuilt = Store(f"sqlite:///{tmp_path / 'rebuilt.db'}")
        rebuilt.migrate()
        replay(lines, rebuilt)
        assert state_of(rebuilt) == state_of(svc.store)
        with rebuilt.read() as conn:
            assert conn.execute(sa.select(users.c.password_hash)).scalar() is None  # never in the record
        rebuilt.dispose()
    finally:
        svc.store.dispose()
