"""The timeline's building blocks: the entry list with its window, and how receipts,
conflict sides, durations and messages are put into words (pure: no database)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .. import catalogue
from ..errors import DeconflictError
from ..policy import ESCALATION_LADDER
from ..wire import rfc3339
from .core import Body, Principal

__all__ = ["Timeline", "actor", "box", "change", "dur", "link", "mentions", "parse", "render", "sees", "side", "told"]

_RANK = {"incident": 0, "item": 1, "notice": 2, "conflict": 3, "message": 4, "receipt": 5}


@dataclass
class Timeline:
    """The entries being gathered, and what decides whether one is kept."""

    principal: Principal
    start: datetime
    end: datetime
    anchor: datetime  # the occurrence: times on its day are shown as hh:mm:ssZ
    linked: set[str]  # ids whose whole history is shown
    entries: list[tuple[datetime, int, int, Body]] = field(default_factory=list)
    told: list[tuple[datetime, int, Body]] = field(default_factory=list)

    def keep(self, at: datetime | None, *related: str) -> bool:
        return at is not None and (self.start <= at <= self.end or any(r in self.linked for r in related))

    def add(
        self,
        at: datetime,
        rank: str,
        type_: str,
        party: str | None,
        user: str | None,
        subject: tuple[str, str],
        summary: str,
        detail: Body,
    ) -> None:
        entry = {
            "at": rfc3339(at),
            "type": type_,
            "party": party,
            "user": user,
            "subject": {"type": subject[0], "id": subject[1]},
            "summary": summary,
            "detail": detail,
        }
        self.entries.append((at, _RANK[rank], len(self.entries), entry))

    def hm(self, at: datetime | None) -> str:
        if at is None:
            return "—"
        return at.strftime("%H:%M:%SZ" if at.date() == self.anchor.date() else "%Y-%m-%d %H:%M:%SZ")


def sees(me: Principal, ev: Any) -> bool:
    audience = ev.audience or []
    return "*" in audience or me.party_id in audience


def change(item_type: str, previous: str | None, state: str) -> str:
    if previous is None:
        return "notified" if item_type == "activity" and state == "notified" else "created"
    return "updated" if state == previous else state


def told(tl: Timeline, r: Any, now: datetime) -> str:
    """One line: how far a receipt got, and who took each step."""
    parts = [f"delivered {tl.hm(r.delivered_at)} ({r.delivered_to})" if r.delivered_at else "never delivered"]
    parts.append(f"opened {tl.hm(r.opened_at)} ({r.opened_by})" if r.opened_at else "never opened")
    if r.acknowledged_at:
        parts.append(f"acknowledged {tl.hm(r.acknowledged_at)} ({r.acknowledged_by})")
    else:
        overdue = r.deadline is not None and r.deadline <= now
        parts.append("not acknowledged" + (f", overdue since {tl.hm(r.deadline)}" if overdue else ""))
    if r.answered_at:
        parts.append(f"answered {tl.hm(r.answered_at)} ({r.answered_by})")
    if r.level:
        parts.append(f"escalated to the {ESCALATION_LADDER[r.level]} at {tl.hm(r.escalated_at)}")
    return f"to {r.party_id}: " + ", ".join(parts)


def actor(doc: Mapping[str, Any], stage: str) -> tuple[str | None, str | None]:
    """The side whose ``stage`` is the latest: the one the event was for."""
    best: tuple[str, str | None, str | None] | None = None
    for s in ("a", "b"):
        side = doc.get(s) or {}
        at = side.get(f"{stage}_at")
        if at and (best is None or at > best[0]):
            best = (at, side.get("party"), side.get(f"{stage}_by"))
    return (best[1], best[2]) if best else (None, None)


def side(doc: Mapping[str, Any], s: str) -> Body:
    side = doc.get(s) or {}
    item = side.get("item") or {}
    return {
        "party": side.get("party"),
        "item": item.get("id"),
        "title": item.get("title"),
        "acknowledged_by": side.get("acknowledged_by"),
        "acknowledged_at": side.get("acknowledged_at"),
        "accepted_by": side.get("accepted_by"),
        "accepted_at": side.get("accepted_at"),
    }


def render(code: int, params: Any, language: str) -> tuple[str, str, bool]:
    """A message in the reader's language: (text, direction, whether it was rendered)."""
    try:
        r = catalogue.load().render(code, params, language)
    except (NotImplementedError, DeconflictError, LookupError):
        return f"[message {code}]", "ltr", False
    return r.text, r.direction, True


def mentions(value: Any, refs: set[str]) -> bool:
    if isinstance(value, str):
        return value in refs
    if isinstance(value, Mapping):
        return any(mentions(v, refs) for v in value.values())
    if isinstance(value, list):
        return any(mentions(v, refs) for v in value)
    return False


def link(link_type: str | None, link_id: str | None) -> Body | None:
    return {"type": link_type, "id": link_id} if link_type and link_id else None


def parse(text: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text)) if text else None
    except ValueError:
        return None


def dur(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = abs(float(seconds))
    if s >= 3600:
        return f"{seconds / 3600:.1f} h"
    if s >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.0f} s"


def box(lat: float, lon: float, radius_m: float) -> tuple[float, float, float, float]:
    """A lon/lat box holding the circle (the whole longitude range near the poles or ±180°)."""
    pad_lat = radius_m / 110_000.0 + 1e-9
    south, north = max(-90.0, lat - pad_lat), min(90.0, lat + pad_lat)
    cos = math.cos(math.radians(min(89.9, abs(lat) + pad_lat)))
    pad_lon = pad_lat / max(cos, 1e-3)
    west, east = lon - pad_lon, lon + pad_lon
    if west < -180 or east > 180 or pad_lon >= 180:
        west, east = -180.0, 180.0
    return west, south, east, north
