"""Concurrent conflicting submissions against the real server: the key rule holds every time.

Eight clients — four users of alpha, four of bravo — file activities in one hot spot,
where every activity conflicts with every activity of the other party.  In each round
they all read first (the list of intersecting activities, then each one, which is how a
version is learnt), wait for each other at a barrier, and submit at the same instant;
a client refused with 409 reads each activity the refusal names and tries again.

Because nobody knows the others' new activities when the round's submissions go out,
once the first one commits every first submission of the other party must be refused:
at least four refusals a round, whatever the interleaving.  Afterwards, for every stored
conflict, the later-committed of its two activities (by ``items.rev``) must have
presented — recorded in ``item_versions.document.key_presented`` — the version of the
other that was current when it committed; and the stored conflicts must be exactly
every alpha × bravo pair (:func:`serverproc.check_store_invariants`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from deconflict.store import Store
from deconflict.store.schema import conflicts, item_versions, items
from serverproc import ServerProcess, check_store_invariants, circle, hours_from_now, seed

PARTIES = {"alpha": "member", "bravo": "member", "unmed": "mediator"}
CLIENTS = {
    "a1": ("alpha", "liaison"),
    "a2": ("alpha", "liaison"),
    "a3": ("alpha", "commander"),
    "a4": ("alpha", "liaison"),
    "b1": ("bravo", "liaison"),
    "b2": ("bravo", "liaison"),
    "b3": ("bravo", "commander"),
    "b4": ("bravo", "liaison"),
}
ROUNDS = 3
HOT_BBOX = "35.8,34.8,36.2,35.2"
MAX_TRIES = 20


@pytest.fixture
def server(db_url: str, tmp_path: Path) -> Iterator[tuple[ServerProcess, dict[str, str]]]:
    tokens = seed(db_url, CLIENTS, PARTIES)
    proc = ServerProcess(db_url, tmp_path / "server.log")
    try:
        yield proc.start(), tokens
    finally:
        proc.stop()


def client_round(*args: Any) -> dict[str, Any]:
    """One client's round; a failure breaks the round's barriers so the others stop waiting."""
    try:
        return _client_round(*args)
    except BaseException:
        for barrier in args[-2:]:
            barrier.abort()
        raise


def _client_round(
    base: str,
    user: str,
    party: str,
    token: str,
    n: int,
    rnd: int,
    start: datetime,
    read: threading.Barrier,
    submit: threading.Barrier,
) -> dict[str, Any]:
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60.0) as client:
        read.wait()
        listed = client.get(
            "/v1/activities",
            params={"bbox": HOT_BBOX, "state": ["notified", "active"], "limit": 1000},
        )
        listed.raise_for_status()
        known: dict[str, str] = {}
        for doc in listed.json()["items"]:
            if doc["party"] != party:
                got = client.get(f"/v1/activities/{doc['id']}")
                got.raise_for_status()
                known[doc["id"]] = got.json()["version"]
        body = {
            "kind": "air_sortie",
            "title": f"{user} round {rnd}",
            "state": "notified",
            # every hot-spot activity overlaps every other one
            "volumes": [circle(36.0 + 0.002 * n, 35.0 - 0.001 * rnd, start, radius_m=1500.0)],
        }
        refusals: list[list[dict[str, Any]]] = []
        submit.wait()
        for _ in range(MAX_TRIES):
            r = client.post("/v1/activities", json=body | {"key": sorted(known.values())})
            if r.status_code == 201:
                doc = r.json()
                mine = doc["item"]["id"]
                others = {
                    c["b"]["item"]["id"] if c["a"]["item"]["id"] == mine else c["a"]["item"]["id"]
                    for c in doc["conflicts"]
                }
                return {"id": mine, "party": party, "refusals": refusals, "known": dict(known), "others": others}
            assert r.status_code == 409, r.text
            problem = r.json()
            assert problem["field"] == "key" and problem["missing"], problem
            refusals.append(problem["missing"])
            for m in problem["missing"]:
                got = client.get(f"/v1/activities/{m['id']}")
                got.raise_for_status()
                known[m["id"]] = got.json()["version"]
        raise AssertionError(f"{user}: still refused after {MAX_TRIES} tries")


def test_simultaneous_conflicting_submissions_each_present_the_others_versions(
    server: tuple[ServerProcess, dict[str, str]], db_url: str
) -> None:
    proc, tokens = server
    start = hours_from_now(4)
    filed: list[dict[str, Any]] = []
    with ThreadPoolExecutor(max_workers=len(CLIENTS)) as pool:
        for rnd in range(ROUNDS):
            read, submit = threading.Barrier(len(CLIENTS), timeout=60), threading.Barrier(len(CLIENTS), timeout=60)
            futures = [
                pool.submit(client_round, proc.url, user, party, tokens[user], n, rnd, start, read, submit)
                for n, (user, (party, _role)) in enumerate(CLIENTS.items())
            ]
            results = [f.result(timeout=300) for f in futures]
            # nobody knew this round's activities when the submissions went out: after the first
            # commit, every first submission of the other party is refused
            assert sum(len(r["refusals"]) for r in results) >= len(CLIENTS) // 2
            for r in results:
                for missing in r["refusals"]:
                    # a refusal names only the other party's activities, and never their versions
                    assert all(m["party"] != r["party"] and "version" not in m for m in missing)
                # the activity was accepted holding the versions of exactly what it conflicts with
                assert r["others"] == set(r["known"]), r
            filed += results

    proc.stop()
    counts = check_store_invariants(db_url)  # includes: stored conflicts == every alpha × bravo pair

    store = Store(db_url)
    try:
        with store.read() as conn:
            rows = {r.id: r for r in conn.execute(sa.select(items)).all()}
            history: dict[str, list[Any]] = {}
            for h in conn.execute(sa.select(item_versions).order_by(item_versions.c.at)).all():
                history.setdefault(h.item_id, []).append(h)
            stored = conn.execute(sa.select(conflicts)).all()
    finally:
        store.dispose()

    alpha = [r["id"] for r in filed if r["party"] == "alpha"]
    bravo = [r["id"] for r in filed if r["party"] == "bravo"]
    assert len(alpha) == len(bravo) == ROUNDS * 4
    assert set(rows) == set(alpha) | set(bravo)
    assert counts["conflicts"] == len(stored) == len(alpha) * len(bravo)
    # filed once, never changed: one version each
    assert all(len(history[i]) == 1 and history[i][0].version == rows[i].version for i in rows)
    revs = [rows[i].rev for i in rows]
    assert len(set(revs)) == len(revs)

    for c in stored:
        x, y = rows[c.item_a], rows[c.item_b]
        later, earlier = (x, y) if x.rev > y.rev else (y, x)
        assert c.state == "open"
        # the conflict was opened by the later submission, at both activities' versions of that moment
        assert (c.item_a, c.version_a, c.version_b) == (later.id, later.version, earlier.version)
        presented = history[later.id][0].document["key_presented"]
        assert earlier.version in presented, (
            f"{later.title} (rev {later.rev}) committed without the version of {earlier.title} (rev {earlier.rev})"
        )
