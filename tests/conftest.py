"""Shared fixtures: real databases (a SQLite file; a PostgreSQL + PostGIS server started
here), a service over each with a manual clock, a small world of parties and users, and
an API client.

``db_url`` is parametrised over both back-ends, so every test that uses it (directly or
through ``service``/``world``/``api``) is a contract test run against both.  The
PostgreSQL server is started once per session (``deconflict.devtools.local_postgres``);
each test gets a fresh database copied from a migrated template.  Nothing is skipped:
without the PostgreSQL binaries the ``postgres`` tests fail, saying what to install.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from argon2 import PasswordHasher
from psycopg.conninfo import conninfo_to_dict

from deconflict.devtools import local_postgres
from deconflict.service import ManualClock, Principal, Service, open_service
from deconflict.store import Store

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
TEMPLATE = "deconflict_template"


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Users' passwords are hashed with real argon2id, but at minimal cost: the ``world``
    fixture creates seven users per test, and argon2's defaults take ~0.15 s each.
    (``tests/test_auth.py`` tests :func:`deconflict.auth.hash_password` itself, unpatched.)"""
    monkeypatch.setattr(
        "deconflict.service.admin.hash_password", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash
    )


@dataclass
class PgServer:
    host: str
    port: int

    def url(self, dbname: str) -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/{dbname}"

    def admin(self) -> psycopg.Connection[Any]:
        return psycopg.connect(host=self.host, port=self.port, user="postgres", dbname="postgres", autocommit=True)

    def fresh_database(self) -> str:
        name = f"t_{uuid.uuid4().hex[:16]}"
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
        return self.url(name)


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgServer]:
    with local_postgres(tmp_path_factory.mktemp("pg"), dbname=TEMPLATE) as dsn:
        params = conninfo_to_dict(dsn)
        server = PgServer(str(params["host"]), int(params["port"]))
        store = Store(server.url(TEMPLATE))
        store.migrate()
        store.dispose()
        yield server


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'deconflict.db'}"
    server: PgServer = request.getfixturevalue("pg_server")
    return server.fresh_database()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def service(db_url: str, clock: ManualClock) -> Iterator[Service]:
    svc = open_service(db_url, clock=clock)
    yield svc
    svc.store.dispose()


@dataclass
class World:
    """Two member parties (alpha shares with observers, bravo does not), a mediator and an
    observer, each with users; ``p[user]`` is that user's principal."""

    service: Service
    clock: ManualClock
    p: dict[str, Principal] = field(default_factory=dict)

    def token(self, user: str) -> str:
        return str(self.service.issue_token(user)["access_token"])


USERS = {
    # user: (party, role)
    "a_liaison": ("alpha", "liaison"),
    "a_cmd": ("alpha", "commander"),
    "a_ro": ("alpha", "read_only"),
    "b_liaison": ("bravo", "liaison"),
    "b_cmd": ("bravo", "commander"),
    "m_user": ("unmed", "liaison"),
    "o_user": ("watch", "read_only"),
}
PASSWORD = "correct horse battery staple"


@pytest.fixture
def world(service: Service, clock: ManualClock) -> World:
    service.add_party("alpha", "Alpha", "member", shares_with_observers=True)
    service.add_party("bravo", "Bravo", "member", language="ar")
    service.add_party("unmed", "Mediator", "mediator")
    service.add_party("watch", "Observer", "observer")
    w = World(service, clock)
    for user, (party, role) in USERS.items():
        service.add_user(user, party, role, password=PASSWORD, contact_rank=1 if role == "commander" else 0)
        w.p[user] = service.principal_for(user)
    return w


def volume(
    lon: float = 36.0,
    lat: float = 35.0,
    *,
    start_h: float = 3.0,
    hours: float = 2.0,
    radius_m: float = 5000.0,
    lower: float = 0.0,
    upper: float = 3000.0,
) -> dict[str, Any]:
    """A circle volume in the API's wire shape, ``start_h`` hours after T0."""
    start = T0 + timedelta(hours=start_h)
    end = start + timedelta(hours=hours)
    return {
        "outline_circle": {"center": {"lng": lon, "lat": lat}, "radius": {"value": radius_m, "units": "M"}},
        "altitude_lower": {"value": lower, "reference": "W84", "units": "M"},
        "altitude_upper": {"value": upper, "reference": "W84", "units": "M"},
        "time_start": {"value": start.isoformat().replace("+00:00", "Z"), "format": "RFC3339"},
        "time_end": {"value": end.isoformat().replace("+00:00", "Z"), "format": "RFC3339"},
    }
