"""The operator documentation keeps up with the code: every API route family and every
service command is named in docs/service.md, docs/hotline.md or docs/incidents.md (a new one without
docs fails here)."""

from __future__ import annotations

import re
from pathlib import Path

import typer
from fastapi.routing import APIWebSocketRoute
from typer.main import get_command

from deconflict.api import create_app
from deconflict.cli import app as cli_app
from deconflict.service import Service
from deconflict.service.clock import SystemClock
from deconflict.store import Store

DOCS = Path(__file__).resolve().parents[1] / "docs"
# the service's operator documentation: the service itself, the hotline (and liveness), incidents
DOC = "\n".join(
    (DOCS / name).read_text(encoding="utf-8") for name in ("service.md", "hotline.md", "incidents.md", "ledger.md")
)


def test_every_api_route_family_is_documented(tmp_path: Path) -> None:
    app = create_app(Service(Store(f"sqlite:///{tmp_path / 'x.db'}"), SystemClock()), scheduler_interval_s=None)
    paths = {p for p in app.openapi()["paths"] if p.startswith("/v1/")}
    paths |= {r.path for r in app.routes if isinstance(r, APIWebSocketRoute)}
    assert len(paths) > 20
    for path in sorted(paths):
        # "/v1/activities/{item_id}/{action}" is documented as "/v1/activities/{id}/{notify,…}"
        family = "/".join(path.split("/")[:3])
        assert family in DOC, f"{path} is not documented in docs/service.md, hotline.md or incidents.md"
        tail = [p for p in path.split("/")[3:] if not p.startswith("{")]
        for word in tail:
            assert re.search(rf"\b{re.escape(word)}\b", DOC), f"{path}: '{word}' is not documented"


def test_every_service_command_is_documented() -> None:
    group = get_command(cli_app)
    assert isinstance(group, typer.core.TyperGroup)
    engine_commands = {"demo", "engine-demo", "conflicts", "validate"}  # documented in README and docs/engine.md
    names = set(group.commands) - engine_commands
    assert {"serve", "init", "status", "party", "user", "token", "import", "export"} <= names
    cli_line = next(line for line in DOC.splitlines() if line.startswith("- CLI:"))
    for name in sorted(names):
        assert f"deconflict {name}" in DOC or re.search(rf"\b{name}\b", cli_line), f"`deconflict {name}` undocumented"
