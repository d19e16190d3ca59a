"""The hotline's closed, numbered message catalogue (CUES / CPDLC style) — pure.

Parties that share no language exchange *catalogue messages*: a numbered code plus typed
parameters, rendered in each reader's own language with the parameters formatted for that
reader's locale.  The messages are data (``data/messages.toml``, one ``data/<lang>.toml`` per
language; adding a language is adding a file).  Codes: 1xx notice, 2xx request, 3xx warning,
4xx emergency, 5xx response (WILCO, UNABLE, STANDBY, AFFIRM, NEGATIVE, ROGER …), 901 free text.

>>> cat = load()
>>> cat.languages
('ar', 'en', 'he', 'tr')
>>> params = cat.validate(302, {"callsign": "eagle-1", "position": {"lat": 33.5, "lon": 36.3},
...                             "altitude": {"m": 3000, "ref": "amsl"}})
>>> params["callsign"]
'EAGLE-1'
>>> cat.render(302, params, "en").text
'Aircraft EAGLE-1 is approaching 33°30.0′N 036°18.0′E at 3,000 m (9,843 ft) AMSL.'
>>> cat.render(201, {"activity": "act-7", "duration": 9000}, "tr").text
'act-7 faaliyetini 2 sa 30 dk ertelemenizi talep ediyoruz.'
>>> cat.validate(201, {"activity": "act-7"})
Traceback (most recent call last):
...
deconflict.errors.ValidationError: params.duration: is required
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ..errors import ValidationError
from ..policy import Precedence
from .loader import MESSAGES_FILE, CatalogueError, read_entries, read_language
from .model import REF_KINDS, Entry, Group, Language, Rendered, ResponseKind, Slot, SlotType
from .render import FSI, PDI, format_value, isolate
from .slots import check_value

__all__ = [
    "DATA_DIR",
    "FREE_TEXT_CODE",
    "REF_KINDS",
    "Catalogue",
    "CatalogueError",
    "Entry",
    "Group",
    "Language",
    "Rendered",
    "ResponseKind",
    "Slot",
    "SlotType",
    "load",
]

#: Where the catalogue's own data files are.
DATA_DIR = Path(__file__).resolve().parent / "data"
#: The free-text message: no slots; its text travels separately and is shown marked as untranslated.
FREE_TEXT_CODE = 901


class Catalogue:
    """Entries by code and the languages they are written in."""

    entries: Mapping[int, Entry]
    languages: tuple[str, ...]

    def __init__(self, entries: Mapping[int, Entry], languages: Mapping[str, Language]) -> None:
        self.entries = MappingProxyType(dict(sorted(entries.items())))
        self._languages = dict(sorted(languages.items()))
        self.languages = tuple(self._languages)

    def entry(self, code: object) -> Entry:
        """The entry numbered ``code``; ValidationError("code", …) unless an integer the catalogue knows."""
        if isinstance(code, bool) or not isinstance(code, int):
            raise ValidationError("code", "must be an integer message code")
        try:
            return self.entries[code]
        except KeyError:
            raise ValidationError("code", f"unknown message code {code}") from None

    def language(self, language: object) -> Language:
        """The language file ``language`` ("ar", "en" …); ValidationError("language", …) if there is none."""
        if not isinstance(language, str) or language not in self._languages:
            raise ValidationError("language", f"must be one of {list(self.languages)}")
        return self._languages[language]

    def validate(self, code: object, params: object) -> dict[str, Any]:
        """The canonical parameters of message ``code``; ValidationError naming ``code`` or ``params.<slot>``."""
        entry = self.entry(code)
        if not isinstance(params, Mapping):
            raise ValidationError("params", "must be an object")
        names = {slot.name for slot in entry.slots}
        for key in params:
            if not isinstance(key, str):
                raise ValidationError("params", "keys must be strings")
            if key not in names:
                raise ValidationError(f"params.{key}", f"is not a slot of message {entry.code}")
        canonical: dict[str, Any] = {}
        for slot in entry.slots:
            field = f"params.{slot.name}"
            if slot.name not in params:
                raise ValidationError(field, "is required")
            canonical[slot.name] = check_value(slot.type, params[slot.name], field)
        return canonical

    def precedence(self, code: object, requested: object = None) -> Precedence:
        """The precedence to send ``code`` at: ``requested`` (may raise the default, never lower it) or the default."""
        entry = self.entry(code)
        if requested is None:
            return entry.precedence
        try:
            wanted = Precedence(requested if isinstance(requested, str) else "")
        except ValueError:
            raise ValidationError("precedence", f"must be one of {[p.value for p in Precedence]}") from None
        if not entry.allows(wanted):
            raise ValidationError("precedence", f"message {entry.code} is sent at {entry.precedence.value} or higher")
        return wanted

    def render(self, code: int, params: Mapping[str, Any], language: str, *, free_text: str | None = None) -> Rendered:
        """Message ``code`` with ``params`` in ``language``; ``free_text`` (untranslated) is appended, marked."""
        lang = self.language(language)
        entry = self.entry(code)
        canonical = self.validate(code, params)
        kinds = {slot.name: slot.type for slot in entry.slots}
        parts: list[str] = []
        for literal, name in lang.templates[entry.code]:
            parts.append(literal)
            if name is not None:
                parts.append(isolate(lang, format_value(lang, kinds[name], canonical[name])))
        text = "".join(parts)
        if free_text is not None:
            marker = "" if entry.code == FREE_TEXT_CODE else f" {lang.labels['untranslated']}"
            # free text is isolated in every language: its own direction is unknown
            text = f"{text}{marker} {FSI}{free_text}{PDI}"
        return Rendered(lang.code, lang.direction, text)

    def describe(self, language: str) -> dict[str, Any]:
        """The catalogue for clients in ``language``: groups, responses, slot types, every entry's template."""
        lang = self.language(language)
        labels = lang.labels

        def slot_doc(code: int, slot: Slot) -> dict[str, Any]:
            label = lang.slot_labels[code].get(slot.name, labels[f"slot.{slot.name}"])
            doc: dict[str, Any] = {"name": slot.name, "type": slot.type.value, "label": label}
            if slot.ref_kinds:
                doc["kinds"] = [{"id": k, "label": labels[f"ref_kind.{k}"]} for k in slot.ref_kinds]
            return doc

        return {
            "language": {
                "code": lang.code,
                "name": lang.name,
                "direction": lang.direction,
                "locale": lang.locale,
                "numbering": lang.numbering,
                "translation_status": lang.translation_status,
            },
            "untranslated_marker": labels["untranslated"],
            "groups": [
                {"id": g.value, "label": labels[f"group.{g.value}"], "codes": [e.code for e in self._in(g)]}
                for g in Group
            ],
            "responses": [{"id": r.value, "label": labels[f"response.{r.value}"]} for r in ResponseKind],
            "precedences": [{"id": p.value, "label": labels[f"precedence.{p.value}"]} for p in Precedence],
            "slot_types": [{"id": t.value, "label": labels[f"slot_type.{t.value}"]} for t in SlotType],
            "entries": [
                {
                    "code": e.code,
                    "group": e.group.value,
                    "precedence": e.precedence.value,
                    "response": e.response.value,
                    "answers": [a.value for a in e.answers],
                    "closes": e.closes,
                    "text": lang.texts[e.code],
                    "slots": [slot_doc(e.code, s) for s in e.slots],
                }
                for e in self.entries.values()
            ],
        }

    def _in(self, group: Group) -> list[Entry]:
        return [e for e in self.entries.values() if e.group is group]


def _read(directory: Path) -> Catalogue:
    entries = read_entries(directory)
    paths = sorted(p for p in directory.glob("*.toml") if p.name != MESSAGES_FILE)
    if not paths:
        raise CatalogueError(f"{directory}: no language files")
    languages = {p.stem: read_language(p, entries) for p in paths}
    return Catalogue(entries, languages)


@functools.cache
def _default() -> Catalogue:
    return _read(DATA_DIR)


def load(directory: str | Path | None = None) -> Catalogue:
    """The catalogue in ``directory`` (default: the package's own data, read once and cached).

    Raises :class:`CatalogueError` naming the file and message code if the data is inconsistent.
    """
    if directory is None:
        return _default()
    return _read(Path(directory))
