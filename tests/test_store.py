"""The store, on both back-ends: migrations keep data, the schema does not drift from the
metadata, SQLite is durable (WAL, synchronous=FULL), and two processes writing
conflicting activities at once never both commit unseen by each other.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from conftest import T0, PgServer, World, volume
from deconflict.service import AwarenessError, ItemInput, ManualClock, Service, open_service
from deconflict.store import Store
from deconflict.store.db import normalise_url
from deconflict.store.schema import (
    access_log,
    conflicts,
    derived_dss_id,
    item_versions,
    items,
    metadata,
    parties,
    users,
)
from deconflict.wire import volumes_from_json, volumes_to_json

POSTGIS_TABLES = frozenset({"spatial_ref_sys"})  # created by CREATE EXTENSION postgis, not ours


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database (no schema at all) on each back-end."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'old.db'}"
    server: PgServer = request.getfixturevalue("pg_server")
    name = f"m_{uuid.uuid4().hex[:16]}"
    with server.admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server.url(name)


@pytest.fixture
def store(empty_url: str) -> Iterator[Store]:
    s = Store(empty_url)
    yield s
    s.dispose()


def table_names(s: Store) -> set[str]:
    with s.reader.connect() as conn:
        return set(sa.inspect(conn).get_table_names())


def column_names(s: Store, table: str) -> set[str]:
    with s.reader.connect() as conn:
        return {c["name"] for c in sa.inspect(conn).get_columns(table)}


VOLUMES = volumes_to_json(volumes_from_json([volume()]))
OLD_ITEM: dict[str, Any] = {
    "id": "act_old",
    "item_type": "activity",
    "party_id": "alpha",
    "kind": "air_sortie",
    "subtype": None,
    "state": "notified",
    "priority": "routine",
    "title": "filed before 0002",
    "callsign": "OLD1",
    "contact": None,
    "notes": "private",
    "volumes": VOLUMES,
    "time_start": T0.replace(hour=11),
    "time_end": T0.replace(hour=13),
    "lon_min": 35.9,
    "lon_max": 36.1,
    "lat_min": 34.9,
    "lat_max": 35.1,
    "version": "v-old",
    "rev": 1,
    "notified_at": T0,
    "late_by_s": 0.0,
    "created_by": "a_old",
    "created_at": T0,
    "updated_at": T0,
}


# --- migrations ---------------------------------------------------------------------------


def test_migrating_from_0001_to_head_keeps_the_data(store: Store, empty_url: str) -> None:
    store.migrate("0001")
    assert store.current_revision() == "0001"
    assert "access_log" not in table_names(store)
    assert "minima" not in column_names(store, "items")
    with store.write() as conn:  # rows written by a 0001 deployment (no column of later ones named)
        conn.execute(
            _old(parties).values(
                id="alpha", name="Alpha", role="member", shares_with_observers=True, language="en", created_at=T0
            )
        )
        conn.execute(
            _old(users).values(
                id="a_old",
                party_id="alpha",
                role="liaison",
                display_name="Old hand",
                language="en",
                password_hash=None,
                contact_rank=0,
                scopes=None,
                active=True,
                created_at=T0,
            )
        )
        conn.execute(_old(items).values(**OLD_ITEM))

    store.migrate()
    assert store.current_revision() == Store.head_revision() == "0006"
    assert "access_log" in table_names(store)
    assert "minima" in column_names(store, "items")
    with store.read() as conn:
        row = conn.execute(sa.select(items)).one()
        user = conn.execute(sa.select(users)).one()
        party = conn.execute(sa.select(parties)).one()
    assert {k: getattr(row, k) for k in OLD_ITEM} == OLD_ITEM
    assert row.minima is None
    assert (user.id, user.party_id, user.display_name, user.active) == ("a_old", "alpha", "Old hand", True)
    assert (party.id, party.shares_with_observers, party.protocol) == ("alpha", True, "native")
    # 0006: the old item got its F3548 entity id (derived from its id) and numeric version
    assert (row.dss_id, row.version_no, row.uss_base_url) == (derived_dss_id("act_old"), 1, None)

    # the new column and table are usable
    with store.write() as conn:
        conn.execute(items.update().values(minima={"lateral_m": 100.0, "vertical_m": 0.0, "time_s": 0.0}))
        conn.execute(access_log.insert().values(at=T0, user_id="a_old", party_id="alpha", action="read_activity"))
    with store.read() as conn:
        assert conn.execute(sa.select(items.c.minima)).scalar_one() == {
            "lateral_m": 100.0,
            "vertical_m": 0.0,
            "time_s": 0.0,
        }
        assert conn.execute(sa.select(access_log.c.action)).scalar_one() == "read_activity"

    # and the service works on the upgraded database, old rows included
    with store.write() as conn:
        conn.execute(items.update().values(minima=None))
    svc = open_service(empty_url, clock=ManualClock(T0))
    try:
        svc.add_party("bravo", "Bravo", "member")
        svc.add_user("b_new", "bravo", "liaison")
        doc = svc.get_item(svc.principal_for("a_old"), "activity", "act_old")
        assert (doc["title"], doc["notes"], doc["version"]) == ("filed before 0002", "private", "v-old")
        data = ItemInput(kind="air_sortie", volumes=volumes_from_json([volume()]))
        with pytest.raises(AwarenessError) as e:
            svc.create_item(svc.principal_for("b_new"), "activity", data, state="notified")
        assert [m["id"] for m in e.value.missing] == ["act_old"]
    finally:
        svc.store.dispose()


def _old(table: sa.Table) -> sa.Insert:
    """An insert into ``table`` that names only the columns given to ``values`` (a row as
    an older schema wrote it: the current table's Python-side defaults are not applied)."""
    return sa.table(table.name, *(sa.column(c.name, c.type) for c in table.columns)).insert()


def test_migrating_twice_is_harmless(store: Store) -> None:
    store.migrate()
    store.migrate()
    assert store.current_revision() == Store.head_revision()
    assert set(metadata.tables) <= table_names(store)


def test_migrations_and_metadata_do_not_drift(db_url: str) -> None:
    s = Store(db_url)
    try:
        s.migrate()
        with s.writer.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": True,
                    "include_name": lambda name, type_, _parent: not (type_ == "table" and name in POSTGIS_TABLES),
                },
            )
            diff = compare_metadata(context, metadata)
        assert diff == []
    finally:
        s.dispose()


def test_foreign_keys_are_enforced(db_url: str) -> None:
    s = Store(db_url)
    try:
        s.migrate()
        with pytest.raises(sa.exc.IntegrityError), s.write() as conn:
            conn.execute(
                users.insert().values(id="ghost", party_id="nobody", role="liaison", display_name="g", created_at=T0)
            )
        with s.read() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(users)).scalar_one() == 0
    finally:
        s.dispose()


# --- SQLite durability --------------------------------------------------------------------


def test_sqlite_runs_in_wal_mode_with_full_synchronous(tmp_path: Path) -> None:
    s = Store(f"sqlite:///{tmp_path / 'd.db'}")
    try:
        s.migrate()
        for engine in (s.writer, s.reader):
            with engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert (tmp_path / "d.db-wal").exists()
    finally:
        s.dispose()


def test_urls() -> None:
    assert normalise_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("sqlite:///x.db") == "sqlite:///x.db"
    with pytest.raises(ValueError, match="unsupported database"):
        Store("mysql://u@h/db")


def test_committed_writes_survive_reopening(world: World, db_url: str) -> None:
    data = ItemInput(kind="maritime", volumes=volumes_from_json([volume()]), title="kept")
    _, body = world.service.create_item(world.p["a_liaison"], "activity", data, state="notified")
    world.service.store.dispose()
    again = open_service(db_url, clock=world.clock)
    try:
        doc = again.get_item(again.principal_for("b_liaison"), "activity", body["item"]["id"])
        assert (doc["title"], doc["version"], doc["state"]) == ("kept", body["item"]["version"], "notified")
    finally:
        again.store.dispose()


# --- two writers at once ------------------------------------------------------------------


def _race(world: World, db_url: str, lat: float, *, learn_and_retry: bool) -> dict[str, Any]:
    """alpha (through the fixture's service) and bravo (through a second Service on its
    own Store: another process, as far as the database can tell) notify conflicting
    activities at the same moment."""
    other = Service(Store(db_url), world.clock)
    services = {"a_liaison": world.service, "b_liaison": other}
    barrier = threading.Barrier(2)
    results: dict[str, Any] = {}

    def submit(user: str) -> None:
        svc, who = services[user], world.p[user]
        data = ItemInput(kind="air_sortie", volumes=volumes_from_json([volume(36.0, lat)]), title=user)
        try:
            barrier.wait(timeout=30)
            try:
                results[user] = svc.create_item(who, "activity", data, state="notified")[1]
            except AwarenessError as e:
                if not learn_and_retry:
                    results[user] = e
                    return
                key = tuple(str(svc.get_item(who, m["type"], m["id"])["version"]) for m in e.missing)
                results[user] = svc.create_item(who, "activity", data, state="notified", key=key)[1]
        except BaseException as e:  # reported by the test
            results[user] = e

    threads = [threading.Thread(target=submit, args=(u,)) for u in services]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in threads)
    finally:
        other.store.dispose()
    return results


@pytest.mark.parametrize("lat", [35.0, 35.5, 36.0])
def test_concurrent_conflicting_notices_are_never_committed_unseen(world: World, db_url: str, lat: float) -> None:
    results = _race(world, db_url, lat, learn_and_retry=False)
    won = [u for u, r in results.items() if isinstance(r, dict)]
    lost = [u for u, r in results.items() if isinstance(r, AwarenessError)]
    assert len(won) == 1 and len(lost) == 1, results
    winner = results[won[0]]["item"]
    assert [m["id"] for m in results[lost[0]].missing] == [winner["id"]]
    with world.service.store.read() as conn:
        assert conn.execute(sa.select(items.c.id)).scalars().all() == [winner["id"]]
        assert conn.execute(sa.select(sa.func.count()).select_from(conflicts)).scalar_one() == 0


def test_concurrent_writers_that_learn_and_retry_both_commit_knowingly(world: World, db_url: str) -> None:
    results = _race(world, db_url, 35.0, learn_and_retry=True)
    assert all(isinstance(r, dict) for r in results.values()), results
    ids = {u: r["item"]["id"] for u, r in results.items()}
    with world.service.store.read() as conn:
        history = {
            r.item_id: r
            for r in conn.execute(sa.select(item_versions).where(item_versions.c.item_id.in_(list(ids.values()))))
        }
        stored = conn.execute(sa.select(conflicts)).all()
    assert len(history) == 2  # one version each
    keys = {item_id: h.document["key_presented"] for item_id, h in history.items()}
    first = next(i for i, k in keys.items() if k == [])
    second = next(i for i in keys if i != first)
    assert keys[second] == [history[first].version]  # the later one had seen the earlier one
    [c] = stored
    assert {c.item_a, c.item_b} == set(ids.values())
    assert c.item_a == second  # the conflict was opened by the second submission
