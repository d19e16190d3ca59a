"""The catalogue's vocabulary: groups, slot types, response kinds, entries, languages.

Frozen values only; reading the data files is :mod:`.loader`'s job, checking parameters
:mod:`.slots`', formatting them :mod:`.render`'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from ..policy import Precedence

__all__ = [
    "REF_KINDS",
    "Entry",
    "Group",
    "Language",
    "Rendered",
    "ResponseKind",
    "Segment",
    "Slot",
    "SlotType",
]

#: What a REF slot may point at.  ``party`` refs name a party by its id.
REF_KINDS: tuple[str, ...] = ("activity", "zone", "conflict", "incident", "party")


class Group(StrEnum):
    """What a message is for; the code's hundreds digit says it (1xx notice … 9xx free text)."""

    NOTICE = "notice"
    REQUEST = "request"
    WARNING = "warning"
    EMERGENCY = "emergency"
    RESPONSE = "response"
    FREE = "free"

    @property
    def hundreds(self) -> int:
        """The hundreds digit of this group's codes (1 for notices … 9 for free text)."""
        return {"notice": 1, "request": 2, "warning": 3, "emergency": 4, "response": 5, "free": 9}[self.value]


class SlotType(StrEnum):
    """The type of a message parameter; see :mod:`deconflict.catalogue.slots` for each one's canonical form."""

    TIME = "time"
    POSITION = "position"
    ALTITUDE = "altitude"
    DISTANCE = "distance"
    DURATION = "duration"
    COUNT = "count"
    CALLSIGN = "callsign"
    UNIT = "unit"
    REF = "ref"


class ResponseKind(StrEnum):
    """Which responses a message asks for (CPDLC response attributes)."""

    WILCO_UNABLE = "wilco_unable"
    AFFIRM_NEGATIVE = "affirm_negative"
    ROGER = "roger"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Slot:
    """A named, typed parameter of a message."""

    name: str
    type: SlotType
    ref_kinds: tuple[str, ...] = ()  # REF slots: activity | zone | conflict | incident | party


@dataclass(frozen=True, slots=True)
class Entry:
    """One numbered message of the catalogue, language-neutral."""

    code: int
    group: Group
    slots: tuple[Slot, ...]
    precedence: Precedence  # the default (and lowest allowed) precedence
    response: ResponseKind  # what this message asks for
    answers: tuple[ResponseKind, ...] = ()  # responses only: the kinds of question they answer
    closes: bool = True  # responses only: False for STANDBY (acknowledges, does not answer)

    @property
    def is_response(self) -> bool:
        """True for WILCO, UNABLE, STANDBY … (group ``response``)."""
        return self.group is Group.RESPONSE

    def can_answer(self, question: Entry) -> bool:
        """Whether this response may be sent in reply to ``question`` (its response kind is one we answer)."""
        return self.is_response and question.response in self.answers

    def allows(self, precedence: Precedence) -> bool:
        """Whether a sender may send this message at ``precedence``: the default or higher, never lower."""
        return precedence.rank <= self.precedence.rank


@dataclass(frozen=True, slots=True)
class Rendered:
    """A message as one reader sees it: text in their language and the direction to lay it out in."""

    language: str
    direction: str  # ltr | rtl
    text: str


#: A parsed template piece: literal text, then the slot whose value follows it (None at the end).
Segment = tuple[str, "str | None"]


@dataclass(frozen=True, slots=True)
class Language:
    """One language file: its metadata, labels, and a template per message code."""

    code: str
    name: str  # the endonym: "العربية", "Türkçe"
    direction: str  # ltr | rtl
    locale: str  # a Babel locale identifier
    numbering: str  # "latn", "arab", …
    translation_status: str
    datetime_pattern: str  # a CLDR date pattern, 24-hour, e.g. "d MMM y HH:mm"
    datetime_seconds_pattern: str  # the same with seconds, used when the seconds are not zero
    labels: dict[str, str]  # flat keys: "untranslated", "group.notice", "unit.hour", "slot.activity", …
    texts: dict[int, str]  # code → template with {slot} placeholders
    templates: dict[int, tuple[Segment, ...]] = field(repr=False)  # parsed texts
    slot_labels: dict[int, dict[str, str]] = field(repr=False)  # code → per-message slot labels (optional)

    def label(self, key: str) -> str:
        return self.labels[key]
