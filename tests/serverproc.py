"""Run the real server — ``deconflict serve`` — as a child process, for system tests.

:class:`ServerProcess` starts ``deconflict serve --db URL --port P`` on a free loopback
port, waits (with a deadline, never a fixed sleep) until ``GET /v1/health`` answers, and
stops it gracefully (:meth:`~ServerProcess.stop`) or kills it outright
(:meth:`~ServerProcess.kill`, ``SIGKILL`` sent to the uvicorn process itself: the server
runs in the child's own Python process, no shell in between).  Its output goes to a log
file whose tail is quoted when something fails.

Also here: :func:`seed` (parties, users and tokens written in-process before a server
starts, the store disposed afterwards), :func:`circle` (a wire-format volume at a time
relative to *now*: the server runs on the system clock), and :func:`wait_until`.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from deconflict.engine import all_conflicts
from deconflict.policy import Policy
from deconflict.service import open_service
from deconflict.service.core import is_live, to_model
from deconflict.store import Store
from deconflict.store.schema import (
    conflicts,
    events,
    idempotency,
    item_versions,
    items,
    notices,
    parties,
    receipts,
    settings,
    users,
)

__all__ = [
    "ServerProcess",
    "check_store_invariants",
    "circle",
    "free_port",
    "hours_from_now",
    "seed",
    "wait_until",
]

# The console script's entry point, run by this interpreter (the venv's, whatever its layout).
_ENTRY = "import sys; from deconflict.cli import app; sys.exit(app())"


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(condition: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.05) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` seconds saying ``what``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


class ServerProcess:
    """One ``deconflict serve`` process over ``db_url``; start it again after a stop or kill."""

    def __init__(self, db_url: str, log_path: Path, *, scheduler: bool = True) -> None:
        self.db_url = db_url
        self.log_path = log_path
        self.scheduler = scheduler
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None, "the server is not running"
        return self.proc.pid

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
        except FileNotFoundError:
            return ""

    def start(self, *, timeout: float = 90.0) -> ServerProcess:
        """Start the server and return once its health endpoint answers."""
        assert not self.running(), "already running"
        for _attempt in range(3):
            self.port = free_port()
            self.starts += 1
            argv = [sys.executable, "-c", _ENTRY, "serve", "--db", self.db_url, "--host", "127.0.0.1"]
            argv += ["--port", str(self.port), "--log-level", "warning"]
            if not self.scheduler:
                argv.append("--no-scheduler")
            env = {k: v for k, v in os.environ.items() if k != "DECONFLICT_DATABASE_URL"}
            env["PYTHONUNBUFFERED"] = "1"
            with self.log_path.open("ab") as log:
                log.write(f"\n--- start #{self.starts} on port {self.port} ---\n".encode())
                log.flush()
                self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
            if self._await_health(timeout):
                return self
            if "address already in use" not in self.log_tail().lower():
                break  # a real failure, not a lost race for the port
        raise AssertionError(f"deconflict serve did not become healthy; its log ends:\n{self.log_tail()}")

    def _await_health(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    return False
                try:
                    r = client.get("/v1/health")
                    if r.status_code == 200 and r.json().get("status") == "ok":
                        return True
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
        self.kill()
        raise AssertionError(f"deconflict serve not healthy within {timeout:.0f} s; log:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL the server process (no shutdown code runs) and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(timeout=30)

    def stop(self, *, timeout: float = 20.0) -> bool:
        """A graceful stop (SIGTERM, as a service manager sends); SIGKILL if it hangs.

        True when the server shut down by itself (uvicorn finishes its shutdown, then
        re-raises the signal: the exit status is then -SIGTERM)."""
        if self.proc is None or self.proc.poll() is not None:
            return False
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return False
        return self.proc.returncode in (0, -signal.SIGTERM)

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def seed(db_url: str, users: Mapping[str, tuple[str, str]], parties: Mapping[str, str]) -> dict[str, str]:
    """Create ``parties`` ({id: role}) and ``users`` ({id: (party, role)}) in-process and
    return a 12-hour bearer token per user; the store is disposed before returning."""
    service = open_service(db_url)
    try:
        for pid, role in parties.items():
            service.add_party(pid, pid.title(), role)
        for uid, (party, role) in users.items():
            service.add_user(uid, party, role, contact_rank=1 if role == "commander" else 0)
        return {uid: str(service.issue_token(uid)["access_token"]) for uid in users}
    finally:
        service.store.dispose()


def circle(
    lon: float,
    lat: float,
    start: datetime,
    *,
    hours: float = 2.0,
    radius_m: float = 300.0,
    lower: float = 0.0,
    upper: float = 3000.0,
) -> dict[str, Any]:
    """A circle volume in the API's wire shape from ``start`` for ``hours``."""
    end = start + timedelta(hours=hours)
    return {
        "outline_circle": {"center": {"lng": lon, "lat": lat}, "radius": {"value": radius_m, "units": "M"}},
        "altitude_lower": {"value": lower, "reference": "W84", "units": "M"},
        "altitude_upper": {"value": upper, "reference": "W84", "units": "M"},
        "time_start": {"value": _z(start), "format": "RFC3339"},
        "time_end": {"value": _z(end), "format": "RFC3339"},
    }


def _z(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def hours_from_now(hours: float) -> datetime:
    """A whole-second instant ``hours`` from now (far enough ahead of any notice rule used here)."""
    return (datetime.now(UTC) + timedelta(hours=hours)).replace(microsecond=0)


def check_store_invariants(db_url: str) -> dict[str, int]:
    """Assert that the database holds only whole write units, and return row counts.

    * every item has volumes and an ``item_versions`` row for its current version;
    * every item that is not a draft has a notice of its current version, and every
      notice has a receipt for each member party other than the sender's (no more);
    * every notice and every conflict has its event, and every event about a notice or
      a conflict refers to one that exists;
    * every conflict joins two existing items of two different parties, matches their
      owners, and has a receipt for each of the two parties;
    * every stored idempotent response that created an item names an existing item of the
      requester's party, at a version in its history;
    * the conflicts that are not resolved are exactly the pairs of live items of
      different parties that the batch engine finds (nothing committed unseen, nothing lost).
    """
    store = Store(db_url)
    try:
        with store.read() as conn:
            item_rows = {r.id: r for r in conn.execute(sa.select(items)).all()}
            history = {(r.item_id, r.version) for r in conn.execute(sa.select(item_versions)).all()}
            members = {r.id for r in conn.execute(sa.select(parties).where(parties.c.role == "member")).all()}
            notice_rows = conn.execute(sa.select(notices)).all()
            conflict_rows = conn.execute(sa.select(conflicts)).all()
            receipt_parties: dict[tuple[str, str], set[str]] = {}
            for r in conn.execute(sa.select(receipts.c.subject_type, receipts.c.subject_id, receipts.c.party_id)):
                receipt_parties.setdefault((r.subject_type, r.subject_id), set()).add(r.party_id)
            event_subjects = {
                (r.subject_type, r.subject_id)
                for r in conn.execute(sa.select(events.c.subject_type, events.c.subject_id)).all()
                if r.subject_type is not None
            }
            user_party = {r.id: r.party_id for r in conn.execute(sa.select(users.c.id, users.c.party_id)).all()}
            idem_rows = conn.execute(sa.select(idempotency)).all()
            policy = Policy.from_json(
                conn.execute(sa.select(settings.c.value).where(settings.c.key == "policy")).scalar_one()
            )
    finally:
        store.dispose()

    noticed_versions = {(n.item_id, n.item_version) for n in notice_rows}
    for it in item_rows.values():
        assert isinstance(it.volumes, list) and it.volumes, f"item {it.id} has no volumes"
        assert (it.id, it.version) in history, f"item {it.id}: no history row for its version {it.version}"
        if it.state != "draft":
            assert (it.id, it.version) in noticed_versions, f"item {it.id} ({it.state}): no notice of its version"

    notice_ids = {n.id for n in notice_rows}
    for n in notice_rows:
        assert n.item_id in item_rows, f"notice {n.id} of a missing item"
        assert (n.item_id, n.item_version) in history, f"notice {n.id}: version not in the item's history"
        expected = members - {n.sender_party}
        assert receipt_parties.get(("notice", n.id), set()) == expected, f"notice {n.id}: receipts are not {expected}"
        assert ("notice", n.id) in event_subjects, f"notice {n.id} has no event"

    conflict_ids = {c.id for c in conflict_rows}
    for c in conflict_rows:
        a, b = item_rows.get(c.item_a), item_rows.get(c.item_b)
        assert a is not None and b is not None, f"conflict {c.id} refers to a missing item"
        assert (a.party_id, b.party_id) == (c.party_a, c.party_b), f"conflict {c.id}: parties do not match its items"
        assert c.party_a != c.party_b, f"conflict {c.id} within one party"
        assert receipt_parties.get(("conflict", c.id), set()) == {c.party_a, c.party_b}, f"conflict {c.id}: receipts"
        assert ("conflict", c.id) in event_subjects, f"conflict {c.id} has no event"

    for subject_type, subject_id in event_subjects:
        if subject_type == "notice":
            assert subject_id in notice_ids, f"an event refers to notice {subject_id}, which was never stored"
        elif subject_type == "conflict":
            assert subject_id in conflict_ids, f"an event refers to conflict {subject_id}, which was never stored"

    for r in idem_rows:
        item = r.body.get("item") if 200 <= r.status < 300 and isinstance(r.body, dict) else None
        if isinstance(item, dict):
            stored = item_rows.get(item["id"])
            assert stored is not None, f"idempotent response of {r.user_id}/{r.key} names a missing item"
            assert stored.party_id == user_party[r.user_id], f"idempotent response {r.key}: another party's item"
            assert (item["id"], item["version"]) in history, f"idempotent response {r.key}: unknown version"

    live = [to_model(it) for it in item_rows.values() if is_live(it.item_type, it.state)]
    expected_pairs = {
        frozenset((c.a.owner_id, c.b.owner_id)) for c in all_conflicts(live, policy.minima) if c.party_a != c.party_b
    }
    stored_pairs = [frozenset((c.item_a, c.item_b)) for c in conflict_rows if c.state != "resolved"]
    assert len(stored_pairs) == len(set(stored_pairs)), "two unresolved conflicts for the same pair of items"
    missing, extra = expected_pairs - set(stored_pairs), set(stored_pairs) - expected_pairs
    assert not missing and not extra, f"stored conflicts differ from the batch check: missing {missing}, extra {extra}"
    return {
        "items": len(item_rows),
        "notices": len(notice_rows),
        "conflicts": len(conflict_rows),
        "idempotency": len(idem_rows),
    }
