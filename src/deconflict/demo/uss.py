"""The demo's UTM service supplier: a USS whose drone flights go through the DSS interface.

The USS (:data:`~.theatre.USS`, a member party with ``protocol="f3548"``) writes its
operational intents only through the service's ASTM F3548-21 use cases
(:meth:`~deconflict.service.Service.dss_put_oir`, ``dss_delete_oir``) — what existing UTM
software does over ``/dss/v1`` — with the principal its client's token would carry; it
has no user and never uses the native use cases.  Its intents land on the same picture
as the members' activities: notified to them, in their conflicts, in everyone's key.

* :class:`Uss` — the USS: its principal, its base URL and its own record of its intents
  (:class:`Flight`: the volume, the F3548 state, the OVN).  A write answered 409 (the key
  misses OVNs) learns each missing OVN the standard's way and is made again with the
  key: its own intents' from its own record; a native party's activity or zone from its
  manager — for native items, this service (``dss_native_details``), which records the
  read as the native owner's notice *opened* by the USS.
* :class:`SimulatedUss` — the same USS on the real clock (:class:`.liaison.Simulator`
  runs it on a thread of its own): every 30–60 s a new flight, Accepted, then Activated a
  little later and ended (DELETE) when it lands a few minutes after; the staged flights
  activated when they start and ended when they land.
"""

from __future__ import annotations

import functools
import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .. import f3548
from ..model import AltitudeBand, Circle, TimeWindow, Volume4D
from ..service import Principal, Service
from ..service.dss_types import F3548_SCOPES, DssError
from .theatre import CENTRE, DRONE_CEILING_M, Drone, Scenario, offset, target

__all__ = ["Flight", "SimulatedUss", "Uss"]

#: Writes of one intent before giving up (each 409 learns what it named).
_TRIES = 4
#: Live F3548 states (an intent the USS may still change or end).
_LIVE = ("Accepted", "Activated", "Nonconforming", "Contingent")
#: A staged flight lands (its USS ends it) this long before its volume's end.
_LANDING = timedelta(minutes=3)


@dataclass(slots=True)
class Flight:
    """One operational intent in its USS's own record."""

    entity: str
    volume: Volume4D
    constraints: bool = False  # its subscription asks for constraint notifications
    state: str | None = None  # its F3548 state; "Ended" once deleted; None before its first write
    ovn: str | None = None  # its current OVN (only its manager knows it)
    activate_at: datetime | None = None  # when its USS activates it (an Accepted one)
    land_at: datetime | None = None  # when its USS ends it (it has landed)
    key: dict[str, str] = field(default_factory=dict)  # entity id → OVN: what its last write presented

    @classmethod
    def of(cls, drone: Drone) -> Flight:
        """A staged flight: activated when it starts, ended a few minutes before its end."""
        window = drone.volume.window
        return cls(
            drone.entity, drone.volume, drone.constraints, activate_at=window.start, land_at=window.end - _LANDING
        )


class Uss:
    """A UTM service supplier acting on the DSS with its client's token."""

    def __init__(self, party: str, base_url: str) -> None:
        self.party = party
        self.base_url = base_url
        self.principal = Principal(f"{party}-ops", party, "member", "client", F3548_SCOPES)
        self.flights: dict[str, Flight] = {}
        self.learnt = 0  # OVNs learnt from a native manager (reads recorded as opened)
        self.conflicted = 0  # writes answered 409 first (then made with the key)

    def write(self, service: Service, flight: Flight, state: str) -> dict[str, Any]:
        """PUT ``flight``'s intent in F3548 ``state`` (created when it has no OVN yet) with
        the key its last write presented (its own intents' OVNs as they are now); when the
        key misses OVNs, learn them and write again.  The reference written."""
        key = dict(flight.key)
        for entity in key:
            own = self.flights.get(entity)
            if own is not None and own.ovn is not None:
                key[entity] = own.ovn
        tries = 0
        while True:
            body = {
                "extents": [f3548.volume_doc(flight.volume)],
                "state": state,
                "uss_base_url": self.base_url,
                "key": sorted(set(key.values())),
                "new_subscription": {"uss_base_url": self.base_url, "notify_for_constraints": flight.constraints},
            }
            tries += 1
            try:
                _, answer = service.dss_put_oir(self.principal, flight.entity, flight.ovn, body)
            except DssError as e:
                if e.status != 409 or e.body is None or tries >= _TRIES:
                    raise
                if tries == 1:
                    self.conflicted += 1
                key.update(self._learn(service, e.body))
                continue
            ref: dict[str, Any] = answer["operational_intent_reference"]
            flight.ovn, flight.state, flight.key = ref["ovn"], state, key
            self.flights[flight.entity] = flight
            return ref

    def end(self, service: Service, flight: Flight) -> None:
        """DELETE ``flight``'s intent (its activity ends: completed if it flew)."""
        if flight.ovn is None:  # never written (or ended already): nothing to end
            flight.state = "Ended"
            return
        try:
            service.dss_delete_oir(self.principal, flight.entity, flight.ovn)
        except DssError as e:
            if e.status != 404:  # 404: the scheduler ended it at its end time already
                raise
        flight.state, flight.ovn = "Ended", None

    def step(self, service: Service, flight: Flight, state: str) -> None:
        """One step of a flight: a write in ``state``, or ``"Ended"``: its end."""
        if state == "Ended":
            self.end(service, flight)
        else:
            self.write(service, flight, state)

    def states(self) -> dict[str, int]:
        """Its intents by F3548 state (``Ended`` for those it ended)."""
        out: dict[str, int] = {}
        for f in self.flights.values():
            if f.state is not None:
                out[f.state] = out.get(f.state, 0) + 1
        return out

    def _learn(self, service: Service, conflict: Mapping[str, Any]) -> dict[str, str]:
        """The OVN of every entity a 409 ``AirspaceConflictResponse`` names."""
        out: dict[str, str] = {}
        for ref in conflict.get("missing_operational_intents", ()):
            out[ref["id"]] = self._ovn(service, "activity", ref)
        for ref in conflict.get("missing_constraints", ()):
            out[ref["id"]] = self._ovn(service, "zone", ref)
        return out

    def _ovn(self, service: Service, item_type: str, ref: Mapping[str, Any]) -> str:
        own = self.flights.get(ref["id"])
        if own is not None and own.ovn is not None:  # its own: from its own record
            return own.ovn
        if "ovn" in ref:  # its own all the same (the DSS shows the OVN to its manager only)
            return str(ref["ovn"])
        # another manager's: ask it (GET {uss_base_url}/uss/v1/...): for a native item, this service
        details = service.dss_native_details(self.principal, item_type, ref["id"])
        self.learnt += 1
        doc = details["operational_intent" if item_type == "activity" else "constraint"]
        return str(doc["reference"]["ovn"])


class SimulatedUss:
    """The USS's operations on the real clock, at a modest, seeded pace."""

    def __init__(
        self, service: Service, uss: Uss, scenario: Scenario, seed: int, attempt: Callable[[Callable[[], Any]], None]
    ) -> None:
        self.service = service
        self.uss = uss
        self.filings = list(scenario.filings)
        self.rng = random.Random(f"{seed}:{uss.party}:live")
        self.attempt = attempt
        self.filed = 0

    def file(self) -> None:
        """A new flight, starting in a minute: Accepted now, activated and ended later."""
        rng = self.rng
        now = self.service.clock.now().replace(microsecond=0)
        start = now + timedelta(minutes=1)
        window = TimeWindow(start, start + timedelta(minutes=round(rng.uniform(20, 60))))
        radius = round(rng.uniform(200, 800), -1)
        lon0, lat0 = CENTRE
        centre = (round(lon0 + rng.uniform(-2.0, 2.0), 5), round(lat0 + rng.uniform(-1.4, 1.4), 5))
        constraints = rng.random() < 0.3
        roll = rng.random()
        mine = [f for f in self.uss.flights.values() if f.state in _LIVE and f.volume.window.end > window.start]
        if roll < 0.25 and mine:  # next to one of its own: its own key
            other = rng.choice(mine).volume.footprint
            assert isinstance(other, Circle)
            centre = offset(rng, other.center, rng.uniform(0, 150))
        elif roll < 0.5:  # over a member's low-level activity or zone: theirs
            zone = rng.random() < 0.3
            found = target(rng, self.filings, window, now, zone=zone)
            if found is not None:
                centre, constraints = found[1], constraints or zone
        activate = now + timedelta(seconds=rng.uniform(15, 40))
        flight = Flight(
            str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            Volume4D(Circle(centre, radius), AltitudeBand(0.0, DRONE_CEILING_M), window),
            constraints,
            activate_at=activate,
            land_at=activate + timedelta(minutes=rng.uniform(3, 8)),
        )
        self.uss.write(self.service, flight, "Accepted")
        self.filed += 1

    def work(self) -> None:
        """Activate the flights due to start; end those that have landed."""
        now = self.service.clock.now()
        for flight in list(self.uss.flights.values()):
            if flight.state not in _LIVE:
                continue
            if flight.volume.window.end <= now:  # the scheduler ended it at its end time
                flight.state, flight.ovn = "Ended", None
            elif flight.land_at is not None and now >= flight.land_at:
                self.attempt(functools.partial(self.uss.end, self.service, flight))
            elif flight.state == "Accepted" and flight.activate_at is not None and now >= flight.activate_at:
                self.attempt(functools.partial(self.uss.write, self.service, flight, "Activated"))
        ended = [e for e, f in self.uss.flights.items() if f.state == "Ended" and f.volume.window.end <= now]
        for entity in ended:  # a long demo keeps its record short
            del self.uss.flights[entity]
