"""The hotline's message catalogue: consistency of the data files, rendering in every language,
parameter validation (with a Hypothesis fuzz), language discovery and load-time refusals.

The language files are read here with ``tomllib`` directly as well, so the consistency checks do not
trust the loader they are checking.
"""

from __future__ import annotations

import json
import re
import shutil
import string
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deconflict.catalogue import (
    DATA_DIR,
    FREE_TEXT_CODE,
    Catalogue,
    CatalogueError,
    Group,
    ResponseKind,
    SlotType,
    load,
)
from deconflict.catalogue.reference import update
from deconflict.catalogue.render import FSI, PDI
from deconflict.errors import ValidationError
from deconflict.policy import Precedence

CAT = load()
LANGUAGES = ("ar", "en", "he", "tr")
MESSAGES = tomllib.loads((DATA_DIR / "messages.toml").read_text(encoding="utf-8"))["messages"]

# sample parameters without ASCII digits in the verbatim ones (callsign, unit, ref), so any ASCII
# digit in an Arabic rendering would be a number the catalogue failed to convert
SAMPLES: dict[SlotType, Any] = {
    SlotType.TIME: "2026-11-25T14:05:00Z",
    SlotType.POSITION: {"lat": 33.5, "lon": 36.3},
    SlotType.ALTITUDE: {"m": 3000, "ref": "amsl"},
    SlotType.DISTANCE: 1_234_500,
    SlotType.DURATION: 9000,
    SlotType.COUNT: 12345,
    SlotType.CALLSIGN: "EAGLE",
    SlotType.UNIT: "Convoy Alpha",
    SlotType.REF: "act-x",
}
# how the samples' numbers read in each language
NUMBERS = {
    "en": ("12,345", "1,234.5 km", "3,000 m (9,843 ft)", "2 h 30 min", "33°30.0′N 036°18.0′E", "25 Nov 2026 14:05 UTC"),
    "tr": ("12.345", "1.234,5 km", "3.000 m (9.843 ft)", "2 sa 30 dk", "33°30,0′N 036°18,0′E", "25 Kas 2026 14:05 UTC"),
    "he": (
        "12,345",
        "1,234.5 ק״מ",
        "3,000 מ׳ (9,843 רגל)",
        "2 שע׳ 30 דק׳",
        "33°30.0′N 036°18.0′E",
        "25 נוב׳ 2026 14:05 UTC",
    ),
    "ar": (
        "١٢٬٣٤٥",
        "١٬٢٣٤٫٥ كم",
        "٣٬٠٠٠ م (٩٬٨٤٣ قدم)",
        "٢ س ٣٠ د",
        "٣٣°٣٠٫٠′N ٠٣٦°١٨٫٠′E",
        "٢٥ نوفمبر ٢٠٢٦ ١٤:٠٥ UTC",
    ),
}
_FORMATTED = dict(
    zip(
        (SlotType.COUNT, SlotType.DISTANCE, SlotType.ALTITUDE, SlotType.DURATION, SlotType.POSITION, SlotType.TIME),
        range(6),
        strict=True,
    )
)


def sample(code: int) -> dict[str, Any]:
    return {slot.name: SAMPLES[slot.type] for slot in CAT.entries[code].slots}


def language_file(language: str) -> dict[str, Any]:
    return tomllib.loads((DATA_DIR / f"{language}.toml").read_text(encoding="utf-8"))


def flat(labels: dict[str, Any]) -> set[str]:
    keys: set[str] = set()
    for key, value in labels.items():
        keys |= {f"{key}.{sub}" for sub in value} if isinstance(value, dict) else {key}
    return keys


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


# --- the catalogue's shape --------------------------------------------------------------------


def test_languages_are_discovered_from_the_files_present() -> None:
    assert CAT.languages == LANGUAGES
    assert sorted(p.stem for p in DATA_DIR.glob("*.toml") if p.name != "messages.toml") == list(LANGUAGES)


def test_codes_follow_their_groups_and_the_set_is_complete() -> None:
    assert 35 <= len(CAT.entries) <= 45
    for code, entry in CAT.entries.items():
        assert code // 100 == entry.group.hundreds, code
    groups = {g: [c for c, e in CAT.entries.items() if e.group is g] for g in Group}
    assert all(groups[g] for g in Group), "every group has messages"
    assert groups[Group.FREE] == [FREE_TEXT_CODE] and CAT.entries[FREE_TEXT_CODE].slots == ()
    assert all(CAT.entries[c].precedence is Precedence.FLASH for c in groups[Group.EMERGENCY])


def test_the_liveness_alerts_have_the_shape_the_service_relies_on() -> None:
    silent, restored = CAT.entries[406], CAT.entries[109]
    assert (silent.group, silent.precedence, silent.response) == (Group.EMERGENCY, Precedence.FLASH, ResponseKind.ROGER)
    assert restored.group is Group.NOTICE
    for entry in (silent, restored):
        assert [(s.name, s.type, s.ref_kinds) for s in entry.slots] == [
            ("party", SlotType.REF, ("party",)),
            ("time", SlotType.TIME, ()),
        ]


def test_responses_answer_the_right_questions() -> None:
    wilco, unable, standby, affirm, roger, not_understood = (CAT.entries[c] for c in (501, 502, 503, 504, 506, 508))
    request, confirm, notice = CAT.entries[201], CAT.entries[204], CAT.entries[101]
    assert wilco.can_answer(request) and unable.can_answer(request) and not wilco.can_answer(confirm)
    assert affirm.can_answer(confirm) and not affirm.can_answer(request)
    assert roger.can_answer(notice) and not roger.can_answer(request)
    assert standby.can_answer(request) and not standby.closes and not not_understood.closes
    assert all(CAT.entries[c].closes for c in (501, 502, 504, 505, 506, 507))
    assert not request.can_answer(notice), "only responses answer"
    assert all(e.response is ResponseKind.NONE for e in CAT.entries.values() if e.is_response)
    assert all(e.answers == () for e in CAT.entries.values() if not e.is_response)


def test_precedence_may_be_raised_not_lowered() -> None:
    assert CAT.precedence(201) is Precedence.PRIORITY
    assert CAT.precedence(201, "flash") is Precedence.FLASH
    with pytest.raises(ValidationError) as e:
        CAT.precedence(201, "routine")
    assert e.value.field == "precedence" and "priority or higher" in e.value.reason
    with pytest.raises(ValidationError) as e:
        CAT.precedence(201, "urgent")
    assert e.value.field == "precedence"


# --- the language files ---------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_is_in_every_language_with_the_same_slots(language: str) -> None:
    doc = language_file(language)
    assert set(doc["messages"]) == set(MESSAGES), "no missing and no extra codes"
    slot_names = {s["name"] for m in MESSAGES.values() for s in m["slots"]}
    assert {f"slot.{n}" for n in slot_names} <= flat(doc["labels"]), "every slot name has a label"
    for code, message in MESSAGES.items():
        slots = {s["name"] for s in message["slots"]}
        text = doc["messages"][code]["text"]
        assert placeholders(text) == slots, f"{language}.toml message {code}: {text!r}"
        assert set(doc["messages"][code].get("labels", {})) <= slots, f"{language}.toml message {code}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_language_has_every_label_english_has(language: str) -> None:
    assert flat(language_file(language)["labels"]) == flat(language_file("en")["labels"])


@pytest.mark.parametrize("language", ["ar", "he", "tr"])
def test_drafts_say_so(language: str) -> None:
    meta = language_file(language)["language"]
    assert "qualified translator" in meta["translation_status"]
    assert meta["code"] == language and meta["name"] != language_file("en")["language"]["name"]


# --- rendering ------------------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_renders_in_every_language(language: str) -> None:
    rtl = language in ("ar", "he")
    for code, entry in CAT.entries.items():
        rendered = CAT.render(code, sample(code), language)
        text = rendered.text
        assert (rendered.language, rendered.direction) == (language, "rtl" if rtl else "ltr")
        assert "{" not in text and "}" not in text, f"{language} {code}: {text!r}"
        assert text == text.strip() and text, f"{language} {code}"
        for slot in entry.slots:
            shown = NUMBERS[language][_FORMATTED[slot.type]] if slot.type in _FORMATTED else SAMPLES[slot.type]
            if slot.type is SlotType.ALTITUDE:
                shown = f"{shown} AMSL"
            assert (f"{FSI}{shown}{PDI}" if rtl else shown) in text, f"{language} {code} {slot.name}: {text!r}"
        isolates = text.count(FSI)
        assert isolates == text.count(PDI) == (len(entry.slots) if rtl else 0), f"{language} {code}"
        if language == "ar":
            assert not re.search("[0-9]", text), f"Arabic uses Arabic-Indic digits: {text!r}"


KNOWN = {
    (302, "en"): "Aircraft EAGLE-1 is approaching 33°30.0′N 036°18.0′E at 3,000 m (9,843 ft) AMSL.",
    (
        302,
        "tr",
    ): "EAGLE-1 çağrı adlı hava aracı 33°30,0′N 036°18,0′E konumuna yaklaşıyor. İrtifa: 3.000 m (9.843 ft) AMSL.",
    (302, "he"): "כלי הטיס \u2068EAGLE-1\u2069 מתקרב לנקודה \u206833°30.0′N 036°18.0′E\u2069 בגובה "
    "\u20683,000 מ׳ (9,843 רגל) AMSL\u2069.",
    (302, "ar"): "الطائرة \u2068EAGLE-1\u2069 تقترب من الموقع \u2068٣٣°٣٠٫٠′N ٠٣٦°١٨٫٠′E\u2069 على ارتفاع "
    "\u2068٣٬٠٠٠ م (٩٬٨٤٣ قدم) AMSL\u2069.",
    (
        406,
        "en",
    ): "The channel of party bravo has been silent since 25 Nov 2026 14:05 UTC; treat its activities as unconfirmed.",
    (
        406,
        "tr",
    ): "bravo tarafının kanalı sessiz; faaliyetlerini teyit edilmemiş sayın. "
    "Sessizlik başlangıcı: 25 Kas 2026 14:05 UTC.",
    (
        406,
        "he",
    ): "הערוץ של הצד \u2068bravo\u2069 שותק מאז \u206825 נוב׳ 2026 14:05 UTC\u2069; "
    "יש להתייחס לפעילויות שלו כבלתי מאושרות.",
    (
        406,
        "ar",
    ): "قناة الطرف \u2068bravo\u2069 صامتة منذ \u2068٢٥ نوفمبر ٢٠٢٦ ١٤:٠٥ UTC\u2069؛ اعتبروا أنشطته غير مؤكدة.",
    (306, "en"): "Live exercise at 12°15.0′S 000°30.0′W within 1,234.5 km until 25 Nov 2026 06:00:30 UTC.",
    (306, "tr"): "Canlı tatbikat. Konum: 12°15,0′S 000°30,0′W, yarıçap: 1.234,5 km, bitiş: 25 Kas 2026 06:00:30 UTC.",
    (306, "ar"): "تمرين حيّ عند الموقع \u2068١٢°١٥٫٠′S ٠٠٠°٣٠٫٠′W\u2069 ضمن مسافة \u2068١٬٢٣٤٫٥ كم\u2069 حتى "
    "\u2068٢٥ نوفمبر ٢٠٢٦ ٠٦:٠٠:٣٠ UTC\u2069.",
}
KNOWN_PARAMS = {
    302: {"callsign": "eagle-1", "position": {"lat": 33.5, "lon": 36.3}, "altitude": {"m": 3000, "ref": "amsl"}},
    406: {"party": "bravo", "time": "2026-11-25T14:05:00Z"},
    # a southern, western position; a time given with an offset; seconds shown when not zero
    306: {"position": {"lat": -12.25, "lon": -0.5}, "distance": 1_234_500, "time": "2026-11-25T08:00:30+02:00"},
}


@pytest.mark.parametrize(("code", "language"), sorted(KNOWN))
def test_known_renderings(code: int, language: str) -> None:
    assert CAT.render(code, KNOWN_PARAMS[code], language).text == KNOWN[code, language]


@pytest.mark.parametrize(
    ("code", "params", "en"),
    [
        (203, {"altitude": {"fl": 50}, "distance": 800, "position": {"lat": 0, "lon": 0}},
         "Request you remain below FL050 within 800 m of 00°00.0′N 000°00.0′E."),
        (203, {"altitude": {"m": -12.5, "ref": "agl"}, "distance": 9999.5, "position": {"lat": 89.99, "lon": 179.9999}},
         "Request you remain below -13 m (-41 ft) AGL within 10,000 m of 89°59.4′N 180°00.0′E."),
        (201, {"activity": "a", "duration": 0.25}, "Request you delay activity a by 0.25 s."),
        (201, {"activity": "a", "duration": 366 * 86400}, "Request you delay activity a by 366 d."),
        (201, {"activity": "a", "duration": 90061}, "Request you delay activity a by 1 d 1 h 1 min 1 s."),
    ],
)  # fmt: skip
def test_edge_renderings_in_english(code: int, params: dict[str, Any], en: str) -> None:
    assert CAT.render(code, params, "en").text == en


def test_flight_levels_and_counts_follow_the_numbering_system() -> None:
    params = {"callsign": "EAGLE", "position": {"lat": 1, "lon": 2}, "altitude": {"fl": 120}}
    assert "FL١٢٠" in CAT.render(401, params, "ar").text
    assert "FL120" in CAT.render(401, params, "tr").text


def test_free_text_is_marked_untranslated_and_isolated() -> None:
    free = CAT.render(FREE_TEXT_CODE, {}, "en", free_text="hold at the bridge")
    assert free.text == f"Free text, not translated: {FSI}hold at the bridge{PDI}"
    remark = CAT.render(209, {"activity": "act-1"}, "tr", free_text="köprüde bekleyin")
    assert (
        remark.text
        == f"act-1 faaliyetini iptal etmenizi talep ediyoruz. Çevrilmemiş serbest metin: {FSI}köprüde bekleyin{PDI}"
    )
    assert CAT.render(FREE_TEXT_CODE, {}, "ar").text == "نص حر، غير مترجم:"


def test_values_are_inserted_verbatim_never_interpreted() -> None:
    params = {"unit": "{activity} {0} %s", "position": {"lat": 1, "lon": 2}, "time": "2026-11-25T14:05:00Z"}
    assert "Convoy {activity} {0} %s will pass" in CAT.render(107, params, "en").text


def test_render_refuses_an_unknown_language_and_bad_params() -> None:
    for language in ("fr", "", "EN", None):
        with pytest.raises(ValidationError) as e:
            CAT.render(101, {"activity": "a"}, language)  # type: ignore[arg-type]
        assert e.value.field == "language"
    with pytest.raises(ValidationError) as e:
        CAT.render(101, {}, "en")
    assert e.value.field == "params.activity"


@pytest.mark.parametrize("language", LANGUAGES)
def test_describe_is_json_for_slot_pickers(language: str) -> None:
    doc = CAT.describe(language)
    assert json.loads(json.dumps(doc)) == doc
    raw = language_file(language)
    assert doc["language"]["code"] == language and doc["language"]["direction"] == raw["language"]["direction"]
    assert [e["code"] for e in doc["entries"]] == sorted(CAT.entries)
    by_code = {e["code"]: e for e in doc["entries"]}
    assert by_code[204]["response"] == "affirm_negative" and by_code[503]["closes"] is False
    assert by_code[503]["answers"] == ["wilco_unable", "affirm_negative"]
    assert by_code[201]["text"] == raw["messages"]["201"]["text"]
    ref = by_code[204]["slots"][0]
    assert ref["type"] == "ref" and [k["id"] for k in ref["kinds"]] == ["activity", "zone", "incident"]
    assert ref["label"] == raw["messages"]["204"]["labels"]["ref"], "a message's own slot label wins"
    assert by_code[201]["slots"][0]["label"] == raw["labels"]["slot"]["activity"], "else the slot name's label"
    assert {g["id"] for g in doc["groups"]} == {g.value for g in Group}
    assert {r["id"]: r["label"] for r in doc["responses"]}["roger"] == raw["labels"]["response"]["roger"]
    assert [p["id"] for p in doc["precedences"]] == ["flash", "immediate", "priority", "routine"]
    assert doc["untranslated_marker"] == raw["labels"]["untranslated"]


# --- validation -----------------------------------------------------------------------------------


def test_validate_returns_canonical_params() -> None:
    params = {
        "callsign": "medevac-7",
        "time": "2026-11-25T16:05:30.999+02:00",
        "position": {"lat": 33, "lon": -36.25},
    }
    assert CAT.validate(403, params) == {
        "callsign": "MEDEVAC-7",
        "time": "2026-11-25T14:05:30Z",
        "position": {"lat": 33.0, "lon": -36.25},
    }
    assert (
        CAT.validate(402, {"unit": "  Convoy 3 ", "position": {"lat": 0, "lon": 0}, "time": "2026-01-01t00:00:00z"})[
            "unit"
        ]
        == "Convoy 3"
    )
    assert CAT.validate(203, {"altitude": {"m": 100, "ref": "wgs84"}, "distance": 5, "position": {"lat": 1, "lon": 2}})[
        "altitude"
    ] == {"m": 100.0, "ref": "wgs84"}
    assert CAT.validate(201, {"activity": "a.b_c-1", "duration": 60}) == {"activity": "a.b_c-1", "duration": 60.0}
    assert (
        CAT.validate(110, {"unit": "U", "count": 0, "position": {"lat": 1, "lon": 2}, "time": "1970-01-01T00:00:00Z"})[
            "count"
        ]
        == 0
    )
    canonical = CAT.validate(302, KNOWN_PARAMS[302])
    assert CAT.validate(302, canonical) == canonical, "canonical params validate to themselves"
    assert CAT.validate(501, {}) == {}


POS = {"lat": 1, "lon": 2}
T = "2026-11-25T14:05:00Z"
U107 = {"unit": "U", "time": T}  # message 107 but for its position
BAD = [
    (999, {}, "code", "unknown message code 999"),
    (True, {}, "code", "integer"),
    ("401", {}, "code", "integer"),
    (401.0, {}, "code", "integer"),
    (None, {}, "code", "integer"),
    (101, [], "params", "object"),
    (101, None, "params", "object"),
    (101, {"activity": "a", "colour": "red"}, "params.colour", "is not a slot of message 101"),
    (101, {}, "params.activity", "is required"),
    (101, {"activity": ""}, "params.activity", "1–64"),
    (101, {"activity": "a" * 65}, "params.activity", "1–64"),
    (101, {"activity": "a b"}, "params.activity", "1–64"),
    (101, {"activity": 7}, "params.activity", "1–64"),
    (104, {"activity": "a", "time": "2026-11-25T14:05:00"}, "params.time", "no offset"),
    (104, {"activity": "a", "time": "2026-11-25"}, "params.time", "RFC 3339"),
    (104, {"activity": "a", "time": "2026-02-30T14:05:00Z"}, "params.time", "not a valid date"),
    (104, {"activity": "a", "time": "2026-11-25T23:59:60Z"}, "params.time", "leap"),
    (104, {"activity": "a", "time": "1969-12-31T23:59:59Z"}, "params.time", "1970"),
    (104, {"activity": "a", "time": "1970-01-01T00:30:00+01:00"}, "params.time", "1970"),
    (104, {"activity": "a", "time": "9999-12-31T23:00:00-02:00"}, "params.time", "valid"),
    (104, {"activity": "a", "time": "2026-11-25T14:05:00+24:00"}, "params.time", "valid"),
    (104, {"activity": "a", "time": "٢٠٢٦-11-25T14:05:00Z"}, "params.time", "RFC 3339"),
    (104, {"activity": "a", "time": 1764079500}, "params.time", "string"),
    (107, {**U107, "position": {"lat": 91, "lon": 0}}, "params.position.lat", "90"),
    (107, {**U107, "position": {"lat": 0, "lon": -180.5}}, "params.position.lon", ""),
    (107, {**U107, "position": {"lat": True, "lon": 0}}, "params.position.lat", ""),
    (107, {**U107, "position": {"lat": "1", "lon": 0}}, "params.position.lat", ""),
    (107, {**U107, "position": {"lat": float("nan"), "lon": 0}}, "params.position.lat", "finite"),
    (107, {**U107, "position": {"lat": 10**400, "lon": 0}}, "params.position.lat", ""),
    (107, {**U107, "position": {"lat": 1}}, "params.position.lon", "required"),
    (107, {**U107, "position": {"lat": 1, "lon": 2, "alt": 3}}, "params.position.alt", ""),
    (107, {**U107, "position": [1, 2]}, "params.position", "object"),
    (107, {"unit": "", "time": T, "position": POS}, "params.unit", "1–100"),
    (107, {"unit": "   ", "time": T, "position": POS}, "params.unit", "1–100"),
    (107, {"unit": "x" * 101, "time": T, "position": POS}, "params.unit", "1–100"),
    (107, {"unit": "a\x00b", "time": T, "position": POS}, "params.unit", "control"),
    (107, {"unit": "a\nb", "time": T, "position": POS}, "params.unit", "control"),
    (107, {"unit": "evil\u202e", "time": T, "position": POS}, "params.unit", "control"),
    (107, {"unit": "a\u2069b", "time": T, "position": POS}, "params.unit", "control"),
    (107, {"unit": ["U"], "time": T, "position": POS}, "params.unit", "string"),
    (302, {"callsign": "E", "position": POS, "altitude": {"fl": 1}}, "params.callsign", "2–16"),
    (302, {"callsign": "EAGLE 1", "position": POS, "altitude": {"fl": 1}}, "params.callsign", "2–16"),
    (302, {"callsign": "Ä1", "position": POS, "altitude": {"fl": 1}}, "params.callsign", "2–16"),
    (302, {"callsign": "E" * 17, "position": POS, "altitude": {"fl": 1}}, "params.callsign", "2–16"),
    (302, {"callsign": "EA", "position": POS, "altitude": {"fl": 1000}}, "params.altitude.fl", "999"),
    (302, {"callsign": "EA", "position": POS, "altitude": {"fl": 120.0}}, "params.altitude.fl", "integer"),
    (302, {"callsign": "EA", "position": POS, "altitude": {"fl": 1, "m": 2}}, "params.altitude.m", ""),
    (302, {"callsign": "EA", "position": POS, "altitude": {"m": 100}}, "params.altitude.ref", "required"),
    (302, {"callsign": "EA", "position": POS, "altitude": {"m": 100, "ref": "msl"}}, "params.altitude.ref", "amsl"),
    (302, {"callsign": "EA", "position": POS, "altitude": {"m": 100, "ref": ["amsl"]}}, "params.altitude.ref", "amsl"),
    (302, {"callsign": "EA", "position": POS, "altitude": {"m": 100001, "ref": "agl"}}, "params.altitude.m", "100,000"),
    (302, {"callsign": "EA", "position": POS, "altitude": {"m": -1001, "ref": "amsl"}}, "params.altitude.m", "-1,000"),
    (302, {"callsign": "EA", "position": POS, "altitude": 3000}, "params.altitude", "fl"),
    (201, {"activity": "a", "duration": 0}, "params.duration", "more than 0"),
    (201, {"activity": "a", "duration": -5}, "params.duration", "more than 0"),
    (201, {"activity": "a", "duration": 366 * 86400 + 1}, "params.duration", "at most"),
    (201, {"activity": "a", "duration": "2h"}, "params.duration", "number"),
    (201, {"activity": "a", "duration": float("inf")}, "params.duration", "finite"),
    (202, {"distance": -1, "position": POS, "time": T}, "params.distance", "at least 0"),
    (202, {"distance": 2e7 + 1, "position": POS, "time": T}, "params.distance", "at most"),
    (202, {"distance": False, "position": POS, "time": T}, "params.distance", "number"),
    (110, {"unit": "U", "count": -1, "position": POS, "time": T}, "params.count", "between"),
    (110, {"unit": "U", "count": 1_000_001, "position": POS, "time": T}, "params.count", "between"),
    (110, {"unit": "U", "count": 2.5, "position": POS, "time": T}, "params.count", "integer"),
    (110, {"unit": "U", "count": True, "position": POS, "time": T}, "params.count", "integer"),
    (501, {"time": T}, "params.time", "is not a slot of message 501"),
]  # fmt: skip


@pytest.mark.parametrize(("code", "params", "field", "reason"), BAD)
def test_validation_names_the_field(code: object, params: object, field: str, reason: str) -> None:
    with pytest.raises(ValidationError) as e:
        CAT.validate(code, params)
    assert e.value.field == field
    assert reason in e.value.reason


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CODES = st.sampled_from(sorted(CAT.entries))


@FUZZ
@given(code=JSON | CODES, params=JSON)
def test_validate_raises_only_validation_errors_on_any_json(code: object, params: object) -> None:
    try:
        CAT.validate(code, params)
    except ValidationError as e:
        assert e.field == "code" or e.field.startswith("params")


RFC3339 = r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(Z|[+-][0-9]{2}:[0-9]{2})"
REFS = ["amsl", "agl", "wgs84", "x"]


def _slot_values(draw: st.DrawFn, code: int) -> dict[str, Any]:
    near = {
        SlotType.TIME: st.from_regex(RFC3339, fullmatch=True),
        SlotType.POSITION: st.fixed_dictionaries({"lat": st.floats(-91, 91), "lon": st.floats(-181, 181)}),
        SlotType.ALTITUDE: st.fixed_dictionaries({"m": st.floats(-2000, 2e5), "ref": st.sampled_from(REFS)})
        | st.fixed_dictionaries({"fl": st.integers(-5, 1005)}),
        SlotType.DISTANCE: st.floats(-1, 3e7),
        SlotType.DURATION: st.floats(-1, 4e7),
        SlotType.COUNT: st.integers(-2, 2_000_000),
        SlotType.CALLSIGN: st.from_regex(r"[A-Za-z0-9-]{1,17}", fullmatch=True),
        SlotType.UNIT: st.text(max_size=110),
        SlotType.REF: st.from_regex(r"[A-Za-z0-9_.-]{0,65}", fullmatch=True),
    }  # fmt: skip
    return {s.name: draw(near[s.type] | JSON) for s in CAT.entries[code].slots}


@st.composite
def near_valid(draw: st.DrawFn) -> tuple[int, dict[str, Any]]:
    code = draw(CODES)
    return code, _slot_values(draw, code)


@FUZZ
@given(case=near_valid())
def test_near_valid_params_validate_or_are_refused_and_render_everywhere(case: tuple[int, dict[str, Any]]) -> None:
    code, params = case
    try:
        canonical = CAT.validate(code, params)
    except ValidationError as e:
        assert e.field.startswith("params."), e.field
        return
    assert CAT.validate(code, canonical) == canonical
    json.dumps(canonical, allow_nan=False)
    for language in LANGUAGES:
        assert CAT.render(code, canonical, language).text


# --- loading ----------------------------------------------------------------------------------------


def copy_data(tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(DATA_DIR, target)
    return target


def test_a_new_language_file_is_a_new_language(tmp_path: Path) -> None:
    data = copy_data(tmp_path)
    text = (data / "en.toml").read_text(encoding="utf-8")
    text = text.replace('code = "en"', 'code = "fr"').replace('locale = "en"', 'locale = "fr"')
    (data / "fr.toml").write_text(text.replace('name = "English"', 'name = "Français"'), encoding="utf-8")
    cat = load(data)
    assert isinstance(cat, Catalogue) and cat.languages == ("ar", "en", "fr", "he", "tr")
    assert cat.describe("fr")["language"]["name"] == "Français"
    assert "12\u202f345" in cat.render(110, sample(110), "fr").text, "French grouping from the locale"
    assert load() is load() and "fr" not in load().languages, "the default catalogue is cached and untouched"


def _refused(data: Path, *fragments: str) -> None:
    with pytest.raises(CatalogueError) as e:
        load(data)
    for fragment in fragments:
        assert fragment in str(e.value), str(e.value)


def test_a_language_file_missing_a_message_is_refused(tmp_path: Path) -> None:
    data = copy_data(tmp_path)
    ar = data / "ar.toml"
    text, n = re.subn(r"\[messages\.401\]\ntext = .*\n(labels = .*\n)?", "", ar.read_text(encoding="utf-8"))
    assert n == 1
    ar.write_text(text, encoding="utf-8")
    _refused(data, "ar.toml", "message 401 is missing")


@pytest.mark.parametrize(
    ("file", "old", "new", "fragments"),
    [
        ("he.toml", "{callsign} במצוקה", "{callsing} במצוקה", ("he.toml", "message 401", "callsing")),
        ("tr.toml", "{activity} faaliyeti iptal", "faaliyet iptal", ("tr.toml", "message 103", "differ")),
        ("en.toml", "{activity} has been notified", "{activity!r} has been notified", ("en.toml", "message 101")),
        ("en.toml", 'hour = "h"', 'hours = "h"', ("en.toml", "unit.hour")),
        ("en.toml", 'direction = "ltr"', 'direction = "up"', ("en.toml", "direction")),
        ("en.toml", 'locale = "en"', 'locale = "xx_YY"', ("en.toml", "unknown locale")),
        ("en.toml", 'numbering = "latn"', 'numbering = "roman"', ("en.toml", "numbering")),
        ("tr.toml", 'code = "tr"', 'code = "tk"', ("tr.toml", "file's name")),
        ("messages.toml", 'name = "party", type = "ref", kinds = ["party"] }, { name = "time"',
         'name = "party", type = "ref", kinds = ["side"] }, { name = "time"', ("messages.toml", "message 109")),
        ("messages.toml", '[messages.209]\ngroup = "request"', '[messages.209]\ngroup = "warning"',
         ("messages.toml", "message 209", "3xx")),
        ("messages.toml", 'answers = ["roger"]', "", ("messages.toml", "message 506", "answers")),
        ("en.toml", "[messages.901]", "[messages.902]", ("en.toml", "message 901 is missing")),
    ],
)  # fmt: skip
def test_inconsistent_data_is_refused_at_load(
    tmp_path: Path, file: str, old: str, new: str, fragments: tuple[str, ...]
) -> None:
    data = copy_data(tmp_path)
    path = data / file
    text = path.read_text(encoding="utf-8")
    assert text.count(old) >= 1, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    _refused(data, *fragments)


def test_the_service_offers_the_catalogues_languages() -> None:
    from deconflict.service.admin import LANGUAGES as SERVICE_LANGUAGES

    assert tuple(SERVICE_LANGUAGES) == CAT.languages


def test_the_message_table_in_the_docs_is_current() -> None:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "catalogue.md").read_text(encoding="utf-8")
    assert update(doc) == doc, "run: python -m deconflict.catalogue.reference docs/catalogue.md"
    assert "## Languages" in doc and "Adding a language" in doc
