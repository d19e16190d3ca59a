"""F3548 subscriptions, notification indices and the DSS's shared documents and settings.

A subscription (``dss_subscriptions``, design ``docs/design/dss.md`` §3) is a USS's
standing interest in one 4D volume: the DSS does not push anything, it *counts* — every
change of an entity (an operational intent reference, i.e. a live activity, or a
constraint reference, i.e. an active zone) whose extents before or after the change
intersect a subscription's volume increments that subscription's
``notification_index`` (L459–L466).  Native writes count too (:meth:`_entity_changed`
is the hook :mod:`.items` calls after every stored change), so a USS can detect changes
made by parties that never speak F3548 (D8).  The writing USS learns whom to notify
from the ``subscribers`` of its response (:meth:`_dss_subscribers`).

Subscriptions come in two flavours: explicit ones, written by a USS through
``/dss/v1/subscriptions``, and *implicit* ones, created (and resized, and deleted) by the
DSS for an operational intent that asks for one (``new_subscription``, L787–L800;
:meth:`_dss_bind_subscription`).  An operational intent *depends* on its subscription:
a subscription may not be deleted, nor shrunk off, nor stop notifying for operational
intents while a live intent depends on it (L3121–L3127, L3205–L3209).

The index bump is cheap: a bounding-box and time prefilter in SQL (the flag, the
``lon``/``lat`` box columns, the window), then the exact 4D test
(:func:`deconflict.f3548.volumes_intersect`) on the few candidates.  A bump changes no
``version`` (L403–L411) and emits no event; it is recorded in the joint record like
every other change of a row.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from .. import f3548
from ..errors import FootprintTooLargeError, ValidationError
from ..geo import DENSIFY_STEP_M, GEOD, prepare, project
from ..model import (
    Activity,
    ActivityKind,
    AltitudeBand,
    Circle,
    Footprint,
    Polygon,
    TimeWindow,
    Volume4D,
    ZoneKind,
)
from ..policy import LateNotice
from ..store.schema import dss_subscriptions, items, liveness, settings, uss_availability
from ..wire import volumes_from_json, volumes_to_json
from .core import LIVE_ACTIVITY, LIVE_ZONE, Body, Principal, Result, bounding_box, envelope, is_live, new_version
from .dss_types import CP, NATIVE_TO_STATE, NULL_SUBSCRIPTION_ID, SC, DssError, DssLimits, require_any
from .liveness import LivenessMixin

__all__ = ["DssSubscriptionsMixin"]

_AFFECTED = "dss_affected"  # conn.info key: subscriptions bumped by this write, id → row after
_LIVE_STATES = sorted(LIVE_ACTIVITY)
_COVER_TOLERANCE_M = 1.0  # projection noise allowed when deciding that a subscription covers
_CIRCLE_SIDES = 128


class DssSubscriptionsMixin(LivenessMixin):
    # --- settings -----------------------------------------------------------------------

    def _dss_limits(self, conn: Connection) -> DssLimits:
        """The DSS's limits and defaults (``settings["dss"]``; defaults when not set)."""
        row = conn.execute(sa.select(settings.c.value).where(settings.c.key == "dss")).first()
        return DssLimits.from_settings(row.value if row is not None else None)

    def get_dss_settings(self) -> Body:
        with self.store.read() as conn:
            return self._dss_limits(conn).to_settings()

    def set_dss_settings(self, doc: Any, *, by: str = "operator") -> Body:
        """Replace the DSS settings (validated whole; missing keys take their defaults).
        The activity kind behind an operational intent must be one whose late notices
        the agreement accepts: a DSS write can never be refused for late notice."""
        if not isinstance(doc, Mapping):
            raise ValidationError("dss", "must be an object")
        limits = DssLimits.from_settings(doc)
        try:
            kind = ActivityKind(limits.activity_kind)
        except ValueError:
            raise ValidationError(
                "dss.activity_kind", f"unknown activity kind {limits.activity_kind!r}; use one of {list(ActivityKind)}"
            ) from None
        try:
            ZoneKind(limits.zone_kind)
        except ValueError:
            raise ValidationError(
                "dss.zone_kind", f"unknown zone kind {limits.zone_kind!r}; use one of {list(ZoneKind)}"
            ) from None
        _base_url(limits.native_base_url, "dss.native_base_url")

        def run(conn: Connection) -> Result:
            if self.policy.late_notice[kind] is LateNotice.REFUSE:
                raise ValidationError(
                    "dss.activity_kind",
                    f"the agreement refuses late notices of {kind.value!r}; an F3548 write cannot be refused so",
                )
            now = self.clock.now()
            value = limits.to_settings()
            conn.execute(settings.delete().where(settings.c.key == "dss"))
            conn.execute(settings.insert(), dict(key="dss", value=value, updated_at=now))
            self._emit(conn, "dss.settings_changed", ["*"], {"dss": value, "by": by})
            return 200, value

        return self._write(run)[1]

    # --- documents ----------------------------------------------------------------------

    def _dss_availability(self, conn: Connection) -> dict[str, str]:
        """Each party's F3548 availability: its latest arbitration; without one, ``Down``
        while its channel is down (a native party gone silent), else ``Unknown``."""
        out = dict.fromkeys(self._parties(conn), "Unknown")
        for party in conn.execute(sa.select(liveness.c.party_id).where(liveness.c.state == "down")).scalars():
            out[party] = "Down"
        rows = conn.execute(
            sa.select(uss_availability.c.party_id, uss_availability.c.availability)
            .where(uss_availability.c.party_id.is_not(None))
            .order_by(uss_availability.c.updated_at, uss_availability.c.uss_id)
        ).all()
        for r in rows:  # the latest setting wins where several USS ids name one party
            out[r.party_id] = r.availability
        return out

    @staticmethod
    def _dss_manager(row: Row[Any]) -> str:
        """An entity's F3548 ``manager``: the client (token ``sub``) that created it, for an
        entity a USS wrote through the DSS (it has a ``uss_base_url``); for a native item,
        its party.  Who may change it, and who sees its OVN, is still its party."""
        return str(row.created_by) if row.uss_base_url is not None else str(row.party_id)

    def _dss_oir_document(
        self, row: Row[Any], principal: Principal, availability: Mapping[str, str], limits: DssLimits
    ) -> Body:
        """An activity as an ``OperationalIntentReference`` (L628–L697); the OVN only to
        its manager.  An ended activity (completed/cancelled: what a DELETE leaves) shows
        the last F3548 state it can have had."""
        state = NATIVE_TO_STATE.get(row.state) or ("Activated" if row.state == "completed" else "Accepted")
        doc: Body = {
            "id": row.dss_id,
            "manager": self._dss_manager(row),
            "uss_availability": availability.get(row.party_id, "Unknown"),
            "version": row.version_no,
            "state": state,
        }
        if row.party_id == principal.party_id:
            doc["ovn"] = row.version
        doc.update(
            time_start=f3548.time_doc(row.time_start),
            time_end=f3548.time_doc(row.time_end),
            uss_base_url=row.uss_base_url or limits.native_base_url,
            subscription_id=row.dss_subscription_id or NULL_SUBSCRIPTION_ID,
        )
        return doc

    def _dss_constraint_document(
        self, row: Row[Any], principal: Principal, availability: Mapping[str, str], limits: DssLimits
    ) -> Body:
        """A zone as a ``ConstraintReference`` (L856–L909); the OVN only to its manager."""
        doc: Body = {
            "id": row.dss_id,
            "manager": self._dss_manager(row),
            "uss_availability": availability.get(row.party_id, "Unknown"),
            "version": row.version_no,
        }
        if row.party_id == principal.party_id:
            doc["ovn"] = row.version
        doc.update(
            time_start=f3548.time_doc(row.time_start),
            time_end=f3548.time_doc(row.time_end),
            uss_base_url=row.uss_base_url or limits.native_base_url,
        )
        return doc

    def _dss_subscription_document(self, conn: Connection, row: Row[Any]) -> Body:
        """A ``Subscription`` (L390–L458), its dependents read from the items bound to it."""
        dependents = conn.execute(
            sa.select(items.c.dss_id)
            .where(
                items.c.dss_subscription_id == row.id,
                items.c.item_type == "activity",
                items.c.state.in_(_LIVE_STATES),
            )
            .order_by(items.c.dss_id)
        ).scalars()
        return {
            "id": row.id,
            "version": row.version,
            "notification_index": row.notification_index,
            "time_start": f3548.time_doc(row.time_start),
            "time_end": f3548.time_doc(row.time_end),
            "uss_base_url": row.uss_base_url,
            "notify_for_operational_intents": bool(row.notify_for_operational_intents),
            "notify_for_constraints": bool(row.notify_for_constraints),
            "implicit_subscription": bool(row.implicit),
            "dependent_operational_intents": list(dependents),
        }

    # --- notification indices -------------------------------------------------------------

    def _entity_changed(self, conn: Connection, old: Row[Any] | None, new: Row[Any]) -> None:
        """Count a stored change of an item in every subscription (with the flag for its
        type) whose volume meets the item's live extents before or after the change."""
        super()._entity_changed(conn, old, new)
        volumes: list[Volume4D] = []
        if old is not None and is_live(old.item_type, old.state):
            volumes += volumes_from_json(old.volumes)
        if is_live(new.item_type, new.state):
            volumes += volumes_from_json(new.volumes)
        if not volumes:
            return
        flag = (
            dss_subscriptions.c.notify_for_operational_intents
            if new.item_type == "activity"
            else dss_subscriptions.c.notify_for_constraints
        )
        west, east, south, north = bounding_box(volumes)
        start = min(v.window.start for v in volumes)
        end = max(v.window.end for v in volumes)
        candidates = conn.execute(
            sa.select(dss_subscriptions.c.id, dss_subscriptions.c.volume).where(
                flag.is_(True),
                dss_subscriptions.c.lon_max >= west,
                dss_subscriptions.c.lon_min <= east,
                dss_subscriptions.c.lat_max >= south,
                dss_subscriptions.c.lat_min <= north,
                dss_subscriptions.c.time_start < end,
                dss_subscriptions.c.time_end > start,
            )
        ).all()
        hit = sorted(c.id for c in candidates if f3548.volumes_intersect(volumes_from_json([c.volume]), volumes))
        if not hit:
            return
        conn.execute(
            dss_subscriptions.update()
            .where(dss_subscriptions.c.id.in_(hit))
            .values(notification_index=dss_subscriptions.c.notification_index + 1)
        )
        affected: dict[str, Row[Any]] = conn.info.setdefault(_AFFECTED, {})
        for row in conn.execute(sa.select(dss_subscriptions).where(dss_subscriptions.c.id.in_(hit))).all():
            affected[row.id] = row

    def _dss_take_affected(self, conn: Connection) -> list[Row[Any]]:
        """The subscriptions bumped on ``conn`` since the last call (each as it is now), and
        forget them.  Call once at the start of a DSS write (leftovers of native writes on
        the same connection) and once after its changes."""
        affected: dict[str, Row[Any]] = conn.info.pop(_AFFECTED, None) or {}
        return [affected[k] for k in sorted(affected)]

    @staticmethod
    def _dss_subscribers(rows: Sequence[Row[Any]]) -> list[Body]:
        """``subscribers`` of a change response (L812–L832): by ``uss_base_url``, sorted."""
        by_url: dict[str, list[Row[Any]]] = {}
        for r in rows:
            by_url.setdefault(r.uss_base_url, []).append(r)
        return [
            {
                "uss_base_url": url,
                "subscriptions": [
                    {"subscription_id": r.id, "notification_index": r.notification_index}
                    for r in sorted(subs, key=lambda r: r.id)
                ],
            }
            for url, subs in sorted(by_url.items())
        ]

    # --- operational intents and their subscriptions ----------------------------------------

    def _dss_bind_subscription(
        self,
        conn: Connection,
        principal: Principal,
        *,
        entity_id: str,
        volumes: Sequence[Volume4D],
        state: str,
        subscription_id: str | None,
        new_subscription: Mapping[str, Any] | None,
        current: str | None,
        now: datetime,
        limits: DssLimits,
    ) -> str:
        """The subscription an operational intent (``entity_id``: its item id or F3548 id)
        with ``volumes`` in F3548 ``state`` is bound to (design §3.2):

        * ``subscription_id``: the caller's, notifying for operational intents, covering
          every extent — an implicit one is grown to cover them — else 400;
        * else ``new_subscription``: an implicit subscription over the extents' envelope
          (the intent's current implicit one, resized, when only it depends on it);
        * else none (the null id), allowed in ``Accepted`` only (L753–L764).

        A subscription left behind (``current``) is deleted when it is implicit and no
        other live intent depends on it."""
        if subscription_id is not None and subscription_id != NULL_SUBSCRIPTION_ID:
            sid = f3548.uuid4(subscription_id, "subscription_id")
            row = conn.execute(sa.select(dss_subscriptions).where(dss_subscriptions.c.id == sid)).first()
            if row is None or row.party_id != principal.party_id:
                raise DssError(400, "subscription_id", f"no subscription {sid!r} of {principal.party_id!r}")
            if not row.notify_for_operational_intents:
                raise DssError(400, "subscription_id", f"subscription {sid!r} does not notify for operational intents")
            if row.implicit:
                self._dss_fit_implicit(conn, row, entity_id, volumes, now, principal=principal)
            elif not _covers(row, volumes):
                raise DssError(
                    400, "subscription_id", f"subscription {sid!r} does not cover the operational intent's extents"
                )
            if current is not None and current != sid:
                self._dss_release_subscription(conn, current, leaving_item_id=entity_id)
            return sid
        if new_subscription is not None:
            url, constraints = _implicit_parameters(new_subscription)
            if constraints and CP not in principal.scopes:
                raise DssError(
                    403,
                    "new_subscription.notify_for_constraints",
                    f"needs the scope {CP}, which the token does not carry",
                )
            mine = self._dss_own_implicit(conn, principal, current, entity_id)
            if mine is not None:
                self._dss_fit_implicit(
                    conn, mine, entity_id, volumes, now, principal=principal, url=url, constraints=constraints
                )
                return str(mine.id)
            sid = str(uuid.uuid4())
            volume = _envelope_volume(principal.party_id, volumes)
            self._dss_insert_subscription(
                conn,
                principal,
                sid,
                volume,
                url=url,
                for_intents=True,
                for_constraints=constraints,
                implicit=True,
                now=now,
            )
            if current is not None:
                self._dss_release_subscription(conn, current, leaving_item_id=entity_id)
            return sid
        if state != "Accepted":
            raise DssError(
                400,
                "subscription_id",
                f"an operational intent in state {state} needs a subscription (subscription_id or new_subscription)",
            )
        if current is not None:
            self._dss_release_subscription(conn, current, leaving_item_id=entity_id)
        return NULL_SUBSCRIPTION_ID

    def _dss_release_subscription(self, conn: Connection, sub_id: str | None, *, leaving_item_id: str) -> None:
        """Delete ``sub_id`` when it is implicit and no live intent but ``leaving_item_id``
        (item id or F3548 id) depends on it any more."""
        if sub_id is None or sub_id == NULL_SUBSCRIPTION_ID:
            return
        row = conn.execute(sa.select(dss_subscriptions).where(dss_subscriptions.c.id == sub_id)).first()
        if row is None or not row.implicit or self._dss_dependents(conn, sub_id, besides=leaving_item_id):
            return
        self._dss_delete_row(conn, row, None)

    def _dss_wants_constraints(self, conn: Connection, sub_id: str | None) -> bool:
        """Whether an intent bound to ``sub_id`` must hold constraints' OVNs in its key (L741–L745)."""
        if sub_id is None or sub_id == NULL_SUBSCRIPTION_ID:
            return False
        flag = conn.execute(
            sa.select(dss_subscriptions.c.notify_for_constraints).where(dss_subscriptions.c.id == sub_id)
        ).scalar()
        return bool(flag)

    def _dss_dependents(self, conn: Connection, sub_id: str, *, besides: str | None = None) -> list[Row[Any]]:
        """The live operational intents bound to ``sub_id`` (less ``besides``: an item or F3548 id)."""
        q = sa.select(items).where(
            items.c.dss_subscription_id == sub_id, items.c.item_type == "activity", items.c.state.in_(_LIVE_STATES)
        )
        if besides is not None:
            q = q.where(items.c.id != besides, items.c.dss_id != besides)
        return list(conn.execute(q.order_by(items.c.id)).all())

    def _dss_own_implicit(
        self, conn: Connection, principal: Principal, current: str | None, entity_id: str
    ) -> Row[Any] | None:
        """The intent's current subscription when it is an implicit one of the caller's on
        which no other live intent depends (so it may be resized for this intent alone)."""
        if current is None or current == NULL_SUBSCRIPTION_ID:
            return None
        row = conn.execute(sa.select(dss_subscriptions).where(dss_subscriptions.c.id == current)).first()
        if row is None or not row.implicit or row.party_id != principal.party_id:
            return None
        if self._dss_dependents(conn, current, besides=entity_id):
            return None
        return row

    def _dss_fit_implicit(
        self,
        conn: Connection,
        row: Row[Any],
        entity_id: str,
        volumes: Sequence[Volume4D],
        now: datetime,
        *,
        principal: Principal,
        url: str | None = None,
        constraints: bool | None = None,
    ) -> None:
        """Resize an implicit subscription to the envelope of ``volumes`` and of every other
        live intent depending on it (a new version: the USS's write changed it)."""
        covered = list(volumes)
        for dep in self._dss_dependents(conn, row.id, besides=entity_id):
            covered += volumes_from_json(dep.volumes)
        volume = _envelope_volume(row.party_id, covered)
        values = _volume_columns(volume)
        if url is not None:
            values["uss_base_url"] = url
        if constraints is not None:
            values["notify_for_constraints"] = constraints
        same = all(getattr(row, k) == v for k, v in values.items())
        if same:
            return
        self._dss_update_subscription(conn, row.id, values, now, principal)

    def _dss_update_subscription(
        self, conn: Connection, sid: str, values: dict[str, Any], now: datetime, principal: Principal | None
    ) -> Row[Any]:
        """A client's change of subscription ``sid``: ``values`` with a new version (index
        bumps never come here), announced as ``dss.subscription.updated``."""
        conn.execute(
            dss_subscriptions.update()
            .where(dss_subscriptions.c.id == sid)
            .values(**values, version=new_version(), updated_at=now)
        )
        row = conn.execute(sa.select(dss_subscriptions).where(dss_subscriptions.c.id == sid)).one()
        self._dss_emit(conn, "updated", row, principal)
        return row

    def _dss_insert_subscription(
        self,
        conn: Connection,
        principal: Principal,
        sid: str,
        volume: Volume4D,
        *,
        url: str,
        for_intents: bool,
        for_constraints: bool,
        implicit: bool,
        now: datetime,
    ) -> Row[Any]:
        conn.execute(
            dss_subscriptions.insert(),
            dict(
                id=sid,
                party_id=principal.party_id,
                created_by=principal.user_id,
                version=new_version(),
                notification_index=0,
                uss_base_url=url,
                notify_for_operational_intents=for_intents,
                notify_for_constraints=for_constraints,
                implicit=implicit,
                created_at=now,
                updated_at=now,
                **_volume_columns(volume),
            ),
        )
        row = conn.execute(sa.select(dss_subscriptions).where(dss_subscriptions.c.id == sid)).one()
        self._dss_emit(conn, "created", row, principal)
        return row

    def _dss_delete_row(self, conn: Connection, row: Row[Any], principal: Principal | None) -> Body:
        doc = self._dss_subscription_document(conn, row)
        conn.execute(dss_subscriptions.delete().where(dss_subscriptions.c.id == row.id))
        self._dss_emit(conn, "deleted", row, principal, doc=doc)
        return doc

    def _dss_emit(
        self, conn: Connection, change: str, row: Row[Any], principal: Principal | None, *, doc: Body | None = None
    ) -> None:
        """``dss.subscription.<change>`` to the owning party and the mediators."""
        audience = sorted({row.party_id} | {pid for pid, p in self._parties(conn).items() if p.role == "mediator"})
        self._emit(
            conn,
            f"dss.subscription.{change}",
            audience,
            {
                "party": row.party_id,
                "subscription": doc if doc is not None else self._dss_subscription_document(conn, row),
            },
            subject=("dss_subscription", row.id),
            user_id=principal.user_id if principal is not None else None,
        )

    # --- the subscription use cases ---------------------------------------------------------

    def dss_query_subscriptions(self, principal: Principal, body: Any) -> Body:
        """The caller's own subscriptions meeting ``area_of_interest`` (L2900); a missing
        time or altitude is unbounded (from now on, every altitude)."""
        require_any(principal, {CP}, {SC})
        doc = _body(body)
        now = self.clock.now()
        with self.store.read() as conn:
            limits = self._dss_limits(conn)
            if doc.get("area_of_interest") is None:
                raise ValidationError("area_of_interest", "is required")
            area = f3548.parse_volume(
                doc["area_of_interest"],
                "area_of_interest",
                max_area_km2=limits.max_area_km2,
                need_time=False,
                need_altitude=False,
                default_start=now,
                default_end=_FAR_FUTURE,
            )
            rows = self._dss_subscriptions_meeting(conn, [area], party=principal.party_id)
            return {"subscriptions": [self._dss_subscription_document(conn, r) for r in rows]}

    def dss_get_subscription(self, principal: Principal, sid: str) -> Body:
        require_any(principal, {CP}, {SC})
        sid = f3548.uuid4(sid, "subscriptionid")
        with self.store.read() as conn:
            row = conn.execute(sa.select(dss_subscriptions).where(dss_subscriptions.c.id == sid)).first()
            if row is None or row.party_id != principal.party_id:
                raise DssError(404, "subscriptionid", f"no subscription {sid!r}")
            return {"subscription": self._dss_subscription_document(conn, row)}

    def dss_put_subscription(self, principal: Principal, sid: str, version: str | None, body: Any) -> Body:
        """Create (``version`` None) or update a subscription (member parties only); 200
        either way (L3038).  The response lists the live entities its volume meets, per
        flag, that the caller may see (OVNs of the caller's own only)."""
        require_any(principal, {CP}, {SC})
        _member(principal)
        sid = f3548.uuid4(sid, "subscriptionid")
        doc = _body(body)
        url = _base_url(doc.get("uss_base_url"), "uss_base_url")
        for_intents = _flag(doc, "notify_for_operational_intents")
        for_constraints = _flag(doc, "notify_for_constraints")
        if not for_intents and not for_constraints:
            raise ValidationError(
                "notify_for_operational_intents",
                "at least one form of notifications must be requested (notify_for_operational_intents "
                "or notify_for_constraints)",
            )
        if for_intents and SC not in principal.scopes:
            raise DssError(
                403, "notify_for_operational_intents", f"needs the scope {SC}, which the token does not carry"
            )
        if for_constraints and CP not in principal.scopes:
            raise DssError(403, "notify_for_constraints", f"needs the scope {CP}, which the token does not carry")
        if doc.get("extents") is None:
            raise ValidationError("extents", "is required")
        now = self.clock.now()
        with self.store.read() as conn:
            limits = self._dss_limits(conn)
        volume = _subscription_volume(doc["extents"], now, limits)

        def run(conn: Connection) -> Result:
            row = conn.execute(sa.select(dss_subscriptions).where(dss_subscriptions.c.id == sid)).first()
            if version is None:
                if row is not None:
                    raise DssError(409, "subscriptionid", f"a subscription {sid!r} exists already")
                row = self._dss_insert_subscription(
                    conn,
                    principal,
                    sid,
                    volume,
                    url=url,
                    for_intents=for_intents,
                    for_constraints=for_constraints,
                    implicit=False,
                    now=now,
                )
            else:
                if row is None:
                    raise DssError(409, "version", f"there is no subscription {sid!r} to update")
                if row.party_id != principal.party_id:
                    raise DssError(409, "subscriptionid", f"subscription {sid!r} is managed by another USS")
                if row.version != version:
                    raise DssError(409, "version", f"subscription {sid!r} has changed since version {version!r}")
                for dep in self._dss_dependents(conn, sid):
                    if not for_intents:
                        raise DssError(
                            400,
                            "notify_for_operational_intents",
                            f"operational intent {dep.dss_id} depends on this subscription: it must keep "
                            "notifying for operational intents",
                        )
                    if not _covers_volumes([volume], volumes_from_json(dep.volumes)):
                        raise DssError(
                            400,
                            "extents",
                            f"would no longer cover operational intent {dep.dss_id}, which depends on it",
                        )
                changes = {
                    "uss_base_url": url,
                    "notify_for_operational_intents": for_intents,
                    "notify_for_constraints": for_constraints,
                    **_volume_columns(volume),
                }
                row = self._dss_update_subscription(conn, sid, changes, now, principal)
            availability = self._dss_availability(conn)
            oirs: list[Body] = []
            constraints: list[Body] = []
            if for_intents:
                oirs = [
                    self._dss_oir_document(r, principal, availability, limits)
                    for r in self._dss_entities_meeting(conn, "activity", [volume])
                    if self._can_see_item(conn, principal, r)
                ]
            if for_constraints:
                constraints = [
                    self._dss_constraint_document(r, principal, availability, limits)
                    for r in self._dss_entities_meeting(conn, "zone", [volume])
                    if self._can_see_item(conn, principal, r)
                ]
            return 200, {
                "subscription": self._dss_subscription_document(conn, row),
                "operational_intent_references": oirs,
                "constraint_references": constraints,
            }

        return self._write(run, principal=principal)[1]

    def dss_delete_subscription(self, principal: Principal, sid: str, version: str) -> Body:
        """Delete a subscription at its current ``version``; refused (400) while a live
        operational intent depends on it (L3205–L3209)."""
        require_any(principal, {CP}, {SC})
        sid = f3548.uuid4(sid, "subscriptionid")

        def run(conn: Connection) -> Result:
            row = conn.execute(sa.select(dss_subscriptions).where(dss_subscriptions.c.id == sid)).first()
            if row is None:
                raise DssError(404, "subscriptionid", f"no subscription {sid!r}")
            if row.party_id != principal.party_id:
                raise DssError(409, "subscriptionid", f"subscription {sid!r} is managed by another USS")
            if row.version != version:
                raise DssError(409, "version", f"subscription {sid!r} has changed since version {version!r}")
            dependents = self._dss_dependents(conn, sid)
            if dependents:
                ids = ", ".join(d.dss_id for d in dependents)
                raise DssError(400, "subscriptionid", f"operational intent(s) {ids} depend on this subscription")
            return 200, {"subscription": self._dss_delete_row(conn, row, principal)}

        return self._write(run, principal=principal)[1]

    def dss_expire_subscriptions(self) -> int:
        """The scheduler's clean-up: delete subscriptions past their end on which no live
        intent depends (L511–L514); how many."""
        now = self.clock.now()
        expired = (
            sa.select(dss_subscriptions).where(dss_subscriptions.c.time_end < now).order_by(dss_subscriptions.c.id)
        )
        with self.store.read() as conn:
            if conn.execute(expired.limit(1)).first() is None:
                return 0

        def run(conn: Connection) -> Result:
            gone = 0
            for row in conn.execute(expired).all():
                if not self._dss_dependents(conn, row.id):
                    self._dss_delete_row(conn, row, None)
                    gone += 1
            return 200, {"expired": gone}

        return int(self._write(run)[1]["expired"])

    def tick(self) -> dict[str, int]:
        """What the scheduler did before (:meth:`LivenessMixin.tick`), then the expired
        subscriptions' clean-up."""
        counts = super().tick()
        counts["dss_expired"] = self.dss_expire_subscriptions()
        return counts

    # --- what a volume meets ----------------------------------------------------------------

    def _dss_subscriptions_meeting(
        self, conn: Connection, volumes: Sequence[Volume4D], *, party: str | None = None
    ) -> list[Row[Any]]:
        west, east, south, north = bounding_box(volumes)
        q = sa.select(dss_subscriptions).where(
            dss_subscriptions.c.lon_max >= west,
            dss_subscriptions.c.lon_min <= east,
            dss_subscriptions.c.lat_max >= south,
            dss_subscriptions.c.lat_min <= north,
            dss_subscriptions.c.time_start < max(v.window.end for v in volumes),
            dss_subscriptions.c.time_end > min(v.window.start for v in volumes),
        )
        if party is not None:
            q = q.where(dss_subscriptions.c.party_id == party)
        rows = conn.execute(q.order_by(dss_subscriptions.c.id)).all()
        return [r for r in rows if f3548.volumes_intersect(volumes_from_json([r.volume]), volumes)]

    def _dss_entities_meeting(self, conn: Connection, item_type: str, volumes: Sequence[Volume4D]) -> list[Row[Any]]:
        """Live activities (operational intents) or active zones (constraints) whose volumes
        meet ``volumes`` exactly in 4D, in F3548 id order."""
        west, east, south, north = bounding_box(volumes)
        live = LIVE_ACTIVITY if item_type == "activity" else LIVE_ZONE
        rows = conn.execute(
            sa.select(items)
            .where(
                items.c.item_type == item_type,
                items.c.state.in_(sorted(live)),
                items.c.lon_max >= west,
                items.c.lon_min <= east,
                items.c.lat_max >= south,
                items.c.lat_min <= north,
                items.c.time_start < max(v.window.end for v in volumes),
                items.c.time_end > min(v.window.start for v in volumes),
            )
            .order_by(items.c.dss_id)
        ).all()
        return [r for r in rows if f3548.volumes_intersect(volumes_from_json(r.volumes), volumes)]


# --- helpers --------------------------------------------------------------------------------

_FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)


def _member(principal: Principal) -> None:
    """Only member parties write on the DSS (403)."""
    if principal.party_role != "member":
        raise DssError(
            403, "party", f"only member parties write on the DSS; {principal.party_id!r} is a {principal.party_role}"
        )


def _body(body: Any) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise ValidationError("body", "must be a JSON object")
    return body


def _flag(doc: Mapping[str, Any], name: str) -> bool:
    value = doc.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ValidationError(name, f"must be true or false, got {type(value).__name__}")
    return value


def _base_url(value: Any, field: str) -> str:
    """A ``UssBaseURL`` (L572–L579): an absolute http(s) URL without a trailing '/'."""
    if value is None:
        raise ValidationError(field, "is required")
    if not isinstance(value, str):
        raise ValidationError(field, "must be a string (a URL)")
    if not value.startswith(("https://", "http://")) or len(value) <= len("https://"):
        raise ValidationError(field, "must be an absolute http(s) URL")
    if len(value) > 2048:
        raise ValidationError(field, "must be at most 2048 characters")
    if value.endswith("/"):
        raise ValidationError(field, "may not end with a '/'")
    if any(c.isspace() or not c.isprintable() for c in value):
        raise ValidationError(field, "must not contain spaces or control characters")
    return value


def _implicit_parameters(doc: Any) -> tuple[str, bool]:
    if not isinstance(doc, Mapping):
        raise ValidationError("new_subscription", "must be an object")
    url = _base_url(doc.get("uss_base_url"), "new_subscription.uss_base_url")
    value = doc.get("notify_for_constraints")
    if value is not None and not isinstance(value, bool):
        raise ValidationError("new_subscription.notify_for_constraints", "must be true or false")
    return url, bool(value)


def _subscription_volume(extents: Any, now: datetime, limits: DssLimits) -> Volume4D:
    """A subscription's one volume: start defaults to now, end to start + the default
    duration; altitudes to the whole range; the end not in the past; not too long."""
    start = now
    if isinstance(extents, Mapping) and extents.get("time_start") is not None:
        start = f3548.parse_time(extents["time_start"], "extents.time_start")
    volume = f3548.parse_volume(
        extents,
        "extents",
        max_area_km2=limits.max_area_km2,
        need_time=False,
        need_altitude=False,
        default_start=now,
        default_end=max(start, now) + timedelta(seconds=limits.subscription_default_s),
    )
    if volume.window.end < now:
        raise ValidationError("extents.time_end", "is in the past; a subscription's end may not be in the past")
    span = volume.window.duration.total_seconds()
    if span > limits.subscription_max_s:
        raise ValidationError(
            "extents",
            f"lasts {span / 3600:.2f} h; a subscription lasts at most {limits.subscription_max_s / 3600:.2f} h",
        )
    return volume


def _volume_columns(volume: Volume4D) -> dict[str, Any]:
    west, east, south, north = bounding_box([volume])
    return {
        "volume": volumes_to_json([volume])[0],
        "time_start": volume.window.start,
        "time_end": volume.window.end,
        "lon_min": west,
        "lon_max": east,
        "lat_min": south,
        "lat_max": north,
    }


def _envelope_volume(party: str, volumes: Sequence[Volume4D]) -> Volume4D:
    """One volume covering ``volumes`` (an implicit subscription's): their bounding box
    (:func:`.core.envelope`), every altitude and the whole time span — or, where a box is
    no polygon (across ±180°, at a pole), a geodesic circle about the first footprint's
    centre holding them all.  Wider than the engine takes → 413."""
    west, east, south, north = bounding_box(volumes)
    if east - west < 180 and south > -89.5 and north < 89.5:
        volume = envelope(Activity("implicit", party, ActivityKind.AIR_SORTIE, tuple(volumes))).volumes[0]
    else:
        table = prepare([v.footprint for v in volumes])
        clon, clat = float(table.clon[0]), float(table.clat[0])
        _, _, dist = GEOD.inv(np.full(len(table), clon), np.full(len(table), clat), table.clon, table.clat)
        volume = Volume4D(
            Circle((clon, clat), float(np.max(np.asarray(dist) + table.rho)) + 1.0),
            AltitudeBand(min(v.altitude.lower_m for v in volumes), max(v.altitude.upper_m for v in volumes)),
            TimeWindow(min(v.window.start for v in volumes), max(v.window.end for v in volumes)),
        )
    try:
        prepare([volume.footprint], fields=["extents"])
    except FootprintTooLargeError as e:
        raise f3548.AreaTooLarge(
            e.field, f"{e.reason}: the extents are too far apart for one implicit subscription; give subscription_id"
        ) from None
    return volume


def _covers(row: Row[Any], volumes: Sequence[Volume4D]) -> bool:
    return _covers_volumes(volumes_from_json([row.volume]), volumes)


def _covers_volumes(outer: Sequence[Volume4D], inner: Sequence[Volume4D]) -> bool:
    """Whether the one volume of ``outer`` holds every volume of ``inner``: windows and
    bands within, footprints inside (in an azimuthal equidistant projection about the
    outer footprint's centre; circles as polygons — inscribed for the outer, circumscribed
    for the inner — and edges split along their geodesics, so the test errs towards "no"
    by at most :data:`_COVER_TOLERANCE_M`)."""
    (o,) = outer
    for v in inner:
        if v.window.start < o.window.start or v.window.end > o.window.end:
            return False
        if v.altitude.lower_m < o.altitude.lower_m or v.altitude.upper_m > o.altitude.upper_m:
            return False
    table = prepare([o.footprint])
    clon, clat = float(table.clon[0]), float(table.clat[0])
    shell = shapely.buffer(_shape(o.footprint, clon, clat, outer=False), _COVER_TOLERANCE_M)
    return all(shapely.covers(shell, _shape(v.footprint, clon, clat, outer=True)) for v in inner)


def _shape(fp: Footprint, clon: float, clat: float, *, outer: bool) -> shapely.Geometry:
    """``fp`` projected about (clon, clat); ``outer``: a polygon holding the footprint,
    else one inside it."""
    if isinstance(fp, Circle):
        az = np.linspace(0.0, 360.0, _CIRCLE_SIDES, endpoint=False)
        r = fp.radius_m / np.cos(np.pi / _CIRCLE_SIDES) if outer else fp.radius_m
        lon, lat, _ = GEOD.fwd(
            np.full(_CIRCLE_SIDES, fp.center[0]), np.full(_CIRCLE_SIDES, fp.center[1]), az, np.full(_CIRCLE_SIDES, r)
        )
        ring = list(zip(np.asarray(lon), np.asarray(lat), strict=True))
    elif isinstance(fp, Polygon):
        ring = _densified(list(fp.vertices), closed=True)
    else:  # a corridor (native items only): its line, buffered in the projection
        path = _densified(list(fp.path), closed=False)
        x, y, _ = project(clon, clat, np.array([p[0] for p in path]), np.array([p[1] for p in path]))
        line = shapely.linestrings(np.column_stack([x, y]))
        return shapely.buffer(line, fp.half_width_m * (1.001 if outer else 0.999))
    x, y, _ = project(clon, clat, np.array([p[0] for p in ring]), np.array([p[1] for p in ring]))
    return shapely.make_valid(shapely.polygons(np.column_stack([x, y])))


def _densified(points: list[tuple[float, float]], *, closed: bool) -> list[tuple[float, float]]:
    step = DENSIFY_STEP_M / 5.0
    out: list[tuple[float, float]] = []
    ends = [*points[1:], points[0]] if closed else points[1:]
    for (lon1, lat1), (lon2, lat2) in zip(points, ends, strict=False):
        out.append((lon1, lat1))
        _, _, dist = GEOD.inv(lon1, lat1, lon2, lat2)
        n = int(dist // step)
        if n > 0:
            out += [(float(a), float(b)) for a, b in GEOD.npts(lon1, lat1, lon2, lat2, n)]
    if not closed:
        out.append(points[-1])
    return out
