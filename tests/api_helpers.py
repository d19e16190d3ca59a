"""Helpers for the HTTP API tests: a client with a bearer token per user, row counts,
the route table of an app, invariants of the stored state, and a WebSocket receive that
cannot hang.

The ``api`` fixtures live in the test modules (``conftest.py`` is shared with others)::

    @pytest.fixture
    def api(world: World) -> Iterator[Api]:
        with open_api(world) as a:
            yield a

(``populate(service, clock)`` gives the same world without passwords, faster.)
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute, WebSocketRoute
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from conftest import PASSWORD, T0, USERS, World, volume
from deconflict.api import create_app
from deconflict.service import ManualClock, Service, open_service
from deconflict.store.schema import (
    conflicts,
    events,
    incident_links,
    incident_notes,
    incidents,
    item_versions,
    items,
    liveness,
    messages,
    notices,
    receipts,
    threads,
)

__all__ = [
    "BACKENDS",
    "PASSWORD",
    "PROBLEM",
    "T0",
    "Api",
    "activity_body",
    "build_world",
    "check_invariants",
    "module_db_url",
    "open_api",
    "populate",
    "recv",
    "row_counts",
    "shared_api",
    "volume",
    "walk_routes",
    "ws_refusal",
    "zone_body",
]

PROBLEM = "application/problem+json"
COUNTED = {
    "items": items,
    "item_versions": item_versions,
    "notices": notices,
    "receipts": receipts,
    "events": events,
    "conflicts": conflicts,
    "threads": threads,
    "messages": messages,
    "incidents": incidents,
    "incident_links": incident_links,
    "incident_notes": incident_notes,
    "liveness": liveness,
}


def activity_body(*volumes: dict[str, Any], kind: str = "air_sortie", **fields: Any) -> dict[str, Any]:
    """A POST /v1/activities body (one default volume when none given)."""
    return {"kind": kind, "volumes": list(volumes) or [volume()], **fields}


def zone_body(*volumes: dict[str, Any], kind: str = "protected_site", **fields: Any) -> dict[str, Any]:
    return {"kind": kind, "volumes": list(volumes) or [volume(start_h=0, hours=48)], **fields}


class Api:
    """A TestClient over ``create_app(world.service)`` with a bearer token per user.

    ``api.get("b_liaison", "/v1/me")`` sends b_liaison's token; user ``None`` sends none.
    Besides the world's users there is ``ops``, a machine client of the mediator party
    that carries only the ``admin`` scope.
    """

    def __init__(self, world: World, client: TestClient, app: FastAPI) -> None:
        self.world = world
        self.service: Service = world.service
        self.clock: ManualClock = world.clock
        self.client = client
        self.app = app
        self._tokens: dict[str, str] = {}

    def token(self, user: str) -> str:
        if user not in self._tokens:
            self._tokens[user] = self.world.token(user)
        return self._tokens[user]

    def h(self, user: str | None, **extra: str) -> dict[str, str]:
        headers = dict(extra)
        if user is not None:
            headers["Authorization"] = f"Bearer {self.token(user)}"
        return headers

    def request(self, method: str, user: str | None, path: str, **kw: Any) -> Any:
        headers = self.h(user) | kw.pop("headers", {})
        return self.client.request(method, path, headers=headers, **kw)

    def get(self, user: str | None, path: str, **kw: Any) -> Any:
        return self.request("GET", user, path, **kw)

    def post(self, user: str | None, path: str, json: Any = None, **kw: Any) -> Any:
        return self.request("POST", user, path, json=json, **kw)

    def put(self, user: str | None, path: str, json: Any = None, **kw: Any) -> Any:
        return self.request("PUT", user, path, json=json, **kw)

    # --- composite steps ------------------------------------------------------------

    def ok(self, response: Any, status: int = 200) -> Any:
        assert response.status_code == status, response.text
        return response.json()

    def draft(self, user: str, **fields: Any) -> dict[str, Any]:
        """File a draft activity; returns the created item document."""
        body = activity_body(**fields) if "volumes" not in fields else {"kind": "air_sortie", **fields}
        return dict(self.ok(self.post(user, "/v1/activities", body), 201)["item"])

    def notify(self, user: str, body: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
        """File a notified activity with proof of awareness: on 409 read every missing
        object (which records the read) and resubmit with their versions as the key."""
        body = dict(body or activity_body(**fields))
        body["state"] = "notified"
        r = self.post(user, "/v1/activities", body)
        if r.status_code == 409:
            missing = r.json()["missing"]
            body["key"] = [self.read_version(user, m["type"], m["id"]) for m in missing]
            r = self.post(user, "/v1/activities", body)
        return dict(self.ok(r, 201))

    def read_version(self, user: str, item_type: str, item_id: str) -> str:
        path = "activities" if item_type == "activity" else "zones"
        return str(self.ok(self.get(user, f"/v1/{path}/{item_id}"))["version"])

    def zone(self, user: str, **fields: Any) -> dict[str, Any]:
        return dict(self.ok(self.post(user, "/v1/zones", zone_body(**fields)), 201))

    def counts(self) -> dict[str, int]:
        return row_counts(self.service)


@contextlib.contextmanager
def open_api(world: World) -> Iterator[Api]:
    if "ops" not in {u["id"] for u in world.service.list_users("unmed")}:
        world.service.add_user("ops", "unmed", "client", scopes=["admin"])
    app = create_app(world.service, scheduler_interval_s=None)
    with TestClient(app) as client:
        yield Api(world, client, app)


def populate(service: Service, clock: ManualClock) -> World:
    """The parties and users of ``conftest.world``, without passwords (hashing seven of
    them is most of the fixture's cost; the log-in tests use ``world`` itself)."""
    service.add_party("alpha", "Alpha", "member", shares_with_observers=True)
    service.add_party("bravo", "Bravo", "member", language="ar")
    service.add_party("unmed", "Mediator", "mediator")
    service.add_party("watch", "Observer", "observer")
    w = World(service, clock)
    for user, (party, role) in USERS.items():
        service.add_user(user, party, role, contact_rank=1 if role == "commander" else 0)
        w.p[user] = service.principal_for(user)
    return w


def build_world(url: str) -> World:
    """A populated world over ``url`` (for module-scoped fixtures)."""
    clock = ManualClock(T0)
    return populate(open_service(url, clock=clock), clock)


def module_db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A fresh database for a module-scoped fixture parametrised like ``db_url``."""
    if request.param == "sqlite":
        return f"sqlite:///{Path(tmp_path_factory.mktemp('api')) / 'deconflict.db'}"
    server = request.getfixturevalue("pg_server")
    return str(server.fresh_database())


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@contextlib.contextmanager
def shared_api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """An :class:`Api` over a world of its own (module-scoped fixtures: parametrise with ``BACKENDS``)."""
    world = build_world(module_db_url(request, tmp_path_factory))
    try:
        with open_api(world) as api:
            yield api
    finally:
        world.service.store.dispose()


def row_counts(service: Service) -> dict[str, int]:
    with service.store.read() as conn:
        return {
            name: int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
            for name, table in COUNTED.items()
        }


def check_invariants(service: Service) -> None:
    """What must hold after any sequence of requests, refused ones included: every item
    has at least one volume, every conflict joins two existing items of its two parties,
    every notice has a receipt for each other member party, every open conflict a
    receipt for each of its parties."""
    with service.store.read() as conn:
        all_items = {r.id: r for r in conn.execute(sa.select(items)).all()}
        members = {r.id for r in conn.execute(sa.text("SELECT id FROM parties WHERE role = 'member'")).all()}
        for it in all_items.values():
            assert isinstance(it.volumes, list) and len(it.volumes) >= 1, it.id
        for c in conn.execute(sa.select(conflicts)).all():
            assert c.item_a in all_items and c.item_b in all_items, c.id
            assert (all_items[c.item_a].party_id, all_items[c.item_b].party_id) == (c.party_a, c.party_b)
            assert c.party_a != c.party_b
            got = {r.party_id for r in conn.execute(sa.select(receipts).where(receipts.c.subject_id == c.id)).all()}
            assert got == {c.party_a, c.party_b}, c.id
        for n in conn.execute(sa.select(notices)).all():
            assert n.item_id in all_items
            got = {r.party_id for r in conn.execute(sa.select(receipts).where(receipts.c.subject_id == n.id)).all()}
            assert got == members - {n.sender_party}, n.id


def walk_routes(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path) the app serves, included routers flattened; WebSocket routes
    have the method ``"WS"``."""
    found: set[tuple[str, str]] = set()

    def walk(routes: list[BaseRoute], prefix: str) -> None:
        for route in routes:
            nested = getattr(route, "original_router", None)
            if nested is not None:  # FastAPI's included router
                context = getattr(route, "include_context", None)
                walk(list(nested.routes), prefix + (getattr(context, "prefix", "") or ""))
                continue
            path = prefix + str(getattr(route, "path", ""))
            if isinstance(route, WebSocketRoute) or type(route).__name__ == "APIWebSocketRoute":
                found.add(("WS", path))
            for method in getattr(route, "methods", None) or ():
                if method != "HEAD":
                    found.add((method, path))

    walk(list(app.routes), "")
    return found


def ws_refusal(client: TestClient, url: str, headers: dict[str, str] | None = None) -> int:
    """The close code the stream answers ``url`` with (fails when it accepts)."""
    try:
        with client.websocket_connect(url, headers=headers or {}):
            pass
    except WebSocketDisconnect as closed:
        return int(closed.code)
    raise AssertionError(f"the stream accepted {url}")


def recv(ws: WebSocketTestSession, timeout_s: float = 20.0) -> dict[str, Any]:
    """The next JSON message; a missing message fails the test instead of hanging it
    (the timeout is a safety net, never what a test asserts on)."""

    async def get() -> Any:
        with anyio.fail_after(timeout_s):
            return await ws._send_rx.receive()

    message = ws.portal.call(get)
    ws._raise_on_close(message)
    return dict(json.loads(message["text"]))
