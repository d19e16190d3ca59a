"""The joint record's benchmark (``bench/ledger_verify.py``) at a tiny size: it writes a
valid export that both verification modes accept, counts what the service's write unit
appended, keeps its raw JSON and writes its own section of the Markdown file between
its markers without touching the others.  No timing assertions: figures depend on the
machine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.ledger_verify import BEGIN, END  # noqa: E402


def test_the_benchmark_runs_small_and_writes_its_section(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Engine\n\nengine figures\n\n<!-- other:begin -->\nother\n<!-- other:end -->\n")
    results = tmp_path / "ledger.json"
    args = ["--entries", "2500", "--service-writes", "12", "--out", str(doc), "--results", str(results)]
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "ledger_verify.py"), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr
    r = json.loads(results.read_text())
    assert r["entries"] == 2500 and r["tree_heads"] == 2  # one every 1,000 entries
    for mode in ("chained", "all"):
        assert r[f"verify_{mode}"]["ok"] is True and r[f"verify_{mode}"]["entries"] == 2500
    assert r["service"]["writes"] == 12 and r["service"]["entries"] >= 12 * 5  # item, version, notice, events …
    assert r["append_entries_per_s"] > 0 and r["service"]["ledger_entries_per_s"] > 0
    text = doc.read_text()
    assert text.startswith("# Engine\n\nengine figures\n") and "<!-- other:begin -->\nother\n" in text
    section = text[text.index(BEGIN) : text.index(END)]
    assert "## Joint record: append and offline verification" in section
    assert "python bench/ledger_verify.py --entries 2500" in section
    assert section.count("| ≥ 5,000/s |") == 2 and section.count("| ≤ 60 s |") == 2
    # run again: the section is replaced, not appended
    subprocess.run([sys.executable, str(ROOT / "bench" / "ledger_verify.py"), *args], check=True, cwd=ROOT, timeout=600)
    assert doc.read_text().count(BEGIN) == 1
