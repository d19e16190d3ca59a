"""The joint record, service side: every write's changes become signed, chained entries in
the same transaction; each party's export verifies and shows it only what it may see;
checkpoints and proofs; keys.  Both back-ends, real databases, the manual clock.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from conftest import World, volume
from deconflict.errors import ValidationError
from deconflict.ledger import canonical, commitment, generate_key, verify_consistency, verify_export, verify_inclusion
from deconflict.service import Forbidden, Idempotency, LateNoticeRefused, NotFound, Service, StateConflict
from deconflict.service.ledger_capture import SENSITIVE, pk_names
from deconflict.service.replay import state_of
from deconflict.store import Store
from deconflict.store.schema import access_log, ledger_entries, ledger_keys, parties
from ledger_story import DRAFT_NOTE, DRAFT_TITLE, PRIVATE_NOTE, SECRETS, alpha_versions, data, signed, tell

VIEWERS = {"alpha": "a_liaison", "bravo": "b_liaison", "unmed": "m_user", "watch": "o_user"}


def entries(svc: Service, principal: Any = None) -> list[dict[str, Any]]:
    """The export's entry lines (not its header nor its tree heads)."""
    return [e for e in map(json.loads, svc.ledger_lines(principal)) if "seq" in e]


def size(svc: Service) -> int:
    with svc.store.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(ledger_entries)).scalar_one())


def committed(table: str, doc: dict[str, Any]) -> dict[str, Any]:
    """A live row as its row entry shows it (sensitive values as commitments)."""
    out = dict(doc)
    for _, columns in SENSITIVE.get(table, ()):
        for c in columns:
            out[c] = commitment(doc[c])
    return out


# --- every change recorded, every view verifies ---------------------------------------------


def test_every_changed_row_has_its_entry_and_every_view_verifies(world: World) -> None:
    svc = world.service
    tell(world)
    svc.checkpoint()
    lines = list(svc.ledger_lines())
    report = verify_export(lines)
    assert report.ok, report
    assert report.tree_heads >= 2  # the scheduler's and this one
    assert (report.entries, report.redacted) == (len(lines) - 1 - report.tree_heads, 0)

    latest: dict[tuple[str, bytes], Any] = {}
    for e in (json.loads(line) for line in lines[1:]):
        if e.get("kind") == "row":
            p = e["payload"]
            latest[(p["table"], canonical(p["key"]))] = p["row"]
    live = state_of(svc.store)
    expected = {}
    for table, rows in live.items():
        for doc in rows:
            row = committed(table, doc)
            expected[(table, canonical({c: row[c] for c in pk_names(table)}))] = row
    assert {k: v for k, v in latest.items() if v is not None} == expected
    assert {t for t, _ in expected} >= {"items", "item_versions", "conflicts", "notices", "receipts", "events"}
    assert {t for t, _ in expected} >= {"threads", "messages", "liveness", "incidents", "incident_notes", "settings"}

    for party, user in VIEWERS.items():
        view = list(svc.ledger_lines(world.p[user]))
        assert json.loads(view[0])["view"] == party
        report = verify_export(view)
        assert report.ok, (party, report)
        assert 0 < report.redacted < report.entries


def test_each_party_sees_only_what_it_may(world: World) -> None:
    svc, p = world.service, world.p
    s = tell(world)
    text = {party: "\n".join(svc.ledger_lines(p[user])) for party, user in VIEWERS.items()}
    operator = "\n".join(svc.ledger_lines())
    versions = alpha_versions(world)
    assert len(versions) >= 3
    for secret in (*SECRETS, *versions):
        assert secret in operator  # the searches below look for something that is there
        assert secret not in text["watch"]
    for line in text["bravo"].splitlines():
        assert not any(secret in line for secret in SECRETS)
        shown = [v for v in versions if v in line]
        if shown:  # only the key bravo itself presented (the version it learned by reading alpha's sortie)
            e = json.loads(line)
            assert (e["kind"], e["payload"]["table"]) == ("private", "item_versions")
            assert set(shown) <= set(e["payload"]["columns"]["document"]["key_presented"])
    assert DRAFT_TITLE in text["alpha"] and DRAFT_NOTE in text["alpha"] and PRIVATE_NOTE in text["alpha"]
    # notes (and drafts) are their owner's alone — the mediator included among the others
    assert DRAFT_TITLE not in text["unmed"] and PRIVATE_NOTE not in text["unmed"]
    assert not any(secret in text["unmed"] for secret in SECRETS)

    def rows(party: str, table: str) -> list[dict[str, Any]]:
        view = [json.loads(line) for line in text[party].splitlines()[1:]]
        return [e["payload"]["row"] for e in view if e.get("kind") == "row" and e["payload"]["table"] == table]

    # the observer sees alpha's notified sortie (alpha shares with observers), not bravo's
    seen = {r["id"] for r in rows("watch", "items") if r}
    assert s.sortie in seen and s.bravo_sortie not in seen and s.draft not in seen
    assert all(r["notes"].startswith("sha256:") and r["version"].startswith("sha256:") for r in rows("bravo", "items"))
    assert all("password_hash" not in r for r in rows("bravo", "users")) and rows("bravo", "users")
    assert all("private_key" not in r for r in rows("bravo", "ledger_keys"))
    assert not rows("watch", "messages") and rows("bravo", "messages")  # a thread's parties only
    assert not rows("bravo", "access_log") or all(r["party_id"] == "bravo" for r in rows("bravo", "access_log"))


def test_entries_name_their_actor(world: World) -> None:
    svc = world.service
    tell(world)
    by_table: dict[str, list[dict[str, Any]]] = {}
    for e in entries(svc):
        if e["kind"] == "row":
            by_table.setdefault(e["payload"]["table"], []).append(e)
    [filed] = [e for e in by_table["items"] if e["payload"]["row"]["title"] == "BRAVO-1"][:1]
    assert (filed["party"], filed["user"]) == ("bravo", "b_liaison")
    went_down = [e for e in by_table["liveness"] if e["payload"]["row"]["state"] == "down"]
    assert went_down and all((e["party"], e["user"]) == (None, None) for e in went_down)  # the scheduler
    [genesis] = [e for e in entries(svc) if e["seq"] == 1]
    assert genesis["payload"]["table"] == "ledger_keys" and genesis["payload"]["row"]["owner"] == "service"


# --- nothing recorded for what did not happen -------------------------------------------------


def test_a_refused_or_repeated_write_adds_no_entry(world: World) -> None:
    svc, p = world.service, world.p
    before = size(svc)
    with pytest.raises(LateNoticeRefused):
        svc.create_item(p["a_liaison"], "activity", data(kind="humanitarian_movement"), state="notified")
    with pytest.raises(Forbidden):
        svc.register_party_key(p["a_liaison"], generate_key().public_b64)  # a liaison, not a commander
    assert size(svc) == before
    idem = Idempotency.of("k-1", "POST", "/v1/activities", {"x": 1})
    svc.create_item(p["a_liaison"], "activity", data(), state="notified", idem=idem)
    after_first = size(svc)
    assert after_first > before
    svc.create_item(p["a_liaison"], "activity", data(), state="notified", idem=idem)  # the stored response
    assert size(svc) == after_first


def test_a_write_the_record_cannot_see_is_refused(world: World) -> None:
    svc = world.service
    before = size(svc)

    def run(conn: Any) -> Any:
        conn.execute(
            sa.text(
                "INSERT INTO parties (id, name, role, shares_with_observers, language, created_at) "
                "VALUES ('x', 'X', 'member', false, 'en', '2026-01-01')"
            )
        )
        return 200, {}

    with pytest.raises(RuntimeError, match="raw SQL"):
        svc._write(run)
    with svc.store.read() as conn:
        assert conn.execute(sa.select(parties.c.id).where(parties.c.id == "x")).first() is None
    assert size(svc) == before


# --- signed requests ----------------------------------------------------------------------------


def test_a_signed_request_is_recorded_before_the_rows_it_changed(world: World) -> None:
    svc, p = world.service, world.p
    key = generate_key()
    svc.register_party_key(p["a_cmd"], key.public_b64)
    start = size(svc)
    signed(world, key, "a_liaison", "POST", "/v1/activities", {"title": "x"})
    svc.create_item(p["a_liaison"], "activity", data(), state="notified")
    assert svc._pending_request is None
    new = [e for e in entries(svc) if e["seq"] > start]
    assert new[0]["kind"] == "request" and (new[0]["party"], new[0]["user"]) == ("alpha", "a_liaison")
    assert new[0]["payload"]["kid"] == key.kid and new[0]["audience"] == ["*"]
    assert all(e["kind"] != "request" for e in new[1:])
    end = size(svc)
    svc.heartbeat(p["a_liaison"])  # the request was used up
    assert all(e["kind"] != "request" for e in entries(svc) if e["seq"] > end)
    assert verify_export(svc.ledger_lines()).ok


# --- keys ----------------------------------------------------------------------------------------


def test_party_keys_are_registered_and_revoked_by_their_commander(world: World) -> None:
    svc, p = world.service, world.p
    for bad in ("", "not base64!", generate_key().public_b64[:-2], generate_key().public_b64 + "AA", 42):
        with pytest.raises(ValidationError) as e:
            svc.register_party_key(p["a_cmd"], bad)
        assert e.value.field == "public_key"
    with pytest.raises(ValidationError) as e:
        svc.register_party_key(p["a_cmd"], generate_key().public_b64, server_side=True)
    assert e.value.field == "public_key"
    with pytest.raises(Forbidden):
        svc.register_party_key(p["o_user"], generate_key().public_b64)
    key = generate_key()
    doc = svc.register_party_key(p["a_cmd"], key.public_b64)
    assert (doc["kid"], doc["owner"], doc["server_side"], doc["revoked_at"]) == (key.kid, "alpha", False, None)
    with pytest.raises(StateConflict):
        svc.register_party_key(p["a_cmd"], key.public_b64)
    held = svc.register_party_key(p["b_cmd"], None, server_side=True)
    signer = svc.server_side_signer("bravo")
    assert signer is not None and signer.kid == held["kid"] and held["server_side"]
    assert svc.party_key("alpha", key.kid) is not None and svc.party_key("bravo", key.kid) is None
    with pytest.raises(NotFound):
        svc.revoke_party_key(p["b_cmd"], key.kid)  # not bravo's
    revoked = svc.revoke_party_key(p["a_cmd"], key.kid)
    assert revoked["revoked_at"] == "2026-11-25T08:00:00.000000Z" and svc.party_key("alpha", key.kid) is None
    with pytest.raises(StateConflict):
        svc.revoke_party_key(p["a_cmd"], key.kid)
    with svc.store.read() as conn:
        private = conn.execute(sa.select(ledger_keys.c.private_key).where(ledger_keys.c.kid == held["kid"])).scalar()
    lines = list(svc.ledger_lines())
    assert private is not None and private not in "\n".join(lines)
    assert verify_export(lines).ok  # registrations and the revocation, as the verifier reads them


def test_a_rotated_service_key_signs_what_follows(world: World) -> None:
    svc = world.service
    [old] = svc.list_ledger_keys("service")
    rotated = svc.rotate_ledger_key()
    assert rotated["revoked"] == [old["kid"]] and rotated["kid"] != old["kid"]
    svc.add_party("charlie", "Charlie")
    keys = {k["kid"]: k for k in svc.list_ledger_keys("service")}
    assert keys[old["kid"]]["revoked_at"] is not None and keys[rotated["kid"]]["revoked_at"] is None
    last = entries(svc)[-1]
    assert last["kid"] == rotated["kid"]
    assert verify_export(svc.ledger_lines(), service_key=old["public_key"]).ok


def test_initialise_is_idempotent(world: World) -> None:
    svc = world.service
    first = entries(svc)
    again = svc.initialise()
    assert "ledger key" not in again["created"]
    assert entries(svc) == first and len(svc.list_ledger_keys("service")) == 1


def test_two_services_on_one_database_append_one_chain(world: World, db_url: str) -> None:
    other = Service(Store(db_url), world.clock)
    try:
        for i in range(4):
            world.service.add_party(f"one-{i}", "One")
            other.add_party(f"two-{i}", "Two")
        other.heartbeat(world.p["b_liaison"])
        world.service.heartbeat(world.p["a_liaison"])
        seqs = [e["seq"] for e in entries(other)]
        assert seqs == list(range(1, len(seqs) + 1))
        assert verify_export(other.ledger_lines()).ok and verify_export(world.service.ledger_lines()).ok
        assert world.service.checkpoint() is not None and other.checkpoint() is None  # nothing new since
        head = other.tree_heads(None)["tree_heads"][0]
        assert head["tree_size"] == len(seqs)
    finally:
        other.store.dispose()


# --- checkpoints and proofs ------------------------------------------------------------------------


def test_checkpoints_and_proofs_verify(world: World) -> None:
    svc, p = world.service, world.p
    assert svc.tick()["checkpointed"] == 1
    assert svc.tick()["checkpointed"] == 0  # not yet due
    first = svc.tree_heads(p["b_liaison"])["tree_heads"][0]
    svc.create_item(p["a_liaison"], "activity", data(volumes=[volume(lon=40.0)]), state="notified")
    world.clock.advance(timedelta(seconds=10))
    assert svc.tick()["checkpointed"] == 1
    assert svc.checkpoint() is None  # nothing new
    heads = svc.tree_heads(p["b_liaison"])
    second = heads["tree_heads"][0]
    assert heads["tree_size"] == second["tree_size"] > first["tree_size"]
    hashes = {e["seq"]: e["hash"] for e in entries(svc)}
    for seq in (1, first["tree_size"], second["tree_size"], 7):
        proof = svc.inclusion_proof(p["b_liaison"], seq, second["tree_size"])
        assert proof["hash"] == hashes[seq] and proof["root"] == second["root"]
        assert verify_inclusion(hashes[seq], seq - 1, second["tree_size"], proof["proof"], second["root"])
    c = svc.consistency_proof(p["b_liaison"], first["tree_size"], second["tree_size"])
    assert (c["first_root"], c["second_root"]) == (first["root"], second["root"])
    assert verify_consistency(first["tree_size"], second["tree_size"], first["root"], second["root"], c["proof"])
    assert not verify_consistency(first["tree_size"], second["tree_size"], second["root"], second["root"], c["proof"])
    svc.heartbeat(p["a_liaison"])
    current = size(svc)  # the current size is provable too, signed or not
    assert current > second["tree_size"]
    assert svc.inclusion_proof(None, current, current)["tree_head"] is None
    for call, field in (
        (lambda: svc.inclusion_proof(None, 0, second["tree_size"]), "seq"),
        (lambda: svc.inclusion_proof(None, second["tree_size"] + 1, second["tree_size"]), "seq"),
        (lambda: svc.inclusion_proof(None, 1, second["tree_size"] - 1), "tree_size"),
        (lambda: svc.inclusion_proof(None, 1, current + 5), "tree_size"),
        (lambda: svc.consistency_proof(None, second["tree_size"], first["tree_size"]), "first"),
        (lambda: svc.consistency_proof(None, 2, second["tree_size"]), "first"),
        (lambda: svc.consistency_proof(None, first["tree_size"], current + 1), "second"),
        (lambda: svc.tree_heads(None, 0), "limit"),
    ):
        with pytest.raises(ValidationError) as e:
            call()
        assert e.value.field == field


# --- the export as pages, and its own record ----------------------------------------------------------


def test_pages_match_the_export_and_every_export_is_logged(world: World) -> None:
    svc, p = world.service, world.p
    tell(world)
    whole = entries(svc, p["b_liaison"])

    def pages() -> Iterator[dict[str, Any]]:
        after: int | None = 0
        while after is not None:
            page = svc.ledger_entries(p["b_liaison"], after=after, limit=50)
            yield from page["entries"]
            after = page["next"]

    paged = {e["seq"]: e for e in pages()}
    assert all(paged[e["seq"]] == e for e in whole)
    with svc.store.read() as conn:
        logged = conn.execute(
            sa.select(access_log.c.detail).where(
                access_log.c.action == "ledger_export", access_log.c.party_id == "bravo"
            )
        ).all()
    assert len(logged) >= 2 and all(r.detail["view"] == "bravo" for r in logged)
    for kwargs, field in (({"after": -1}, "after"), ({"limit": 0}, "limit"), ({"limit": 1001}, "limit")):
        with pytest.raises(ValidationError) as e:
            svc.ledger_entries(p["b_liaison"], **kwargs)
        assert e.value.field == field
