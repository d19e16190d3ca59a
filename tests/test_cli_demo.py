"""`deconflict demo` (the README's main command) serves a living synthetic day; `deconflict
engine-demo` runs the engine alone on a generated scenario.

The demo runs once for the module, as a real child process on a free loopback port over
a temporary database; the tests log in over HTTP with a printed password and watch the
simulated liaison clients act.  No fixed sleeps: every wait polls with a deadline.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import typer
from typer.testing import CliRunner

from deconflict.api.web import ASSETS
from deconflict.cli import app
from deconflict.commands.demo import _clear
from deconflict.demo.theatre import CENTRE, build
from deconflict.engine import all_conflicts
from deconflict.model import Activity, ActivityKind, Circle, Polygon, Zone, ZoneKind
from deconflict.policy import Policy
from deconflict.scenario import default_minima
from deconflict.service import open_service
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
    lon0, lat0 = CENTRE
    for f in one.filings:  # open ocean around the centre, whatever the item
        for v in f.data.volumes:
            fp = v.footprint
            points = [fp.center] if isinstance(fp, Circle) else fp.vertices if isinstance(fp, Polygon) else fp.path
            for lon, lat in points:
                assert abs(lon - lon0) < 6 and abs(lat - lat0) < 4, (f.data.title, lon, lat)


def test_the_scenario_gives_both_members_items_and_conflicts_between_them() -> None:
    s = build(5, 80, _NOW)
    members = {p.id for p in s.parties if p.role == "member"}
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
    for name, parties in (("old-demo.db", demo_parties), ("other.db", {"alpha", "bravo"})):
        service = open_service(f"sqlite:///{tmp_path / name}")
        for pid in sorted(parties):
            service.add_party(pid, pid.title())
        service.store.dispose()
    _clear(tmp_path / "old-demo.db", demo_parties)
    assert not (tmp_path / "old-demo.db").exists()
    with pytest.raises(typer.BadParameter, match="not a deconflict demo database"):
        _clear(tmp_path / "other.db", demo_parties)
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
        password = re.search(r"^\s+alpha_liaison\s+.*\s(\S+)$", output, re.MULTILINE)
        assert password is not None, output
        client = httpx.Client(base_url=url, timeout=10)
        login = client.post("/v1/auth/login", json={"username": "alpha_liaison", "password": password.group(1)})
        assert login.status_code == 200, login.text
        client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
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


def test_the_demo_prints_the_url_and_one_login_per_person(demo: Demo) -> None:
    for user in ("alpha_liaison", "alpha_commander", "bravo_liaison", "bravo_commander", "mediator_liaison"):
        assert re.search(rf"^\s+{user}\s", demo.output, re.MULTILINE), user
    assert re.search(r"^\s+bravo_liaison\s+Southern Command\s+liaison\s+ar\s", demo.output, re.MULTILINE)
    assert "replaced at every start" in demo.output
    assert "alpha_ops" in demo.output and not re.search(r"^\s+alpha_ops\s", demo.output, re.MULTILINE)


def test_the_demo_serves_the_scenario(demo: Demo) -> None:
    activities = demo.client.get("/v1/activities", params={"limit": 1000}).json()["items"]
    assert {a["party"] for a in activities} == {"alpha", "bravo"}
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


def test_engine_demo_is_still_there_beside_demo() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "engine-demo" in result.output and re.search(r"│ demo\s", result.output), result.output
