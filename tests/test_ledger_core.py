"""The joint record's pure core: canonical bytes, entries, keys, tree heads, and offline
verification of exports — every kind of tampering, truncation, reordering, revoked and
unknown keys, forked histories, redaction, and a property over random histories."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import rfc8785
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deconflict.errors import ValidationError
from deconflict.ledger import (
    EXPORT_FORMAT,
    GENESIS_PREV,
    Entry,
    MerkleTree,
    Signer,
    TreeHead,
    VerifyKey,
    b64url_decode,
    b64url_encode,
    canonical,
    commitment,
    generate_key,
    kid_of,
    make_entry,
    redact,
    request_digest,
    sha256_hex,
    sign_tree_head,
    verify_export,
    verify_tree_head,
)
from deconflict.ledger.canonical import LineDecoder, fast_canonical

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
MODES = ["all", "chained"]


# --- a history builder ---------------------------------------------------------------------


def key_row(signer: Signer, owner: str, *, revoked_at: str | None = None, created_at: str) -> dict[str, Any]:
    return {
        "table": "ledger_keys",
        "op": "upsert",
        "key": {"kid": signer.kid},
        "row": {
            "kid": signer.kid,
            "owner": owner,
            "public_key": signer.public_b64,
            "server_side": False,
            "created_at": created_at,
            "revoked_at": revoked_at,
        },
    }


class History:
    """Builds a valid ledger in memory, as the service would write it."""

    def __init__(self) -> None:
        self.now = T0
        self.service = generate_key()
        self.entries: list[Entry] = []
        self.heads: list[TreeHead] = []
        self.tree = MerkleTree()
        self.party_keys: dict[str, Signer] = {}
        self.append("row", None, None, ["*"], key_row(self.service, "service", created_at=self.stamp()))

    def stamp(self) -> str:
        return self.now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def append(
        self,
        kind: str,
        party: str | None,
        user: str | None,
        audience: list[str],
        payload: dict[str, Any],
        signer: Signer | None = None,
    ) -> Entry:
        self.now += timedelta(seconds=1, microseconds=123)
        last = self.entries[-1] if self.entries else None
        entry = make_entry(
            seq=len(self.entries) + 1,
            at=self.now,
            kind=kind,
            party=party,
            user=user,
            audience=audience,
            payload=payload,
            prev=last.hash if last else GENESIS_PREV,
            prev_sig=last.sig if last else "",
            signer=signer or self.service,
        )
        self.entries.append(entry)
        self.tree.append(entry.hash)
        return entry

    def row(
        self, table: str, key: Any, row: dict[str, Any] | None, *, party: str | None = None, audience: Any = None
    ) -> Entry:
        payload = {"table": table, "op": "upsert" if row is not None else "delete", "key": {"id": key}, "row": row}
        return self.append("row", party, f"{party}-user" if party else None, audience or ["*"], payload)

    def register(self, party: str) -> Signer:
        signer = generate_key()
        self.party_keys[party] = signer
        self.append("row", party, f"{party}-admin", ["*"], key_row(signer, party, created_at=self.stamp()))
        return signer

    def revoke(self, signer: Signer, owner: str) -> Entry:
        payload = key_row(signer, owner, created_at=self.stamp(), revoked_at=self.stamp())
        return self.append("row", None, None, ["*"], payload)

    def rotate(self) -> Signer:
        new = generate_key()
        self.append("row", None, None, ["*"], key_row(new, "service", created_at=self.stamp()))
        self.service = new
        return new

    def request(self, party: str, body: Any, signer: Signer | None = None, *, kid: str | None = None) -> Entry:
        signer = signer or self.party_keys[party]
        digest = request_digest("POST", "/v1/items", body, f"{party}-user", self.stamp())
        payload = {
            "method": "POST",
            "path": "/v1/items",
            "request_sha256": digest,
            "kid": kid or signer.kid,
            "signature": signer.sign(bytes.fromhex(digest)),
        }
        return self.append("request", party, f"{party}-user", ["*"], payload)

    def checkpoint(self) -> TreeHead:
        head = sign_tree_head(self.tree.size, self.tree.root(), self.now, self.service)
        self.heads.append(head)
        return head

    def export(self, view: str | None = None) -> list[dict[str, Any]]:
        lines: list[dict[str, Any]] = [
            {"format": EXPORT_FORMAT, "exported_at": self.stamp(), "view": view or "*", "tree_size": len(self.entries)}
        ]
        for entry in self.entries:
            lines.append(entry.line() if entry.visible_to(view) else redact(entry).line())
        lines.extend({"tree_head": head.to_dict()} for head in self.heads)
        return lines


def text(lines: list[dict[str, Any]]) -> list[str]:
    return [json.dumps(line, ensure_ascii=False) + "\n" for line in lines]


def standard() -> History:
    """Every kind of entry: key rows, rows for all and for one party, a private entry, signed
    requests, a service key rotation, revocations, tree heads."""
    h = History()
    h.register("pA")
    h.register("pB")
    h.row("notices", "n1", {"id": "n1", "title": "Range activity", "at": h.stamp(), "n": 3}, party="pA")
    version = {"volumes": [{"lat": 52.1, "lon": 4.3, "alt": [0, 120.5]}], "note": "Ünïcode ✓"}
    h.row("items", "i1", {"id": "i1", "party_id": "pA", "version": commitment(version)}, party="pA")
    h.append(
        "private",
        "pA",
        "pA-user",
        ["med", "pA"],
        {"table": "items", "key": {"id": "i1"}, "columns": {"version": version}},
    )
    h.request("pA", {"title": "x", "n": 1})
    h.row("receipts", "r1", {"id": "r1", "party_id": "pB"}, party="pB", audience=["pB"])
    h.checkpoint()
    old = h.service
    h.rotate()
    h.row("messages", "m1", {"id": "m1", "text": 'line\nbreak "quoted"'}, party="pB")
    h.revoke(old, "service")
    h.request("pB", None)
    h.revoke(h.party_keys["pB"], "pB")
    h.row("incidents", "x1", {"id": "x1", "big": 2**53 - 1, "neg": -7, "ok": True, "none": None}, audience=["pA", "pB"])
    h.row("items", "i1", None, party="pA")
    h.checkpoint()
    h.request("pA", [1, 2])
    return h


@pytest.fixture(scope="module")
def history() -> History:
    return standard()


# --- canonical bytes, keys, entries ----------------------------------------------------------


def test_canonical_is_rfc8785() -> None:
    value: dict[str, Any] = {"b": [1, 2.5, 1e21, None, True], "a": "é\u2028", "\u20ac": 1, "\U0001f600": 2, "\ue000": 3}
    assert canonical(value) == rfc8785.dumps(value)
    assert canonical({"z": 1, "a": {"y": [], "b": {}}}) == b'{"a":{"b":{},"y":[]},"z":1}'
    with pytest.raises(ValidationError, match="canonical JSON"):
        canonical({"x": float("nan")})
    with pytest.raises(ValidationError):
        canonical({"x": 2**53})
    assert commitment("x") == "sha256:" + sha256_hex(b'"x"')


_json_ascii = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(st.characters(max_codepoint=127)),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(st.characters(max_codepoint=127)), inner, max_size=4)
    ),
    max_leaves=20,
)
_json_any = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**60), 2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_categories=["Cs"])),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(st.characters(exclude_categories=["Cs"])), inner, max_size=4)
    ),
    max_leaves=20,
)
_json_payload = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_categories=["Cs"])),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(st.characters(exclude_categories=["Cs"])), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(_json_ascii)
def test_fast_canonical_equals_rfc8785_where_it_is_used(value: Any) -> None:
    assert fast_canonical(value) == rfc8785.dumps(value)
    dumped = json.dumps(value)
    parsed, fast = LineDecoder().decode(dumped)
    assert parsed == value and fast == ("\\u" not in dumped)


@given(_json_any)
def test_the_line_decoder_takes_the_fast_path_only_when_exact(value: Any) -> None:
    for dumped in (json.dumps(value), json.dumps(value, ensure_ascii=False)):
        parsed, fast = LineDecoder().decode(dumped)
        if fast:
            assert fast_canonical(parsed) == rfc8785.dumps(parsed)


def test_base64url_is_strict() -> None:
    signer = generate_key()
    sig = signer.sign(b"data")
    assert len(sig) == 86 and "=" not in sig
    assert b64url_decode(b64url_encode(b"\xff\xfe")) == b"\xff\xfe"
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    stray = sig[:-1] + alphabet[alphabet.index(sig[-1]) + 1]  # the same bytes if the unused bits were ignored
    for bad in (stray, sig + "=", sig[:-1], "+" + sig[1:]):
        with pytest.raises(ValueError):
            b64url_decode(bad, 64)
        assert not signer.verify_key().verify(bad, b"data")


def test_keys_have_kids_and_round_trip() -> None:
    signer = generate_key()
    assert signer.kid == sha256_hex(signer.public_bytes)[:16] == kid_of(signer.public_b64)
    again = Signer.from_private_bytes(signer.kid, signer.private_bytes())
    assert again.public_b64 == signer.public_b64
    assert VerifyKey(signer.kid, signer.public_b64).verify(again.sign(b"m"), b"m")
    with pytest.raises(ValidationError):
        Signer.from_private_bytes("0" * 16, signer.private_bytes())
    with pytest.raises(ValidationError):
        VerifyKey("k", "not a key")


def test_an_entry_hashes_its_header_and_round_trips(history: History) -> None:
    entry = history.entries[5]
    assert entry.hash == sha256_hex(rfc8785.dumps(entry.header()))
    assert entry.payload_sha256 == sha256_hex(rfc8785.dumps(entry.payload))
    assert VerifyKey(entry.kid, history.entries[0].payload["row"]["public_key"]).verify(
        entry.sig, bytes.fromhex(entry.hash)
    )
    assert Entry.from_line(json.loads(json.dumps(entry.line()))) == entry
    hidden = Entry.from_line(redact(entry).line())
    assert (
        hidden.redacted
        and hidden.payload is None
        and (hidden.seq, hidden.hash, hidden.sig) == (6, entry.hash, entry.sig)
    )
    assert set(redact(entry).line()) == {"seq", "redacted", "hash", "sig", "kid"}
    with pytest.raises(ValidationError):
        hidden.header()
    assert entry.at.endswith("Z") and len(entry.at) == 27


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"seq": 0}, "seq"),
        ({"seq": True}, "seq"),
        ({"kind": "other"}, "kind"),
        ({"at": "2026-11-25T08:00:00Z"}, "at"),
        ({"at": "2026-13-25T08:00:00.000000Z"}, "at"),
        ({"audience": []}, "audience"),
        ({"audience": ["b", "a"]}, "audience"),
        ({"audience": ["*", "a"]}, "audience"),
        ({"party": ""}, "party"),
        ({"hash": "A" * 64}, "hash"),
        ({"prev": "0" * 63}, "prev"),
        ({"sig": "x"}, "sig"),
        ({"kid": "0123"}, "kid"),
        ({"payload": [1]}, "payload"),
        ({"extra": 1}, "extra"),
    ],
)
def test_a_malformed_line_names_its_field(history: History, change: dict[str, Any], field: str) -> None:
    line = {**history.entries[3].line(), **change}
    with pytest.raises(ValidationError) as caught:
        Entry.from_line(line)
    assert caught.value.field == field


def test_make_entry_refuses_bad_input(history: History) -> None:
    base: dict[str, Any] = {
        "seq": 2, "at": T0, "kind": "row", "party": None, "user": None, "audience": ["*"], "payload": {},
        "prev": history.entries[0].hash, "prev_sig": history.entries[0].sig, "signer": history.service,
    }  # fmt: skip
    assert make_entry(**base).seq == 2
    assert make_entry(**{**base, "audience": ["pB", "pA", "pB"]}).audience == ("pA", "pB")
    for change in (
        {"at": datetime(2026, 1, 1)},
        {"kind": "x"},
        {"seq": 1},
        {"prev_sig": ""},
        {"payload": {"x": 1.0e400}},
    ):
        with pytest.raises(ValidationError):
            make_entry(**{**base, **change})


def test_request_digest_is_the_hash_of_the_canonical_request() -> None:
    digest = request_digest("POST", "/v1/items", {"b": 1, "a": [2]}, "u1", "2026-11-25T08:00:00.000000Z")
    expected = rfc8785.dumps(
        {
            "method": "POST",
            "path": "/v1/items",
            "body": {"a": [2], "b": 1},
            "user": "u1",
            "signed_at": "2026-11-25T08:00:00.000000Z",
        }
    )
    assert digest == sha256_hex(expected)


def test_tree_heads_sign_size_root_time_and_key(history: History) -> None:
    head = history.heads[0]
    assert head.tree_size == 8 and head.root == history.tree.root(8)
    key = VerifyKey(head.kid, history.entries[0].payload["row"]["public_key"])
    assert verify_tree_head(head, key)
    assert TreeHead.from_dict(head.to_dict()) == head
    assert not verify_tree_head(TreeHead(9, head.root, head.at, head.kid, head.sig), key)
    assert not verify_tree_head(head, history.service.verify_key())  # the rotated-in key did not sign it
    with pytest.raises(ValidationError) as caught:
        TreeHead.from_dict({**head.to_dict(), "tree_size": 0})
    assert caught.value.field == "tree_size"


# --- a valid export verifies --------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("view", [None, "pA", "pB", "pC"])
def test_a_valid_export_verifies(history: History, mode: Any, view: str | None) -> None:
    lines = history.export(view)
    report = verify_export(text(lines), signatures=mode, service_key=history.entries[0].payload["row"]["public_key"])
    assert report.ok, report
    assert (report.entries, report.tree_heads, report.first_bad, report.reason) == (len(history.entries), 2, None, None)
    assert report.root == history.tree.root()
    assert report.redacted == sum(1 for line in lines[1:] if line.get("redacted"))
    if view == "pC":
        assert report.redacted == 3  # the receipt for pB, the private entry, the incident for pA and pB
    report = verify_export(text(lines), tree_head=history.heads[0].to_dict(), signatures=mode)
    assert report.ok and report.tree_heads == 3


def test_export_lines_may_be_bytes_and_have_blank_lines(history: History) -> None:
    lines = [line.encode() for line in text(history.export())] + [b"\n"]
    assert verify_export(lines).ok


# --- tampering: one byte of every field of every line kind -----------------------------------


def _change_text(value: str) -> str:
    i = len(value) // 2
    c = value[i]
    hexdigits = "0123456789abcdef"
    if c in hexdigits:
        new = hexdigits[(hexdigits.index(c) + 1) % 16]
    elif c.isascii() and c.isalpha():
        new = "a" if c != "a" else "b"
    else:
        new = "x" if c != "x" else "y"
    return value[:i] + new + value[i + 1 :]


def change_one_byte(value: Any, path: tuple[Any, ...]) -> Any:
    """A copy of ``value`` with the thing at ``path`` changed a little (one character, +1, …)."""
    if not path:
        if isinstance(value, bool):
            return not value
        if isinstance(value, int):
            return value + 1
        if isinstance(value, float):
            return value + 1.0
        if isinstance(value, str):
            return _change_text(value) if value else "x"
        if value is None:
            return "x"
        if value == {}:
            return {"x": None}
        if value == []:
            return [None]
        raise AssertionError(f"cannot change {value!r}")
    out = copy.copy(value)
    out[path[0]] = change_one_byte(value[path[0]], path[1:])
    return out


def leaf_paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict) and value:
        return [p for k, v in value.items() for p in leaf_paths(v, (*prefix, k))]
    if isinstance(value, list) and value:
        return [p for i, v in enumerate(value) for p in leaf_paths(v, (*prefix, i))]
    return [prefix]


def tamper_cases(lines: list[dict[str, Any]]) -> list[tuple[int, tuple[Any, ...]]]:
    """Every (line, field) worth changing: each header field, each leaf of each payload, each tree head field."""
    cases: list[tuple[int, tuple[Any, ...]]] = [(0, ("tree_size",)), (0, ("format",))]
    for i, line in enumerate(lines[1:], 1):
        for key, value in line.items():
            cases.extend((i, (key, *p)) for p in leaf_paths(value))
    return cases


def _expected_first_bad(lines: list[dict[str, Any]], i: int, path: tuple[Any, ...]) -> int | None:
    line = lines[i]
    if i == 0:
        return None if path == ("format",) else len(lines)
    if "tree_head" in line:
        return None
    return int(line["seq"])


_HISTORY = standard()
_CASES = [(view, i, path) for view in (None, "pC") for i, path in tamper_cases(_HISTORY.export(view))]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("view", "i", "path"), _CASES, ids=[f"{v}-{i}-{'.'.join(map(str, p))}" for v, i, p in _CASES])
def test_changing_one_byte_of_any_field_is_caught(mode: Any, view: str | None, i: int, path: tuple[Any, ...]) -> None:
    lines = _HISTORY.export(view)
    tampered = [*lines[:i], change_one_byte(lines[i], path), *lines[i + 1 :]]
    assert tampered != lines
    report = verify_export(text(tampered), signatures=mode)
    assert not report.ok
    assert report.reason
    expected = _expected_first_bad(lines, i, path)
    if i == 0 and path == ("tree_size",):
        assert report.first_bad == len(_HISTORY.entries) + 1 and "declares" in report.reason
    elif expected is None:
        assert report.first_bad is None
        assert "tree head" in report.reason or "export" in report.reason
    else:
        assert report.first_bad == expected, report
        assert f"entry {expected}" in report.reason


@pytest.mark.parametrize("mode", MODES)
def test_the_reason_says_what_is_wrong(history: History, mode: Any) -> None:
    lines = history.export()

    def check(change: Callable[[list[dict[str, Any]]], None], first_bad: int | None, reason: str) -> None:
        tampered = copy.deepcopy(lines)
        change(tampered)
        report = verify_export(
            [line if isinstance(line, str) else json.dumps(line) for line in tampered], signatures=mode
        )
        assert (report.ok, report.first_bad) == (False, first_bad), report
        assert report.reason is not None and reason in report.reason, report.reason
        assert report.line == (first_bad + 1 if first_bad is not None else len(lines))

    def payload(ls: list[dict[str, Any]]) -> None:
        ls[4]["payload"]["row"]["title"] = "Range activiti"

    def header(ls: list[dict[str, Any]]) -> None:
        ls[4]["user"] = "someone-else"

    def sig(ls: list[dict[str, Any]]) -> None:
        ls[4]["sig"] = ls[5]["sig"]

    def tree_root(ls: list[dict[str, Any]]) -> None:
        ls[-1]["tree_head"]["root"] = "0" * 64

    def json_error(ls: list[dict[str, Any]]) -> None:
        ls[4] = "{"  # type: ignore[call-overload]

    check(payload, 4, "entry 4: payload does not match payload_sha256")
    check(header, 4, "entry 4: its content does not match its hash")
    check(
        sig, 4, "entry 4: bad signature" if mode == "all" else "entry 4: its signature is not the one entry 5 chained"
    )
    check(tree_root, None, "bad tree head signature")
    check(json_error, 4, "line 5: not valid JSON")


# --- truncation, reordering --------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_truncation_is_caught(history: History, mode: Any) -> None:
    lines = history.export()
    n = len(history.entries)
    entries, heads = lines[1 : n + 1], lines[n + 1 :]
    # The tail of the entries dropped: the header line and the tree heads still count them.
    report = verify_export(text([lines[0], *entries[:-3], *heads]), signatures=mode)
    assert (report.ok, report.first_bad) == (False, n - 2)
    assert report.reason == f"truncated: a tree head covers {n - 1} entries but the export has {n - 3}"
    report = verify_export(text([lines[0], *entries[:-1]]), signatures=mode)
    assert (report.ok, report.first_bad) == (False, n)
    assert report.reason == f"truncated: the export declares {n} entries but has {n - 1}"
    # Everything after entry 10 dropped, header fixed: the tree head the verifier kept still catches it.
    short = [{**lines[0], "tree_size": 10}, *entries[:10]]
    assert verify_export(text(short), signatures=mode).ok
    report = verify_export(text(short), signatures=mode, tree_head=history.heads[1].to_dict())
    assert (report.ok, report.first_bad, report.reason) == (
        False,
        11,
        f"truncated: a tree head covers {n - 1} entries but the export has 10",
    )
    # A middle line dropped.
    report = verify_export(text([lines[0], *entries[:6], *entries[7:], *heads]), signatures=mode)
    assert (report.ok, report.first_bad) == (False, 7)
    assert report.reason is not None and report.reason.startswith(
        "missing entry 7 / out of order (entries must be 1, 2, 3"
    )


@pytest.mark.parametrize("mode", MODES)
def test_reordering_is_caught(history: History, mode: Any) -> None:
    lines = history.export()
    swapped = copy.deepcopy(lines)
    swapped[5], swapped[9] = swapped[9], swapped[5]
    report = verify_export(text(swapped), signatures=mode)
    assert (report.ok, report.first_bad) == (False, 5)
    assert report.reason is not None and "missing entry 5 / out of order" in report.reason
    # Renumbered to look in order, the chain breaks instead.
    renumbered = copy.deepcopy(lines)
    renumbered[5], renumbered[6] = renumbered[6], renumbered[5]
    renumbered[5]["seq"], renumbered[6]["seq"] = 5, 6
    report = verify_export(text(renumbered), signatures=mode)
    assert (report.ok, report.first_bad) == (False, 5)
    header_line = copy.deepcopy(lines)
    header_line[0], header_line[1] = header_line[1], header_line[0]
    assert "not a deconflict-ledger/1 export" in (verify_export(text(header_line)).reason or "")


def test_an_empty_file_is_not_an_export() -> None:
    report = verify_export([])
    assert not report.ok and report.reason == "empty: the export has no header line"


# --- keys: revoked, unknown, pinned ----------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_an_entry_signed_by_a_revoked_key_is_refused(mode: Any) -> None:
    h = History()
    old = h.service
    h.rotate()  # entry 2
    h.revoke(old, "service")  # entry 3
    h.row("notices", "n1", {"id": "n1"})  # entry 4, by the new key: fine
    assert verify_export(text(h.export()), signatures=mode).ok
    h.append("row", None, None, ["*"], {"table": "notices", "op": "upsert", "key": {"id": "n2"}, "row": {}}, signer=old)
    h.row("notices", "n3", {"id": "n3"})
    report = verify_export(text(h.export()), signatures=mode)
    assert (report.ok, report.first_bad) == (False, 5)
    assert report.reason == f"entry 5: signed by key {old.kid}, revoked at entry 3"


@pytest.mark.parametrize("mode", MODES)
def test_an_entry_signed_by_an_unknown_or_party_key_is_refused(mode: Any) -> None:
    h = History()
    party = h.register("pA")
    stranger = generate_key()
    h.append("row", None, None, ["*"], {"table": "t", "op": "delete", "key": {"id": 1}, "row": None}, signer=stranger)
    report = verify_export(text(h.export()), signatures=mode)
    assert (report.first_bad, report.reason) == (3, f"entry 3: unknown key {stranger.kid}")
    h = History()
    party = h.register("pA")
    h.append("row", None, None, ["*"], {"table": "t", "op": "delete", "key": {"id": 1}, "row": None}, signer=party)
    report = verify_export(text(h.export()), signatures=mode)
    assert report.first_bad == 3 and "party pA's, not the service's" in (report.reason or "")


@pytest.mark.parametrize("mode", MODES)
def test_party_request_signatures(mode: Any) -> None:
    h = History()
    a = h.register("pA")
    h.request("pA", {"x": 1})
    assert verify_export(text(h.export()), signatures=mode).ok
    # A request by a key never registered.
    stranger = generate_key()
    bad = copy.deepcopy(h)
    bad.request("pA", {"x": 2}, stranger)
    assert verify_export(text(bad.export()), signatures=mode).reason == f"request entry 4: unknown key {stranger.kid}"
    # A request signed by the wrong key but naming pA's kid.
    bad = copy.deepcopy(h)
    bad.request("pA", {"x": 2}, stranger, kid=a.kid)
    report = verify_export(text(bad.export()), signatures=mode)
    assert (report.first_bad, report.reason) == (4, f"request entry 4: bad signature by party pA's key {a.kid}")
    # A request signed by a key pA revoked.
    bad = copy.deepcopy(h)
    bad.revoke(a, "pA")
    bad.request("pA", {"x": 3}, a)
    report = verify_export(text(bad.export()), signatures=mode)
    assert (report.first_bad, report.reason) == (
        5,
        f"request entry 5: signed by party pA's key {a.kid}, revoked at entry 4",
    )
    # pB cannot sign as pA.
    bad = copy.deepcopy(h)
    b = bad.register("pB")
    bad.request("pA", {"x": 4}, b)
    report = verify_export(text(bad.export()), signatures=mode)
    assert report.first_bad == 5 and f"key {b.kid} is not party pA's key" in (report.reason or "")


def test_the_service_key_can_be_pinned(history: History) -> None:
    genuine = history.entries[0].payload["row"]["public_key"]
    assert verify_export(text(history.export()), service_key=genuine).ok
    other = generate_key()
    report = verify_export(text(history.export()), service_key=other.public_b64)
    assert (report.ok, report.first_bad) == (False, 1)
    assert (
        report.reason
        == f"entry 1: the ledger's first key {history.entries[0].kid} is not the pinned service key {other.kid}"
    )
    with pytest.raises(ValidationError):
        verify_export(text(history.export()), service_key="nope")
    with pytest.raises(ValidationError):
        verify_export(text(history.export()), signatures="some")  # type: ignore[arg-type]


def test_a_ledger_must_start_by_registering_the_service_key() -> None:
    h = History()
    lines = h.export()
    h2 = History()
    h2.entries.clear()
    h2.tree = MerkleTree()
    h2.append("row", None, None, ["*"], {"table": "notices", "op": "upsert", "key": {"id": 1}, "row": {}})
    report = verify_export(text(h2.export()))
    assert report.first_bad == 1 and "entry 1 must register the service's first key" in (report.reason or "")
    assert verify_export(text(lines)).ok


def test_a_private_key_in_the_ledger_is_reported() -> None:
    h = History()
    leaked = generate_key()
    payload = key_row(leaked, "pA", created_at=h.stamp())
    payload["row"]["private_key"] = b64url_encode(leaked.private_bytes())
    h.append("row", "pA", None, ["*"], payload)
    report = verify_export(text(h.export()))
    assert (report.first_bad, report.reason) == (2, f"entry 2: a private key is in the ledger (key {leaked.kid})")


# --- tree heads and forks -------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_a_forked_history_is_caught_by_the_tree_head_kept_earlier(mode: Any) -> None:
    common = History()
    common.register("pA")
    common.row("notices", "n1", {"id": "n1", "title": "first"})
    fork_a, fork_b = copy.deepcopy(common), copy.deepcopy(common)
    fork_a.row("notices", "n2", {"id": "n2", "title": "told pA at 08:00"})
    fork_a.row("notices", "n3", {"id": "n3"})
    head_a = fork_a.checkpoint()
    fork_b.row("notices", "n2", {"id": "n2", "title": "told pA at 08:10"})
    fork_b.row("notices", "n3", {"id": "n3"})
    fork_b.row("notices", "n4", {"id": "n4"})
    fork_b.checkpoint()
    assert verify_export(text(fork_a.export()), signatures=mode).ok
    assert verify_export(text(fork_b.export()), signatures=mode).ok  # each is fine on its own
    report = verify_export(text(fork_b.export()), signatures=mode, tree_head=head_a.to_dict())
    assert (report.ok, report.first_bad) == (False, None)
    assert report.reason == "inconsistent tree head: root at size 5 differs (the history was rewritten)"
    # A tree head of the common prefix is consistent with both.
    prefix_head = sign_tree_head(3, common.tree.root(), common.now, common.service).to_dict()
    assert verify_export(text(fork_b.export()), tree_head=prefix_head).ok
    # A tree head whose signature is not the service's is refused as such.
    forged = {**head_a.to_dict(), "sig": fork_b.heads[0].sig}
    report = verify_export(text(fork_b.export()), signatures=mode, tree_head=forged)
    assert report.reason == "bad tree head signature (the tree head given, size 5)"


def test_a_tree_head_signed_by_a_revoked_key_is_refused() -> None:
    h = History()
    old = h.service
    h.rotate()
    h.revoke(old, "service")
    h.heads.append(sign_tree_head(3, h.tree.root(3), h.now, old))
    report = verify_export(text(h.export()))
    assert report.reason == f"the tree head on line 5: signed by key {old.kid}, revoked at entry 3"
    h.heads[-1] = sign_tree_head(2, h.tree.root(2), h.now, old)
    assert verify_export(text(h.export())).ok  # it was valid then


# --- redaction -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_redaction_keeps_the_export_verifiable(mode: Any) -> None:
    h = History()
    h.register("pA")
    for i in range(6):
        h.row("receipts", f"r{i}", {"id": f"r{i}"}, party="pB", audience=["pB"])  # pA sees none of these
    h.row("notices", "n", {"id": "n"}, party="pA")
    h.checkpoint()
    lines = h.export("pA")
    assert [line.get("redacted", False) for line in lines[1:9]] == [False, False, *[True] * 6]
    report = verify_export(text(lines), signatures=mode)
    assert report.ok and report.redacted == 6 and report.root == h.tree.root()
    # A redacted entry's hash, signature or kid changed is caught, wherever it is.
    for i in (3, 5, 8):
        for field in ("hash", "sig", "kid"):
            tampered = [*lines[:i], change_one_byte(lines[i], (field,)), *lines[i + 1 :]]
            report = verify_export(text(tampered), signatures=mode)
            assert (report.ok, report.first_bad) == (False, i), (i, field, report)
    # A visible entry just before a redacted run, re-hashed and re-signed by someone without the key: caught.
    forged = copy.deepcopy(lines)
    forged[2]["user"] = "mallory"
    report = verify_export(text(forged), signatures=mode)
    assert report.first_bad == 2


def test_the_first_entry_redacted_needs_the_pinned_key() -> None:
    h = History()
    h.row("notices", "n", {"id": "n"})
    lines = h.export()
    lines[1] = redact(h.entries[0]).line()
    assert verify_export(text(lines), service_key=h.entries[0].payload["row"]["public_key"]).ok
    assert "entry 1 is redacted" in (verify_export(text(lines)).reason or "")


# --- the pool of workers gives the same answers ----------------------------------------------------


def test_signatures_verified_in_a_pool_report_the_same_first_bad(history: History) -> None:
    lines = history.export("pA")
    assert verify_export(text(lines), workers=2, pool_threshold=3).ok
    tampered = copy.deepcopy(lines)
    tampered[7]["sig"] = tampered[9]["sig"]
    tampered[12]["user"] = "mallory"
    report = verify_export(text(tampered), workers=2, pool_threshold=3)
    assert (report.first_bad, report.reason) == (7, "entry 7: bad signature")
    inline = verify_export(text(tampered))
    assert (inline.ok, inline.first_bad, inline.reason, inline.line) == (
        report.ok,
        report.first_bad,
        report.reason,
        report.line,
    )


# --- a property over random histories -----------------------------------------------------------------

_ops = st.lists(
    st.one_of(
        st.tuples(st.just("row"), st.sampled_from([["*"], ["pA"], ["pB"], ["pA", "pB"]]), _json_payload),
        st.tuples(st.just("private"), st.sampled_from([["pA"], ["pB"], ["med", "pB"]]), _json_ascii),
        st.tuples(st.just("request"), st.sampled_from(["pA", "pB"]), _json_payload),
        st.tuples(st.just("register"), st.sampled_from(["pA", "pB"]), st.none()),
        st.tuples(st.just("revoke"), st.sampled_from(["pA", "pB"]), st.none()),
        st.tuples(st.just("rotate"), st.none(), st.none()),
        st.tuples(st.just("checkpoint"), st.none(), st.none()),
    ),
    min_size=1,
    max_size=14,
)


def random_history(ops: list[tuple[str, Any, Any]]) -> History:
    h = History()
    live: dict[str, Signer] = {}
    for op, arg, value in ops:
        if op == "row":
            h.row("notices", len(h.entries), {"id": len(h.entries), "value": value}, audience=arg)
        elif op == "private":
            h.append("private", arg[-1], None, arg, {"table": "items", "key": {"id": 1}, "columns": {"version": value}})
        elif op == "request" and arg in live:
            h.request(arg, value, live[arg])
        elif op == "register":
            live[arg] = h.register(arg)
        elif op == "revoke" and arg in live:
            h.revoke(live.pop(arg), arg)
        elif op == "rotate":
            old = h.service
            h.rotate()
            h.revoke(old, "service")
        elif op == "checkpoint":
            h.checkpoint()
    return h


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_ops, st.sampled_from([None, "pA", "pB"]), st.sampled_from(MODES), st.data())
def test_any_single_change_to_a_random_history_is_caught(
    ops: list[tuple[str, Any, Any]], view: str | None, mode: Any, data: st.DataObject
) -> None:
    h = random_history(ops)
    lines = h.export(view)
    report = verify_export(text(lines), signatures=mode)
    assert report.ok, report
    assert report.entries == len(h.entries) and report.root == h.tree.root()
    i, path = data.draw(st.sampled_from(tamper_cases(lines)))
    tampered = [*lines[:i], change_one_byte(lines[i], path), *lines[i + 1 :]]
    if json.dumps(tampered) == json.dumps(lines):
        return  # e.g. -0.0 for 0.0: no byte of the export changed
    report = verify_export(text(tampered), signatures=mode)
    assert not report.ok and report.reason
    expected = _expected_first_bad(lines, i, path)
    if i > 0 and expected is not None:
        assert report.first_bad == expected, (i, path, report)
