"""Reading and checking the catalogue's data files.

``data/messages.toml`` defines every message, language-neutral: its group, default precedence,
the response it asks for and its typed slots.  Each other ``data/<language>.toml`` holds one
language: metadata (endonym, direction, Babel locale, numbering system, how far the translation
is to be trusted), labels, and one template per message whose ``{placeholders}`` are exactly the
message's slots.  Anything missing, extra or malformed is refused at load time with a
:class:`CatalogueError` naming the file and the message code, so a bad file never reaches a reader.
"""

from __future__ import annotations

import re
import string
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.dates import format_datetime
from babel.numbers import format_decimal

from ..policy import Precedence
from .model import REF_KINDS, Entry, Group, Language, ResponseKind, Segment, Slot, SlotType
from .render import DIGITS

__all__ = ["MESSAGES_FILE", "CatalogueError", "label_keys", "read_entries", "read_language"]

MESSAGES_FILE = "messages.toml"
_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}", re.ASCII)
_LANGUAGE_CODE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*", re.ASCII)
_UNITS = ("day", "hour", "minute", "second", "metre", "kilometre", "foot")
_ALTITUDE_REFS = ("amsl", "agl", "wgs84")
_SAMPLE_TIME = datetime(2026, 11, 25, 14, 5, 9, tzinfo=UTC)  # formats a pattern once to check it
_LANGUAGE_KEYS = ("code", "name", "direction", "locale", "numbering", "translation_status")


class CatalogueError(ValueError):
    """A catalogue data file is malformed or inconsistent (a deployment error, not bad user input)."""


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise CatalogueError(f"{path.name}: cannot be read: {e}") from None


def _keys(where: str, table: object, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise CatalogueError(f"{where}: must be a table")
    for key in table:
        if key not in required and key not in optional:
            raise CatalogueError(f"{where}: unknown key {key!r}")
    for key in required:
        if key not in table:
            raise CatalogueError(f"{where}: {key!r} is missing")
    return table


def _choice(where: str, value: Any, choices: type[Group] | type[Precedence] | type[ResponseKind]) -> Any:
    try:
        return choices(value)
    except ValueError:
        raise CatalogueError(f"{where}: {value!r} is not one of {[c.value for c in choices]}") from None


def _code(where: str, key: str) -> int:
    if not re.fullmatch(r"[1-9][0-9]{2}", key, re.ASCII):
        raise CatalogueError(f"{where}: message code {key!r} is not a three-digit number")
    return int(key)


def _slot(where: str, doc: object) -> Slot:
    doc = _keys(where, doc, ("name", "type"), ("kinds",))
    name = doc["name"]
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise CatalogueError(f"{where}: slot name {name!r} must be a lower-case identifier")
    try:
        kind = SlotType(doc["type"])
    except ValueError:
        raise CatalogueError(f"{where}: slot {name}: unknown type {doc['type']!r}") from None
    kinds = doc.get("kinds", [])
    if kind is SlotType.REF:
        if not kinds or not isinstance(kinds, list) or any(k not in REF_KINDS for k in kinds):
            raise CatalogueError(f"{where}: slot {name}: 'kinds' must list some of {list(REF_KINDS)}")
    elif kinds:
        raise CatalogueError(f"{where}: slot {name}: only ref slots have 'kinds'")
    return Slot(name, kind, tuple(kinds))


def _entry(code: int, doc: object) -> Entry:
    where = f"{MESSAGES_FILE}: message {code}"
    doc = _keys(where, doc, ("group", "precedence", "response", "slots"), ("answers", "closes"))
    group = _choice(where, doc["group"], Group)
    if code // 100 != group.hundreds:
        raise CatalogueError(f"{where}: a {group.value} message's code must be {group.hundreds}xx")
    if not isinstance(doc["slots"], list):
        raise CatalogueError(f"{where}: 'slots' must be a list")
    slots = tuple(_slot(f"{where}: slot {i}", s) for i, s in enumerate(doc["slots"]))
    if len({s.name for s in slots}) != len(slots):
        raise CatalogueError(f"{where}: slot names repeat")
    response = _choice(where, doc["response"], ResponseKind)
    answers: tuple[ResponseKind, ...] = ()
    closes = doc.get("closes", True)
    if group is Group.RESPONSE:
        raw = doc.get("answers")
        if not isinstance(raw, list) or not raw:
            raise CatalogueError(f"{where}: a response must list the kinds of question it 'answers'")
        answers = tuple(_choice(where, a, ResponseKind) for a in raw)
        if not isinstance(closes, bool):
            raise CatalogueError(f"{where}: 'closes' must be true or false")
        if response is not ResponseKind.NONE:
            raise CatalogueError(f"{where}: a response asks for no response ('none')")
    elif "answers" in doc or "closes" in doc:
        raise CatalogueError(f"{where}: only responses have 'answers' and 'closes'")
    precedence = _choice(where, doc["precedence"], Precedence)
    return Entry(code, group, slots, precedence, response, answers, closes)


def read_entries(directory: Path) -> dict[int, Entry]:
    """The entries of ``directory/messages.toml`` by code, in code order."""
    doc = _keys(MESSAGES_FILE, _read(directory / MESSAGES_FILE), ("messages",))
    table = doc["messages"]
    if not isinstance(table, dict) or not table:
        raise CatalogueError(f"{MESSAGES_FILE}: [messages] must define some messages")
    entries = {_code(MESSAGES_FILE, key): _entry(_code(MESSAGES_FILE, key), value) for key, value in table.items()}
    return dict(sorted(entries.items()))


def label_keys(entries: dict[int, Entry]) -> set[str]:
    """Every label a language file must give, as flat ``table.key`` names."""
    keys = {"untranslated", "utc", "flight_level"}
    keys |= {f"unit.{u}" for u in _UNITS} | {f"altitude_ref.{r}" for r in _ALTITUDE_REFS}
    keys |= {f"group.{g.value}" for g in Group} | {f"response.{r.value}" for r in ResponseKind}
    keys |= {f"precedence.{p.value}" for p in Precedence} | {f"slot_type.{t.value}" for t in SlotType}
    keys |= {f"ref_kind.{k}" for k in REF_KINDS}
    keys |= {f"slot.{s.name}" for e in entries.values() for s in e.slots}
    return keys


def _flat_labels(where: str, table: object) -> dict[str, str]:
    if not isinstance(table, dict):
        raise CatalogueError(f"{where}: [labels] must be a table")
    flat: dict[str, str] = {}
    for key, value in table.items():
        if isinstance(value, dict):
            for sub, text in value.items():
                flat[f"{key}.{sub}"] = text
        else:
            flat[key] = value
    for key, text in flat.items():
        if not isinstance(text, str) or not text.strip():
            raise CatalogueError(f"{where}: label {key!r} must be a non-empty string")
    return flat


def _template(where: str, text: object, slots: tuple[Slot, ...]) -> tuple[Segment, ...]:
    if not isinstance(text, str) or not text.strip():
        raise CatalogueError(f"{where}: 'text' must be a non-empty string")
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as e:
        raise CatalogueError(f"{where}: bad template: {e}") from None
    names = {s.name for s in slots}
    segments: list[Segment] = []
    for literal, name, spec, conversion in parsed:
        if name is not None and (spec or conversion or name not in names):
            raise CatalogueError(f"{where}: placeholder {{{name}}} is not a slot of the message ({sorted(names)})")
        segments.append((literal, name))
    used = {name for _, name in segments if name is not None}
    if used != names:
        raise CatalogueError(f"{where}: placeholders {sorted(used)} differ from the message's slots {sorted(names)}")
    return tuple(segments)


def _check_locale(where: str, meta: dict[str, Any], patterns: tuple[str, str]) -> None:
    try:
        Locale.parse(meta["locale"])
    except (UnknownLocaleError, ValueError, TypeError) as e:
        raise CatalogueError(f"{where}: unknown locale {meta['locale']!r}: {e}") from None
    if meta["numbering"] not in DIGITS:
        raise CatalogueError(f"{where}: numbering {meta['numbering']!r} is not one of {sorted(DIGITS)}")
    try:
        format_decimal(1234.5, locale=meta["locale"], numbering_system=meta["numbering"])
        for pattern in patterns:
            format_datetime(_SAMPLE_TIME, pattern, tzinfo=UTC, locale=meta["locale"])
    except Exception as e:  # babel raises several kinds for an unsupported system or a bad pattern
        raise CatalogueError(f"{where}: locale {meta['locale']!r} cannot format: {e}") from None


def read_language(path: Path, entries: dict[int, Entry]) -> Language:
    """One language file, checked against the entries: every code, the same slots, every label."""
    where = path.name
    doc = _keys(where, _read(path), ("language", "format", "labels", "messages"))
    meta = _keys(f"{where}: [language]", doc["language"], _LANGUAGE_KEYS)
    for key in _LANGUAGE_KEYS:
        if not isinstance(meta[key], str) or not meta[key].strip():
            raise CatalogueError(f"{where}: [language] {key} must be a non-empty string")
    if meta["code"] != path.stem or not _LANGUAGE_CODE.fullmatch(meta["code"]):
        raise CatalogueError(f"{where}: [language] code {meta['code']!r} must be the file's name, e.g. 'ar'")
    if meta["direction"] not in ("ltr", "rtl"):
        raise CatalogueError(f"{where}: [language] direction must be 'ltr' or 'rtl'")
    fmt = _keys(f"{where}: [format]", doc["format"], ("datetime", "datetime_seconds"))
    _check_locale(where, meta, (fmt["datetime"], fmt["datetime_seconds"]))

    labels = _flat_labels(where, doc["labels"])
    required = label_keys(entries)
    if missing := sorted(required - labels.keys()):
        raise CatalogueError(f"{where}: labels missing: {missing}")
    if extra := sorted(labels.keys() - required):
        raise CatalogueError(f"{where}: unknown labels: {extra}")

    messages = doc["messages"]
    if not isinstance(messages, dict):
        raise CatalogueError(f"{where}: [messages] must be a table")
    codes = {_code(where, key): value for key, value in messages.items()}
    if missing_codes := sorted(entries.keys() - codes.keys()):
        raise CatalogueError(f"{where}: message {missing_codes[0]} is missing (all missing: {missing_codes})")
    if extra_codes := sorted(codes.keys() - entries.keys()):
        raise CatalogueError(f"{where}: message {extra_codes[0]} is not in {MESSAGES_FILE} (all: {extra_codes})")
    texts: dict[int, str] = {}
    templates: dict[int, tuple[Segment, ...]] = {}
    slot_labels: dict[int, dict[str, str]] = {}
    for code, entry in entries.items():
        mwhere = f"{where}: message {code}"
        table = _keys(mwhere, codes[code], ("text",), ("labels",))
        templates[code] = _template(mwhere, table["text"], entry.slots)
        texts[code] = table["text"]
        own = table.get("labels", {})
        if not isinstance(own, dict) or any(k not in {s.name for s in entry.slots} for k in own):
            raise CatalogueError(f"{mwhere}: 'labels' may only name the message's slots")
        if any(not isinstance(v, str) or not v.strip() for v in own.values()):
            raise CatalogueError(f"{mwhere}: slot labels must be non-empty strings")
        slot_labels[code] = dict(own)
    return Language(
        code=meta["code"],
        name=meta["name"],
        direction=meta["direction"],
        locale=meta["locale"],
        numbering=meta["numbering"],
        translation_status=meta["translation_status"],
        datetime_pattern=fmt["datetime"],
        datetime_seconds_pattern=fmt["datetime_seconds"],
        labels=labels,
        texts=texts,
        templates=templates,
        slot_labels=slot_labels,
    )
