"""The ASTM F3548-21 DSS interface (``/dss/v1``): operational intent and constraint
references, USS availability and reports, over the one model underneath.

An operational intent reference (OIR) *is* an ``items`` row of type ``activity``, a
constraint reference *is* a ``zone``: every DSS write goes through the same write unit,
the same conflict index, the same notices, receipts, events and joint record as a native
write (``docs/design/dss.md`` §1–§2, §4).  What differs is the rule set:

* the **key**: an OIR written in Accepted or Activated must present the OVN (the item's
  ``version``) of every live entity whose extents intersect it exactly in 4D — the
  caller's own included, the entity itself excluded; constraints count only when the
  OIR's subscription asks for constraint notifications.  Native activities count too.
* the **states** of :data:`.dss_types.DSS_TRANSITIONS`; a USS that availability
  arbitration declared Down may not create, keep or move an intent in Accepted or
  Activated, nor delete one (412).
* the **answers**: F3548 documents (the OVN only for the manager's party), ``subscribers`` to
  notify (:mod:`.dss_subscriptions` counts every change in the notification indices),
  and the spec's own statuses (:class:`.dss_types.DssError`).

A DSS write never refuses a late notice (422 is no F3548 status): lateness is measured
only when the activity kind's policy accepts late notices.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from .. import f3548
from ..errors import ValidationError
from ..model import ActivityKind, Volume4D
from ..policy import LateNotice, Precedence
from ..store.schema import (
    dss_reports,
    dss_subscriptions,
    item_versions,
    items,
    liveness,
    parties,
    uss_availability,
    uss_clients,
)
from ..wire import reject_nul, rfc3339, volumes_from_json
from .core import LIVE_ACTIVITY, LIVE_ZONE, Body, Principal, Result, bounding_box, is_live, new_id, new_version
from .dss_subscriptions import DssSubscriptionsMixin, _member
from .dss_types import (
    AA,
    AVAILABILITIES,
    CM,
    CMSA,
    CP,
    DSS_TRANSITIONS,
    F3548_SCOPES,
    KEY_STATES,
    NATIVE_TO_STATE,
    NULL_SUBSCRIPTION_ID,
    OIR_STATES,
    SC,
    STATE_TO_NATIVE,
    DssError,
    DssLimits,
    require_any,
)
from .items import ItemInput

__all__ = ["DssMixin"]

# the spec's security alternatives per route (design §1.1)
_OIR_READ = ({SC}, {CMSA})
_OIR_WRITE = ({SC}, {SC, CP}, {CMSA})
_CONSTRAINT_READ = ({CM}, {CP})
_CONSTRAINT_WRITE = ({CM},)
_AVAILABILITY_READ = ({AA}, {SC}, {CMSA})
_AVAILABILITY_WRITE = ({AA},)
_OIR_DETAILS = {SC}  # the USS-to-USS routes (L3469, L3690)
_CONSTRAINT_DETAILS = {CP}
_ANY = tuple({s} for s in sorted(F3548_SCOPES))
# states after which an ended intent is "completed" rather than "cancelled" (design D7)
_FLOWN = ("active", "nonconforming", "contingent")
_WHAT = {"activity": "operational intent", "zone": "constraint"}


class DssMixin(DssSubscriptionsMixin):
    # --- operational intent references --------------------------------------------------

    def dss_query_oirs(self, principal: Principal, body: Mapping[str, Any]) -> Body:
        """The OIRs (live activities, native ones included) intersecting ``area_of_interest``."""
        require_any(principal, *_OIR_READ)
        found = self._dss_query(principal, "activity", body)
        return {"operational_intent_references": found}

    def dss_get_oir(self, principal: Principal, entityid: str) -> Body:
        require_any(principal, *_OIR_READ)
        return {"operational_intent_reference": self._dss_get(principal, "activity", entityid)}

    def dss_put_oir(
        self, principal: Principal, entityid: str, ovn: str | None, body: Mapping[str, Any]
    ) -> tuple[int, Body]:
        """Create (``ovn`` None: 201) or update (200) an OIR: its activity, at the key rule."""
        require_any(principal, *_OIR_WRITE)
        _member(principal)
        dss_id = f3548.uuid4(entityid, "entityid")
        if ovn is not None:
            _check_ovn(ovn)
        doc = _object(body, "body")

        def run(conn: Connection) -> Result:
            self._dss_take_affected(conn)  # leftovers of a write that failed on this connection
            now = self.clock.now()
            limits = self._dss_limits(conn)
            availability = self._dss_availability(conn)
            extents = f3548.parse_extents(
                doc.get("extents"),
                "extents",
                now=now,
                max_area_km2=limits.max_area_km2,
                max_extents=limits.max_extents,
                max_duration_s=limits.max_duration_s,
            )
            state = doc.get("state")
            if state not in OIR_STATES:
                raise ValidationError("state", f"must be one of {list(OIR_STATES)}")
            url = _base_url(doc.get("uss_base_url"), "uss_base_url")
            key = _key(doc.get("key"))
            subscription_id = doc.get("subscription_id")
            if subscription_id is not None:
                subscription_id = f3548.uuid4(subscription_id, "subscription_id")
            new_subscription = doc.get("new_subscription")
            if new_subscription is not None:
                new_subscription = _object(new_subscription, "new_subscription")

            old = self._dss_current(conn, principal, "activity", dss_id, ovn)
            current = NATIVE_TO_STATE[old.state] if old is not None else None
            if state not in DSS_TRANSITIONS[current]:
                raise DssError(
                    400,
                    "state",
                    f"an operational intent cannot go from {current or 'nothing (a new one)'} to {state}",
                )
            if state in KEY_STATES and availability.get(principal.party_id) == "Down":
                raise DssError(
                    412,
                    "uss_availability",
                    f"{principal.party_id!r} is Down: it may not create, keep or move an operational intent "
                    f"in {state} until availability arbitration declares it Normal again",
                )
            item_id = old.id if old is not None else new_id("act", now)
            bound = self._dss_bind_subscription(
                conn,
                principal,
                entity_id=dss_id,
                volumes=extents,
                state=state,
                subscription_id=subscription_id,
                new_subscription=new_subscription,
                current=old.dss_subscription_id if old is not None else None,
                now=now,
                limits=limits,
            )
            sub_id = None if bound == NULL_SUBSCRIPTION_ID else bound
            data = ItemInput(
                kind=limits.activity_kind,
                volumes=extents,
                title=_title(url),
                priority=Precedence.ROUTINE,
                contact=url[:200],
            )
            model = self._model("activity", item_id, principal.party_id, data)
            found = self._check(model)
            if state in KEY_STATES:
                relevant = self._intersecting(model)
                self._dss_require_key(
                    conn,
                    principal,
                    relevant,
                    key,
                    constraints=self._dss_wants_constraints(conn, sub_id),
                    availability=availability,
                    limits=limits,
                )
            verdict = self._dss_verdict(data, now, old)
            row = self._store_item(
                conn,
                principal,
                item_id,
                "activity",
                data,
                STATE_TO_NATIVE[state],
                now,
                verdict=verdict,
                old=old,
                key=key,
                model=model,
                dss={"dss_id": dss_id, "uss_base_url": url, "dss_subscription_id": sub_id},
            )
            self._notify(conn, principal, row, "notified" if old is None else "updated", verdict, first=old is None)
            self._reconcile(conn, row, found, gone_reason="changed")
            return (201 if old is None else 200), {
                "subscribers": self._dss_subscribers_now(conn),
                "operational_intent_reference": self._dss_oir_document(row, principal, availability, limits),
            }

        return self._write(run, principal=principal)

    def dss_delete_oir(self, principal: Principal, entityid: str, ovn: str) -> Body:
        """End an OIR: its activity becomes ``completed`` if it ever flew, else ``cancelled``."""
        require_any(principal, *_OIR_READ)
        _member(principal)
        dss_id = f3548.uuid4(entityid, "entityid")
        _check_ovn(ovn)

        def run(conn: Connection) -> Result:
            self._dss_take_affected(conn)
            now = self.clock.now()
            limits = self._dss_limits(conn)
            availability = self._dss_availability(conn)
            old = self._dss_owned(conn, principal, "activity", dss_id, ovn)
            if availability.get(principal.party_id) == "Down":
                raise DssError(
                    412,
                    "uss_availability",
                    f"{principal.party_id!r} is Down: it may not delete an operational intent until "
                    "availability arbitration declares it Normal again",
                )
            flown = old.state in _FLOWN or (
                conn.execute(
                    sa.select(item_versions.c.item_id)
                    .where(item_versions.c.item_id == old.id, item_versions.c.state.in_(_FLOWN))
                    .limit(1)
                ).first()
                is not None
            )
            target = "completed" if flown else "cancelled"
            row = self._set_state(conn, principal, old, target, now)
            self._notify(conn, principal, row, target, None)
            self._reconcile(conn, row, {}, gone_reason=target)
            self._dss_release_subscription(conn, old.dss_subscription_id, leaving_item_id=old.id)
            return 200, {
                "subscribers": self._dss_subscribers_now(conn),
                # the reference as it was when it ended (an ended intent has no F3548 state)
                "operational_intent_reference": self._dss_oir_document(old, principal, availability, limits),
            }

        return self._write(run, principal=principal)[1]

    # --- constraint references ----------------------------------------------------------

    def dss_query_constraints(self, principal: Principal, body: Mapping[str, Any]) -> Body:
        require_any(principal, *_CONSTRAINT_READ)
        return {"constraint_references": self._dss_query(principal, "zone", body)}

    def dss_get_constraint(self, principal: Principal, entityid: str) -> Body:
        require_any(principal, *_CONSTRAINT_READ)
        return {"constraint_reference": self._dss_get(principal, "zone", entityid)}

    def dss_put_constraint(
        self, principal: Principal, entityid: str, ovn: str | None, body: Mapping[str, Any]
    ) -> tuple[int, Body]:
        """Create (201) or update (200) a constraint reference: an active zone (no key)."""
        require_any(principal, *_CONSTRAINT_WRITE)
        _member(principal)
        dss_id = f3548.uuid4(entityid, "entityid")
        if ovn is not None:
            _check_ovn(ovn)
        doc = _object(body, "body")

        def run(conn: Connection) -> Result:
            self._dss_take_affected(conn)
            now = self.clock.now()
            limits = self._dss_limits(conn)
            availability = self._dss_availability(conn)
            extents = f3548.parse_extents(
                doc.get("extents"),
                "extents",
                now=now,
                max_area_km2=limits.max_area_km2,
                max_extents=limits.max_extents,
                max_duration_s=limits.max_duration_s,
            )
            url = _base_url(doc.get("uss_base_url"), "uss_base_url")
            old = self._dss_current(conn, principal, "zone", dss_id, ovn)
            item_id = old.id if old is not None else new_id("zone", now)
            data = ItemInput(kind=limits.zone_kind, volumes=extents, title=_title(url), contact=url[:200])
            model = self._model("zone", item_id, principal.party_id, data)
            found = self._check(model)
            row = self._store_item(
                conn,
                principal,
                item_id,
                "zone",
                data,
                "active",
                now,
                verdict=None,
                old=old,
                model=model,
                dss={"dss_id": dss_id, "uss_base_url": url},
            )
            self._notify(conn, principal, row, "created" if old is None else "updated", None, first=old is None)
            self._reconcile(conn, row, found, gone_reason="changed")
            return (201 if old is None else 200), {
                "subscribers": self._dss_subscribers_now(conn),
                "constraint_reference": self._dss_constraint_document(row, principal, availability, limits),
            }

        return self._write(run, principal=principal)

    def dss_delete_constraint(self, principal: Principal, entityid: str, ovn: str) -> Body:
        """Withdraw the zone behind a constraint reference."""
        require_any(principal, *_CONSTRAINT_WRITE)
        _member(principal)
        dss_id = f3548.uuid4(entityid, "entityid")
        _check_ovn(ovn)

        def run(conn: Connection) -> Result:
            self._dss_take_affected(conn)
            now = self.clock.now()
            limits = self._dss_limits(conn)
            availability = self._dss_availability(conn)
            old = self._dss_owned(conn, principal, "zone", dss_id, ovn)
            row = self._set_state(conn, principal, old, "withdrawn", now)
            self._notify(conn, principal, row, "withdrawn", None)
            self._reconcile(conn, row, {}, gone_reason="withdrawn")
            return 200, {
                "subscribers": self._dss_subscribers_now(conn),
                "constraint_reference": self._dss_constraint_document(old, principal, availability, limits),
            }

        return self._write(run, principal=principal)[1]

    # --- USS availability -----------------------------------------------------------------

    def dss_get_availability(self, principal: Principal, uss_id: str) -> Body:
        """A USS's availability: the arbitration record under ``uss_id``, else that of the
        party ``uss_id`` names (a client ``sub`` bound to it, or its id; the latest where
        several); without one, ``Down`` while the party's channel is down (a native party
        gone silent), else ``Unknown`` — version ``""`` (nothing arbitrated)."""
        require_any(principal, *_AVAILABILITY_READ)
        _check_uss_id(uss_id)
        with self.store.read() as conn:
            row, party = self._dss_availability_record(conn, uss_id)
            if row is not None:
                return {"status": {"uss": uss_id, "availability": row.availability}, "version": row.version}
            availability = self._dss_availability(conn).get(party.id, "Unknown") if party is not None else "Unknown"
        return {"status": {"uss": uss_id, "availability": availability}, "version": ""}

    def dss_set_availability(self, principal: Principal, uss_id: str, body: Mapping[str, Any]) -> Body:
        """Arbitrate a USS's availability.  When ``uss_id`` names an F3548 party (a client
        ``sub`` bound to it, or its id), Down takes the party's channel down (its activities
        count at their worst case, everyone is told) and Normal or Unknown brings it back
        up; the record changed is the one :meth:`dss_get_availability` answers with.  A
        native party's availability is its heartbeats' (400, nothing written)."""
        require_any(principal, *_AVAILABILITY_WRITE)
        _member(principal)
        _check_uss_id(uss_id)
        doc = _object(body, "body")
        old_version = doc.get("old_version", "")
        if old_version is None:
            old_version = ""
        if not isinstance(old_version, str):
            raise ValidationError("old_version", "must be a string")
        availability = doc.get("availability")
        if availability not in AVAILABILITIES:
            raise ValidationError("availability", f"must be one of {list(AVAILABILITIES)}")

        def run(conn: Connection) -> Result:
            now = self.clock.now()
            row, party_row = self._dss_availability_record(conn, uss_id)
            if party_row is not None and party_row.protocol != "f3548":
                named = "" if party_row.id == uss_id else f" (a client of {party_row.id!r})"
                raise DssError(
                    400, "uss_id", f"{uss_id!r}{named} is a native party; its liveness follows its heartbeats"
                )
            current = row.version if row is not None else ""
            if old_version != current:
                raise DssError(
                    400,
                    "old_version",
                    f"{old_version!r} does not match the current version of {uss_id!r}'s availability "
                    f"({current!r}); read it again",
                )
            party = party_row.id if party_row is not None else None
            version = new_version()
            values = dict(
                availability=availability,
                version=version,
                party_id=party,
                updated_at=now,
                updated_by=principal.user_id,
            )
            if row is None:
                conn.execute(uss_availability.insert(), dict(uss_id=uss_id, **values))
            else:  # under uss_id, or the party's record that uss_id was answered with
                conn.execute(uss_availability.update().where(uss_availability.c.uss_id == row.uss_id).values(**values))
            if party is not None:
                self._dss_drive_liveness(conn, party, availability == "Down", now)
            self._emit(
                conn,
                "uss.availability",
                ["*"],
                {"uss": uss_id, "party": party, "availability": availability, "at": rfc3339(now)},
                subject=("party", party) if party is not None else None,
                user_id=principal.user_id,
            )
            return 200, {"status": {"uss": uss_id, "availability": availability}, "version": version}

        return self._guarded(run)

    # --- reports --------------------------------------------------------------------------

    def dss_report(self, principal: Principal, body: Mapping[str, Any]) -> Body:
        """Keep a USS's report of a communication problem (``ErrorReport``) with an id of
        ours; ``Authorization`` header values are reduced to a digest before storing."""
        require_any(principal, *_ANY)
        _member(principal)
        doc = _object(body, "body")
        reject_nul(doc)
        exchange = doc.get("exchange")
        if not isinstance(exchange, Mapping):
            raise ValidationError("exchange", "is required: the exchange (an ExchangeRecord) being reported")

        def run(conn: Connection) -> Result:
            now = self.clock.now()
            report = redact_authorization(doc)
            report["report_id"] = new_id("rep", now)
            conn.execute(
                dss_reports.insert(),
                dict(
                    id=report["report_id"],
                    party_id=principal.party_id,
                    reported_by=principal.user_id,
                    at=now,
                    report=report,
                ),
            )
            return 201, report

        return self._write(run, principal=principal)[1]

    # --- the native parties' USS side (/native/uss/v1) -------------------------------------

    def dss_native_details(self, principal: Principal, item_type: str, entityid: str) -> Body:
        """What a USS asks the *manager* of an entity for, peer to peer, when the DSS names
        it (``GET {uss_base_url}/uss/v1/operational_intents|constraints/{entityid}``,
        L3458–L3525, L3677–L3743): the reference **with its OVN** and the details (volumes).

        Native parties' items have no USS of their own: this service answers for them at
        ``settings.dss.native_base_url``, so that a USS can learn a native item's OVN the
        standard's way — and the read is recorded as the native GET's is (the access log,
        the notices of that item marked opened by the reading party): proof of awareness
        on both sides.  An item managed by a USS is that USS's to answer for (404 here).
        Native items carry no F3548 priority: ``priority`` is 0 for all (the mechanism
        ranks no operation above another)."""
        require_any(principal, *((_OIR_DETAILS,) if item_type == "activity" else (_CONSTRAINT_DETAILS,)))
        dss_id = f3548.uuid4(entityid, "entityid")

        def run(conn: Connection) -> Result:
            row = conn.execute(sa.select(items).where(items.c.dss_id == dss_id, items.c.item_type == item_type)).first()
            if row is None or row.uss_base_url is not None or not self._dss_visible(conn, principal, row):
                raise DssError(404, "entityid", f"no native {_WHAT[item_type]} {dss_id} is served here")
            if row.party_id != principal.party_id:
                self._log_access(conn, principal, f"dss_details_{item_type}", (item_type, row.id))
                self._mark_opened_notices(conn, principal, row.id)
            reference = self._dss_document(conn, row, principal) | {"ovn": row.version}
            volumes = [f3548.volume_doc(v) for v in volumes_from_json(row.volumes)]
            if item_type == "activity":
                details: Body = {"volumes": volumes, "off_nominal_volumes": [], "priority": 0}
                return 200, {"operational_intent": {"reference": reference, "details": details}}
            kind = row.kind if row.subtype is None else f"{row.kind}/{row.subtype}"
            return 200, {"constraint": {"reference": reference, "details": {"volumes": volumes, "type": kind}}}

        return self._write(run)[1]

    # --- internals ------------------------------------------------------------------------

    def _dss_current(
        self, conn: Connection, principal: Principal, item_type: str, dss_id: str, ovn: str | None
    ) -> Row[Any] | None:
        """The entity a PUT changes (``None``: a create), checked: a create of an existing
        id, or an update of a missing entity or at a stale OVN → 409 (design D10)."""
        what = _WHAT[item_type]
        row = conn.execute(sa.select(items).where(items.c.dss_id == dss_id)).first()
        if ovn is None:
            if row is not None and row.state != "draft" and not is_live(row.item_type, row.state):
                raise DssError(409, "entityid", f"{dss_id} belongs to an ended {_WHAT[row.item_type]}; use a new id")
            if row is not None:
                raise DssError(409, "entityid", f"an entity {dss_id} exists already; update it at its OVN")
            return None
        if row is None or row.item_type != item_type or not self._dss_visible(conn, principal, row):
            raise DssError(409, "ovn", f"does not match the current OVN of {what} {dss_id}: there is none")
        if row.party_id != principal.party_id:
            raise DssError(
                403, "entityid", f"{what} {dss_id} is managed by {self._dss_manager(row)!r}; a USS changes only its own"
            )
        if row.version != ovn:
            raise DssError(409, "ovn", f"does not match the current OVN of {what} {dss_id}; read it again")
        return row

    def _dss_owned(self, conn: Connection, principal: Principal, item_type: str, dss_id: str, ovn: str) -> Row[Any]:
        """The entity a DELETE ends: unknown → 404, another manager's → 403, stale → 409."""
        what = _WHAT[item_type]
        row = conn.execute(sa.select(items).where(items.c.dss_id == dss_id, items.c.item_type == item_type)).first()
        if row is None or not self._dss_visible(conn, principal, row):
            raise DssError(404, "entityid", f"no {what} {dss_id}")
        if row.party_id != principal.party_id:
            raise DssError(
                403, "entityid", f"{what} {dss_id} is managed by {self._dss_manager(row)!r}; a USS ends only its own"
            )
        if row.version != ovn:
            raise DssError(409, "ovn", f"does not match the current OVN of {what} {dss_id}; read it again")
        return row

    def _dss_visible(self, conn: Connection, principal: Principal, row: Row[Any]) -> bool:
        """Live and visible to ``principal``: drafts, ended intents and withdrawn or expired
        constraints do not exist on /dss/v1."""
        live = LIVE_ACTIVITY if row.item_type == "activity" else LIVE_ZONE
        return row.state in live and self._can_see_item(conn, principal, row)

    def _dss_get(self, principal: Principal, item_type: str, entityid: str) -> Body:
        dss_id = f3548.uuid4(entityid, "entityid")

        def run(conn: Connection) -> Result:
            row = conn.execute(sa.select(items).where(items.c.dss_id == dss_id, items.c.item_type == item_type)).first()
            if row is None or not self._dss_visible(conn, principal, row):
                raise DssError(404, "entityid", f"no {_WHAT[item_type]} {dss_id}")
            if row.party_id != principal.party_id:
                self._log_access(conn, principal, f"dss_read_{item_type}", (item_type, row.id))
            return 200, self._dss_document(conn, row, principal)

        return self._write(run)[1]

    def _dss_query(self, principal: Principal, item_type: str, body: Mapping[str, Any]) -> list[Body]:
        doc = _object(body, "body")
        aoi = doc.get("area_of_interest")
        if aoi is None:
            raise ValidationError("area_of_interest", "is required (one Volume4D)")

        def run(conn: Connection) -> Result:
            now = self.clock.now()
            limits = self._dss_limits(conn)
            # a missing time_start is now; a missing time_end, the longest query after the start
            start = now
            if isinstance(aoi, Mapping) and aoi.get("time_start") is not None:
                start = f3548.parse_time(aoi["time_start"], "area_of_interest.time_start")
            area = f3548.parse_volume(
                aoi,
                "area_of_interest",
                max_area_km2=limits.max_area_km2,
                need_time=False,
                need_altitude=False,
                default_start=now,
                default_end=start + timedelta(seconds=limits.query_max_duration_s),
            )
            window = area.window
            if (window.end - window.start).total_seconds() > limits.query_max_duration_s:
                raise ValidationError(
                    "area_of_interest.time_end",
                    f"a query spans at most {limits.query_max_duration_s:g} s after its time_start",
                )
            rows = [
                r
                for r in self._dss_candidates(conn, item_type, area)
                if self._can_see_item(conn, principal, r)
                and f3548.volumes_intersect([area], volumes_from_json(r.volumes))
            ]
            others = [r.id for r in rows if r.party_id != principal.party_id]
            if others:
                self._log_access(conn, principal, f"dss_query_{item_type}", None, {"ids": others})
            availability = self._dss_availability(conn)
            return 200, {"found": [self._dss_document(conn, r, principal, availability, limits) for r in rows]}

        found: list[Body] = self._write(run)[1]["found"]
        return found

    def _dss_candidates(self, conn: Connection, item_type: str, area: Volume4D) -> Sequence[Row[Any]]:
        """Live items whose bounding box and time span meet ``area``'s (the exact test follows)."""
        w, e, s, n = bounding_box([area])
        live = LIVE_ACTIVITY if item_type == "activity" else LIVE_ZONE
        return conn.execute(
            sa.select(items)
            .where(
                items.c.item_type == item_type,
                items.c.state.in_(sorted(live)),
                items.c.lon_max >= w,
                items.c.lon_min <= e,
                items.c.lat_max >= s,
                items.c.lat_min <= n,
                items.c.time_end > area.window.start,
                items.c.time_start < area.window.end,
            )
            .order_by(items.c.id)
        ).all()

    def _dss_document(
        self,
        conn: Connection,
        row: Row[Any],
        principal: Principal,
        availability: Mapping[str, str] | None = None,
        limits: DssLimits | None = None,
    ) -> Body:
        availability = self._dss_availability(conn) if availability is None else availability
        limits = self._dss_limits(conn) if limits is None else limits
        if row.item_type == "activity":
            return self._dss_oir_document(row, principal, availability, limits)
        return self._dss_constraint_document(row, principal, availability, limits)

    def _dss_require_key(
        self,
        conn: Connection,
        principal: Principal,
        relevant: Mapping[str, Any],
        key: Sequence[str],
        *,
        constraints: bool,
        availability: Mapping[str, str],
        limits: DssLimits,
    ) -> None:
        """409 ``AirspaceConflictResponse`` unless ``key`` holds the OVN of every relevant
        entity: each intersecting live activity, and each zone when ``constraints``."""
        if not relevant:
            return
        presented = set(key)
        rows = conn.execute(sa.select(items).where(items.c.id.in_(sorted(relevant))).order_by(items.c.id)).all()
        missing = [r for r in rows if r.version not in presented and (constraints or r.item_type == "activity")]
        if not missing:
            return
        oirs = [
            self._dss_oir_document(r, principal, availability, limits) for r in missing if r.item_type == "activity"
        ]
        zones = [
            self._dss_constraint_document(r, principal, availability, limits) for r in missing if r.item_type == "zone"
        ]
        message = (
            f"key: does not hold the current OVN of {len(oirs)} operational intent(s) and {len(zones)} "
            "constraint(s) intersecting these extents; obtain each from its manager, then resubmit"
        )
        raise DssError(
            409,
            "key",
            message[len("key: ") :],
            body={"message": message, "missing_operational_intents": oirs, "missing_constraints": zones},
        )

    def _dss_verdict(self, data: ItemInput, now: datetime, old: Row[Any] | None) -> Any:
        """The notice verdict, only where the policy accepts late notices for the kind (a
        DSS write is never refused for lateness: 422 is not an F3548 status)."""
        if self.policy.late_notice[ActivityKind(data.kind)] is not LateNotice.ACCEPT:
            return None
        return self._verdict(data, now, old)

    def _dss_subscribers_now(self, conn: Connection) -> list[Body]:
        """``subscribers`` for this write's changes: the subscriptions whose index it
        bumped and that still exist (an implicit one may have gone with its intent)."""
        affected = self._dss_take_affected(conn)
        if not affected:
            return []
        alive = set(
            conn.execute(
                sa.select(dss_subscriptions.c.id).where(dss_subscriptions.c.id.in_(sorted({r.id for r in affected})))
            ).scalars()
        )
        return self._dss_subscribers([r for r in affected if r.id in alive])

    def _dss_uss_party(self, conn: Connection, uss_id: str) -> Row[Any] | None:
        """The party a USS id names: the one its client ``sub`` is bound to (uss_clients),
        else the party of that id."""
        mapped = conn.execute(
            sa.select(uss_clients.c.party_id).where(uss_clients.c.sub == uss_id).order_by(uss_clients.c.issuer)
        ).first()
        party_id = mapped.party_id if mapped is not None else uss_id
        return conn.execute(sa.select(parties).where(parties.c.id == party_id)).first()

    def _dss_availability_record(self, conn: Connection, uss_id: str) -> tuple[Row[Any] | None, Row[Any] | None]:
        """The availability record for ``uss_id`` — its own, else the latest of the party
        it names (as :meth:`_dss_availability` ranks them) — and that party."""
        party = self._dss_uss_party(conn, uss_id)
        row = conn.execute(sa.select(uss_availability).where(uss_availability.c.uss_id == uss_id)).first()
        if row is None and party is not None:
            row = conn.execute(
                sa.select(uss_availability)
                .where(uss_availability.c.party_id == party.id)
                .order_by(uss_availability.c.updated_at.desc(), uss_availability.c.uss_id.desc())
                .limit(1)
            ).first()
        return row, party

    def _dss_drive_liveness(self, conn: Connection, party: str, down: bool, now: datetime) -> None:
        """Availability arbitration drives the party's channel (design D6): Down takes it
        down as silence would; Normal or Unknown brings a down one back up."""
        row = conn.execute(sa.select(liveness).where(liveness.c.party_id == party)).first()
        if down:
            if row is not None and row.state == "down":
                return
            if row is None:
                conn.execute(liveness.insert(), dict(party_id=party, state="unknown", since=now, outages=0))
            # "silent since": when it was last heard, else now, when arbitration found it so
            conn.execute(
                liveness.update()
                .where(liveness.c.party_id == party, liveness.c.last_seen_at.is_(None))
                .values(last_seen_at=now)
            )
            current = conn.execute(sa.select(liveness).where(liveness.c.party_id == party)).one()
            self._went_down(conn, current, now)
        elif row is not None and row.state == "down":
            conn.execute(liveness.update().where(liveness.c.party_id == party).values(state="up", since=now))
            self._came_back(conn, row, now)


# --- request helpers ----------------------------------------------------------------------


def _object(value: object, field: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValidationError(field, "must be a JSON object")
    return value


def _check_ovn(ovn: object) -> None:
    if not isinstance(ovn, str) or not 16 <= len(ovn) <= 128:
        raise ValidationError("ovn", "must be an OVN of 16–128 characters")


def _check_uss_id(uss_id: object) -> None:
    if not isinstance(uss_id, str) or not 1 <= len(uss_id) <= 200 or not uss_id.isprintable():
        raise ValidationError("uss_id", "must be 1–200 printable characters")


def _key(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ValidationError("key", "must be a list of OVNs")
    for i, v in enumerate(value):
        if not isinstance(v, str):
            raise ValidationError(f"key[{i}]", "must be a string (an OVN)")
    return tuple(value)


def _base_url(value: object, field: str) -> str:
    """A USS base URL (L579–L586): http(s), with a host, no trailing '/'."""
    if not isinstance(value, str) or not value:
        raise ValidationError(field, "is required: the USS's base URL, e.g. https://uss.example.com/utm")
    if len(value) > 2048:
        raise ValidationError(field, "must be at most 2048 characters")
    try:
        parts = urlsplit(value)
    except ValueError:
        raise ValidationError(field, "must be a URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError(field, "must be an http(s) URL with a host")
    if value.endswith("/"):
        raise ValidationError(field, "must not end with '/'")
    return value


def _title(url: str) -> str:
    return f"F3548 {urlsplit(url).hostname}"[:200]


def redact_authorization(report: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``report`` whose ``Authorization`` header values (in any ``headers``:
    a list of ``"Name: value"`` strings, or an object) are reduced to the scheme and a
    digest — a bearer token never enters the shared, append-only record.

    >>> redact_authorization({"exchange": {"headers": ["Authorization: Bearer abc", "X: 1"]}})
    {'exchange': {'headers': ['Authorization: Bearer sha256:ba7816bf8f01', 'X: 1']}}
    """
    out = _redact(report)
    assert isinstance(out, dict)
    return out


def _redact(value: Any, *, headers: bool = False) -> Any:
    if isinstance(value, Mapping):
        if headers:
            return {k: _digest(v) if str(k).lower() == "authorization" else v for k, v in value.items()}
        return {k: _redact(v, headers=k == "headers") for k, v in value.items()}
    if isinstance(value, list):
        if headers:
            return [_redact_line(v) if isinstance(v, str) else v for v in value]
        return [_redact(v) for v in value]
    return value


def _redact_line(line: str) -> str:
    name, sep, rest = line.partition(":")
    if not sep or name.strip().lower() != "authorization":
        return line
    return f"{name}: {_digest(rest)}"


def _digest(value: Any) -> str:
    text = str(value).strip()
    scheme, _, credentials = text.partition(" ")
    if not credentials:
        scheme, credentials = "", text
    digest = "sha256:" + hashlib.sha256(credentials.strip().encode()).hexdigest()[:12]
    return f"{scheme} {digest}" if scheme else digest
