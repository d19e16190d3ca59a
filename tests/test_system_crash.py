"""Crash safety of the real server: ``kill -9`` while clients write, restart, check the record.

The server (``deconflict serve``, a child process) takes a stream of notified activities
from several client threads — most spread out (no key needed), some in one hot spot
where every submission conflicts with the other party's and needs a key learnt by
reading each intersecting activity, some sent with an ``Idempotency-Key``.  After a few
seconds of that it is killed with SIGKILL (no shutdown code runs), restarted over the
same database, and then:

* every submission that was acknowledged (2xx) is there, at the acknowledged version;
* the database holds only whole write units (:func:`serverproc.check_store_invariants`:
  history rows, notices and their receipts, conflicts and their receipts, events,
  idempotent responses, and stored conflicts = the batch engine's answer);
* idempotent requests resent after the restart get the stored response (acknowledged
  ones: byte-for-byte the same body) and never file a second item;
* the restarted server rebuilt its conflict index from the database: a new hot-spot
  submission must present the versions of the other party's surviving hot-spot items.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from deconflict.store import Store
from deconflict.store.schema import item_versions, items
from serverproc import ServerProcess, check_store_invariants, circle, hours_from_now, seed, wait_until

PARTIES = {"alpha": "member", "bravo": "member", "charlie": "member", "unmed": "mediator"}
WRITERS = {
    "a1": ("alpha", "liaison"),
    "a2": ("alpha", "commander"),
    "b1": ("bravo", "liaison"),
    "b2": ("bravo", "liaison"),
}
HOT = (36.0, 35.0)  # every hot-spot activity overlaps every other one (same place, same window)
HOT_BBOX = "35.9,34.9,36.1,35.1"


@dataclass
class Log:
    """What the clients saw (appended to under ``lock``)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    acked: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # item id -> (version, user, title)
    hot_acked: dict[str, str] = field(default_factory=dict)  # item id -> party
    idem_acked: list[tuple[str, str, dict[str, Any], int, dict[str, Any]]] = field(default_factory=list)
    idem_unknown: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # sent, no answer
    refused: list[tuple[int, Any]] = field(default_factory=list)  # unexpected answers
    transport_errors: int = 0
    outpaced: int = 0  # hot-spot submissions still refused after many catch-up rounds

    def ack(self, user: str, party: str, body: dict[str, Any], *, hot: bool) -> None:
        item = body["item"]
        with self.lock:
            self.acked[item["id"]] = (item["version"], user, item["title"])
            if hot:
                self.hot_acked[item["id"]] = party


@pytest.fixture
def server(db_url: str, tmp_path: Path) -> Iterator[tuple[ServerProcess, dict[str, str]]]:
    tokens = seed(db_url, WRITERS, PARTIES)
    proc = ServerProcess(db_url, tmp_path / "server.log")
    try:
        yield proc.start(), tokens
    finally:
        proc.stop()


def spread_body(title: str, lon: float, lat: float, start: datetime) -> dict[str, Any]:
    return {"kind": "air_sortie", "title": title, "state": "notified", "volumes": [circle(lon, lat, start)]}


def hot_body(title: str, start: datetime, key: list[str]) -> dict[str, Any]:
    return {
        "kind": "air_sortie",
        "title": title,
        "state": "notified",
        "volumes": [circle(*HOT, start, radius_m=2000.0)],
        "key": key,
    }


def submit_hot(client: httpx.Client, title: str, start: datetime, known: dict[str, str]) -> httpx.Response:
    """POST a hot-spot activity; on 409 read each missing activity (learning its version) and retry.

    The last 409 is returned when the other party keeps filing faster than this client can
    catch up (optimistic concurrency promises no fairness; that is not what is tested here)."""
    for _ in range(40):
        r = client.post("/v1/activities", json=hot_body(title, start, sorted(known.values())))
        if r.status_code != 409:
            return r
        missing = r.json()["missing"]
        assert missing, r.text
        for m in missing:
            got = client.get(f"/v1/activities/{m['id']}")
            got.raise_for_status()
            known[m["id"]] = got.json()["version"]
    return r


def writer(
    base: str, user: str, party: str, token: str, n_thread: int, start: datetime, log: Log, stop: threading.Event
) -> None:
    known: dict[str, str] = {}  # other parties' hot-spot items seen: id -> version
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=60.0) as client:
        for n in range(5000):
            if stop.is_set():
                return
            title = f"{user}-{n}"
            idem: tuple[str, dict[str, Any]] | None = None
            try:
                if n % 8 == 3:
                    r = submit_hot(client, title, start, known)
                    hot = True
                else:
                    body = spread_body(title, 20.0 + n * 0.01, 30.0 + n_thread * 0.1, start)
                    hot = False
                    if n % 4 == 1:
                        idem = (f"idem-{user}-{n}", body)
                        r = client.post("/v1/activities", json=body, headers={"Idempotency-Key": idem[0]})
                    else:
                        r = client.post("/v1/activities", json=body)
            except httpx.TransportError:
                with log.lock:
                    log.transport_errors += 1
                    if idem is not None:
                        log.idem_unknown.append((user, idem[0], idem[1]))
                return  # the server is gone
            if r.status_code == 201:
                log.ack(user, party, r.json(), hot=hot)
                if idem is not None:
                    with log.lock:
                        log.idem_acked.append((user, idem[0], idem[1], r.status_code, r.json()))
            elif r.status_code == 409 and hot:
                with log.lock:
                    log.outpaced += 1
            else:
                with log.lock:
                    log.refused.append((r.status_code, r.text[:500]))


def test_acknowledged_writes_survive_kill_9_and_nothing_is_half_written(
    server: tuple[ServerProcess, dict[str, str]], db_url: str
) -> None:
    proc, tokens = server
    start = hours_from_now(3)  # air sorties need 30 min notice: these are on time
    log, stop = Log(), threading.Event()
    threads = [
        threading.Thread(
            target=writer, args=(proc.url, user, party, tokens[user], i, start, log, stop), name=f"writer-{user}"
        )
        for i, (user, (party, _role)) in enumerate(WRITERS.items())
    ]
    for t in threads:
        t.start()
    began = time.monotonic()

    def enough() -> bool:
        with log.lock:
            hot_parties = list(log.hot_acked.values())
            return (
                time.monotonic() - began >= 2.0  # let the stream run a while …
                and len(log.acked) >= 40  # … and carry every kind of write (a deadline, not a timing assertion)
                and min(hot_parties.count("alpha"), hot_parties.count("bravo")) >= 3
                and len(log.idem_acked) >= 4
            )

    try:
        wait_until(enough, timeout=120, what="acknowledged writes of every kind")
    finally:
        proc.kill()  # SIGKILL to the uvicorn process itself, mid-stream
        stop.set()
        for t in threads:
            t.join(timeout=60)
    assert proc.proc is not None and proc.proc.returncode == -signal.SIGKILL  # the server itself died, no shutdown
    assert not any(t.is_alive() for t in threads)
    assert not log.refused, f"unexpected answers before the kill: {log.refused[:3]}"

    proc.start()
    check_store_invariants(db_url)

    # every acknowledged write is there, at the acknowledged version (or a later one of the same item)
    store = Store(db_url)
    try:
        with store.read() as conn:
            current = {r.id: r.version for r in conn.execute(sa.select(items.c.id, items.c.version)).all()}
            history = {(r.item_id, r.version) for r in conn.execute(sa.select(item_versions)).all()}
    finally:
        store.dispose()
    lost = [i for i in log.acked if i not in current]
    assert not lost, f"{len(lost)} acknowledged item(s) lost in the crash: {lost[:5]}"
    for item_id, (version, _user, title) in log.acked.items():
        assert (item_id, version) in history, f"{title}: acknowledged version {version} missing from history"
    with httpx.Client(base_url=proc.url, timeout=60.0) as client:
        for item_id, (version, user, title) in log.acked.items():
            r = client.get(f"/v1/activities/{item_id}", headers={"Authorization": f"Bearer {tokens[user]}"})
            assert r.status_code == 200, r.text
            assert r.json()["title"] == title
            assert r.json()["version"] == version  # nothing changes these items after they are filed

        # idempotent requests resent after the restart: the stored response, and never a second item
        for user, key, body, status, answer in log.idem_acked:
            again = client.post(
                "/v1/activities",
                json=body,
                headers={"Authorization": f"Bearer {tokens[user]}", "Idempotency-Key": key},
            )
            assert again.status_code == status, again.text
            assert again.json() == answer
        for user, key, body in log.idem_unknown:  # in flight at the kill: committed or not, one item after a resend
            again = client.post(
                "/v1/activities",
                json=body,
                headers={"Authorization": f"Bearer {tokens[user]}", "Idempotency-Key": key},
            )
            assert again.status_code == 201, again.text
        resent = [b["title"] for *_, b, _s, _a in log.idem_acked] + [b["title"] for _u, _k, b in log.idem_unknown]
        store = Store(db_url)
        try:
            with store.read() as conn:
                titles = [
                    r.title for r in conn.execute(sa.select(items.c.title).where(items.c.title.in_(resent))).all()
                ]
        finally:
            store.dispose()
        assert sorted(titles) == sorted(resent), "an idempotent request filed a second item (or none)"

        # the new process rebuilt its index from the database: a hot-spot submission by alpha must
        # present the versions of every bravo hot-spot activity that survived, then it is accepted
        a1 = {"Authorization": f"Bearer {tokens['a1']}"}
        bravo_hot = {i for i, p in log.hot_acked.items() if p == "bravo"}
        assert bravo_hot, "bravo filed no hot-spot activity before the kill"
        first = client.post("/v1/activities", json=hot_body("after-restart", start, []), headers=a1)
        assert first.status_code == 409, first.text
        assert first.json()["field"] == "key"
        named = {m["id"] for m in first.json()["missing"]}
        assert bravo_hot <= named
        assert all(m["party"] == "bravo" and "version" not in m for m in first.json()["missing"])
        key = [client.get(f"/v1/activities/{i}", headers=a1).json()["version"] for i in sorted(named)]
        ok = client.post("/v1/activities", json=hot_body("after-restart", start, key), headers=a1)
        assert ok.status_code == 201, ok.text
        assert {c["b"]["item"]["id"] for c in ok.json()["conflicts"]} == named

    proc.stop()
    counts = check_store_invariants(db_url)
    assert counts["items"] >= len(log.acked) + 1
    assert counts["idempotency"] >= len(log.idem_acked)
