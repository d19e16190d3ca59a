"""`deconflict demo` (the README's main command) serves a living synthetic day; `deconflict
engine-demo` runs the engine alone on a generated scenario.

The demo runs once for the module, as a real child process on a free loopback port over
a temporary database; the tests log in over HTTP with a printed password and watch the
simulated liaison clients and the simulated USS act.  No fixed sleeps: every wait polls
with a deadline.  The USS's lifecycle (staged, then simulated) is also followed in
process on a manual clock, where minutes pass at once.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from typer.testing import CliRunner

from deconflict.api.web import ASSETS
from deconflict.cli import app
from deconflict.commands.demo import _clear
from deconflict.demo.stage import stage
from deconflict.demo.theatre import CENTRE, USS, build
from deconflict.demo.uss import SimulatedUss
from deconflict.engine import all_conflicts
from deconflict.model import Activity, ActivityKind, Circle, Polygon, Zone, ZoneKind
from deconflict.policy import Policy
from deconflict.scenario import default_minima
from deconflict.service import ManualClock, Principal, Service, open_service
from serverproc import free_port, wait_until

_ENTRY = "import sys; from deconflict.cli import app; sys.exit(app())"
_NOW = datetime(2031, 5, 4, 12, 30, tzinfo=UTC)
#: Real states and places a demo must never name (word match, any case).
_REAL = re.compile(
    r"\b(syria|israel|lebanon|turkey|türkiye|iran|iraq|jordan|egypt|gaza|palestin\w*|russia\w*|ukrain\w*|china|"
    r"taiwan|korea|india|pakistan|yemen|saudi|america\w*|usa|nato|kurd\w*|damascus|beirut|ankara|tehran)\b",
    re.IGNORECASE,
)


# --- engine-demo -----------------------------------------------------------------------------


def test_engine_demo_files_online_and_agrees_with_the_batch() -> None:
    result = CliRunner().invoke(app, ["engine-demo", "--volumes", "3000", "--seed", "3", "--show", "5"])
    assert result.exit_code == 0, result.output
    assert "Online and batch results agree" in result.output
    found = re.search(r"Batch check of the whole plan: ([\d,]+) conflicts", result.output)
    assert found is not None and int(found.group(1).replace(",", "")) > 0


# --- the scenario builder --------------------------------------------------------------------


def _models(seed: int, activities: int) -> list[Activity | Zone]:
    out: list[Activity | Zone] = []
    for n, f in enumerate(build(seed, activities, _NOW).filings):
        if f.item_type == "activity":
            out.append(Activity(f"i{n}", f.party, ActivityKind(f.data.kind), f.data.volumes))
        else:
            out.append(Zone(f"i{n}", f.party, ZoneKind(f.data.kind), f.data.volumes))
    return out


def test_the_scenario_is_the_same_for_a_seed_and_fictional() -> None:
    one, again, other = build(5, 80, _NOW), build(5, 80, _NOW), build(6, 80, _NOW)
    assert one == again
    assert one.filings != other.filings
    words = [p.name for p in one.parties] + [u.display_name for u in one.users]
    words += [s for f in one.filings for s in (f.data.title, f.data.callsign or "", f.data.contact or "")]
    named = sorted({m.group(0) for w in words for m in [_REAL.search(w)] if m})
    assert named == [], named
    assert _REAL.search("Convoy through Syria") is not None  # the check itself can fail
    assert one.drones and one.drones != other.drones
    lon0, lat0 = CENTRE
    volumes = [(f.data.title, v) for f in one.filings for v in f.data.volumes]
    volumes += [(d.entity, d.volume) for d in one.drones]
    for what, v in volumes:  # open ocean around the centre, whatever the item
        fp = v.footprint
        points = [fp.center] if isinstance(fp, Circle) else fp.vertices if isinstance(fp, Polygon) else fp.path
        for lon, lat in points:
            assert abs(lon - lon0) < 6 and abs(lat - lat0) < 4, (what, lon, lat)


def test_the_scenario_gives_both_members_items_and_conflicts_between_them() -> None:
    s = build(5, 80, _NOW)
    members = {p.id for p in s.parties if p.role == "member" and p.protocol == "native"}
    assert {p.role for p in s.parties} == {"member", "mediator", "observer"} and len(members) == 2
    assert {p.language for p in s.parties if p.role == "member"} >= {"ar"}
    for party in members:
        mine = [f for f in s.filings if f.party == party]
        assert {f.item_type for f in mine} == {"activity", "zone"}, party
    subtypes = {f.data.subtype for f in s.filings if f.data.kind == "protected_site"}
    assert subtypes == {"hospital", "school", "aid_warehouse"}
    assert [f.at for f in s.filings] == sorted(f.at for f in s.filings) and s.filings[-1].at < s.now
    assert any(f.twin_of is not None for f in s.filings)
    found = all_conflicts(_models(5, 80), default_minima())
    assert {(c.party_a, c.party_b) for c in found} & {("alpha", "bravo"), ("bravo", "alpha")}
    policy = Policy.from_json(s.policy)  # humanitarian notices are never late (they would be refused)
    for f in s.filings:
        if f.data.kind == "humanitarian_movement":
            start = min(v.window.start for v in f.data.volumes)
            assert (start - f.at).total_seconds() >= policy.min_notice_s[ActivityKind.HUMANITARIAN_MOVEMENT]


def test_the_uss_flies_small_low_drones_some_over_the_members_items() -> None:
    s = build(5, 80, _NOW)
    [uss] = [p for p in s.parties if p.protocol == "f3548"]
    assert (uss.id, uss.name, uss.role, uss.uss_base_url) == (USS[0], USS[1], "member", USS[2])
    assert not s.users_of(uss.id)  # a USS acts with its client's token: no user, no log-in
    assert 15 <= len(s.drones) <= 25
    assert len({d.entity for d in s.drones}) == len(s.drones)
    for d in s.drones:
        assert uuid.UUID(d.entity).version == 4
        v = d.volume
        assert isinstance(v.footprint, Circle) and 200 <= v.footprint.radius_m <= 800
        assert (v.altitude.lower_m, v.altitude.upper_m) == (0.0, 120.0)
        assert timedelta(minutes=20) <= v.window.end - v.window.start <= timedelta(minutes=60)
        times = [t for t, _ in d.steps]
        assert times == sorted(times) and times[-1] < s.now and times[0] > s.start
        assert d.steps[0][1] == "Accepted"
        if d.state in ("Activated", "Nonconforming"):  # in the air now, for a while yet
            assert v.window.start <= s.now and v.window.end >= s.now + timedelta(minutes=15)
        elif d.state == "Accepted":
            assert v.window.start > s.now
        else:
            assert d.state == "Ended" and v.window.end < s.now
    assert {d.state for d in s.drones} == {"Accepted", "Activated", "Nonconforming", "Ended"}
    assert [d.state for d in s.drones].count("Nonconforming") == 1
    # a few drawn over a member's low-level activity or zone, live all through the flight
    over = [d for d in s.drones if d.placed in ("over", "zone")]
    assert len(over) >= 3
    for d in over:
        assert d.near is not None
        target = s.filings[d.near]
        assert target.party in ("alpha", "bravo") and target.at < d.steps[0][0]
        assert (target.item_type == "zone") == (d.placed == "zone")
        assert any(
            w.window.start <= d.volume.window.start and w.window.end >= d.volume.window.end for w in target.data.volumes
        )
    assert any(d.placed == "near" for d in s.drones) and any(d.placed == "own" for d in s.drones)


def test_the_uss_writes_through_the_dss_learns_the_key_and_flies_on(tmp_path: Path) -> None:
    """Staged, then simulated, on a manual clock: every flight is an activity of the
    USS's party written by its client, the members' items it needed the OVN of were
    read through the DSS (their notices opened by the USS), and a new flight goes
    Accepted → Activated → ended."""
    s = build(3, 20, _NOW)
    clock = ManualClock(s.start)
    service = open_service(f"sqlite:///{tmp_path / 'uss.db'}", clock=clock)
    try:
        staged = stage(service, clock, s, {}, native_base_url="http://127.0.0.1:8000/native")
        assert staged.refused == []
        uss = staged.uss
        assert uss is not None and uss.party == "skyway"
        assert uss.states() == {d: sum(x.state == d for x in s.drones) for d in {x.state for x in s.drones}}
        assert uss.conflicted >= 1 and uss.learnt >= 1  # refused for want of a key, then written with it
        assert service.get_dss_settings()["native_base_url"] == "http://127.0.0.1:8000/native"
        mediator = service.principal_for("mediator_liaison")
        native = {"notified": "Accepted", "active": "Activated", "nonconforming": "Nonconforming"}
        native |= {"completed": "Ended"}
        theirs = service.list_items(mediator, "activity", party="skyway", limit=1000)["items"]
        assert {i["dss_id"]: native[i["state"]] for i in theirs} == {d.entity: d.state for d in s.drones}
        assert {i["uss_base_url"] for i in theirs} == {USS[2]}
        assert _opened_by(service, mediator, "skyway-ops") >= 1

        sim = SimulatedUss(service, uss, s, s.seed, lambda action: action())
        sim.file()
        [new] = [f for e, f in uss.flights.items() if e not in {d.entity for d in s.drones}]
        assert new.state == "Accepted" and new.ovn is not None
        clock.set(clock.now() + timedelta(seconds=45))
        sim.work()
        assert new.state == "Activated"
        clock.set(clock.now() + timedelta(minutes=9))
        sim.work()
        assert new.state == "Ended"
        states = {
            i["dss_id"]: i["state"]
            for i in service.list_items(mediator, "activity", party="skyway", limit=1000)["items"]
        }
        assert states[new.entity] == "completed"  # it flew: DELETE ended it completed

        coming = [f for f in uss.flights.values() if f.state == "Accepted" and f.activate_at is not None]
        first = min(coming, key=lambda f: f.volume.window.start)
        clock.set(first.volume.window.start + timedelta(seconds=1))
        sim.work()
        assert first.state == "Activated"  # a staged flight is activated when it starts
    finally:
        service.store.dispose()


def _opened_by(service: Service, mediator: Principal, user: str) -> int:
    """How many native items' notices ``user`` opened."""
    n = 0
    for item_type in ("activity", "zone"):
        for item in service.list_items(mediator, item_type, limit=1000)["items"]:
            if item["party"] in ("alpha", "bravo"):
                for notice in service.receipts_for(mediator, item_type, item["id"])["notices"]:
                    n += any(r["opened_by"] == user for r in notice["receipts"])
    return n


# --- bad options -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--activities", "0"], "--activities"),
        (["--activities", "-5"], "--activities"),
        (["--port", "70000"], "--port"),
        (["--port", "0"], "--port"),
        (["--duration", "0"], "--duration"),
        (["--tile-url", "ftp://tiles.example/{z}/{x}/{y}.png"], "--tile-url"),
    ],
)
def test_bad_options_are_refused_naming_the_option(args: list[str], option: str, tmp_path: Path) -> None:
    # a free port first: the option under test comes last, and the last one given counts
    result = CliRunner().invoke(app, ["demo", "--db", str(tmp_path / "d.db"), "--port", str(free_port()), *args])
    assert result.exit_code == 2, result.output
    assert option in result.output
    assert not (tmp_path / "d.db").exists()


def test_a_database_that_is_not_a_demo_is_left_alone(tmp_path: Path) -> None:
    precious = tmp_path / "precious.db"
    precious.write_bytes(b"not a demo database")
    result = CliRunner().invoke(app, ["demo", "--db", str(precious), "--port", str(free_port()), "--activities", "5"])
    assert result.exit_code == 2, result.output
    assert "--db" in result.output and "left alone" in result.output
    assert precious.read_bytes() == b"not a demo database"


def test_a_previous_demo_database_is_replaced_and_another_kept(tmp_path: Path) -> None:
    demo_parties = {p.id for p in build(1, 1, _NOW).parties}
    before_uss = demo_parties - {USS[0]}  # a demo of before the USS came
    dbs = (("old-demo.db", demo_parties), ("older-demo.db", before_uss), ("other.db", {"alpha", "bravo"}))
    for name, parties in dbs:
        service = open_service(f"sqlite:///{tmp_path / name}")
        for pid in sorted(parties):
            service.add_party(pid, pid.title())
        service.store.dispose()
    _clear(tmp_path / "old-demo.db", demo_parties, before_uss)
    _clear(tmp_path / "older-demo.db", demo_parties, before_uss)
    assert not (tmp_path / "old-demo.db").exists() and not (tmp_path / "older-demo.db").exists()
    with pytest.raises(typer.BadParameter, match="not a deconflict demo database"):
        _clear(tmp_path / "other.db", demo_parties, before_uss)
    assert (tmp_path / "other.db").exists()


# --- the demo, served ------------------------------------------------------------------------


@dataclass
class Demo:
    url: str
    client: httpx.Client
    output: str
    proc: subprocess.Popen[bytes]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    where = tmp_path_factory.mktemp("demo")
    log = where / "out.txt"
    port = free_port()
    args = ["demo", "--db", str(where / "demo.db"), "--port", str(port), "--activities", "60", "--duration", "300"]
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", _ENTRY, *args], stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: "Stopping after" in log.read_text() or proc.poll() is not None, timeout=120, what="the URL")
        output = log.read_text()
        assert proc.poll() is None, output
        found = re.search(r"Open (http://\S+/) ", output)
        assert found is not None, output
        url = found.group(1)

        def healthy() -> bool:
            try:
                return httpx.get(f"{url}v1/health", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(healthy, timeout=60, what="the server to answer", interval=0.2)
        client = _login(url, output, "alpha_liaison")
        yield Demo(url, client, output, proc)
        client.close()
        proc.send_signal(signal.SIGINT)  # Ctrl-C: the server and the simulated clients stop cleanly
        assert proc.wait(60) == 0, log.read_text()[-4000:]
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _login(url: str, output: str, user: str) -> httpx.Client:
    """A client signed in as ``user`` with the password the demo printed."""
    password = re.search(rf"^\s+{user}\s+.*\s(\S+)$", output, re.MULTILINE)
    assert password is not None, output
    client = httpx.Client(base_url=url, timeout=10)
    login = client.post("/v1/auth/login", json={"username": user, "password": password.group(1)})
    assert login.status_code == 200, login.text
    client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
    return client


def test_the_demo_prints_the_url_and_one_login_per_person(demo: Demo) -> None:
    for user in ("alpha_liaison", "alpha_commander", "bravo_liaison", "bravo_commander", "mediator_liaison"):
        assert re.search(rf"^\s+{user}\s", demo.output, re.MULTILINE), user
    assert re.search(r"^\s+bravo_liaison\s+Southern Command\s+liaison\s+ar\s", demo.output, re.MULTILINE)
    assert "replaced at every start" in demo.output
    assert "alpha_ops" in demo.output and not re.search(r"^\s+alpha_ops\s", demo.output, re.MULTILINE)


def test_the_demo_serves_the_scenario(demo: Demo) -> None:
    activities = demo.client.get("/v1/activities", params={"limit": 1000}).json()["items"]
    assert {a["party"] for a in activities} == {"alpha", "bravo", "skyway"}
    zones = demo.client.get("/v1/zones", params={"limit": 1000}).json()["items"]
    assert {z["subtype"] for z in zones} >= {"hospital", "school", "aid_warehouse"}
    conflicts = demo.client.get("/v1/conflicts", params={"limit": 1000}).json()["conflicts"]
    assert conflicts and {c["state"] for c in conflicts} >= {"open"}
    threads = demo.client.get("/v1/threads").json()["threads"]
    assert threads
    page = httpx.get(demo.url, timeout=10)
    assert page.status_code == (200 if (ASSETS / "index.html").exists() else 503), page.text[:200]


def test_the_simulated_clients_act_and_keep_both_members_up(demo: Demo) -> None:
    head = demo.client.get("/v1/events/head").json()["seq"]
    filed = len(demo.client.get("/v1/activities", params={"limit": 1000}).json()["items"])

    def moved() -> bool:
        now_head = demo.client.get("/v1/events/head").json()["seq"]
        now_filed = len(demo.client.get("/v1/activities", params={"limit": 1000}).json()["items"])
        return now_head > head and now_filed > filed

    wait_until(moved, timeout=90, what="a simulated client to file an activity", interval=0.5)

    def both_up() -> bool:
        states = {p["party"]: p["state"] for p in demo.client.get("/v1/liveness").json()}
        return states.get("alpha") == "up" and states.get("bravo") == "up"

    wait_until(both_up, timeout=60, what="both members' heartbeats", interval=0.5)


def test_the_demo_prints_the_uss_and_serves_the_dss(demo: Demo) -> None:
    assert re.search(r"^uss\s+skyway \(Skyway UTM \(USS\)\): \d+ drone operational intents", demo.output, re.M)
    assert f"{demo.url}dss/v1 (ASTM F3548-21)" in demo.output
    assert not re.search(r"^\s+skyway", demo.output, re.MULTILINE)  # no log-in row: it has no user
    # the DSS is served, and asks a USS for its token
    answer = httpx.get(f"{demo.url}dss/v1/operational_intent_references/{uuid.uuid4()}", timeout=10)
    assert answer.status_code == 401, answer.text


def test_the_uss_intents_are_on_the_native_picture(demo: Demo) -> None:
    drones = demo.client.get("/v1/activities", params={"party": "skyway", "limit": 1000}).json()["items"]
    assert {"notified", "active", "nonconforming"} <= {d["state"] for d in drones}
    assert {d["uss_base_url"] for d in drones} == {USS[2]} and all(d["dss_id"] for d in drones)
    assert {d["kind"] for d in drones} == {"air_sortie"}
    conflicts = demo.client.get("/v1/conflicts", params={"limit": 1000}).json()["conflicts"]
    assert any("skyway" in (c["a"]["party"], c["b"]["party"]) for c in conflicts)
    # the members' items whose OVN the USS learnt through the DSS show it opened their notices
    mediator = _login(demo.url, demo.output, "mediator_liaison")
    try:
        opened: list[dict[str, Any]] = []
        for path in ("/v1/zones", "/v1/activities"):
            for item in mediator.get(path, params={"limit": 1000}).json()["items"]:
                if item["party"] in ("alpha", "bravo") and not opened:
                    for notice in mediator.get(f"{path}/{item['id']}/receipts").json()["notices"]:
                        opened += [r for r in notice["receipts"] if r["opened_by"] == "skyway-ops"]
        assert opened and {r["party"] for r in opened} == {"skyway"}
    finally:
        mediator.close()


def test_the_simulated_uss_files_new_intents(demo: Demo) -> None:
    found = re.search(r"^uss\s+.*?: (\d+) drone operational intents", demo.output, re.MULTILINE)
    assert found is not None, demo.output
    staged = int(found.group(1))

    def drones() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = demo.client.get(
            "/v1/activities", params={"party": "skyway", "limit": 1000}
        ).json()["items"]
        return items

    wait_until(lambda: len(drones()) > staged, timeout=60, what="the simulated USS to file a flight", interval=0.5)
    new = drones()[staged:]  # in creation order: after the staged ones
    assert {d["uss_base_url"] for d in new} == {USS[2]}
    assert {d["state"] for d in new} <= {"notified", "active", "completed"}


def test_engine_demo_is_still_there_beside_demo() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "engine-demo" in result.output and re.search(r"│ demo\s", result.output), result.output
