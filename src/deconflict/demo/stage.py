"""The day so far: a :class:`~.theatre.Scenario` written through the service.

:func:`stage` replays the scenario's history — everything dated before ``scenario.now`` —
on a :class:`~deconflict.service.ManualClock`, in time order, through the service's own
use cases, as the parties' users would have done it:

* every filing as its user: an activity refused for want of a key (409, the objects it
  intersects) is followed by reading each of those objects (``get_item``, recorded as
  opened) and filing again with their versions — proof of awareness, as a real liaison
  gives it;
* the other member acknowledges each notice a few minutes later (the last hour's
  notices are mostly left for the people who log in);
* conflicts: most acknowledged by both sides, some accepted by both commanders, one
  escalated to the mediator (who proposes a way out), the last hour's left open;
* the hotline: a convoy notice answered ROGER, a request to the Arabic-speaking member
  left for its liaison to answer, a request about the escalated conflict with the
  mediator in the thread;
* an incident report (a near miss) linked to a conflict;
* the USS's drone flights (:class:`~.uss.Uss`), through the DSS use cases only: each
  written Accepted, the ones flown Activated at their start (one then Nonconforming), the
  past ones ended; a write refused for want of a key (409) learns the OVNs it names — its
  own from its record, the members' through ``dss_native_details`` (recorded as opened) —
  and is made again with the key.  Hourly, the members' operations cells acknowledge
  the USS's older notices and their side of its older conflicts;
* the scheduler's tick every half hour of the last four hours (activities start and end,
  receipts escalate), as the running service would have done.

No heartbeat is sent here: the simulated clients send them from the first second of
the real clock.  Nothing here writes to the database but the service.  With
``native_base_url`` (the demo server's ``http://HOST:PORT/native``), the DSS names that
URL as the manager of the members' items.
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import itertools
import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from ..errors import DeconflictError
from ..service import AwarenessError, ManualClock, Principal, Service
from ..store.schema import conflicts
from .theatre import Drone, Filing, Scenario, UserSpec, position_of
from .uss import Flight, Uss

__all__ = ["Staged", "file_item", "stage"]

_TICK = timedelta(minutes=30)
#: Notices and conflicts younger than this when the demo starts are (mostly) left for people.
_RECENT = timedelta(minutes=60)


@dataclass(slots=True)
class Staged:
    """What :func:`stage` wrote (for the summary printed before serving)."""

    items: dict[str, int] = field(default_factory=lambda: {"activity": 0, "zone": 0})
    item_ids: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    conflicts: dict[str, str] = field(default_factory=dict)  # id → what the stage did with it
    threads: int = 0
    incidents: int = 0
    escalated: str | None = None
    states: dict[str, int] = field(default_factory=dict)  # conflicts by state once staged
    uss: Uss | None = None  # the USS, with its record of its intents (the simulation goes on from it)


def file_item(service: Service, who: Principal, item_type: str, data: Any) -> dict[str, Any]:
    """File ``data`` (activities notified) as ``who``; when the key is missing, read every
    object named (learning its version) and file again with the key.  The created body."""
    try:
        return service.create_item(who, item_type, data, state="notified" if item_type == "activity" else None)[1]
    except AwarenessError as e:
        key = [str(service.get_item(who, m["type"], m["id"])["version"]) for m in e.missing]
    return service.create_item(who, item_type, data, state="notified", key=key)[1]


def stage(
    service: Service,
    clock: ManualClock,
    scenario: Scenario,
    passwords: dict[str, str],
    *,
    native_base_url: str | None = None,
) -> Staged:
    """Write the scenario's day up to ``scenario.now`` (``service`` runs on ``clock``; its
    database fresh and initialised).  ``passwords``: the people's (not the simulated users')."""
    rng = random.Random(scenario.seed)
    now = scenario.now
    out = Staged()
    clock.set(scenario.start - timedelta(minutes=5))
    service.set_policy(scenario.policy, by="demo")
    if native_base_url is not None:
        service.set_dss_settings(service.get_dss_settings() | {"native_base_url": native_base_url}, by="demo")
    for p in scenario.parties:
        service.add_party(
            p.id,
            p.name,
            p.role,
            shares_with_observers=p.shares_with_observers,
            language=p.language,
            protocol=p.protocol,
        )

    def add(u: UserSpec) -> None:
        service.add_user(
            u.id,
            u.party,
            u.role,
            display_name=u.display_name,
            password=passwords.get(u.id),
            contact_rank=1 if u.simulated else 0,
            language=u.language,
        )

    # a password hash takes a good part of a second: hash them side by side (the writes still queue)
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(add, scenario.users))
    who = {u.id: service.principal_for(u.id) for u in scenario.users}
    members = [p.id for p in scenario.parties if p.role == "member" and p.protocol == "native"]
    other = {members[0]: members[1], members[1]: members[0]}
    uss_spec = next((p for p in scenario.parties if p.protocol == "f3548"), None)
    out.uss = uss = Uss(uss_spec.id, uss_spec.uss_base_url) if uss_spec is not None else None

    queue: list[tuple[datetime, int, Callable[[], None]]] = []
    seq = itertools.count()

    def at(when: datetime, action: Callable[[], None]) -> None:
        if when < now:
            heapq.heappush(queue, (when, next(seq), action))

    def soon(base: datetime, lo_min: float, hi_min: float, action: Callable[[], None]) -> None:
        at(base + timedelta(minutes=rng.uniform(lo_min, hi_min)), action)

    def attempt(action: Callable[[], Any]) -> None:
        with contextlib.suppress(DeconflictError):  # the world moved on (an activity ended…): as for a person
            action()

    by_index: dict[int, str] = {}

    def file(n: int, f: Filing) -> Callable[[], None]:
        def run() -> None:
            try:
                body = file_item(service, who[f.user], f.item_type, f.data)
            except DeconflictError as e:
                out.refused.append(f"{f.data.title}: {e.field}: {e.reason}")
                return
            item = body["item"]
            by_index[n] = item["id"]
            out.item_ids.append(item["id"])
            out.items[f.item_type] += 1
            notice = body["notice"]
            reader = other.get(f.party)
            if notice is not None and reader is not None:
                recent = now - f.at < _RECENT
                if not recent or rng.random() < 0.3:
                    soon(f.at, 2, 25, lambda: acknowledge_notice(reader, notice["id"]))
            for c in body["conflicts"]:
                if c["id"] not in out.conflicts:
                    decide(c, f.at)

        return run

    def acknowledge_notice(party: str, notice_id: str) -> None:
        reader = who[f"{party}_ops" if rng.random() < 0.6 else f"{party}_liaison"]
        attempt(lambda: service.notice_action(reader, notice_id, "acknowledge"))  # stamps it opened too

    def decide(c: dict[str, Any], t: datetime) -> None:
        cid = c["id"]
        a, b = c["a"]["party"], c["b"]["party"]
        if a not in other or b not in other:  # with the USS: its members' side, in the sweeps below
            out.conflicts[cid] = "uss"
            return
        if now - t < _RECENT:
            out.conflicts[cid] = "open"
            if rng.random() < 0.5:
                soon(t, 1, 20, lambda: attempt(lambda: service.conflict_action(who[f"{a}_ops"], cid, "acknowledge")))
            return
        roll = rng.random()
        if out.escalated is None and now - t < timedelta(hours=8) and roll < 0.5:
            out.escalated = cid
            out.conflicts[cid] = "escalated"
            soon(t, 5, 20, lambda: attempt(lambda: service.conflict_action(who[f"{a}_liaison"], cid, "acknowledge")))
            soon(t, 25, 30, lambda: escalate(cid, a))
            return
        out.conflicts[cid] = "acknowledged"
        soon(t, 2, 15, lambda: attempt(lambda: service.conflict_action(who[f"{a}_ops"], cid, "acknowledge")))
        soon(t, 3, 25, lambda: attempt(lambda: service.conflict_action(who[f"{b}_ops"], cid, "acknowledge")))
        if roll > 0.75:
            out.conflicts[cid] = "accepted"
            soon(t, 30, 40, lambda: attempt(lambda: service.conflict_action(who[f"{a}_commander"], cid, "accept")))
            soon(t, 40, 55, lambda: attempt(lambda: service.conflict_action(who[f"{b}_commander"], cid, "accept")))

    def escalate(cid: str, party: str) -> None:
        attempt(lambda: service.conflict_action(who[f"{party}_commander"], cid, "escalate"))
        t = clock.now()
        soon(
            t,
            3,
            8,
            lambda: attempt(
                lambda: service.conflict_action(
                    who["mediator_liaison"],
                    cid,
                    "propose",
                    text="Proposal: the later of the two activities waits 30 minutes; "
                    "both sides confirm on the hotline.",
                )
            ),
        )
        soon(t, 10, 15, lambda: mediated_thread(cid, party))

    def mediated_thread(cid: str, party: str) -> None:
        def run() -> None:
            service.open_thread(
                who[f"{party}_commander"],
                parties=[other[party], "mediator"],
                subject="Escalated conflict",
                link={"type": "conflict", "id": cid},
                message={"code": 206, "params": {"conflict": cid}},
            )
            out.threads += 1

        attempt(run)

    for n, f in enumerate(scenario.filings):
        at(f.at, file(n, f))

    def fly(drone: Drone, flight: Flight, state: str) -> Callable[[], None]:
        def run() -> None:
            assert uss is not None
            try:
                uss.step(service, flight, state)
            except DeconflictError as e:
                out.refused.append(f"{uss.party} intent {drone.entity} ({state}): {e.field}: {e.reason}")

        return run

    def sweep() -> None:
        """The members' operations cells see to the USS's notices and conflicts of more
        than a few minutes ago (the last hour's are left for the people)."""
        assert uss is not None
        t = clock.now()
        for party in members:
            ops = who[f"{party}_ops"]
            old = t - timedelta(minutes=5)
            for n in service.list_notices(ops, pending=True, limit=1000)["notices"]:
                if n["sender_party"] == uss.party and _at(n["at"]) < old:
                    attempt(functools.partial(service.notice_action, ops, n["id"], "acknowledge"))
            for c in service.list_conflicts(ops, state=["open"], party=party, limit=1000)["conflicts"]:
                mine, theirs = (c["a"], c["b"]) if c["a"]["party"] == party else (c["b"], c["a"])
                if theirs["party"] == uss.party and mine["acknowledged_at"] is None and _at(c["created_at"]) < old:
                    attempt(functools.partial(service.conflict_action, ops, c["id"], "acknowledge"))

    if uss is not None:
        for drone in scenario.drones:
            flight = Flight.of(drone)
            for when, state in drone.steps:
                at(when, fly(drone, flight, state))
    t = now - timedelta(hours=4)  # nothing falls due before: activities start from three hours ago
    while t < now:
        at(t, lambda: attempt(service.tick))
        if uss is not None and now - t > _RECENT and (now - t) % timedelta(hours=1) == timedelta(0):
            at(t + timedelta(minutes=1), sweep)  # hourly
        t += _TICK
    a, b = members

    # the hotline and an incident, late in the day
    def convoy_notice() -> None:
        own = [f for f in scenario.filings if f.party == b and f.data.kind == "ground_movement"]
        if not own:
            return
        lat, lon = position_of(own[-1].data)
        _, body = service.open_thread(
            who[f"{b}_liaison"],
            parties=[a],
            subject="Convoy passage",
            message={
                "code": 107,
                "params": {
                    "unit": own[-1].data.callsign or "CONVOY",
                    "position": {"lat": round(lat, 4), "lon": round(lon, 4)},
                    "time": _z(now + timedelta(hours=2)),
                },
            },
        )
        out.threads += 1
        message = body["message"]["id"]
        thread = body["thread"]["id"]
        soon(
            clock.now(),
            2,
            6,
            lambda: attempt(lambda: service.send_message(who[f"{a}_ops"], thread, 506, {}, in_reply_to=message)),
        )

    def delay_request() -> None:
        theirs = [
            i
            for n, i in sorted(by_index.items())
            if scenario.filings[n].party == b and scenario.filings[n].item_type == "activity"
        ]
        conflicted = [cid for cid, what in out.conflicts.items() if what == "open"]
        subject = theirs[-1] if theirs else None
        if conflicted:
            doc = service.get_conflict(who[f"{a}_ops"], conflicted[-1])
            subject = doc["a"]["item"]["id"] if doc["a"]["party"] == b else doc["b"]["item"]["id"]
        if subject is None:
            return
        service.open_thread(
            who[f"{a}_ops"],
            parties=[b],
            subject="Request to delay",
            link={"type": "activity", "id": subject},
            message={"code": 201, "params": {"activity": subject, "duration": 2700}},
        )
        out.threads += 1

    def near_miss() -> None:
        done = [cid for cid, what in out.conflicts.items() if what in ("acknowledged", "accepted")]
        if not done:
            return
        cid = done[len(done) // 2]
        doc = service.get_conflict(who[f"{b}_liaison"], cid)
        item = doc["a"]["item"]["id"] if doc["a"]["party"] == b else doc["b"]["item"]["id"]
        data = next(f.data for n, f in enumerate(scenario.filings) if by_index.get(n) == item)
        lat, lon = position_of(data)
        service.report_incident(
            who[f"{b}_liaison"],
            "near_miss",
            "Near miss reported by a patrol",
            clock.now() - timedelta(minutes=20),
            {"lat": lat, "lon": lon},
            radius_m=3000.0,
            description="Two movements passed closer than the agreed separation; details to follow.",
            links=[{"type": "conflict", "id": cid}],
        )
        out.incidents += 1

    at(now - timedelta(hours=3), lambda: attempt(convoy_notice))
    at(now - timedelta(minutes=95), lambda: attempt(near_miss))
    at(now - timedelta(minutes=20), lambda: attempt(delay_request))

    while queue:
        when, _, action = heapq.heappop(queue)
        if when > clock.now():
            clock.set(when)
        action()
    clock.set(now)
    attempt(service.tick)
    with service.store.read() as conn:
        rows = conn.execute(sa.select(conflicts.c.state, sa.func.count()).group_by(conflicts.c.state)).all()
    out.states = {str(state): int(n) for state, n in rows}
    return out


def _z(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
