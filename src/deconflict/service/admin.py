"""Membership, credentials and the agreement: parties, users, keys, tokens, policy.

These are operator actions (the CLI runs them against the database directly) plus the
authentication every API request goes through: :meth:`AdminMixin.authenticate` turns a
bearer token into a :class:`~deconflict.service.core.Principal`, checking the token
*and* that its user still exists and is active — deactivating a user revokes their
tokens at once.  A token's scopes are cut down to what the user's role allows.

ASTM F3548-21 DSS clients (``/dss/v1``) carry tokens of an external authority that name
no party: their issuer is trusted with ``party_from="sub"`` and each client (the token's
``sub``) is bound to a party with :meth:`AdminMixin.add_uss_client` — or is simply
called like the party it acts for.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..auth import (
    ALL_SCOPES,
    F3548_SCOPES,
    PARTY_SOURCES,
    ROLE_SCOPES,
    AuthError,
    SigningKey,
    TokenIssuer,
    TokenVerifier,
    TrustedIssuer,
    check_password_policy,
    hash_password,
    verify_password,
)
from ..catalogue import load as load_catalogue
from ..errors import ValidationError
from ..policy import Policy
from ..store.schema import parties, settings, signing_keys, trusted_issuers, users, uss_clients
from ..wire import rfc3339
from .core import Body, Principal, Result, ServiceBase
from .errors import Forbidden, NotAuthenticated, NotFound, StateConflict

__all__ = ["AUDIENCE", "PARTY_ROLES", "PROTOCOLS", "USER_ROLES", "AdminMixin"]

PARTY_ROLES = ("member", "mediator", "observer")
PROTOCOLS = ("native", "f3548")  # how a party reaches the mechanism: the native API or /dss/v1
USER_ROLES = ("liaison", "commander", "read_only", "client")
AUDIENCE = "deconflict-api"
LANGUAGES = load_catalogue().languages  # the languages the hotline catalogue is written in
_VERIFIER_TTL_S = 5.0
_DEFAULT_ALGORITHMS = ("RS256", "ES256", "EdDSA")
_SUB_CHARS = 200  # uss_clients.sub, trusted_issuers.issuer/audience


def _ident(value: str, name: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 64 or not all(c.isalnum() or c in "-_." for c in value):
        raise ValidationError(name, "must be 1–64 letters, digits, '-', '_' or '.'")
    return value


class AdminMixin(ServiceBase):
    _verifier: tuple[float, TokenVerifier] | None = None

    # --- set-up -----------------------------------------------------------------------

    def initialise(self) -> Body:
        """Create or upgrade the schema; start the joint record (its service key and genesis
        entry, then any state the database held before) and write the default policy and a
        signing key, if absent."""
        self.store.migrate()

        def run(conn: Connection) -> Result:
            now = self.clock.now()
            created = []
            started = self._ledger_start(conn)  # first: the record's genesis is entry 1
            if conn.execute(sa.select(settings.c.key).where(settings.c.key == "policy")).first() is None:
                conn.execute(settings.insert(), dict(key="policy", value=Policy.default().to_json(), updated_at=now))
                created.append("policy")
            if conn.execute(sa.select(signing_keys.c.kid).where(signing_keys.c.retired_at.is_(None))).first() is None:
                self._new_key(conn)
                created.append("signing key")
            if started:
                created.append("ledger key")
            return 200, {"created": created, "revision": None}

        body = self._write(run)[1]
        body["revision"] = self.store.current_revision()
        return body

    def _new_key(self, conn: Connection) -> str:
        key = SigningKey.generate()
        conn.execute(
            signing_keys.insert(),
            dict(
                kid=key.key_id,
                private_pem=key.to_pem().decode(),
                public_pem=key.public_pem().decode(),
                created_at=self.clock.now(),
            ),
        )
        return key.key_id

    def rotate_key(self, *, retire_old_after: timedelta = timedelta(hours=24)) -> Body:
        """A new signing key; older keys keep verifying (until ``retire``d) so tokens in flight stay valid."""

        def run(conn: Connection) -> Result:
            kid = self._new_key(conn)
            self._emit(conn, "membership.key_rotated", ["*"], {"kid": kid})
            return 200, {"kid": kid}

        self._verifier = None
        return self._write(run)[1]

    # --- parties and users --------------------------------------------------------------

    def add_party(
        self,
        party_id: str,
        name: str,
        role: str = "member",
        *,
        shares_with_observers: bool = False,
        language: str = "en",
        protocol: str = "native",
    ) -> Body:
        """Add a party.  ``protocol`` is ``"native"`` (the mechanism's own API) or
        ``"f3548"`` (an ASTM F3548-21 USS, which reaches it through ``/dss/v1``)."""
        _ident(party_id, "party")
        if role not in PARTY_ROLES:
            raise ValidationError("role", f"must be one of {list(PARTY_ROLES)}")
        if protocol not in PROTOCOLS:
            raise ValidationError("protocol", f"must be one of {list(PROTOCOLS)}")
        if language not in LANGUAGES:
            raise ValidationError("language", f"must be one of {list(LANGUAGES)}")
        if not name or len(name) > 200:
            raise ValidationError("name", "must be 1–200 characters")

        def run(conn: Connection) -> Result:
            if conn.execute(sa.select(parties.c.id).where(parties.c.id == party_id)).first() is not None:
                raise StateConflict("party", f"party {party_id!r} exists already")
            now = self.clock.now()
            conn.execute(
                parties.insert(),
                dict(
                    id=party_id,
                    name=name,
                    role=role,
                    shares_with_observers=shares_with_observers,
                    language=language,
                    protocol=protocol,
                    created_at=now,
                ),
            )
            doc = {
                "id": party_id,
                "name": name,
                "role": role,
                "shares_with_observers": shares_with_observers,
                "language": language,
                "protocol": protocol,
            }
            self._emit(conn, "membership.party_added", ["*"], {"party": doc})
            return 201, doc

        return self._write(run)[1]

    def list_parties(self) -> list[Body]:
        with self.store.read() as conn:
            return [
                {
                    "id": p.id,
                    "name": p.name,
                    "role": p.role,
                    "shares_with_observers": p.shares_with_observers,
                    "language": p.language,
                    "protocol": p.protocol,
                }
                for p in sorted(self._parties(conn).values(), key=lambda p: p.id)
            ]

    def add_user(
        self,
        user_id: str,
        party_id: str,
        role: str,
        *,
        display_name: str | None = None,
        password: str | None = None,
        contact_rank: int = 0,
        language: str | None = None,
        scopes: list[str] | None = None,
    ) -> Body:
        _ident(user_id, "user")
        if role not in USER_ROLES:
            raise ValidationError("role", f"must be one of {list(USER_ROLES)}")
        if password is not None:
            check_password_policy(password)
        if scopes is not None and not set(scopes) <= ALL_SCOPES:
            raise ValidationError("scopes", f"unknown scope(s): {sorted(set(scopes) - ALL_SCOPES)}")
        if role != "client" and scopes is not None:
            raise ValidationError("scopes", "only machine clients carry explicit scopes; people get their role's")
        if language is not None and language not in LANGUAGES:
            raise ValidationError("language", f"must be one of {list(LANGUAGES)}")
        pw_hash = hash_password(password) if password is not None else None

        def run(conn: Connection) -> Result:
            party = conn.execute(sa.select(parties).where(parties.c.id == party_id)).first()
            if party is None:
                raise NotFound("party", f"no party {party_id!r}")
            if conn.execute(sa.select(users.c.id).where(users.c.id == user_id)).first() is not None:
                raise StateConflict("user", f"user {user_id!r} exists already")
            conn.execute(
                users.insert(),
                dict(
                    id=user_id,
                    party_id=party_id,
                    role=role,
                    display_name=display_name or user_id,
                    language=language or party.language,
                    password_hash=pw_hash,
                    contact_rank=contact_rank,
                    scopes=sorted(scopes) if scopes is not None else None,
                    active=True,
                    created_at=self.clock.now(),
                ),
            )
            doc = {
                "id": user_id,
                "party": party_id,
                "role": role,
                "display_name": display_name or user_id,
                "language": language or party.language,
                "contact_rank": contact_rank,
            }
            self._emit(conn, "membership.user_added", [party_id], {"user": doc})
            return 201, doc

        return self._write(run)[1]

    def deactivate_user(self, user_id: str) -> Body:
        def run(conn: Connection) -> Result:
            row = conn.execute(sa.select(users).where(users.c.id == user_id)).first()
            if row is None:
                raise NotFound("user", f"no user {user_id!r}")
            conn.execute(users.update().where(users.c.id == user_id).values(active=False))
            self._emit(conn, "membership.user_deactivated", [row.party_id], {"user": user_id})
            return 200, {"id": user_id, "active": False}

        return self._write(run)[1]

    def list_users(self, party_id: str | None = None) -> list[Body]:
        with self.store.read() as conn:
            q = sa.select(users).order_by(users.c.party_id, users.c.contact_rank, users.c.id)
            if party_id:
                q = q.where(users.c.party_id == party_id)
            return [
                {
                    "id": u.id,
                    "party": u.party_id,
                    "role": u.role,
                    "display_name": u.display_name,
                    "language": u.language,
                    "contact_rank": u.contact_rank,
                    "active": u.active,
                }
                for u in conn.execute(q).all()
            ]

    # --- tokens ---------------------------------------------------------------------

    def _issuer_obj(self) -> TokenIssuer:
        with self.store.read() as conn:
            row = conn.execute(
                sa.select(signing_keys)
                .where(signing_keys.c.retired_at.is_(None))
                .order_by(signing_keys.c.created_at.desc())
                .limit(1)
            ).first()
        if row is None:
            raise StateConflict("signing_key", "no signing key: run `deconflict init` first")
        return TokenIssuer(SigningKey.from_pem(row.private_pem.encode()), self.issuer, AUDIENCE)

    def issue_token(
        self, user_id: str, *, ttl: timedelta = timedelta(hours=12), scopes: list[str] | None = None
    ) -> Body:
        """A bearer token for a user or machine client (scopes default to what its role allows)."""
        with self.store.read() as conn:
            u = conn.execute(sa.select(users).where(users.c.id == user_id)).first()
        if u is None or not u.active:
            raise NotFound("user", f"no active user {user_id!r}")
        allowed = frozenset(u.scopes or []) if u.role == "client" else ROLE_SCOPES[u.role]
        wanted = frozenset(scopes) if scopes is not None else allowed
        if not wanted <= allowed:
            raise ValidationError("scopes", f"{sorted(wanted - allowed)} exceed what {user_id!r} may be given")
        now = self.clock.now()
        token = self._issuer_obj().issue(
            subject=u.id,
            party=u.party_id,
            roles={u.role},
            scopes=wanted,
            kind="client" if u.role == "client" else "user",
            now=now,
            ttl=ttl,
        )
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_at": rfc3339(now + ttl),
            "scopes": sorted(wanted),
            "user": u.id,
            "party": u.party_id,
        }

    def login(self, user_id: str, password: str) -> Body:
        """Password log-in (web users): a token for 12 hours."""
        with self.store.read() as conn:
            u = conn.execute(sa.select(users).where(users.c.id == user_id)).first()
        ok = u is not None and u.active and u.password_hash is not None and verify_password(u.password_hash, password)
        if not ok:
            raise NotAuthenticated("credentials", "unknown user or wrong password")
        return self.issue_token(user_id)

    def add_trusted_issuer(
        self,
        issuer: str,
        audience: str,
        public_pem: bytes,
        *,
        algorithms: tuple[str, ...] = _DEFAULT_ALGORITHMS,
        party_claim: str = "party",
        party_from: str = "claim",
        audiences: tuple[str, ...] = (),
        max_ttl_s: float | None = None,
    ) -> Body:
        """Trust an external identity provider's tokens (replacing its earlier entry).

        ``party_from="claim"``: the party is the token's ``party_claim``; ``"sub"`` (an
        ASTM F3548-21 authority): the party is the one its ``(iss, sub)`` is bound to
        (:meth:`add_uss_client`); an unbound client is not authenticated.  ``audiences``
        are further accepted ``aud`` values (F3548: the DSS's host names), ``max_ttl_s``
        the longest lifetime accepted (none: no limit)."""
        if party_from not in PARTY_SOURCES:
            raise ValidationError("party_from", f"must be one of {list(PARTY_SOURCES)}")
        for name, value in (("issuer", issuer), ("audience", audience)):
            if isinstance(value, str) and len(value) > _SUB_CHARS:
                raise ValidationError(name, f"must be at most {_SUB_CHARS} characters")
        trusted = TrustedIssuer(  # validates
            issuer,
            audience,
            public_pem,
            algorithms,
            party_claim,
            party_from="sub" if party_from == "sub" else "claim",
            audiences=audiences,
            max_ttl_s=max_ttl_s,
        )
        try:  # and what only a verifier checks (key size, key type, a clash with our own issuer): a bad
            # issuer stored here would make every later token verification fail
            TokenVerifier([], self.issuer, AUDIENCE, [trusted])
        except ValidationError as e:
            raise ValidationError(e.field.removeprefix("trusted[0]."), e.reason) from None

        def run(conn: Connection) -> Result:
            conn.execute(trusted_issuers.delete().where(trusted_issuers.c.issuer == issuer))
            conn.execute(
                trusted_issuers.insert(),
                dict(
                    issuer=issuer,
                    audience=audience,
                    public_pem=public_pem.decode(),
                    algorithms=list(trusted.algorithms),
                    party_claim=party_claim,
                    party_from=trusted.party_from,
                    audiences=list(trusted.audiences) or None,
                    max_ttl_s=trusted.max_ttl_s,
                    created_at=self.clock.now(),
                ),
            )
            self._emit(conn, "membership.issuer_trusted", ["*"], {"issuer": issuer})
            return 201, _issuer_doc(trusted)

        self._verifier = None
        return self._write(run)[1]

    def list_trusted_issuers(self) -> list[Body]:
        """The trusted external issuers (their public keys left out), by ``issuer``."""
        with self.store.read() as conn:
            rows = conn.execute(sa.select(trusted_issuers).order_by(trusted_issuers.c.issuer)).all()
        return [_issuer_doc(_trusted_issuer(t)) for t in rows]

    def add_uss_client(self, sub: str, party_id: str, *, issuer: str) -> Body:
        """Bind an F3548 client (the ``sub`` of ``issuer``'s tokens) to a member party; a
        second call for the same ``(issuer, sub)`` moves it to ``party_id``."""
        if not isinstance(sub, str) or not sub.strip() or len(sub) > _SUB_CHARS:
            raise ValidationError("sub", f"must be 1–{_SUB_CHARS} characters")
        if not isinstance(issuer, str) or not issuer.strip():
            raise ValidationError("issuer", "must be a non-empty string")
        _ident(party_id, "party")

        def run(conn: Connection) -> Result:
            t = conn.execute(sa.select(trusted_issuers).where(trusted_issuers.c.issuer == issuer)).first()
            if t is None:
                raise NotFound("issuer", f"{issuer!r} is not a trusted issuer: add it with `deconflict uss add-issuer`")
            if t.party_from != "sub":
                raise ValidationError("issuer", f"{issuer!r} names the party in its tokens' {t.party_claim!r} claim")
            party = conn.execute(sa.select(parties).where(parties.c.id == party_id)).first()
            if party is None:
                raise NotFound("party", f"no party {party_id!r}")
            if party.role != "member":
                raise ValidationError("party", f"{party_id!r} is a {party.role}: only member parties act as USSs")
            key = (uss_clients.c.issuer == issuer) & (uss_clients.c.sub == sub)
            conn.execute(uss_clients.delete().where(key))
            conn.execute(
                uss_clients.insert(), dict(issuer=issuer, sub=sub, party_id=party_id, created_at=self.clock.now())
            )
            doc = {"issuer": issuer, "sub": sub, "party": party_id}
            self._emit(conn, "membership.uss_client_added", ["*"], {"client": doc})
            return 201, doc

        return self._write(run)[1]

    def list_uss_clients(self) -> list[Body]:
        """The F3548 clients bound to parties, by issuer and ``sub``."""
        with self.store.read() as conn:
            rows = conn.execute(sa.select(uss_clients).order_by(uss_clients.c.issuer, uss_clients.c.sub)).all()
        return [
            {"issuer": c.issuer, "sub": c.sub, "party": c.party_id, "created_at": rfc3339(c.created_at)} for c in rows
        ]

    def _token_verifier(self) -> TokenVerifier:
        cached = self._verifier
        if cached is not None and time.monotonic() - cached[0] < _VERIFIER_TTL_S:
            return cached[1]
        with self.store.read() as conn:
            local = [
                (k.kid, k.public_pem.encode())
                for k in conn.execute(sa.select(signing_keys).where(signing_keys.c.retired_at.is_(None))).all()
            ]
            trusted = [_trusted_issuer(t) for t in conn.execute(sa.select(trusted_issuers)).all()]
        verifier = TokenVerifier(local, self.issuer, AUDIENCE, trusted)
        self._verifier = (time.monotonic(), verifier)
        return verifier

    def authenticate(self, token: str | None) -> Principal:
        """The principal a bearer token stands for; raises :class:`NotAuthenticated`.

        An F3548 client's token (its issuer's ``party_from`` is ``"sub"``) stands for
        ``Principal(sub, party, party role, "client", the token's F3548 scopes, party
        language, "f3548")``, the party being the one its ``(iss, sub)`` is bound to by
        :meth:`add_uss_client`; a client without a binding is not authenticated (a ``sub``
        that happens to name a party stands for nothing).  Such a principal may use only the
        F3548 interface (``/dss/v1``): the native API refuses it."""
        if not token:
            raise NotAuthenticated("authorization", "a bearer token is required (Authorization: Bearer …)")
        try:
            claims = self._token_verifier().verify(token, now=self.clock.now())
        except AuthError as e:
            raise NotAuthenticated("authorization", e.reason) from None
        with self.store.read() as conn:
            if claims.party is None:  # an F3548 client: its party from (issuer, sub)
                bound = conn.execute(
                    sa.select(uss_clients.c.party_id).where(
                        (uss_clients.c.issuer == claims.issuer) & (uss_clients.c.sub == claims.subject)
                    )
                ).scalar_one_or_none()
                if bound is None:
                    raise NotAuthenticated(
                        "authorization",
                        f"the token's client {claims.subject!r} of issuer {claims.issuer!r} is not bound to a USS here"
                        " (deconflict uss add-client)",
                    )
                uss = conn.execute(sa.select(parties).where(parties.c.id == bound)).one()
                # an F3548 authority grants the F3548 scopes, never the native API's
                scopes = claims.scopes & F3548_SCOPES
                return Principal(claims.subject, uss.id, uss.role, "client", scopes, uss.language, "f3548")
            party = conn.execute(sa.select(parties).where(parties.c.id == claims.party)).first()
            if party is None:
                raise NotAuthenticated("authorization", f"the token's party {claims.party!r} is not a party here")
            if claims.issuer != self.issuer:  # an external identity provider's person
                return Principal(
                    claims.subject,
                    party.id,
                    party.role,
                    "liaison" if claims.scopes & {"activities:write"} else "read_only",
                    claims.scopes,
                    party.language,
                )
            u = conn.execute(sa.select(users).where(users.c.id == claims.subject)).first()
        if u is None or not u.active or u.party_id != claims.party:
            raise NotAuthenticated("authorization", "the token's user is unknown or deactivated")
        allowed = frozenset(u.scopes or []) if u.role == "client" else ROLE_SCOPES[u.role]
        return Principal(u.id, party.id, party.role, u.role, claims.scopes & allowed, u.language)

    def authenticate_native(self, token: str | None) -> Principal:
        """:meth:`authenticate` for the native API (``/v1``, its stream): an F3548 client's
        token is authentic there but refused (:class:`Forbidden`): it uses ``/dss/v1`` only."""
        who = self.authenticate(token)
        if who.protocol == "f3548":
            raise Forbidden(
                "authorization",
                f"the token is an F3548 client's ({who.user_id!r}, acting for {who.party_id!r}): "
                "it may use only the F3548 DSS interface (/dss/v1), not the native API",
            )
        return who

    def principal_for(self, user_id: str) -> Principal:
        """The operator acting as ``user_id`` (the CLI), with the user's full role scopes."""
        with self.store.read() as conn:
            u = conn.execute(sa.select(users).where(users.c.id == user_id)).first()
            if u is None or not u.active:
                raise NotFound("user", f"no active user {user_id!r}")
            party = conn.execute(sa.select(parties).where(parties.c.id == u.party_id)).one()
        allowed = frozenset(u.scopes or []) if u.role == "client" else ROLE_SCOPES[u.role]
        return Principal(u.id, party.id, party.role, u.role, allowed, u.language)

    # --- the agreement ----------------------------------------------------------------

    def get_policy(self) -> Body:
        with self.store.read() as conn:
            row = conn.execute(sa.select(settings).where(settings.c.key == "policy")).first()
        return dict(row.value) if row is not None else Policy.default().to_json()

    def set_policy(self, document: Any, *, by: str = "operator") -> Body:
        """Replace the agreement's policy (validated whole; recorded as an event)."""
        policy = Policy.from_json(document)

        def run(conn: Connection) -> Result:
            now = self.clock.now()
            doc = policy.to_json()
            conn.execute(settings.delete().where(settings.c.key == "policy"))
            conn.execute(settings.insert(), dict(key="policy", value=doc, updated_at=now))
            self._emit(conn, "policy.changed", ["*"], {"policy": doc, "by": by})
            return 200, doc

        return self._write(run)[1]


def _trusted_issuer(row: Any) -> TrustedIssuer:
    """A ``trusted_issuers`` row as the verifier's :class:`TrustedIssuer`."""
    return TrustedIssuer(
        row.issuer,
        row.audience,
        row.public_pem.encode(),
        tuple(row.algorithms),
        row.party_claim,
        party_from="sub" if row.party_from == "sub" else "claim",
        audiences=tuple(row.audiences or ()),
        max_ttl_s=row.max_ttl_s,
    )


def _issuer_doc(t: TrustedIssuer) -> Body:
    return {
        "issuer": t.issuer,
        "audience": t.audience,
        "audiences": list(t.audiences),
        "algorithms": list(t.algorithms),
        "party_claim": t.party_claim,
        "party_from": t.party_from,
        "max_ttl_s": t.max_ttl_s,
    }
