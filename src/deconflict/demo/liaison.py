"""Simulated liaison clients: the members' operations cells, acting through the service.

One daemon thread plays the simulated user of each member party (``alpha_ops``,
``bravo_ops`` — :attr:`~.theatre.UserSpec.simulated`) on the service's real clock, at a
modest, seeded, randomised pace:

* a heartbeat every ~10 s, so both members' channels stay UP;
* every 20–45 s a new activity, a third of them drawn next to one of the other member's
  (a conflict): refused for want of a key, the objects named are read (their versions
  learnt, recorded as opened) and the activity filed again with the key; now and then a
  hotline warning about the conflict follows;
* what arrives *after the simulation started* is handled after a human-like delay:
  notices opened and acknowledged, hotline messages answered from the catalogue (WILCO,
  AFFIRM, ROGER) or acknowledged, its own side of new conflicts acknowledged — and, when
  both activities were the simulation's own, sometimes accepted.

What was there before it started — the staged day's open conflicts, pending notices and
unanswered messages — is left for the people who log in (the printed users), and so is
everything addressed to the mediator.

A second thread plays the USS (:class:`~.uss.SimulatedUss`), through the DSS use cases
only: a new drone flight every 30–60 s (the first within seconds), Accepted, then
Activated a little later and ended (DELETE) when it lands a few minutes after; the staged
flights are activated when they start and ended when they land.
:meth:`Simulator.stop` ends both threads cleanly.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import logging
import math
import random
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from ..errors import DeconflictError
from ..model import ActivityKind, AltitudeBand, Circle, Corridor, Footprint, TimeWindow, Volume4D
from ..policy import Policy, Precedence
from ..service import ItemInput, Principal, Service
from ..wire import volumes_from_json
from .stage import file_item
from .theatre import CENTRE, MEMBERS, Scenario, near
from .uss import SimulatedUss, Uss

__all__ = ["Simulator"]

log = logging.getLogger("deconflict.demo")

_RESPONSE = {"wilco_unable": 501, "affirm_negative": 504, "roger": 506}
_KINDS = (
    (ActivityKind.AIR_SORTIE, 0.4),
    (ActivityKind.GROUND_MOVEMENT, 0.3),
    (ActivityKind.MARITIME, 0.1),
    (ActivityKind.AIR_CORRIDOR, 0.1),
    (ActivityKind.HUMANITARIAN_MOVEMENT, 0.1),
)
_LABEL = {
    ActivityKind.AIR_SORTIE: "Sortie",
    ActivityKind.GROUND_MOVEMENT: "Convoy",
    ActivityKind.MARITIME: "Maritime patrol",
    ActivityKind.AIR_CORRIDOR: "Air corridor",
    ActivityKind.HUMANITARIAN_MOVEMENT: "Aid convoy",
}
_TWINNABLE = {"air_sortie", "air_corridor", "ground_movement", "maritime"}


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class _Client:
    """One member's simulated operations cell."""

    def __init__(self, sim: Simulator, user: str, party: str, other: str, words: tuple[str, ...]) -> None:
        self.sim = sim
        self.service = sim.service
        self.me: Principal = sim.service.principal_for(user)
        self.party = party
        self.other = other
        self.words = words
        self.rng = random.Random(f"{sim.seed}:{user}")
        self.due: dict[str, datetime] = {}  # work item → when to act on it
        self.done: set[str] = set()
        self.callsign = 500

    # --- what it does ----------------------------------------------------------------

    def heartbeat(self) -> None:
        self.service.heartbeat(self.me)

    def file(self) -> None:
        now = self.service.clock.now()
        data = None
        if self.rng.random() < 0.35:
            data = self._next_to_theirs(now)
        if data is None:
            data = self._fresh(now)
        body = file_item(self.service, self.me, "activity", data)
        self.sim.own_items.add(body["item"]["id"])
        log.info("%s filed %s (%d conflict(s))", self.me.user_id, data.title, len(body["conflicts"]))
        if body["conflicts"] and self.rng.random() < 0.3:
            c = body["conflicts"][0]
            mine, theirs = (c["a"], c["b"]) if c["a"]["party"] == self.party else (c["b"], c["a"])
            self.service.open_thread(
                self.me,
                parties=[self.other],
                subject="New conflict",
                link={"type": "conflict", "id": c["id"]},
                message={"code": 301, "params": {"activity": theirs["item"]["id"], "ref": mine["item"]["id"]}},
            )

    def work(self) -> None:
        """Notices, messages and conflicts that arrived since the simulation started."""
        now = self.service.clock.now()
        started = self.sim.started
        for n in self.service.list_notices(self.me, pending=True, limit=200)["notices"]:
            if _at(n["at"]) >= started:
                self._when_due(f"notice:{n['id']}", now, functools.partial(self._acknowledge_notice, n))
        for m in self.service.list_messages(self.me, pending=True, limit=200)["messages"]:
            if _at(m["at"]) >= started and m["sender"]["party"] != self.party:
                self._when_due(f"message:{m['id']}", now, functools.partial(self._answer, m))
        for c in self.service.list_conflicts(self.me, state=["open"], party=self.party, limit=200)["conflicts"]:
            side = c["a"] if c["a"]["party"] == self.party else c["b"]
            if _at(c["created_at"]) >= started and side["acknowledged_at"] is None:
                self._when_due(f"conflict:{c['id']}", now, functools.partial(self._decide, c))

    # --- how ------------------------------------------------------------------------

    def _when_due(self, key: str, now: datetime, action: Callable[[], None]) -> None:
        if key in self.done:
            return
        due = self.due.setdefault(key, now + timedelta(seconds=self.rng.uniform(6, 25)))
        if now >= due:
            self.done.add(key)
            self.sim.attempt(action)

    def _acknowledge_notice(self, n: dict[str, Any]) -> None:
        item_type = "zone" if n["item_id"].startswith("zone") else "activity"
        self.sim.attempt(lambda: self.service.get_item(self.me, item_type, n["item_id"]))  # open it, as a person would
        self.service.notice_action(self.me, n["id"], "acknowledge")

    def _answer(self, m: dict[str, Any]) -> None:
        code = _RESPONSE.get(m["response"])
        if code is None:
            self.service.acknowledge_message(self.me, m["id"])
        else:
            self.service.send_message(self.me, m["thread_id"], code, {}, in_reply_to=m["id"])

    def _decide(self, c: dict[str, Any]) -> None:
        self.service.conflict_action(self.me, c["id"], "acknowledge")
        own = self.sim.own_items
        if c["a"]["item"]["id"] in own and c["b"]["item"]["id"] in own and self.rng.random() < 0.4:
            self.sim.later(self.rng.uniform(10, 30), lambda: self.service.conflict_action(self.me, c["id"], "accept"))

    def _fresh(self, now: datetime) -> ItemInput:
        rng = self.rng
        kind = rng.choices([k for k, _ in _KINDS], weights=[w for _, w in _KINDS])[0]
        required = self.sim.policy.min_notice_s[kind]
        start = now + timedelta(seconds=required + rng.uniform(600, 5 * 3600))
        start = start.replace(second=0, microsecond=0)
        window = TimeWindow(start, start + timedelta(minutes=rng.choice((60, 90, 120, 180, 240))))
        lon0, lat0 = CENTRE
        lon, lat = lon0 + rng.uniform(-3.5, 3.5), lat0 + rng.uniform(-2.4, 2.4)
        footprint: Footprint
        if kind is ActivityKind.AIR_SORTIE:
            footprint = Circle((lon, lat), round(rng.uniform(5_000, 20_000), -2))
            low = round(rng.uniform(1_500, 6_000), -2)
            band = AltitudeBand(low, low + round(rng.uniform(600, 2_000), -2))
        elif kind is ActivityKind.MARITIME:
            footprint = Circle((lon, lat), round(rng.uniform(3_000, 8_000), -2))
            band = AltitudeBand(0, 30)
        else:
            air = kind is ActivityKind.AIR_CORRIDOR
            length_deg = rng.uniform(0.8, 1.4) if air else rng.uniform(0.2, 0.6)
            heading = rng.uniform(0, 2 * math.pi)
            legs = 2 if air else 3
            path = [(lon, lat)]
            for _ in range(legs):
                heading += rng.uniform(-0.5, 0.5)
                lon += length_deg / legs * math.cos(heading)
                lat += length_deg / legs * math.sin(heading)
                path.append((round(lon, 5), round(lat, 5)))
            footprint = Corridor(tuple(path), rng.uniform(3_000, 8_000) if air else rng.uniform(300, 800))
            low = round(rng.uniform(2_000, 5_000), -2) if air else 0.0
            band = AltitudeBand(low, low + 1_500 if air else 100)
        return self._input(kind, (Volume4D(footprint, band, window),))

    def _next_to_theirs(self, now: datetime) -> ItemInput | None:
        """An activity drawn next to one of the other member's coming ones (a conflict)."""
        theirs = self.service.list_items(
            self.me, "activity", party=self.other, state=["notified"], start=now + timedelta(minutes=45), limit=200
        )["items"]
        theirs = [i for i in theirs if i["kind"] in _TWINNABLE and _at(i["time_start"]) > now + timedelta(minutes=45)]
        if not theirs:
            return None
        pick = self.rng.choice(theirs)
        return self._input(ActivityKind(pick["kind"]), near(self.rng, volumes_from_json(pick["volumes"])))

    def _input(self, kind: ActivityKind, volumes: tuple[Volume4D, ...]) -> ItemInput:
        self.callsign += 1
        callsign = f"{self.words[self.callsign % len(self.words)]} {self.callsign}"
        priority = Precedence.PRIORITY if kind is ActivityKind.HUMANITARIAN_MOVEMENT else Precedence.ROUTINE
        return ItemInput(
            kind=kind.value,
            volumes=volumes,
            title=f"{_LABEL[kind]} {callsign}",
            callsign=callsign,
            priority=priority,
            contact=f"{self.party.upper()} operations cell",
        )


class _Loop:
    """Timed steps on one daemon thread, in seconds since it started (real clock)."""

    def __init__(self, sim: Simulator, name: str, setup: Callable[[_Loop], None]) -> None:
        self.sim = sim
        self.name = name
        self.setup = setup
        self.clock = 0.0
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self.thread.start()

    def at(self, when: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._queue, (when, next(self._seq), action))

    def every(self, first: float, lo: float, hi: float, rng: random.Random, action: Callable[[], Any]) -> None:
        def run() -> None:
            self.sim.attempt(action)
            self.at(self.clock + rng.uniform(lo, hi), run)

        self.at(first, run)

    def _run(self) -> None:
        sim = self.sim
        t0 = sim.service.clock.now()
        self.setup(self)
        while not sim.stopping.is_set():
            self.clock = (sim.service.clock.now() - t0).total_seconds()
            if self._queue and self._queue[0][0] <= self.clock:
                _, _, action = heapq.heappop(self._queue)
                try:
                    action()
                except Exception:  # never let one bad step end the simulation
                    sim.count(failed=True)
                    log.exception("simulated client step failed")
                continue
            wait = self._queue[0][0] - self.clock if self._queue else 1.0
            sim.stopping.wait(min(max(wait, 0.05), 1.0))


class Simulator:
    """The simulated clients of ``scenario``'s member parties, on one daemon thread, and
    its USS's operations (``uss``: the staged one, with its record), on another."""

    def __init__(
        self, service: Service, scenario: Scenario, *, seed: int | None = None, uss: Uss | None = None
    ) -> None:
        self.service = service
        self.seed = scenario.seed if seed is None else seed
        self.policy = Policy.from_json(service.get_policy())
        self.own_items: set[str] = set()
        self.started = service.clock.now()
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self.actions = 0
        self.failures = 0
        words = {pid: w for pid, _, _, w in MEMBERS}
        members = [p.id for p in scenario.parties if p.role == "member" and p.protocol == "native"]
        self.clients = [
            _Client(self, u.id, u.party, next(p for p in members if p != u.party), words.get(u.party, ("UNIT",)))
            for u in scenario.users
            if u.simulated
        ]
        self._clients = _Loop(self, "deconflict-demo-clients", self._setup_clients)
        self._loops = [self._clients]
        spec = next((p for p in scenario.parties if p.protocol == "f3548"), None)
        self.uss: SimulatedUss | None = None
        if spec is not None:
            own = uss if uss is not None and uss.party == spec.id else Uss(spec.id, spec.uss_base_url)
            self.uss = SimulatedUss(service, own, scenario, self.seed, self.attempt)
            self._loops.append(_Loop(self, "deconflict-demo-uss", self._setup_uss))

    # --- the loops ------------------------------------------------------------------

    def start(self) -> None:
        self.started = self.service.clock.now()
        for loop in self._loops:
            loop.start()

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        for loop in self._loops:
            if loop.thread is not None:
                loop.thread.join(timeout)

    @property
    def running(self) -> bool:
        return any(loop.thread is not None and loop.thread.is_alive() for loop in self._loops)

    def later(self, seconds: float, action: Callable[[], Any]) -> None:
        """Run ``action`` ``seconds`` from now (on the member clients' thread)."""
        self._clients.at(self._clients.clock + seconds, lambda: self.attempt(action))

    def attempt(self, action: Callable[[], Any]) -> None:
        """Do ``action``; a refusal by the service (the world moved on) is logged, not raised."""
        try:
            action()
        except DeconflictError as e:
            self.count(failed=True)
            log.info("simulated client: %s: %s", e.field, e.reason)
        else:
            self.count()

    def count(self, *, failed: bool = False) -> None:
        with self._lock:
            self.actions += 1
            self.failures += failed

    def _setup_clients(self, loop: _Loop) -> None:
        for n, c in enumerate(self.clients):
            loop.every(0.0, 8.0, 10.0, c.rng, c.heartbeat)
            loop.every(1.0 + 2.0 * n, 5.0, 9.0, c.rng, c.work)
            loop.every(2.0 + 3.0 * n + c.rng.uniform(0, 2), 20.0, 45.0, c.rng, c.file)

    def _setup_uss(self, loop: _Loop) -> None:
        uss = self.uss
        assert uss is not None
        loop.every(0.5, 5.0, 10.0, uss.rng, uss.work)
        loop.every(2.0 + uss.rng.uniform(0, 2), 30.0, 60.0, uss.rng, uss.file)
