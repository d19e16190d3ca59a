"""Contract tests of the DSS interface against the standard's own OpenAPI document:
schemathesis over ``tests/data/astm-f3548-utm.yaml`` (a verbatim copy of the ASTM
F3548-21 YAML, sha256 ``f50cd6199287195e79bc555ee3061243ac52acd3850c31312581fb4b09b356b9``),
only its ``/dss/v1`` paths.

Checks (design ``docs/design/dss.md`` §8.1): never a 5xx; only the statuses each
operation declares; ``application/json`` bodies; every body valid against the spec's
response schema (``ErrorResponse``, ``AirspaceConflictResponse``, the references…);
a refused request (4xx) writes nothing.  Half the generated ids and bodies are aimed at
the world's real objects (and at valid F3548 bodies) so that the update, delete and
key-rule paths run too.  Then each operation with a token lacking its scopes → 403, and
without a token → 401.

The spec is patched in memory: its ``UUIDv4Format`` pattern is written with ``\\-`` in a
YAML block scalar, i.e. it demands literal backslashes and, with ``maxLength: 36``, can
match nothing — it is replaced by the intended pattern; ``servers`` is ``/``.

SQLite only; bounded example counts keep the module well under a minute and a half.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import sqlalchemy as sa
import yaml
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api_helpers import activity_body, check_invariants, volume
from deconflict.api.dss_schemas import UUID4_PATTERN
from deconflict.ledger import verify_export
from deconflict.store.schema import dss_subscriptions, items, uss_availability
from dss_helpers import (
    AA,
    ALL_SCOPES,
    NATIVE_USER,
    DssWorld,
    circle,
    extent,
    new_id,
    oir_body,
    open_dss_world,
    subscription_body,
)

SPEC_FILE = Path(__file__).parent / "data" / "astm-f3548-utm.yaml"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
CONFIG = SchemathesisConfig.from_dict({"phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}}})


def patched_spec() -> dict[str, Any]:
    spec = yaml.safe_load(SPEC_FILE.read_text(encoding="utf-8"))
    spec = copy.deepcopy(spec)
    spec["components"]["schemas"]["UUIDv4Format"]["pattern"] = UUID4_PATTERN
    spec["paths"] = {p: item for p, item in spec["paths"].items() if p.startswith("/dss/v1/")}
    spec["servers"] = [{"url": "/"}]
    return dict(spec)


SPEC = patched_spec()
schema = schemathesis.openapi.from_dict(SPEC, config=CONFIG)


def patched_details_spec() -> dict[str, Any]:
    """The two ``/uss/v1`` reads this service answers as the native parties' USS
    (``/native/uss/v1``, :func:`deconflict.api.dss.create_native_uss_app`)."""
    spec = yaml.safe_load(SPEC_FILE.read_text(encoding="utf-8"))
    spec["components"]["schemas"]["UUIDv4Format"]["pattern"] = UUID4_PATTERN
    keep = ("/uss/v1/operational_intents/{entityid}", "/uss/v1/constraints/{entityid}")
    spec["paths"] = {p: spec["paths"][p] for p in keep}
    spec["servers"] = [{"url": "/native"}]
    return dict(spec)


DETAILS_SPEC = patched_details_spec()
details_schema = schemathesis.openapi.from_dict(DETAILS_SPEC, config=CONFIG)


def test_the_copy_is_the_standard_and_the_patch_is_needed() -> None:
    raw = yaml.safe_load(SPEC_FILE.read_text(encoding="utf-8"))
    assert raw["info"]["title"] == "UTM API (USS->DSS and USS->USS)"
    pattern = raw["components"]["schemas"]["UUIDv4Format"]["pattern"]
    assert "\\\\-" in pattern  # the literal backslashes that make it unsatisfiable
    operations = [(m, p) for p, item in SPEC["paths"].items() for m in item if m in ("get", "put", "post", "delete")]
    assert len(operations) == 18


def test_the_dss_serves_exactly_the_specs_operations(dss: DssWorld) -> None:
    served = dss.ok(dss.client.get("/dss/v1/openapi.json"))
    ours = {(m, "/dss/v1" + p, op["operationId"]) for p, item in served["paths"].items() for m, op in item.items()}
    spec = {
        (m, p, op["operationId"]) for p, item in SPEC["paths"].items() for m, op in item.items() if "operationId" in op
    }
    assert ours == spec
    assert served["components"]["schemas"]["PutOirIn"]["required"] == ["extents", "state", "uss_base_url"]
    native = dss.ok(dss.client.get("/openapi.json"))
    assert not [p for p in native["paths"] if p.startswith("/dss")]


@pytest.fixture(scope="module")
def dss(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DssWorld]:
    """uss1's OIRs (Accepted, Activated), uss2's OIR, uss3's constraint, an explicit
    subscription of each of uss1 and uss2, and a native activity of blue."""
    with open_dss_world(tmp_path_factory.mktemp("dss_contract")) as w:
        w.limiter().override(rate_per_s=1e6, burst=1_000_000)  # the fuzzing is not what is limited here
        w.create_oir("uss1", oir_body(extent(circle(36.0, 35.0))))
        w.create_oir("uss1", oir_body(extent(circle(36.2, 35.0)), state="Activated"))
        w.create_oir("uss2", oir_body(extent(circle(36.4, 35.0)), uss="uss2"))
        w.ok(w.call("PUT", "uss3", f"/constraint_references/{new_id()}", constraint_body(36.6)), 201)
        w.ok(w.call("PUT", "uss1", f"/subscriptions/{new_id()}", subscription_body(uss="uss1")))
        w.ok(w.call("PUT", "uss2", f"/subscriptions/{new_id()}", subscription_body(uss="uss2", constraints=True)))
        native = w.service.issue_token(NATIVE_USER)["access_token"]
        body = activity_body(volume(38.0, 35.0, start_h=1), title="blue sortie", state="notified")
        r = w.client.post("/v1/activities", json=body, headers={"Authorization": f"Bearer {native}"})
        assert r.status_code == 201, r.text
        zone = {"kind": "protected_site", "subtype": "hospital", "title": "clinic", "volumes": [volume(38.5, 35.0)]}
        r = w.client.post("/v1/zones", json=zone, headers={"Authorization": f"Bearer {native}"})
        assert r.status_code == 201, r.text
        yield w


def constraint_body(lng: float, *, uss: str = "uss3") -> dict[str, Any]:
    return {"extents": [extent(circle(lng, 35.0), hours=3)], "uss_base_url": f"https://{uss}.test/utm"}


# --- aiming ---------------------------------------------------------------------------


def _real(w: DssWorld) -> dict[str, list[tuple[str, str]]]:
    """(F3548 id, OVN or version) of the world's live objects that uss1 may change."""
    with w.service.store.read() as conn:
        rows = conn.execute(
            sa.select(items.c.dss_id, items.c.version, items.c.item_type, items.c.party_id, items.c.state)
            .where(items.c.state.in_(["notified", "active", "nonconforming", "contingent"]))
            .order_by(items.c.id)
        ).all()
        subs = conn.execute(
            sa.select(dss_subscriptions.c.id, dss_subscriptions.c.version, dss_subscriptions.c.party_id).order_by(
                dss_subscriptions.c.id
            )
        ).all()
    return {
        "oir": [(r.dss_id, r.version) for r in rows if r.item_type == "activity" and r.party_id == "uss1"],
        "oir_any": [(r.dss_id, r.version) for r in rows if r.item_type == "activity"],
        "constraint": [(r.dss_id, r.version) for r in rows if r.item_type == "zone"],
        "ovns": [(r.dss_id, r.version) for r in rows],
        "subscription": [(r.id, r.version) for r in subs if r.party_id == "uss1"],
        "subscription_any": [(r.id, r.version) for r in subs],
    }


def _aim(case: Any, w: DssWorld) -> None:
    """Point about half the generated ids (and bodies) at real objects, deterministically
    from the generated values (so that Hypothesis can shrink)."""
    params = case.path_parameters or {}
    real = _real(w)
    path = case.path
    seed = sum(map(ord, str(params) + str(case.body)[:200]))
    if seed % 2 == 0:
        if path.startswith("/dss/v1/operational_intent_references/{entityid}"):
            pool = real["oir"] if "{ovn}" in path else real["oir_any"]
            _point(params, "entityid", "ovn", pool, seed)
        elif path.startswith("/dss/v1/constraint_references/{entityid}"):
            _point(params, "entityid", "ovn", real["constraint"], seed)
        elif path.startswith("/dss/v1/subscriptions/{subscriptionid}"):
            pool = real["subscription"] if "{version}" in path else real["subscription_any"]
            _point(params, "subscriptionid", "version", pool, seed)
        elif path.startswith("/dss/v1/uss_availability/"):
            params["uss_id"] = ("uss1", "uss2", "uss3", "nobody")[seed // 2 % 4]
    if (seed // 2) % 2 == 0 and case.method.upper() in ("PUT", "POST") and not path.endswith("/reports"):
        body = _valid_body(path, seed)
        if body is not None:
            if "state" in body and seed % 3:  # a USS that learnt every OVN from the managers
                body["key"] = [ovn for _, ovn in real["ovns"]]
            case.body = body


def _point(params: dict[str, Any], id_name: str, version_name: str, pool: list[tuple[str, str]], seed: int) -> None:
    if not pool:
        return
    ident, version = pool[seed // 4 % len(pool)]
    params[id_name] = ident
    if version_name in params:
        params[version_name] = version


def _valid_body(path: str, seed: int) -> dict[str, Any] | None:
    """A well-formed F3548 body for ``path`` somewhere in the world's area."""
    lng = 36.0 + (seed % 7) * 0.2
    where = extent(circle(lng, 35.0), start_h=1 + seed % 3)
    if path.endswith("/query"):
        return {"area_of_interest": where}
    if path.startswith("/dss/v1/operational_intent_references/"):
        return oir_body(where, state=("Accepted", "Activated")[seed % 2])
    if path.startswith("/dss/v1/constraint_references/"):
        return {"extents": [where], "uss_base_url": "https://uss1.test/utm"}
    if path.startswith("/dss/v1/subscriptions/"):
        return subscription_body(extent(circle(lng, 35.0), hours=3), uss="uss1", constraints=seed % 2 == 0)
    if path.startswith("/dss/v1/uss_availability/"):
        return {"old_version": "", "availability": ("Normal", "Unknown")[seed % 2]}
    return None


def _reset_availability(w: DssWorld) -> None:
    """Bring every USS the fuzzing took Down back to Normal (through the service), so that
    later cases still exercise the key rule instead of 412."""
    with w.service.store.read() as conn:
        rows = conn.execute(sa.select(uss_availability).where(uss_availability.c.availability == "Down")).all()
    arbiter = w.service.authenticate(w.token("arb", {AA}))
    for row in rows:
        w.service.dss_set_availability(arbiter, row.uss_id, {"old_version": row.version, "availability": "Normal"})


# --- the fuzzing ------------------------------------------------------------------------


@schema.parametrize()
@settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_dss_conformance(case: Any, dss: DssWorld) -> None:
    _aim(case, dss)
    before = dss.counts()
    response = case.call(app=dss.app, headers=dss.h("uss1", ALL_SCOPES))
    try:
        case.validate_response(response, checks=CHECKS)
        if 400 <= response.status_code < 500:
            assert dss.counts() == before, (case.method, case.path, response.status_code, response.text)
            assert set(response.json()) >= {"message"}, response.text
    finally:
        if case.path.startswith("/dss/v1/uss_availability/") and case.method.upper() == "PUT":
            _reset_availability(dss)


def _lacking(case: Any) -> frozenset[str]:
    """The five F3548 scopes minus every scope that one of the operation's alternatives uses."""
    security = SPEC["paths"][case.path][case.method.lower()].get("security", SPEC["security"])
    used = {s for alternative in security for s in alternative["Authority"]}
    return ALL_SCOPES - used


@schema.parametrize()
@settings(max_examples=3, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_dss_refuses_tokens_without_the_scopes(case: Any, dss: DssWorld) -> None:
    _aim(case, dss)
    before = dss.counts()
    forbidden = case.call(app=dss.app, headers=dss.h("uss1", _lacking(case)))
    assert forbidden.status_code == 403, (case.method, case.path, forbidden.text)
    anonymous = case.call(app=dss.app, headers={})
    assert anonymous.status_code == 401, (case.method, case.path, anonymous.text)
    assert anonymous.headers["www-authenticate"][0].startswith("Bearer")
    for r in (forbidden, anonymous):
        case.validate_response(r, checks=CHECKS)
        assert r.headers["content-type"] == ["application/json"] and r.json()["message"]
    assert dss.counts() == before


def test_invariants_after_fuzzing(dss: DssWorld) -> None:
    check_invariants(dss.service)
    assert verify_export(dss.service.ledger_lines()).ok
    # and the DSS still works normally
    made = dss.create_oir("uss2", oir_body(extent(circle(20.0, 10.0)), uss="uss2"))
    assert made["operational_intent_reference"]["state"] == "Accepted"
    check_invariants(dss.service)


# --- the native parties' USS side: /native/uss/v1 details ---------------------------------------


def _native_ids(w: DssWorld) -> dict[str, list[str]]:
    with w.service.store.read() as conn:
        rows = conn.execute(
            sa.select(items.c.dss_id, items.c.item_type)
            .where(items.c.uss_base_url.is_(None), items.c.state == "notified")
            .union_all(
                sa.select(items.c.dss_id, items.c.item_type).where(
                    items.c.uss_base_url.is_(None), items.c.item_type == "zone", items.c.state == "active"
                )
            )
        ).all()
    return {t: sorted(r.dss_id for r in rows if r.item_type == t) for t in ("activity", "zone")}


@details_schema.parametrize()
@settings(max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_native_details_conformance(case: Any, dss: DssWorld) -> None:
    params = case.path_parameters or {}
    seed = sum(map(ord, str(params)))
    if seed % 2 == 0:
        pool = _native_ids(dss)["activity" if "operational_intents" in case.path else "zone"]
        params["entityid"] = pool[seed // 2 % len(pool)]
    before = dss.counts()
    response = case.call(app=dss.app, headers=dss.h("uss2", ALL_SCOPES))
    case.validate_response(response, checks=CHECKS)
    if 400 <= response.status_code < 500:
        assert dss.counts() == before, (case.path, response.status_code, response.text)
    forbidden = case.call(app=dss.app, headers=dss.h("uss2", _lacking_details(case)))
    assert forbidden.status_code == 403, forbidden.text
    case.validate_response(forbidden, checks=CHECKS)


def _lacking_details(case: Any) -> frozenset[str]:
    security = DETAILS_SPEC["paths"][case.path]["get"]["security"]
    return ALL_SCOPES - {s for alternative in security for s in alternative["Authority"]}


def test_native_details_answer_each_native_item_with_its_ovn(dss: DssWorld) -> None:
    ids = _native_ids(dss)
    assert ids["activity"] and ids["zone"]
    for kind, path, field in (
        ("activity", "operational_intents", "operational_intent"),
        ("zone", "constraints", "constraint"),
    ):
        for entity in ids[kind]:
            got = dss.ok(dss.client.get(f"/native/uss/v1/{path}/{entity}", headers=dss.h("uss2")))
            ref = got[field]["reference"]
            with dss.service.store.read() as conn:
                version = conn.execute(sa.select(items.c.version).where(items.c.dss_id == entity)).scalar_one()
            assert ref["id"] == entity and ref["ovn"] == version and ref["manager"] == "blue"
            assert got[field]["details"]["volumes"]
