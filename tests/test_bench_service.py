"""The service benchmark's machinery (``bench/service_load.py``) at a tiny size, SQLite only.

Starts ``deconflict serve`` on a fresh SQLite file for each scenario, drives it from a
separate load process for a couple of seconds, and checks that the figures are sane:
notifications were accepted, latencies are positive and ordered, the congested traffic
really conflicts (409s answered by reads, conflicts stored), every alert reached every
WebSocket, and the Markdown section is written between its markers without touching
the rest of the file.  No timing assertions: the figures depend on the machine.

Also the service fix the benchmark led to (a party's WebSockets claim a delivery receipt
once instead of each writing it), on both databases.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.service_client import percentile  # noqa: E402
from bench.service_load import BEGIN, END, _parse, carry_section, render, run, write_section  # noqa: E402

from conftest import World, volume  # noqa: E402
from deconflict.service import ItemInput  # noqa: E402
from deconflict.store.schema import receipts  # noqa: E402
from deconflict.wire import volumes_from_json  # noqa: E402


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("bench-service") / "results.json"
    argv = [
        "--quick",
        "--db",
        "sqlite",
        "--scenarios",
        "spread,congested,alerts-plain",
        "--concurrency",
        "4",
        "--warmup",
        "0.5",
        "--duration",
        "2",
        "--alert-clients",
        "10",
        "--alert-users",
        "5",
        "--alert-rate",
        "10",
        "--alert-duration",
        "2",
        "--profile",
        "6",
        "--results",
        str(out),
    ]
    return run(_parse(argv), "python bench/service_load.py " + " ".join(argv))


def _run(results: dict[str, Any], what: str) -> dict[str, Any]:
    found = [r for r in results["runs"] if r["what"] == what]
    assert len(found) == 1, [r["what"] for r in results["runs"]]
    assert found[0]["backend"] == "sqlite"
    return found[0]


@pytest.mark.parametrize("what", ["spread", "congested"])
def test_notifications_are_counted_and_timed(results: dict[str, Any], what: str) -> None:
    r = _run(results, what)
    assert r["notifications"] > 0
    assert r["failed"] == 0, r["failed_statuses"]
    assert r["notifications_per_s"] == pytest.approx(r["notifications"] / r["duration_s"])
    for figure in ("post", "end_to_end"):
        assert 0 < r[figure]["p50_ms"] <= r[figure]["p99_ms"] <= r[figure]["max_ms"]
    # the end-to-end time of a notification includes its accepted POST
    assert r["end_to_end"]["p50_ms"] >= r["post"]["p50_ms"]
    assert r["server_cpu_s"] > 0 and r["loadgen_cpu_s"] > 0
    assert r["db_rows"]["items"] >= r["notifications"]


def test_spread_out_traffic_rarely_conflicts(results: dict[str, Any]) -> None:
    r = _run(results, "spread")
    assert r["conflicts_per_notification"] < 0.1


def test_congested_traffic_conflicts_and_clients_learn_versions(results: dict[str, Any]) -> None:
    r = _run(results, "congested")
    assert r["conflicts_per_notification"] > 0.5
    assert r["posts_409"] > 0 and r["with_409"] > 0
    assert r["reads"] > 0  # each 409 was answered by reading the missing objects
    assert r["retries_per_notification"] > 0
    assert r["db_rows"]["conflicts"] > 0


def test_every_alert_reaches_every_socket(results: dict[str, Any]) -> None:
    r = _run(results, "alerts-plain")
    assert r["compression"] == "none"
    assert r["submissions_ok"] == r["submissions"] > 0
    assert r["deliveries"] == r["submissions_ok"] * r["clients"]
    assert r["deliveries_missing"] == 0
    assert 0 < r["alert"]["p50_ms"] <= r["alert"]["p99_ms"]
    # an alert can arrive only after alpha's POST was sent: its latency covers the POST's processing
    assert r["alert"]["max_ms"] > 0


def test_service_layer_profile(results: dict[str, Any]) -> None:
    assert {p["scenario"] for p in results["profile"]} == {"spread", "congested"}
    for p in results["profile"]:
        assert p["per_notification"]["mean_ms"] > 0
        assert "function calls" in p["profile"]
        assert "create_item" in p["profile_cumulative"]


def test_results_file_and_markdown_section(results: dict[str, Any], tmp_path: Path) -> None:
    assert results["sqlite_commit_ms"] > 0
    section = render(json.loads(json.dumps(results, default=str)))
    assert section.startswith(BEGIN) and section.rstrip().endswith(END)
    assert "## Service: notifications and alerts" in section
    assert results["command"] in section
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Engine\n\nengine figures\n")
    write_section(doc, section)
    write_section(doc, section)  # a rerun replaces the section, never duplicates it
    text = doc.read_text()
    assert text.startswith("# Engine\n\nengine figures\n")
    assert text.count(BEGIN) == 1 and text.count(END) == 1
    doc.write_text(text + "\n## After\n")
    write_section(doc, section.replace("Service: notifications", "Service: NOTIFICATIONS"))
    text = doc.read_text()
    assert "Service: NOTIFICATIONS" in text and "Service: notifications" not in text
    assert text.endswith("\n## After\n")


def test_the_engine_report_keeps_the_service_section() -> None:
    section = f"{BEGIN}\n## Service\nfigures\n{END}"
    old = f"# Engine\n\nold engine figures\n\n{section}\n"
    new = "# Engine\n\nnew engine figures\n"
    assert carry_section(old, new) == f"# Engine\n\nnew engine figures\n\n{section}\n"
    assert carry_section("# Engine\n", new) == new  # nothing to keep
    assert carry_section(old, new + section) == new + section  # never twice


def test_a_partys_sockets_write_a_delivery_once(world: World) -> None:
    """What the benchmark found: every WebSocket of a party used to write the same delivery
    receipt (200 sockets, 200 writes queued on the write lock per event).  The first socket
    claims the subjects; the party's other sockets find nothing left to write."""
    data = ItemInput(kind="air_sortie", volumes=volumes_from_json([volume()]))
    notice = world.service.create_item(world.p["a_liaison"], "activity", data, state="notified")[1]["notice"]
    subjects = [("notice", notice["id"]), ("activity", "not-a-receipt")]
    claimed = world.service.claim_delivered(world.p["b_liaison"], subjects)
    assert claimed == [("notice", notice["id"])]
    assert world.service.claim_delivered(world.p["b_cmd"], subjects) == []  # same party: nothing left
    assert world.service.claim_delivered(world.p["m_user"], subjects) == claimed  # another party: its own
    world.service.record_delivered(world.p["b_liaison"], claimed)
    with world.service.store.read() as conn:
        row = conn.execute(
            sa.select(receipts).where(receipts.c.subject_id == notice["id"], receipts.c.party_id == "bravo")
        ).one()
    assert row.delivered_to == "b_liaison" and row.delivered_at is not None


def test_percentile() -> None:
    assert percentile([], 50) is None
    assert percentile([3.0], 99) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == pytest.approx(2.5)
    assert percentile(list(map(float, range(101))), 99) == pytest.approx(99.0)
