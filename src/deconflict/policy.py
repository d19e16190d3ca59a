"""The agreement's rules: notice times, late-notice handling, acknowledgement deadlines.

Pure: values in, verdicts out; the caller passes every time (no clock is read here).

The parties agree, per activity kind, on a minimum notice (how long before an activity
starts it must be notified) and on what happens to a late notice: ``refuse`` it, or
``accept`` it with its lateness recorded.  Per precedence they agree on how long a
recipient has to acknowledge a notice or a conflict before it escalates: first to the
party's next contact, then to the mediator (:data:`ESCALATION_LADDER`).

>>> from datetime import datetime, timedelta, UTC
>>> policy = Policy.default()
>>> t = datetime(2026, 11, 25, 12, tzinfo=UTC)
>>> v = policy.notice_verdict(ActivityKind.AIR_SORTIE, notified_at=t, starts_at=t + timedelta(minutes=10))
>>> v.late_by_s, v.refused
(1200.0, False)
>>> policy.notice_verdict(ActivityKind.HUMANITARIAN_MOVEMENT, notified_at=t, starts_at=t + timedelta(hours=1)).refused
True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from .errors import ValidationError
from .model import ActivityKind, MinimaTable, SeparationMinima, finite

__all__ = [
    "ESCALATION_LADDER",
    "LateNotice",
    "NoticeVerdict",
    "Policy",
    "Precedence",
]


class Precedence(StrEnum):
    """Message and notice precedence, highest first (as in military messaging)."""

    FLASH = "flash"
    IMMEDIATE = "immediate"
    PRIORITY = "priority"
    ROUTINE = "routine"

    @property
    def rank(self) -> int:
        """0 for FLASH … 3 for ROUTINE: lower is more urgent."""
        return list(Precedence).index(self)

    @staticmethod
    def highest(*values: Precedence) -> Precedence:
        return min(values, key=lambda p: p.rank)


class LateNotice(StrEnum):
    REFUSE = "refuse"
    ACCEPT = "accept"


#: Who an unacknowledged notice or conflict goes to, level by level: level 0 is the
#: recipient party's liaison officers, level 1 the party's next contact (its
#: commanders/approvers), level 2 the mediator.
ESCALATION_LADDER: tuple[str, ...] = ("liaison", "next_contact", "mediator")


@dataclass(frozen=True, slots=True)
class NoticeVerdict:
    """How a notice measures up to the agreed minimum notice."""

    lead_s: float  # how long before the start the notice was given (negative: after)
    required_s: float
    late_by_s: float  # 0 when on time
    refused: bool


_DEFAULT_NOTICE_S = {
    ActivityKind.AIR_SORTIE: 30 * 60,
    ActivityKind.AIR_CORRIDOR: 2 * 3600,
    ActivityKind.GROUND_MOVEMENT: 2 * 3600,
    ActivityKind.MARITIME: 2 * 3600,
    ActivityKind.STATIC_SITE: 24 * 3600,
    ActivityKind.EXERCISE: 24 * 3600,
    ActivityKind.HUMANITARIAN_MOVEMENT: 48 * 3600,
}
_DEFAULT_LATE = {k: LateNotice.ACCEPT for k in ActivityKind} | {ActivityKind.HUMANITARIAN_MOVEMENT: LateNotice.REFUSE}
_DEFAULT_ACK_S = {
    Precedence.FLASH: 5 * 60,
    Precedence.IMMEDIATE: 15 * 60,
    Precedence.PRIORITY: 60 * 60,
    Precedence.ROUTINE: 4 * 3600,
}
_MAX_S = 366 * 24 * 3600


def _seconds(value: object, field_name: str, *, positive: bool) -> float:
    seconds = finite(value, field_name)
    if seconds < 0 or (positive and seconds == 0):
        raise ValidationError(field_name, "must be a positive number of seconds" if positive else "must be ≥ 0")
    if seconds > _MAX_S:
        raise ValidationError(field_name, f"must be at most {_MAX_S} s (366 days)")
    return seconds


@dataclass(frozen=True, slots=True)
class Policy:
    """The rules the parties agreed: notice, lateness, acknowledgement, separation."""

    min_notice_s: Mapping[ActivityKind, float] = field(default_factory=lambda: dict(_DEFAULT_NOTICE_S))
    late_notice: Mapping[ActivityKind, LateNotice] = field(default_factory=lambda: dict(_DEFAULT_LATE))
    ack_s: Mapping[Precedence, float] = field(default_factory=lambda: dict(_DEFAULT_ACK_S))
    minima: MinimaTable = field(default_factory=MinimaTable)
    #: how often each party's channel should send a heartbeat, and after how long without
    #: one the party is shown as DOWN to everyone
    heartbeat_s: float = 30.0
    down_after_s: float = 120.0

    def __post_init__(self) -> None:
        notice = {}
        for kind in ActivityKind:
            raw = self.min_notice_s.get(kind, _DEFAULT_NOTICE_S[kind])
            notice[kind] = _seconds(raw, f"min_notice_s.{kind.value}", positive=False)
        late = {}
        for kind in ActivityKind:
            raw_late = self.late_notice.get(kind, _DEFAULT_LATE[kind])
            try:
                late[kind] = LateNotice(raw_late)
            except ValueError:
                raise ValidationError(f"late_notice.{kind.value}", "must be 'refuse' or 'accept'") from None
        ack = {}
        for p in Precedence:
            ack[p] = _seconds(self.ack_s.get(p, _DEFAULT_ACK_S[p]), f"ack_s.{p.value}", positive=True)
        if not isinstance(self.minima, MinimaTable):
            raise ValidationError("minima", "must be a MinimaTable")
        heartbeat = _seconds(self.heartbeat_s, "liveness.heartbeat_s", positive=True)
        down_after = _seconds(self.down_after_s, "liveness.down_after_s", positive=True)
        if down_after <= heartbeat:
            raise ValidationError("liveness.down_after_s", "must be longer than liveness.heartbeat_s")
        object.__setattr__(self, "heartbeat_s", heartbeat)
        object.__setattr__(self, "down_after_s", down_after)
        object.__setattr__(self, "min_notice_s", notice)
        object.__setattr__(self, "late_notice", late)
        object.__setattr__(self, "ack_s", ack)

    @classmethod
    def default(cls) -> Policy:
        """Air 30 min, ground/maritime/corridors 2 h, sites/exercises 24 h, humanitarian 48 h
        (late humanitarian notices refused, others accepted as late); acknowledgement
        FLASH 5 min, IMMEDIATE 15 min, PRIORITY 1 h, ROUTINE 4 h; minima 0 (contact);
        heartbeats every 30 s, a party DOWN after 120 s without one."""
        return cls()

    # --- verdicts -----------------------------------------------------------------------

    def notice_verdict(self, kind: ActivityKind, *, notified_at: datetime, starts_at: datetime) -> NoticeVerdict:
        """Measure a notice given at ``notified_at`` for an activity starting at ``starts_at``."""
        required = float(self.min_notice_s[ActivityKind(kind)])
        lead = (starts_at - notified_at).total_seconds()
        late_by = max(0.0, required - lead)
        refused = late_by > 0 and self.late_notice[ActivityKind(kind)] is LateNotice.REFUSE
        return NoticeVerdict(lead, required, late_by, refused)

    def ack_deadline(self, precedence: Precedence, *, at: datetime) -> datetime:
        """When something of ``precedence`` delivered (or escalated) ``at`` must be acknowledged."""
        return at + timedelta(seconds=float(self.ack_s[Precedence(precedence)]))

    # --- JSON ---------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The policy as a JSON-able document (the shape :meth:`from_json` reads)."""

        def minima(m: SeparationMinima) -> dict[str, float]:
            return {"lateral_m": m.lateral_m, "vertical_m": m.vertical_m, "time_s": m.time_s}

        return {
            "min_notice_s": {k.value: v for k, v in self.min_notice_s.items()},
            "late_notice": {k.value: v.value for k, v in self.late_notice.items()},
            "ack_s": {p.value: v for p, v in self.ack_s.items()},
            "minima": {
                "default": minima(self.minima.default),
                "pairs": [{"kinds": list(k), **minima(m)} for k, m in self.minima.pairs.items()],
            },
            "liveness": {"heartbeat_s": self.heartbeat_s, "down_after_s": self.down_after_s},
        }

    @classmethod
    def from_json(cls, doc: object) -> Policy:
        """Read a policy document; unknown keys and bad values raise naming the field."""
        if not isinstance(doc, Mapping):
            raise ValidationError("policy", "must be an object")
        unknown = set(doc) - {"min_notice_s", "late_notice", "ack_s", "minima", "liveness"}
        if unknown:
            raise ValidationError(sorted(unknown)[0], "is not a policy field")
        notice = _keyed(doc.get("min_notice_s", {}), "min_notice_s", ActivityKind)
        late = _keyed(doc.get("late_notice", {}), "late_notice", ActivityKind)
        ack = _keyed(doc.get("ack_s", {}), "ack_s", Precedence)
        liveness = doc.get("liveness", {})
        if not isinstance(liveness, Mapping):
            raise ValidationError("liveness", "must be an object")
        extra = set(liveness) - {"heartbeat_s", "down_after_s"}
        if extra:
            raise ValidationError(f"liveness.{sorted(extra)[0]}", "is not a liveness field")
        return cls(
            notice,
            late,
            ack,
            _minima_table(doc.get("minima", {})),
            heartbeat_s=liveness.get("heartbeat_s", 30.0),
            down_after_s=liveness.get("down_after_s", 120.0),
        )


def _keyed(value: object, name: str, enum: type[StrEnum]) -> dict[Any, Any]:
    if not isinstance(value, Mapping):
        raise ValidationError(name, "must be an object")
    out = {}
    for key, item in value.items():
        try:
            out[enum(key)] = item
        except ValueError:
            raise ValidationError(f"{name}.{key}", f"unknown {enum.__name__} {key!r}") from None
    return out


def _separation(value: object, name: str) -> SeparationMinima:
    if not isinstance(value, Mapping):
        raise ValidationError(name, "must be an object")
    unknown = set(value) - {"lateral_m", "vertical_m", "time_s", "kinds"}
    if unknown:
        raise ValidationError(f"{name}.{sorted(unknown)[0]}", "is not a minima field")
    try:
        return SeparationMinima(value.get("lateral_m", 0.0), value.get("vertical_m", 0.0), value.get("time_s", 0.0))
    except ValidationError as e:
        raise e.within(name) from None


def _minima_table(value: object) -> MinimaTable:
    if not isinstance(value, Mapping):
        raise ValidationError("minima", "must be an object")
    default = _separation(value.get("default", {}), "minima.default")
    pairs: dict[tuple[str, str], SeparationMinima] = {}
    raw_pairs = value.get("pairs", [])
    if not isinstance(raw_pairs, list):
        raise ValidationError("minima.pairs", "must be a list")
    for i, entry in enumerate(raw_pairs):
        at = f"minima.pairs[{i}]"
        kinds = entry.get("kinds") if isinstance(entry, Mapping) else None
        if not isinstance(kinds, list) or len(kinds) != 2 or not all(isinstance(k, str) for k in kinds):
            raise ValidationError(f"{at}.kinds", "must be a list of two kinds")
        pairs[(kinds[0], kinds[1])] = _separation(entry, at)
    try:
        return MinimaTable(default, pairs)
    except ValidationError as e:
        raise e.within("minima") from None
