"""The hotline benchmark's machinery (``bench/hotline_fanout.py``) at a tiny size, SQLite only.

Runs the script's ``main`` as ``make bench-hotline`` does, with 5 clients and 3 measured
FLASH messages: ``deconflict serve`` on a fresh SQLite file per variant, the load from a
separate process.  Checks that every message reached every client as a ``message.sent``
event carrying the FLASH message in every catalogue language, that the figures are
ordered and complete, that the raw JSON is written, and that the Markdown section goes
between its own markers without touching the engine report or the service section.  No
timing assertions: the figures depend on the machine.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import service_load  # noqa: E402
from bench.hotline_fanout import BEGIN, END, main, render, write  # noqa: E402

from deconflict.catalogue import load  # noqa: E402

CLIENTS, MESSAGES = 5, 3
ENGINE = "# Engine\n\nengine figures\n"
SERVICE = f"{service_load.BEGIN}\n## Service: notifications and alerts\nservice figures\n{service_load.END}"


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    tmp = tmp_path_factory.mktemp("bench-hotline")
    doc = tmp / "benchmarks.md"
    doc.write_text(f"{ENGINE}\n{SERVICE}\n")
    argv = [
        "--db",
        "sqlite",
        "--clients",
        str(CLIENTS),
        "--messages",
        str(MESSAGES),
        "--warmup",
        "1",
        "--interval",
        "0.05",
        "--results",
        str(tmp / "hotline_fanout.json"),
        "--out",
        str(doc),
    ]
    assert main(argv) == 0
    return json.loads((tmp / "hotline_fanout.json").read_text()), doc.read_text()


def _run(results: dict[str, Any], variant: str) -> dict[str, Any]:
    found = [r for r in results["runs"] if r["variant"] == variant]
    assert len(found) == 1, [r["variant"] for r in results["runs"]]
    assert found[0]["backend"] == "sqlite"
    return found[0]


def _ordered(figure: dict[str, Any], n: int) -> None:
    assert figure["n"] == n
    assert 0 < figure["p50_ms"] <= figure["p95_ms"] <= figure["p99_ms"] <= figure["max_ms"]


@pytest.mark.parametrize("variant", ["plain", "deflate"])
def test_every_flash_message_reaches_every_client(ran: tuple[dict[str, Any], str], variant: str) -> None:
    r = _run(ran[0], variant)
    assert r["compression"] == ("deflate" if variant == "deflate" else "none")
    assert r["clients"] == CLIENTS
    assert r["clients_per_party"] == {"bravo": 3, "unmed": 2}  # one user per client, the parties in turn
    assert r["messages_ok"] == r["messages"] == MESSAGES and r["failed_statuses"] == []
    assert r["deliveries"] == MESSAGES * CLIENTS and r["deliveries_missing"] == 0
    _ordered(r["delivery"], MESSAGES * CLIENTS)
    _ordered(r["post"], MESSAGES)
    _ordered(r["first"], MESSAGES)
    _ordered(r["last"], MESSAGES)
    assert len(r["per_message"]) == MESSAGES
    for m in r["per_message"]:
        assert m["status"] == 201 and m["missing"] == 0
        assert 0 < m["first_ms"] <= m["median_ms"] <= m["last_ms"]
    assert r["delivery"]["max_ms"] == max(m["last_ms"] for m in r["per_message"])
    assert r["server_cpu_s"] > 0


def test_the_clients_receive_the_flash_message_in_every_language(ran: tuple[dict[str, Any], str]) -> None:
    event = _run(ran[0], "plain")["event_sample"]
    assert event["type"] == "message.sent" and event["subject_type"] == "message"
    message = event["payload"]["message"]
    assert event["subject_id"] == message["id"]
    assert message["code"] == 401 and message["precedence"] == "flash"
    assert message["params"]["callsign"].startswith("FLT")
    assert set(message["renderings"]) == set(load().languages)
    for rendering in message["renderings"].values():
        assert rendering["direction"] in ("ltr", "rtl") and rendering["text"]
    assert event["bytes"] > 0


def test_the_write_alone_is_timed_with_nobody_listening(ran: tuple[dict[str, Any], str]) -> None:
    r = _run(ran[0], "alone")
    assert r["clients"] == 0 and r["deliveries"] == 0 and r["deliveries_missing"] == 0
    assert r["messages_ok"] == MESSAGES
    _ordered(r["post"], MESSAGES)
    assert r["delivery"]["n"] == 0 and r["delivery"]["p99_ms"] is None


def test_the_markdown_section_and_the_results(ran: tuple[dict[str, Any], str]) -> None:
    results, text = ran
    assert results["config"]["clients"] == CLIENTS and results["target_p99_ms"] == 50.0
    # the engine report and the service section are left as they were; the hotline section follows
    assert text.startswith(f"{ENGINE}\n{SERVICE}\n")
    assert text.count(BEGIN) == 1 and text.count(END) == 1
    section = text[text.index(BEGIN) : text.index(END) + len(END)]
    assert "## Hotline: FLASH fan-out" in section
    assert results["command"] in section
    assert section.count("| FLASH to 5 clients") == 2  # a verdict for each run with clients connected
    assert "### Reading" in section


def test_a_rerun_replaces_the_section(ran: tuple[dict[str, Any], str], tmp_path: Path) -> None:
    results, text = ran
    doc = tmp_path / "benchmarks.md"
    doc.write_text(text + "\n## After\n")
    write(doc, render(results).replace("FLASH fan-out", "FLASH FAN-OUT"))
    new = doc.read_text()
    assert new.count(BEGIN) == 1 and "FLASH FAN-OUT" in new and "## Hotline: FLASH fan-out" not in new
    assert new.startswith(f"{ENGINE}\n{SERVICE}\n") and new.endswith("\n## After\n")


def test_the_engine_report_keeps_both_sections(ran: tuple[dict[str, Any], str]) -> None:
    """What ``bench/run.py`` does when it rewrites the engine report into the same file."""
    old = ran[1]
    new = "# Engine\n\nnew engine figures\n"
    kept = service_load.carry_section(old, service_load.carry_section(old, new), BEGIN, END)
    assert kept.startswith(new)
    assert SERVICE in kept
    assert kept.count(BEGIN) == 1 and kept.rstrip().endswith(END)
