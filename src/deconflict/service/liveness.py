"""Liveness: each party's channel sends heartbeats; a silent party is DOWN for everyone.

Hotlines have gone quiet for weeks without anyone saying so.  Here every member and
mediator party's clients send heartbeats (``POST /v1/heartbeat``, or a
``{"type": "heartbeat"}`` frame on the WebSocket) at least every
``policy.heartbeat_s`` seconds.  A party's channel is

* ``unknown`` until its first heartbeat (shown to everyone as not yet heard from),
* ``up`` while heartbeats arrive,
* ``down`` once none has arrived for ``policy.down_after_s`` seconds — detected by the
  scheduler's :meth:`LivenessMixin.tick`.

Going down is said to everyone: a ``party.down`` event to every party (observers
included), and a FLASH catalogue message (406, "the channel of party P has been silent
since T") to every other member and mediator party in a system thread, with receipts
and an acknowledgement deadline that escalates like any other message.

While a party is down its activities stay visible and count at their **worst case**
(as ASTM F3548 does for a down USS): the conflict index holds one envelope per activity
— its bounding box, from its lowest floor to its highest ceiling, over its whole time
span (:func:`.core.envelope`) — and the conflicts with everything that envelope
touches are stored (and flagged ``worst_case`` on reading).  The first heartbeat after
an outage brings the party back ``up``: a ``party.up`` event, a catalogue message 109
("channel restored") in the same thread, and the activities' own volumes again — the
conflicts that existed only at the worst case are resolved (``party_up``).  Conflicts
recomputed either way are reopened: after an outage each side acknowledges again.

Heartbeats are cheap: the database is written when the state changes, or when the last
recorded heartbeat is older than a quarter of ``heartbeat_s`` (so ``last_seen_at`` is
never more than that behind); other heartbeats are answered from memory.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from ..model import Activity
from ..store.schema import items, liveness, parties
from ..wire import rfc3339, rfc3339_or_none
from .core import LIVE_ACTIVITY, Body, Principal, Result, envelope, to_model
from .errors import Forbidden
from .hotline import HotlineMixin

__all__ = ["LivenessMixin"]

_MONITORED = ("member", "mediator")


class LivenessMixin(HotlineMixin):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._heartbeats: dict[str, datetime] = {}  # party → when its last heartbeat was recorded

    # --- heartbeats ---------------------------------------------------------------------

    def heartbeat(self, principal: Principal) -> Body:
        """Record that ``principal``'s party is on the channel; its state as a result.

        An F3548 USS (a party of ``protocol`` ``"f3548"``, or any F3548 client's principal)
        sends none: its availability is arbitrated (``/dss/v1/uss_availability``), so its
        heartbeat is refused (:class:`Forbidden`) and nothing is written."""
        now = self.clock.now()
        last = self._heartbeats.get(principal.party_id)
        if last is not None and now - last < timedelta(seconds=self.policy.heartbeat_s / 4):
            return {"party": principal.party_id, "state": "up", "recorded": False, "at": rfc3339(now)}
        with self.store.read() as conn:
            protocol = conn.execute(
                sa.select(parties.c.protocol).where(parties.c.id == principal.party_id)
            ).scalar_one_or_none()
        if principal.protocol == "f3548" or protocol == "f3548":
            raise Forbidden(
                "party",
                f"{principal.party_id!r} is an F3548 USS: its availability is arbitrated "
                "(/dss/v1/uss_availability), not kept by heartbeats",
            )

        def run(conn: Connection) -> Result:
            row = conn.execute(sa.select(liveness).where(liveness.c.party_id == principal.party_id)).first()
            values = {"last_seen_at": now, "last_seen_by": principal.user_id}
            if row is None:
                conn.execute(liveness.insert(), dict(party_id=principal.party_id, state="up", since=now, **values))
                self._emit(conn, "party.up", ["*"], {"party": principal.party_id, "since": rfc3339(now), "first": True})
            elif row.state != "up":
                conn.execute(
                    liveness.update()
                    .where(liveness.c.party_id == principal.party_id)
                    .values(state="up", since=now, **values)
                )
                self._came_back(conn, row, now)
            else:
                conn.execute(liveness.update().where(liveness.c.party_id == principal.party_id).values(**values))
            return 200, {"party": principal.party_id, "state": "up", "recorded": True, "at": rfc3339(now)}

        body = self._guarded(run)
        self._heartbeats[principal.party_id] = now
        return body

    def liveness(self, principal: Principal | None) -> list[Body]:
        """Every party's channel state (who sent the last heartbeat: to its own party, and
        to the operator — ``principal`` None)."""
        with self.store.read() as conn:
            rows = {r.party_id: r for r in conn.execute(sa.select(liveness)).all()}
            known = conn.execute(sa.select(parties).order_by(parties.c.id)).all()
        out = []
        for p in known:
            r = rows.get(p.id)
            doc: Body = {
                "party": p.id,
                "role": p.role,
                "monitored": p.role in _MONITORED,
                "state": r.state if r is not None else "unknown",
                "since": rfc3339_or_none(r.since) if r is not None else None,
                "last_seen_at": rfc3339_or_none(r.last_seen_at) if r is not None else None,
                "outages": r.outages if r is not None else 0,
                "outage_thread": r.outage_thread if r is not None else None,
            }
            if principal is None or p.id == principal.party_id:
                doc["last_seen_by"] = r.last_seen_by if r is not None else None
            out.append(doc)
        return out

    # --- the scheduler ------------------------------------------------------------------

    def tick(self) -> dict[str, int]:
        """What :meth:`ReceiptsMixin.tick` does, then mark silent parties DOWN."""
        counts = super().tick()
        now = self.clock.now()
        cutoff = now - timedelta(seconds=self.policy.down_after_s)

        def run(conn: Connection) -> Result:
            silent = conn.execute(
                sa.select(liveness)
                .join(parties, parties.c.id == liveness.c.party_id)
                .where(
                    liveness.c.state == "up",
                    liveness.c.last_seen_at <= cutoff,
                    parties.c.role.in_(_MONITORED),
                    # an F3548 USS's availability is arbitrated (/dss/v1/uss_availability), not timed
                    parties.c.protocol != "f3548",
                )
                .order_by(liveness.c.party_id)
            ).all()
            for row in silent:
                self._went_down(conn, row, now)
            return 200, {"down": len(silent)}

        counts["down"] = int(self._guarded(run)["down"])
        return counts

    # --- transitions --------------------------------------------------------------------

    def _guarded(self, run: Any) -> Body:
        """Run a write that may move the index between worst case and detail: if it fails,
        the index is rebuilt from the database at the next write."""
        try:
            return self._write(run)[1]
        except BaseException:
            self._down = None
            raise

    def _others(self, conn: Connection, party: str) -> list[str]:
        return sorted(pid for pid, p in self._parties(conn).items() if p.role in _MONITORED and pid != party)

    def _went_down(self, conn: Connection, row: Row[Any], now: datetime) -> None:
        party = row.party_id
        conn.execute(
            liveness.update()
            .where(liveness.c.party_id == party)
            .values(state="down", since=now, outages=liveness.c.outages + 1)
        )
        silent_since = rfc3339(row.last_seen_at)
        self._emit(
            conn,
            "party.down",
            ["*"],
            {"party": party, "since": rfc3339(now), "last_seen_at": silent_since},
            subject=("party", party),
        )
        others = self._others(conn, party)
        if others:
            message_id = self._post_system_message(
                conn, None, others, 406, {"party": party, "time": silent_since}, "flash", subject=f"{party}: DOWN"
            )
            thread_id = self._message_thread(conn, message_id)
            conn.execute(liveness.update().where(liveness.c.party_id == party).values(outage_thread=thread_id))
        self._reindex(conn, party, down=True)

    def _came_back(self, conn: Connection, row: Row[Any], now: datetime) -> None:
        party = row.party_id
        self._emit(
            conn,
            "party.up",
            ["*"],
            {"party": party, "since": rfc3339(now), "down_since": rfc3339(row.since), "first": False},
            subject=("party", party),
        )
        others = self._others(conn, party)
        if others:
            self._post_system_message(conn, row.outage_thread, others, 109, {"party": party, "time": rfc3339(now)})
        self._reindex(conn, party, down=False)

    def _reindex(self, conn: Connection, party: str, *, down: bool) -> None:
        """Swap ``party``'s live activities in the index between their worst case and their
        own volumes, and store the conflicts that result."""
        current = self._down or frozenset()
        self._down = current | {party} if down else current - {party}
        rows = conn.execute(
            sa.select(items).where(
                items.c.party_id == party, items.c.item_type == "activity", items.c.state.in_(sorted(LIVE_ACTIVITY))
            )
        ).all()
        for row in rows:
            model = to_model(row)
            assert isinstance(model, Activity)
            indexed = envelope(model) if down else model
            if row.id in self.engine:
                self.engine.remove(row.id)
            self.engine.insert(indexed)
            self._reconcile(conn, row, self._check(indexed), gone_reason="party_up")
