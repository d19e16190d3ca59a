"""Fuzzing the HTTP API: schemathesis over the OpenAPI document, and Hypothesis over
``POST /v1/activities`` with arbitrary JSON.

Checks: never a 5xx; status codes and content types as documented (errors are problem
documents); a refused request (4xx) writes nothing; and after all of it the stored state
keeps its invariants (every item has a volume, every conflict joins two existing items
of its parties, every notice and conflict has receipts for exactly its recipients).

SQLite only (the contract tests cover PostgreSQL); bounded example counts keep the
module well under a minute.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api_helpers import Api, activity_body, build_world, check_invariants, open_api, volume
from deconflict.api import create_app
from deconflict.service import Service

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
FUZZ = settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def fuzz_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """A world on SQLite with something in it: activities, a zone, a conflict, notices."""
    world = build_world(f"sqlite:///{Path(tmp_path_factory.mktemp('fuzz')) / 'fuzz.db'}")
    try:
        with open_api(world) as api:
            api.notify("a_liaison", title="alpha sortie")
            api.notify("b_liaison", title="bravo sortie")
            api.draft("a_liaison", volumes=[volume(40.0, 30.0)])
            api.zone("a_liaison", volumes=[volume(50.0, 20.0, start_h=0)])
            yield api
    finally:
        world.service.store.dispose()


# The schema is read from an app over no service at all: building the app and serving
# /openapi.json touch no database (schemathesis' lazy fixture loader does not work with
# this pytest).  Each case is then sent to the fixture's app (``case.call(app=…)``).
# Only the fuzzing phase (positive and negative data): the coverage phase alone sends
# hundreds of requests per operation.
CONFIG = SchemathesisConfig.from_dict({"phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}}})
schema = schemathesis.openapi.from_asgi(
    "/openapi.json", create_app(cast(Service, None), scheduler_interval_s=None), config=CONFIG
)


def _real_ids(api: Api) -> dict[str, list[str]]:
    with api.service.store.read() as conn:
        rows = conn.exec_driver_sql("SELECT id, item_type FROM items ORDER BY id").all()
        conflicts = [r[0] for r in conn.exec_driver_sql("SELECT id FROM conflicts ORDER BY id").all()]
        notices = [r[0] for r in conn.exec_driver_sql("SELECT id FROM notices ORDER BY id").all()]
    return {
        "activity": [r[0] for r in rows if r[1] == "activity"],
        "zone": [r[0] for r in rows if r[1] == "zone"],
        "conflict": conflicts,
        "notice": notices,
    }


def _aim(case: Any, api: Api) -> None:
    """Point about half the generated ids at real objects, so that deeper code runs."""
    params = case.path_parameters or {}
    ids = _real_ids(api)
    for name, kind in (("conflict_id", "conflict"), ("notice_id", "notice")):
        if name in params and ids[kind] and len(str(params[name])) % 2 == 0:
            params[name] = ids[kind][len(str(params[name])) % len(ids[kind])]
    if "item_id" in params:
        kind = "zone" if case.path.startswith("/v1/zones") else "activity"
        if ids[kind] and len(str(params["item_id"])) % 2 == 0:
            params["item_id"] = ids[kind][len(str(params["item_id"])) % len(ids[kind])]


@schema.parametrize()
@FUZZ
def test_api_fuzz(case: Any, fuzz_api: Api) -> None:
    _aim(case, fuzz_api)
    user = "ops" if (case.method.upper(), case.path) == ("PUT", "/v1/policy") else "a_liaison"
    before = fuzz_api.counts()
    response = case.call(app=fuzz_api.app, headers=fuzz_api.h(user))
    case.validate_response(response, checks=CHECKS)
    if 400 <= response.status_code < 500:
        assert fuzz_api.counts() == before, (case.method, case.path, response.status_code)


def test_invariants_after_fuzzing(fuzz_api: Api) -> None:
    check_invariants(fuzz_api.service)
    # and the service still works normally
    made = fuzz_api.notify("b_cmd", volumes=[volume(-120.0, 40.0)])
    assert made["item"]["state"] == "notified"
    check_invariants(fuzz_api.service)


# --- arbitrary JSON to POST /v1/activities ------------------------------------------------

JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(["NaN", "inf", "-Infinity", "1e309", "2026-11-25T11:00:00", "2026-11-25T11:00:00Z", ""])
)
ANY_JSON = st.recursive(
    JSON_LEAVES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def mutated_bodies(draw: st.DrawFn) -> Any:
    """A valid activity body with one member replaced by arbitrary JSON (or removed)."""
    body: dict[str, Any] = activity_body(
        volume(),
        {
            "outline_polygon": {
                "vertices": [{"lng": 36.0, "lat": 35.0}, {"lng": 36.1, "lat": 35.0}, {"lng": 36.0, "lat": 35.1}]
            },
            **{k: v for k, v in volume(start_h=5).items() if k != "outline_circle"},
        },
        title="fuzz",
        state=draw(st.sampled_from(["draft", "notified"])),
    )
    body = copy.deepcopy(body)
    path = draw(st.sampled_from(_paths(body)[1:]))
    parent = body
    for step in path[:-1]:
        parent = parent[step]
    if draw(st.booleans()) and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(ANY_JSON)
    return body


@pytest.fixture(scope="module")
def post_api(fuzz_api: Api) -> Api:
    return fuzz_api


@given(body=ANY_JSON | mutated_bodies())
@settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_arbitrary_json_to_create_activity_never_fails_the_server(post_api: Api, body: Any) -> None:
    before = post_api.counts()
    raw = json.dumps(body, allow_nan=True).encode()
    r = post_api.client.post(
        "/v1/activities", content=raw, headers=post_api.h("b_liaison", **{"content-type": "application/json"})
    )
    assert r.status_code < 500, (body, r.text)
    if r.status_code >= 400:
        assert r.headers["content-type"] == "application/problem+json"
        problem = r.json()
        assert problem["status"] == r.status_code and isinstance(problem["field"], str) and problem["reason"]
        assert post_api.counts() == before, body
    else:
        assert r.status_code == 201
        assert r.json()["item"]["party"] == "bravo"
