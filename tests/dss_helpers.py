"""Helpers for the DSS (``/dss/v1``) tests: a test RS256 authority, a world of USSs and
one native party over a SQLite file, an HTTP client with tokens per client, and F3548
request bodies.

The world (:func:`build_dss_world`): parties ``uss1``, ``uss2`` (strategic coordination),
``uss3`` (constraint management) and ``arb`` (availability arbitration), all
``protocol="f3548"`` members whose clients are their own ``sub``; a native member
``blue`` with a liaison ``blue_liaison``; the authority ``https://auth.test`` trusted with
``party_from="sub"`` and audience ``testserver`` (the TestClient's host).  Every
client's token carries all five F3548 scopes unless a test asks for fewer.
"""

from __future__ import annotations

import contextlib
import functools
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api_helpers import T0, row_counts
from deconflict.api import create_app
from deconflict.service import ManualClock, Service, open_service
from deconflict.service.dss_types import AA, CM, CMSA, CP, F3548_SCOPES, SC
from deconflict.store.schema import dss_reports, dss_subscriptions, ledger_entries, settings, uss_availability

__all__ = [
    "AA",
    "ALL_SCOPES",
    "CM",
    "CMSA",
    "CP",
    "ISSUER",
    "NATIVE_USER",
    "SC",
    "USS",
    "Authority",
    "DssWorld",
    "authority",
    "build_dss_world",
    "circle",
    "extent",
    "new_id",
    "oir_body",
    "open_dss_world",
    "polygon",
    "subscription_body",
    "time_doc",
]

ISSUER = "https://auth.test"
AUDIENCE = "testserver"
ALL_SCOPES = frozenset(F3548_SCOPES)
#: the F3548 clients of the world, each a party of its own (``sub == party id``)
USS = ("uss1", "uss2", "uss3", "arb")
NATIVE_USER = "blue_liaison"


@functools.cache
def _key() -> rsa.RSAPrivateKey:
    """One 2048-bit key per test session (generating one takes a noticeable moment)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class Authority:
    """A test OAuth authority: RS256 access tokens as F3548 describes them (L80–L115)."""

    clock: ManualClock
    issuer: str = ISSUER

    @property
    def key(self) -> rsa.RSAPrivateKey:
        return _key()

    @property
    def public_pem(self) -> bytes:
        return self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def claims(self, sub: str, scopes: Iterable[str] = ALL_SCOPES, aud: str = AUDIENCE) -> dict[str, Any]:
        now = self.clock.now()
        return {
            "iss": self.issuer,
            "sub": sub,
            "aud": aud,
            "iat": int(now.timestamp()),
            "exp": int((now + timedelta(hours=1)).timestamp()),
            "jti": str(uuid.uuid4()),
            "scope": " ".join(sorted(scopes)),
        }

    def mint(self, sub: str, scopes: Iterable[str] = ALL_SCOPES, aud: str = AUDIENCE, **overrides: Any) -> str:
        """A signed token; ``overrides`` replace claims (``None`` removes one)."""
        claims = self.claims(sub, scopes, aud) | overrides
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": "test-authority"})


def authority(clock: ManualClock) -> Authority:
    return Authority(clock)


@dataclass
class DssWorld:
    """A service with the DSS world in it, an app over it and a client."""

    service: Service
    clock: ManualClock
    authority: Authority
    app: FastAPI
    client: TestClient
    _tokens: dict[tuple[str, frozenset[str]], str] = field(default_factory=dict)

    def token(self, sub: str, scopes: Iterable[str] = ALL_SCOPES) -> str:
        key = (sub, frozenset(scopes))
        if key not in self._tokens:
            self._tokens[key] = self.authority.mint(sub, key[1])
        return self._tokens[key]

    def h(self, sub: str | None, scopes: Iterable[str] = ALL_SCOPES) -> dict[str, str]:
        """The ``Authorization`` header of ``sub`` (none for ``None``)."""
        return {} if sub is None else {"Authorization": f"Bearer {self.token(sub, scopes)}"}

    def call(
        self,
        method: str,
        sub: str | None,
        path: str,
        body: Any = None,
        *,
        scopes: Iterable[str] = ALL_SCOPES,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """``method`` on ``/dss/v1`` + ``path`` as ``sub``."""
        return self.client.request(method, "/dss/v1" + path, json=body, headers=self.h(sub, scopes) | (headers or {}))

    def ok(self, response: Any, status: int = 200) -> dict[str, Any]:
        assert response.status_code == status, (response.status_code, response.text)
        assert response.headers["content-type"] == "application/json"
        return dict(response.json())

    def counts(self) -> dict[str, int]:
        """Row counts of every table a write touches (the joint record included)."""
        out = row_counts(self.service)
        with self.service.store.read() as conn:
            for name, table in (
                ("dss_subscriptions", dss_subscriptions),
                ("uss_availability", uss_availability),
                ("dss_reports", dss_reports),
                ("ledger_entries", ledger_entries),
                ("settings", settings),
            ):
                out[name] = int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
        return out

    def limiter(self) -> Any:
        """The DSS application's rate limiter."""
        return self.app.state.dss.state.rate_limiter

    # --- composite steps ------------------------------------------------------------

    def create_oir(self, sub: str, body: dict[str, Any], entity_id: str | None = None) -> dict[str, Any]:
        """Create an OIR, adding the OVNs the DSS asks for (read from their managers, as a
        USS would learn them peer to peer)."""
        entity_id = entity_id or new_id()
        r = self.call("PUT", sub, f"/operational_intent_references/{entity_id}", body)
        if r.status_code == 409:
            body = body | {"key": [*(body.get("key") or ()), *self.missing_ovns(r.json())]}
            r = self.call("PUT", sub, f"/operational_intent_references/{entity_id}", body)
        return self.ok(r, 201)

    def missing_ovns(self, conflict: dict[str, Any]) -> list[str]:
        out = []
        for ref in conflict.get("missing_operational_intents", []):
            out.append(self.manager_ovn("operational_intent_references", ref))
        for ref in conflict.get("missing_constraints", []):
            out.append(self.manager_ovn("constraint_references", ref))
        return out

    def manager_ovn(self, kind: str, ref: dict[str, Any]) -> str:
        """The OVN of ``ref`` as its manager sees it (a USS learns it from the manager's
        ``/uss/v1`` details: for a native party's item this service answers at
        ``/native/uss/v1``; for a USS's, the test asks the DSS on the manager's behalf)."""
        if ref["manager"] not in USS:
            path = "operational_intents" if kind.startswith("operational") else "constraints"
            details = self.ok(self.client.get(f"/native/uss/v1/{path}/{ref['id']}", headers=self.h("uss2")))
            return str(
                details["operational_intent" if path == "operational_intents" else "constraint"]["reference"]["ovn"]
            )
        got = self.ok(self.call("GET", ref["manager"], f"/{kind}/{ref['id']}"))
        doc = got["operational_intent_reference" if kind.startswith("operational") else "constraint_reference"]
        return str(doc["ovn"])


def new_id() -> str:
    return str(uuid.uuid4())


def time_doc(at: datetime) -> dict[str, str]:
    return {"value": at.strftime("%Y-%m-%dT%H:%M:%S") + "Z", "format": "RFC3339"}


def circle(lng: float = 36.0, lat: float = 35.0, radius_m: float = 2000.0) -> dict[str, Any]:
    return {"outline_circle": {"center": {"lng": lng, "lat": lat}, "radius": {"value": radius_m, "units": "M"}}}


def polygon(*points: tuple[float, float]) -> dict[str, Any]:
    return {"outline_polygon": {"vertices": [{"lng": lng, "lat": lat} for lng, lat in points]}}


def extent(
    outline: dict[str, Any] | None = None,
    *,
    start_h: float = 1.0,
    hours: float = 1.0,
    lower: float = 0.0,
    upper: float = 500.0,
) -> dict[str, Any]:
    """A ``Volume4D`` relative to the world's T0."""
    start = T0 + timedelta(hours=start_h)
    return {
        "volume": {
            **(outline or circle()),
            "altitude_lower": {"value": lower, "reference": "W84", "units": "M"},
            "altitude_upper": {"value": upper, "reference": "W84", "units": "M"},
        },
        "time_start": time_doc(start),
        "time_end": time_doc(start + timedelta(hours=hours)),
    }


def oir_body(
    *extents: dict[str, Any],
    state: str = "Accepted",
    key: list[str] | None = None,
    uss: str = "uss1",
    **fields: Any,
) -> dict[str, Any]:
    """A ``PutOperationalIntentReferenceParameters`` with an implicit subscription."""
    body: dict[str, Any] = {
        "extents": list(extents) or [extent()],
        "state": state,
        "uss_base_url": f"https://{uss}.test/utm",
        "new_subscription": {"uss_base_url": f"https://{uss}.test/utm"},
    }
    if key is not None:
        body["key"] = key
    return body | fields


def subscription_body(
    volume: dict[str, Any] | None = None, *, uss: str = "uss2", ois: bool = True, constraints: bool = False
) -> dict[str, Any]:
    return {
        "extents": volume or extent(hours=4),
        "uss_base_url": f"https://{uss}.test/utm",
        "notify_for_operational_intents": ois,
        "notify_for_constraints": constraints,
    }


def build_dss_world(service: Service, clock: ManualClock) -> Authority:
    """Parties, clients and the trusted authority of the DSS world in ``service``."""
    auth = Authority(clock)
    for uss in USS:
        service.add_party(uss, uss.upper(), "member", protocol="f3548")
    service.add_party("blue", "Blue", "member")
    service.add_user(NATIVE_USER, "blue", "liaison")
    service.add_trusted_issuer(
        ISSUER, AUDIENCE, auth.public_pem, algorithms=("RS256",), party_from="sub", audiences=(AUDIENCE,)
    )
    for uss in USS:
        service.add_uss_client(uss, uss, issuer=ISSUER)
    return auth


@contextlib.contextmanager
def open_dss_world(path: Path) -> Iterator[DssWorld]:
    """A :class:`DssWorld` over a fresh SQLite file in ``path``."""
    clock = ManualClock(T0)
    service = open_service(f"sqlite:///{path / 'dss.db'}", clock=clock)
    try:
        auth = build_dss_world(service, clock)
        app = create_app(service, scheduler_interval_s=None)
        with TestClient(app) as client:
            yield DssWorld(service, clock, auth, app, client)
    finally:
        service.store.dispose()
