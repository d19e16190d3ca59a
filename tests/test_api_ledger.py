"""The joint record over HTTP: entries, the export, tree heads, proofs and keys — shapes,
problems, need-to-know — and signed requests: a party's signature checked before the
write is accepted and kept in the ledger as its ``request`` entry; every bad signature
a 401 naming the header, with nothing stored.  Both back-ends.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from api_helpers import PROBLEM, Api, activity_body, open_api, populate, volume
from deconflict.api.signing import SIGNATURE, SIGNED_AT, signature_headers
from deconflict.ledger import (
    Signer,
    VerifyKey,
    generate_key,
    request_digest,
    verify_consistency,
    verify_export,
    verify_inclusion,
)
from deconflict.service import ManualClock, Service
from deconflict.store.schema import ledger_entries, ledger_keys
from deconflict.wire import rfc3339

SECRET_NOTES = "alpha-secret-notes"
SECRET_DRAFT = "alpha-secret-draft"


@pytest.fixture
def api(service: Service, clock: ManualClock) -> Iterator[Api]:
    with open_api(populate(service, clock)) as a:
        yield a


def problem(r: Any, status: int, field: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    doc = dict(r.json())
    assert (doc["status"], doc["field"]) == (status, field), doc
    return doc


def stored(api: Api) -> dict[str, int]:
    """Every counted table and the ledger's own."""
    counts = api.counts()
    with api.service.store.read() as conn:
        for table in (ledger_entries, ledger_keys):
            counts[table.name] = int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
    return counts


def lines_of(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def entries_of(api: Api) -> list[dict[str, Any]]:
    """The operator's view: every entry in full."""
    return [d for d in (json.loads(line) for line in api.service.ledger_lines(None)) if "seq" in d]


def requests_of(api: Api) -> list[dict[str, Any]]:
    return [e for e in entries_of(api) if e.get("kind") == "request"]


def secrets_filed(api: Api) -> None:
    """alpha's notified activity with private notes, and alpha's draft."""
    api.notify("a_liaison", title="alpha sortie", notes=SECRET_NOTES)
    api.draft("a_liaison", title=SECRET_DRAFT, notes=SECRET_NOTES, volumes=[volume(50.0, 20.0)])


# --- reading the record -------------------------------------------------------------------


def test_entries_export_and_need_to_know(api: Api) -> None:
    secrets_filed(api)
    api.notify("b_liaison", title="bravo sortie", volumes=[volume(10.0, 10.0)])
    api.service.checkpoint()

    page = api.ok(api.get("a_ro", "/v1/ledger/entries", params={"limit": 5}))
    assert [e["seq"] for e in page["entries"]] == [1, 2, 3, 4, 5] and page["next"] == 5
    rest = api.ok(api.get("a_ro", "/v1/ledger/entries", params={"after": 5, "limit": 1000}))
    # reading the record is itself recorded (access_log), after the page was read
    assert [e["seq"] for e in rest["entries"]] == list(range(6, rest["tree_size"] + 1))

    r = api.get("b_liaison", "/v1/ledger/export")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
    bravo = lines_of(r.text)
    assert bravo[0]["format"] == "deconflict-ledger/1" and bravo[0]["view"] == "bravo"
    seen = [d for d in bravo if "seq" in d]
    assert [d["seq"] for d in seen] == list(range(1, bravo[0]["tree_size"] + 1))
    everything = entries_of(api)[: len(seen)]
    redacted = [d for d in seen if d.get("redacted")]
    assert redacted and all(set(d) == {"seq", "redacted", "hash", "sig", "kid"} for d in redacted)
    assert SECRET_NOTES not in r.text and SECRET_DRAFT not in r.text  # alpha's notes and draft: hashes only
    # every redacted line stands for an entry bravo may not see, with the same hash
    full = {e["seq"]: e for e in everything}
    for d in redacted:
        assert d["hash"] == full[d["seq"]]["hash"] and "bravo" not in full[d["seq"]]["audience"]
    assert any(d.get("tree_head") for d in bravo)
    report = verify_export(r.text.splitlines())
    assert report.ok, report
    assert (report.entries, report.redacted) == (len(everything), len(redacted))

    alpha = api.get("a_ro", "/v1/ledger/export").text
    assert SECRET_NOTES in alpha and SECRET_DRAFT in alpha
    assert verify_export(alpha.splitlines()).ok


def test_tree_heads_and_proofs(api: Api) -> None:
    secrets_filed(api)
    first = api.service.checkpoint()
    assert first is not None
    api.notify("b_liaison", title="bravo sortie", volumes=[volume(10.0, 10.0)])
    api.clock.advance(timedelta(seconds=30))
    second = api.service.checkpoint()
    assert second is not None

    heads = api.ok(api.get("b_cmd", "/v1/ledger/tree-heads"))["tree_heads"]
    assert [h["tree_size"] for h in heads] == [second["tree_size"], first["tree_size"]]  # latest first
    assert set(heads[0]) == {"tree_size", "root", "at", "kid", "sig"}
    assert [
        h["tree_size"] for h in api.ok(api.get("b_cmd", "/v1/ledger/tree-heads", params={"limit": 1}))["tree_heads"]
    ] == [second["tree_size"]]

    size, root = heads[0]["tree_size"], heads[0]["root"]
    hashes = {e["seq"]: e["hash"] for e in entries_of(api)}
    for seq in (1, size // 2, size):
        proof = api.ok(api.get("b_cmd", "/v1/ledger/proofs/inclusion", params={"seq": seq, "tree_size": size}))
        assert verify_inclusion(hashes[seq], seq - 1, size, proof["proof"], root)
        assert not verify_inclusion(hashes[seq], seq - 1, size, proof["proof"], heads[1]["root"])

    m, n = first["tree_size"], second["tree_size"]
    proof = api.ok(api.get("o_user", "/v1/ledger/proofs/consistency", params={"first": m, "second": n}))
    assert verify_consistency(m, n, first["root"], second["root"], proof["proof"])
    assert not verify_consistency(m, n, second["root"], first["root"], proof["proof"])


def test_bad_queries_name_the_field(api: Api) -> None:
    api.service.checkpoint()
    size = api.ok(api.get("a_ro", "/v1/ledger/tree-heads"))["tree_heads"][0]["tree_size"]
    before = stored(api)
    problem(api.get("a_ro", "/v1/ledger/entries", params={"after": -1}), 422, "after")
    problem(api.get("a_ro", "/v1/ledger/entries", params={"limit": 0}), 422, "limit")
    problem(api.get("a_ro", "/v1/ledger/tree-heads", params={"limit": "many"}), 422, "limit")
    problem(api.get("a_ro", "/v1/ledger/proofs/inclusion", params={"seq": 0, "tree_size": size}), 422, "seq")
    problem(api.get("a_ro", "/v1/ledger/proofs/inclusion", params={"seq": 1}), 422, "tree_size")
    problem(api.get("a_ro", "/v1/ledger/proofs/inclusion", params={"seq": size + 1, "tree_size": size}), 422, "seq")
    problem(
        api.get("a_ro", "/v1/ledger/proofs/inclusion", params={"seq": 1, "tree_size": size + 10**6}),
        422,
        "tree_size",
    )
    problem(api.get("a_ro", "/v1/ledger/proofs/consistency", params={"first": 1}), 422, "second")
    problem(api.get("a_ro", "/v1/ledger/proofs/consistency", params={"first": 0, "second": size}), 422, "first")
    # a proof is given between signed tree heads (or the current size), not any two numbers
    problem(api.get("a_ro", "/v1/ledger/proofs/consistency", params={"first": 2, "second": size}), 422, "first")
    assert stored(api) == before


# --- keys --------------------------------------------------------------------------------------


def test_keys_register_list_and_revoke(api: Api) -> None:
    keys = api.ok(api.get("o_user", "/v1/ledger/keys"))["keys"]
    assert [k["owner"] for k in keys] == ["service"]
    assert set(keys[0]) == {"kid", "owner", "public_key", "server_side", "created_at", "revoked_at"}

    client = generate_key()
    before = stored(api)
    # a party's keys are its commander's to register (read-only users, liaisons, observers: 403)
    problem(api.post("a_ro", "/v1/ledger/keys", {"public_key": client.public_b64}), 403, "role")
    problem(api.post("a_liaison", "/v1/ledger/keys", {"public_key": client.public_b64}), 403, "role")
    problem(api.post("o_user", "/v1/ledger/keys", {"public_key": client.public_b64}), 403, "party")
    problem(api.post("a_cmd", "/v1/ledger/keys", {}), 422, "public_key")
    problem(
        api.post("a_cmd", "/v1/ledger/keys", {"public_key": client.public_b64, "server_side": True}),
        422,
        "public_key",
    )
    problem(api.post("a_cmd", "/v1/ledger/keys", {"public_key": "not-a-key"}), 422, "public_key")
    problem(api.post("a_cmd", "/v1/ledger/keys", {"public_key": client.public_b64, "x": 1}), 422, "x")
    assert stored(api) == before

    made = api.ok(api.post("a_cmd", "/v1/ledger/keys", {"public_key": client.public_b64}), 201)
    assert (made["kid"], made["owner"], made["server_side"], made["revoked_at"]) == (client.kid, "alpha", False, None)
    assert "private_key" not in made
    server = api.ok(api.post("b_cmd", "/v1/ledger/keys", {"server_side": True}), 201)
    assert (server["owner"], server["server_side"]) == ("bravo", True)
    listed = {k["kid"]: k for k in api.ok(api.get("m_user", "/v1/ledger/keys"))["keys"]}
    assert set(listed) >= {client.kid, server["kid"]}
    assert all("private_key" not in k for k in listed.values())

    # another party's key cannot be revoked (for the other party it is as good as absent); one's own can
    path = f"/v1/ledger/keys/{client.kid}/revoke"
    problem(api.post("b_liaison", path), 403, "role")
    problem(api.post("b_cmd", path), 404, "kid")
    nosuch = "/v1/ledger/keys/nosuchkey/revoke"
    problem(api.post("a_cmd", nosuch, headers=sign(api, client, "a_cmd", nosuch)), 404, "kid")
    revoked = api.ok(api.post("a_cmd", path, headers=sign(api, client, "a_cmd", path)))
    assert revoked["revoked_at"] is not None
    # key registrations and revocations are ledger entries seen by everyone
    tables = [e["payload"]["table"] for e in entries_of(api) if e["kind"] == "row"]
    assert tables.count("ledger_keys") >= 4  # the service's, alpha's, bravo's, alpha's revocation


# --- signed requests --------------------------------------------------------------------------


def sign(
    api: Api, signer: Signer, user: str, path: str, body: Any = None, *, method: str = "POST", at: str | None = None
) -> dict[str, str]:
    return signature_headers(signer, method, path, body, user, at or rfc3339(api.clock.now()))


def register(api: Api, party: str, signed_by: Signer | None = None) -> Signer:
    """A client key of ``party``, registered by its commander (signing with ``signed_by``
    when the party already signs)."""
    signer, user = generate_key(), f"{party[0]}_cmd"
    body = {"public_key": signer.public_b64}
    headers = sign(api, signed_by, user, "/v1/ledger/keys", body) if signed_by is not None else {}
    api.ok(api.post(user, "/v1/ledger/keys", body, headers=headers), 201)
    return signer


def test_a_signed_write_is_accepted_and_kept_as_its_request_entry(api: Api) -> None:
    alpha = register(api, "alpha")
    body = activity_body(title="signed sortie")
    r = api.post("a_liaison", "/v1/activities", body, headers=sign(api, alpha, "a_liaison", "/v1/activities", body))
    assert r.status_code == 201, r.text
    [request] = requests_of(api)
    p = request["payload"]
    assert (request["party"], request["user"], request["audience"]) == ("alpha", "a_liaison", ["*"])
    assert (p["method"], p["path"], p["kid"], p["mode"]) == ("POST", "/v1/activities", alpha.kid, "client")
    # the core verifies it: the digest of the canonical request, signed by alpha's registered key
    assert p["request_sha256"] == request_digest("POST", "/v1/activities", body, "a_liaison", p["signed_at"])
    assert VerifyKey(alpha.kid, alpha.public_b64).verify(p["signature"], bytes.fromhex(p["request_sha256"]))
    # the request entry comes just before the rows it wrote
    after = [e for e in entries_of(api) if e["seq"] > request["seq"]]
    assert after and after[0]["kind"] == "row" and after[0]["payload"]["table"] == "items"
    assert verify_export(api.service.ledger_lines(None)).ok

    # a signed PUT and a body-less signed POST are accepted alike
    item = r.json()["item"]
    path = f"/v1/activities/{item['id']}"
    change = activity_body(title="signed change", version=item["version"])
    r = api.put("a_liaison", path, change, headers=sign(api, alpha, "a_liaison", path, change, method="PUT"))
    assert r.status_code == 200, r.text
    path = "/v1/heartbeat"
    assert api.post("a_liaison", path, headers=sign(api, alpha, "a_liaison", path)).status_code == 200
    assert [q["payload"]["method"] for q in requests_of(api)] == ["POST", "PUT", "POST"]


def test_bad_signatures_are_refused_naming_the_header(api: Api) -> None:
    alpha = register(api, "alpha")
    bravo = register(api, "bravo")
    revoked = register(api, "alpha", signed_by=alpha)
    unknown = generate_key()
    path = f"/v1/ledger/keys/{revoked.kid}/revoke"
    api.ok(api.post("a_cmd", path, headers=sign(api, alpha, "a_cmd", path)))
    body = activity_body(title="signed sortie")
    good = sign(api, alpha, "a_liaison", "/v1/activities", body)
    now = api.clock.now()

    def with_sig(**fields: str) -> dict[str, str]:
        return good | fields

    other_sig = sign(api, alpha, "a_liaison", "/v1/activities", activity_body(title="other"))[SIGNATURE]
    cases: list[tuple[dict[str, str], str, str]] = [
        ({}, SIGNATURE, "sign"),  # alpha has a client key: unsigned writes are refused
        ({SIGNED_AT: good[SIGNED_AT]}, SIGNATURE, ""),
        (with_sig(**{SIGNATURE: other_sig}), SIGNATURE, "does not verify"),  # another body's signature
        (sign(api, alpha, "a_cmd", "/v1/activities", body), SIGNATURE, "does not verify"),  # another user's
        (sign(api, alpha, "a_liaison", "/v1/zones", body), SIGNATURE, "does not verify"),  # another path
        (sign(api, bravo, "a_liaison", "/v1/activities", body), SIGNATURE, "not party"),  # bravo's key
        (sign(api, unknown, "a_liaison", "/v1/activities", body), SIGNATURE, "no key"),
        (sign(api, revoked, "a_liaison", "/v1/activities", body), SIGNATURE, "revoked"),
        (with_sig(**{SIGNATURE: "kid=" + alpha.kid}), SIGNATURE, "kid="),
        (with_sig(**{SIGNATURE: f"kid={alpha.kid}, sig=***"}), SIGNATURE, "does not verify"),
        ({SIGNATURE: good[SIGNATURE]}, SIGNED_AT, ""),
        (with_sig(**{SIGNED_AT: "yesterday"}), SIGNED_AT, "RFC 3339"),
        (with_sig(**{SIGNED_AT: "2026-11-25T08:00:00"}), SIGNED_AT, "offset"),
        (
            sign(api, alpha, "a_liaison", "/v1/activities", body, at=rfc3339(now - timedelta(minutes=6))),
            SIGNED_AT,
            "minutes",
        ),
        (
            sign(api, alpha, "a_liaison", "/v1/activities", body, at=rfc3339(now + timedelta(minutes=6))),
            SIGNED_AT,
            "minutes",
        ),
    ]
    before = stored(api)
    for headers, field, words in cases:
        doc = problem(api.post("a_liaison", "/v1/activities", body, headers=headers), 401, field)
        assert words in doc["reason"], (headers, doc)
    assert stored(api) == before

    # the good one is accepted once; the very same request again is a replay
    assert api.post("a_liaison", "/v1/activities", body, headers=good).status_code == 201
    after = stored(api)
    problem(api.post("a_liaison", "/v1/activities", body, headers=good), 401, SIGNATURE)
    # and once its window has passed, a replay is stale
    api.clock.advance(timedelta(minutes=6))
    problem(api.post("a_liaison", "/v1/activities", body, headers=good), 401, SIGNED_AT)
    assert stored(api) == after
    # within the window, a signature 4 minutes old is fine
    at = rfc3339(api.clock.now() - timedelta(minutes=4))
    fresh = sign(api, alpha, "a_liaison", "/v1/activities", body, at=at)
    assert api.post("a_liaison", "/v1/activities", body, headers=fresh).status_code == 201


def test_a_party_without_a_client_key_may_write_unsigned(api: Api) -> None:
    register(api, "alpha")
    before = len(entries_of(api))
    assert api.post("b_liaison", "/v1/activities", activity_body()).status_code == 201  # bravo has no key
    assert requests_of(api) == [] and len(entries_of(api)) > before
    # revoking alpha's last client key ends its obligation to sign
    [key] = [k for k in api.ok(api.get("a_ro", "/v1/ledger/keys"))["keys"] if k["owner"] == "alpha"]
    api.service.revoke_party_key(api.service.principal_for("a_cmd"), key["kid"])
    assert api.post("a_liaison", "/v1/activities", activity_body()).status_code == 201


def test_server_side_keys_sign_each_write_of_the_party(api: Api) -> None:
    made = api.ok(api.post("b_cmd", "/v1/ledger/keys", {"server_side": True}), 201)
    body = activity_body(title="bravo via the web")
    assert api.post("b_liaison", "/v1/activities", body).status_code == 201
    assert api.post("a_liaison", "/v1/activities", activity_body()).status_code == 201  # alpha: no key, unsigned
    [request] = requests_of(api)
    p = request["payload"]
    assert (request["party"], request["user"], p["mode"], p["kid"]) == ("bravo", "b_liaison", "server", made["kid"])
    assert p["request_sha256"] == request_digest("POST", "/v1/activities", body, "b_liaison", p["signed_at"])
    assert VerifyKey(made["kid"], made["public_key"]).verify(p["signature"], bytes.fromhex(p["request_sha256"]))
    # a client cannot present the server-held key's id as its own signature
    forged = sign(api, generate_key(), "b_liaison", "/v1/activities", body)
    forged[SIGNATURE] = forged[SIGNATURE].replace(forged[SIGNATURE].split(",")[0], f"kid={made['kid']}")
    problem(api.post("b_liaison", "/v1/activities", body, headers=forged), 401, SIGNATURE)
    assert verify_export(api.service.ledger_lines(None)).ok


def test_signing_does_not_disturb_bodies_limits_or_reads(api: Api) -> None:
    alpha = register(api, "alpha")
    # an oversized body is still refused by its size, before any signature is looked at
    huge = {"kind": "air_sortie", "volumes": [volume()], "title": "x" * 3_000_000}
    r = api.post("a_liaison", "/v1/activities", huge)
    assert r.status_code == 413 and r.json()["field"] == "body"
    # a signed request whose body is invalid for the route gets the route's own 422
    body = {"kind": "air_sortie"}
    r = api.post("a_liaison", "/v1/activities", body, headers=sign(api, alpha, "a_liaison", "/v1/activities", body))
    problem(r, 422, "volumes")
    # reads need no signature
    assert api.get("a_ro", "/v1/activities").status_code == 200
    # log-in is never signed
    r = api.post(None, "/v1/auth/login", {"username": "a_liaison", "password": "x" * 12})
    assert r.status_code == 401 and r.json()["field"] != SIGNATURE


def test_concurrent_signed_and_unsigned_writes_keep_their_own_request_entries(api: Api) -> None:
    """alpha signs, bravo (no key) does not; sent at once from many threads, every
    request entry is alpha's and is followed by alpha's own rows."""
    alpha = register(api, "alpha")
    errors: list[str] = []

    def alpha_writes(tag: str) -> None:
        for i in range(6):
            body = activity_body(volume(30.0 + i, 5.0), title=f"alpha {tag} {i}")
            r = api.post(
                "a_liaison", "/v1/activities", body, headers=sign(api, alpha, "a_liaison", "/v1/activities", body)
            )
            if r.status_code != 201:
                errors.append(r.text)

    def bravo_writes(tag: str) -> None:
        for i in range(6):
            r = api.post("b_liaison", "/v1/activities", activity_body(volume(-30.0 - i, 5.0), title=f"bravo {i}"))
            if r.status_code != 201:
                errors.append(r.text)

    threads = [
        threading.Thread(target=fn, args=(tag,))
        for fn, tag in ((alpha_writes, "1"), (bravo_writes, "1"), (alpha_writes, "2"), (bravo_writes, "2"))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    entries = entries_of(api)
    requests = [e for e in entries if e["kind"] == "request"]
    assert len(requests) == 12
    by_seq = {e["seq"]: e for e in entries}
    for request in requests:
        assert request["party"] == "alpha"
        following = by_seq[request["seq"] + 1]
        assert following["party"] == "alpha" and following["payload"]["table"] == "items"
        assert following["payload"]["row"]["party_id"] == "alpha"
