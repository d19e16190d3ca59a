"""The ``deconflict`` command line: a thin layer over the library.

``deconflict demo``         serve a synthetic day with simulated liaison clients (commands/demo.py);
``deconflict engine-demo``  run the engine alone on a generated scenario and print the conflicts;
``deconflict conflicts``    detect every conflict in a plan file (JSON, see planfile.py);
``deconflict validate``     check a plan file and report the first bad field;
``deconflict uss``          ASTM F3548-21 DSS clients: token authorities, clients (commands/uss.py).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from .commands import register, uss
from .engine import Engine, all_conflicts
from .errors import DeconflictError
from .model import Activity, Conflict, Zone
from .planfile import load_plan
from .scenario import default_minima, generate

app = typer.Typer(add_completion=False, no_args_is_help=True, help="deconflict: a deconfliction mechanism.")
console = Console()


def _table(conflicts: list[Conflict], limit: int, title: str) -> Table:
    table = Table(title=title, show_lines=False)
    for column in (
        "#",
        "volume A",
        "party A",
        "volume B",
        "party B",
        "shared window (UTC)",
        "lateral gap",
        "vertical",
        "breached",
    ):
        table.add_column(column)
    for n, c in enumerate(conflicts[:limit], 1):
        window = f"{c.window_start:%Y-%m-%d %H:%M}–{c.window_end:%m-%d %H:%M}"
        vertical = f"overlap {c.vertical_overlap_m:.0f} m" if c.vertical_gap_m == 0 else f"gap {c.vertical_gap_m:.0f} m"
        breached = ", ".join(sorted(d.value for d in c.breached)) or "overlap"
        table.add_row(
            str(n),
            f"{c.a.owner_id}/{c.a.index}",
            c.party_a,
            f"{c.b.owner_id}/{c.b.index}",
            c.party_b,
            window,
            f"{c.lateral_gap_m:,.0f} m (min {c.minima.lateral_m:,.0f})",
            vertical,
            breached,
        )
    return table


@app.command("engine-demo")
def engine_demo(
    volumes: Annotated[int, typer.Option(help="Volumes in the generated scenario.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Scenario seed (same seed, same scenario).")] = 7,
    show: Annotated[int, typer.Option(help="Conflicts to print.")] = 15,
) -> None:
    """Generate a fictional theatre, file its activities one by one, and print the conflicts."""
    minima = default_minima()
    t0 = time.perf_counter()
    items = generate(volumes, seed=seed)
    zones = [i for i in items if isinstance(i, Zone)]
    activities = [i for i in items if isinstance(i, Activity)]
    n_volumes = sum(len(i.volumes) for i in items)
    console.print(
        f"Scenario (seed {seed}): {len(zones):,} zones and {len(activities):,} activities, "
        f"{n_volumes:,} volumes, generated in {time.perf_counter() - t0:.1f} s."
    )
    engine = Engine(minima)
    t0 = time.perf_counter()
    half = len(activities) // 2
    engine.insert_many([*zones, *activities[:half]])
    console.print(
        f"Indexed {len(engine):,} volumes (zones and the first half of the plan) in {time.perf_counter() - t0:.1f} s."
    )
    online: list[Conflict] = []
    latencies = []
    for activity in activities[half:]:
        t0 = time.perf_counter()
        found = engine.check(activity)
        latencies.append(time.perf_counter() - t0)
        engine.insert(activity)
        online.extend(found)
    latencies.sort()
    p50 = latencies[len(latencies) // 2] * 1000 if latencies else 0.0
    console.print(
        f"Filed {len(activities) - half:,} activities online: {len(online):,} conflicts, check p50 {p50:.2f} ms."
    )
    t0 = time.perf_counter()
    batch = all_conflicts(items, minima)
    console.print(f"Batch check of the whole plan: {len(batch):,} conflicts in {time.perf_counter() - t0:.1f} s.")
    online_keys = {c.key for c in online}
    filed_late = {a.id for a in activities[half:]}
    expected = {c.key for c in batch if c.a.owner_id in filed_late or c.b.owner_id in filed_late}
    agree = "agree" if online_keys == expected else "DISAGREE"
    console.print(
        f"Online and batch results {agree} on the {len(expected):,} conflicts involving the filed activities."
    )
    zone_ids = {z.id for z in zones}
    moving = [c for c in batch if c.a.owner_id not in zone_ids or c.b.owner_id not in zone_ids]
    console.print(_table(sorted(moving, key=lambda c: c.window_start), show, "First conflicts involving activities"))
    if online_keys != expected:
        raise typer.Exit(1)


@app.command()
def conflicts(
    plan: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Plan file (JSON).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines instead of a table.")] = False,
    include_same_party: Annotated[bool, typer.Option(help="Also report conflicts within one party.")] = False,
) -> None:
    """Detect every conflict in a plan file.  Exit status 1 when there is at least one."""
    try:
        loaded = load_plan(plan)
        found = all_conflicts(loaded.items, loaded.minima, include_same_party=include_same_party)
    except DeconflictError as e:
        console.print(f"[red]error[/red] {e.field}: {e.reason}")
        raise typer.Exit(2) from None
    if as_json:
        for c in found:
            print(
                json.dumps(
                    {
                        "a": {"id": c.a.owner_id, "volume": c.a.index, "party": c.party_a},
                        "b": {"id": c.b.owner_id, "volume": c.b.index, "party": c.party_b},
                        "window": [c.window_start.isoformat(), c.window_end.isoformat()],
                        "time_gap_s": c.time_gap_s,
                        "lateral_gap_m": round(c.lateral_gap_m, 3),
                        "vertical_gap_m": round(c.vertical_gap_m, 3),
                        "vertical_overlap_m": round(c.vertical_overlap_m, 3),
                        "breached": sorted(d.value for d in c.breached),
                    }
                )
            )
    else:
        console.print(_table(found, len(found), f"{len(found)} conflict(s) in {plan.name}"))
    if found:
        raise typer.Exit(1)


@app.command()
def validate(plan: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Plan file (JSON).")]) -> None:
    """Check a plan file: every coordinate, altitude, time and footprint."""
    try:
        loaded = load_plan(plan)
        Engine(loaded.minima).insert_many(loaded.items)
    except DeconflictError as e:
        console.print(f"[red]error[/red] {e.field}: {e.reason}")
        raise typer.Exit(2) from None
    console.print(f"ok: {len(loaded.items)} item(s), {sum(len(i.volumes) for i in loaded.items)} volume(s)")


# the service's commands (demo, serve, init, party, user, token, import, export, status …)
register(app)
# F3548 DSS clients: their token authority and parties (deconflict uss …)
uss.register(app)
