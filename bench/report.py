"""Turn measured results into the printed table and ``docs/benchmarks.md``.

Every number written comes from the results; nothing here is a constant of the run.
"""

from __future__ import annotations

import math
import os
import platform
from dataclasses import dataclass
from importlib import metadata

import pyproj
import shapely

from deconflict.model import SeparationMinima
from deconflict.scenario import Theatre, default_minima

from .agreement import TOL_ABS_M, TOL_REL_DISTANCE, TOL_REL_RADIUS, Agreement
from .measure import SizeResult

CHECK_P50_MS = 1.0
CHECK_P99_MS = 5.0
BATCH_S = 30.0
SPEEDUP = 10.0
MEMORY_BYTES = 1.5 * 1024
TARGET_N = 1_000_000


@dataclass
class Target:
    name: str
    measured: str
    target: str
    met: bool | None  # None: could not be measured

    @property
    def verdict(self) -> str:
        return "not measured" if self.met is None else ("met" if self.met else "**not met**")


def machine() -> dict[str, str]:
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = "unknown"
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal"):
                    mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                    break
    except OSError:
        pass
    versions = []
    for pkg in ("numpy", "shapely", "pyproj", "psycopg"):
        try:
            versions.append(f"{pkg} {metadata.version(pkg)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{pkg} (absent)")
    versions.append(f"GEOS {shapely.geos_version_string}")
    versions.append(f"PROJ {pyproj.proj_version_str}")
    return {
        "CPUs (nproc)": str(len(os.sched_getaffinity(0))),
        "CPU model": model,
        "RAM": mem,
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "Libraries": ", ".join(versions),
    }


def _ms(x: float | None) -> str:
    if x is None or math.isnan(x):
        return "—"
    return f"{x:.3f} ms" if x < 10 else f"{x:.1f} ms"


def _s(x: float | None) -> str:
    if x is None or math.isnan(x):
        return "—"
    return f"{x:.2f} s" if x < 100 else f"{x:.0f} s"


def _n(n: int) -> str:
    return f"{n:,}".replace(",", " ")


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b <= 0 or math.isnan(a) or math.isnan(b):
        return None
    return a / b


def _vs(x: float | None, r: SizeResult, prefix: str = "") -> str:
    """``x`` relative to the engine's batch time, or a dash when the engine's batch failed."""
    if x is None or r.engine_batch_error is not None or r.engine_batch_s <= 0:
        return "—"
    return f"{prefix}{x / r.engine_batch_s:.1f}×"


def _agreements(results: list[SizeResult]) -> list[Agreement]:
    return [a for r in results for a in r.agreements]


def targets(results: list[SizeResult]) -> list[Target]:
    big = [r for r in results if r.config.n == TARGET_N]
    ref = big[0] if big else max(results, key=lambda r: r.config.n)
    at = f"at N = {_n(ref.volumes)}"
    out: list[Target] = []
    e = ref.engine_check
    out.append(Target(f"Online check p50 {at}", _ms(e.p50), f"≤ {CHECK_P50_MS:g} ms", e.p50 <= CHECK_P50_MS))
    out.append(Target(f"Online check p99 {at}", _ms(e.p99), f"≤ {CHECK_P99_MS:g} ms", e.p99 <= CHECK_P99_MS))
    r50 = _ratio(ref.pg_check.p50, e.p50)
    r99 = _ratio(ref.pg_check.p99, e.p99)
    out.append(
        Target(
            f"Online check vs PostGIS {at} (p50 ratio; p99 ratio in brackets)",
            "—" if r50 is None else f"{r50:.1f}× ({r99:.1f}×)" if r99 is not None else f"{r50:.1f}×",
            f"≥ {SPEEDUP:g}×",
            None if r50 is None else r50 >= SPEEDUP,
        )
    )
    if ref.engine_batch_error is not None:
        failed = f"did not complete: {ref.engine_batch_error} (after {_s(ref.engine_batch_s)})"
        out.append(Target(f"Batch all_conflicts {at}", failed, f"≤ {BATCH_S:g} s", False))
        out.append(
            Target(
                f"Batch vs PostGIS self-join {at}", "— (the engine's batch did not complete)", f"≥ {SPEEDUP:g}×", False
            )
        )
    else:
        out.append(
            Target(
                f"Batch all_conflicts {at}", _s(ref.engine_batch_s), f"≤ {BATCH_S:g} s", ref.engine_batch_s <= BATCH_S
            )
        )
    if ref.engine_batch_error is not None:
        pass  # both batch targets already stated above
    elif ref.pg_batch_s is None:
        out.append(Target(f"Batch vs PostGIS self-join {at}", "—", f"≥ {SPEEDUP:g}×", None))
    else:
        ratio = ref.pg_batch_s / ref.engine_batch_s
        if ref.pg_batch_timed_out:
            out.append(
                Target(
                    f"Batch vs PostGIS self-join {at}",
                    f"> {ratio:.1f}× (self-join stopped at {_s(ref.pg_batch_s)})",
                    f"≥ {SPEEDUP:g}×",
                    True if ratio >= SPEEDUP else None,
                )
            )
        elif ref.pg_batch_measured_s is not None:
            every = ref.config.pg_batch_every
            out.append(
                Target(
                    f"Batch vs PostGIS self-join {at}",
                    f"{ratio:.1f}× (self-join estimated: {_s(ref.pg_batch_measured_s)} on 1/{every} of the outer rows"
                    f" × {every})",
                    f"≥ {SPEEDUP:g}×",
                    ratio >= SPEEDUP,
                )
            )
        else:
            out.append(Target(f"Batch vs PostGIS self-join {at}", f"{ratio:.1f}×", f"≥ {SPEEDUP:g}×", ratio >= SPEEDUP))
    if ref.memory is not None:
        per = ref.memory.per_volume
        out.append(
            Target(
                f"Memory per indexed volume {at}",
                f"{per:.0f} B ({per / 1024:.2f} KiB)",
                "≤ 1.5 KiB",
                per <= MEMORY_BYTES,
            )
        )
    ags = _agreements(results)
    identical = sum(a.identical for a in ags)
    bad = sum(a.not_borderline for a in ags)
    border = sum(a.borderline for a in ags)
    out.append(
        Target(
            "Same conflict sets as the engine (every method, path and size)",
            f"{identical}/{len(ags)} comparisons identical; {border} borderline pair(s), {bad} other difference(s)",
            "identical (planar/spherical methods: borderline pairs only)",
            bad == 0,
        )
    )
    return out


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def _minima_rows() -> list[list[str]]:
    table = default_minima()
    groups: dict[SeparationMinima, list[str]] = {}
    normal: dict[frozenset[str], SeparationMinima] = object.__getattribute__(table, "_normal")
    for kinds, m in normal.items():
        pair = sorted(kinds)
        groups.setdefault(m, []).append(" – ".join(pair) if len(pair) == 2 else f"{pair[0]} – {pair[0]}")
    rows = [[f"{m.lateral_m:g}", f"{m.vertical_m:g}", f"{m.time_s:g}", "; ".join(sorted(v))] for m, v in groups.items()]
    d = table.default
    rows.append([f"{d.lateral_m:g}", f"{d.vertical_m:g}", f"{d.time_s:g}", "every other pair (default)"])
    return rows


def console_table(results: list[SizeResult]) -> str:
    lines = []
    head = f"{'N':>10} {'method':<8} {'check p50':>11} {'check p99':>11} {'batch':>12} {'build/load':>11}"
    lines.append(head)
    for r in results:
        rows = [
            ("engine", r.engine_check.p50, r.engine_check.p99, r.engine_batch_s, r.engine_build_s),
            ("naive", r.naive_check.p50, r.naive_check.p99, r.naive_batch_s, r.planar_s),
            ("STRtree", r.strtree_check.p50, r.strtree_check.p99, r.strtree_batch_s, r.planar_s + r.strtree_build_s),
            ("PostGIS", r.pg_check.p50, r.pg_check.p99, r.pg_batch_s, (r.pg_copy_s or 0) + (r.pg_index_s or 0)),
        ]
        for name, p50, p99, batch, build in rows:
            b = _s(batch) if name != "engine" or r.engine_batch_error is None else "FAILED"
            if name == "PostGIS" and r.pg_batch_timed_out:
                b = ">" + b
            elif name == "PostGIS" and r.pg_batch_measured_s is not None:
                b = "~" + b
            lines.append(f"{_n(r.volumes):>10} {name:<8} {_ms(p50):>11} {_ms(p99):>11} {b:>12} {_s(build):>11}")
    lines.append("")
    for t in targets(results):
        lines.append(f"{t.verdict:>14}  {t.name}: {t.measured} (target {t.target})")
    return "\n".join(lines)


def markdown(
    results: list[SizeResult], command: str, started: str, load: tuple[str, str], extra: dict[str, str]
) -> str:
    out: list[str] = []
    out.append("# Benchmarks: the conflict engine against three common alternatives")
    out.append("")
    out.append(
        f"Generated by `bench/run.py` on {started}. Every number below was measured in that run; rerun to refresh:"
    )
    out.append("")
    out.append("```")
    out.append(command)
    out.append("```")
    out.append("")
    out.append("## Machine")
    out.append("")
    info = machine()
    info.update(extra)
    info["Load average (1/5/15 min) at start / end"] = f"{load[0]} / {load[1]}"
    sources = sorted({r.engine_source for r in results})
    info["Engine measured"] = " | ".join(sources) + (
        "" if len(sources) == 1 else " (**the sources changed during the run**)"
    )
    out += _table(["", ""], [[k, v] for k, v in info.items()])
    out.append("")
    out.append(
        "The load average shows whether anything else ran on the machine meanwhile; with 2 CPUs, a "
        "load above ~1 means the benchmark shared its cores."
    )
    out.append("")

    out.append("## Targets")
    out.append("")
    out += _table(
        ["Target", "Measured", "Target value", "Verdict"],
        [[t.name, t.measured, t.target, t.verdict] for t in targets(results)],
    )
    out.append("")
    out += _limits(results)

    out.append("## Scenario")
    out.append("")
    th = Theatre()
    out.append(
        "`deconflict.scenario.generate(N, seed)`: a fictional theatre of "
        f"{th.width_m / 1000:g} × {th.height_m / 1000:g} km about lon {th.centre[0]:g}°, lat {th.centre[1]:g}° "
        f"(western {th.sea_fraction:.0%} sea), two parties; activities start "
        f"uniformly over a horizon of N / {th.volumes_per_day:g} days (≥ 1), so the density stays at "
        f"~{th.volumes_per_day:g} volumes a day whatever N; zones are {th.zone_share:.0%} of the volumes, at most "
        f"{_n(th.max_zones)}, most valid for the whole horizon. Checks use fresh activities from the same generator "
        "(another seed, same horizon), never inserted."
    )
    out.append("")
    rows = []
    for r in results:
        rows.append(
            [
                _n(r.volumes),
                str(r.config.seed),
                _n(r.items),
                _n(r.zones),
                f"{r.horizon_days:g}",
                _s(r.generate_s),
                f"{_n(r.checked_activities)} ({_n(r.checked_volumes)} volumes)",
                _n(r.engine_batch_conflicts) if r.engine_batch_error is None else "— (the engine's batch failed)",
            ]
        )
    out += _table(
        [
            "Volumes N",
            "Seed",
            "Items",
            "Zones",
            "Horizon (days)",
            "Generated in",
            "Checks (activities)",
            "Conflicts in the batch",
        ],
        rows,
    )
    out.append("")
    out.append("Separation minima (`deconflict.scenario.default_minima()`), lateral m / vertical m / time s:")
    out.append("")
    out += _table(["Lateral", "Vertical", "Time", "Pairs of kinds"], _minima_rows())
    out.append("")

    out.append("## Methods")
    out.append("")
    out.append(
        "* **engine** — `deconflict.Engine`: `insert_many` builds the index; `check(activity)` is the online path; "
        "`all_conflicts(items)` the batch (validation and preparation of every footprint included)."
    )
    out.append(
        "* **(a) naive** — what most code does: project every footprint once with a pyproj `Transformer` to an "
        "azimuthal equidistant CRS about the data's centre, `buffer` it by its radius, then per check loop in Python "
        "over every indexed volume: party, time, altitude, then `shapely.distance` against the minimum. Its batch is "
        "the double loop over all pairs — O(N²), so it is measured at a small N only and extrapolated (labelled)."
    )
    out.append(
        "* **(b) STRtree** — the same projected, buffered footprints in a `shapely.STRtree`; a check queries it with "
        "each candidate's bounding box grown by the largest lateral minimum, then filters the candidates exactly and "
        "vectorised (party, time, altitude, `shapely.distance` against the pair's minimum). The tree is 2-D, so "
        "the batch walks the horizon in one-day slices, one tree per slice, each pair kept once."
    )
    out.append(
        "* **(c) PostGIS** — PostgreSQL + PostGIS (server settings below): a table of geography cores, radius, "
        "`tstzrange` window and altitude band, loaded with `COPY`; GiST on the geography and GiST on the range. "
        "A check is one prepared query per candidate volume: `ST_DWithin(core, $core, r_a + r_b + L)` with the "
        "pair's minima joined from a minima table, `&&` on the window widened by `T`, the altitude test — plus the "
        "same conditions with the largest minima so that the indexes apply. The batch is the self-join."
    )
    out.append("")

    for r in results:
        out += _size_section(r)

    out.append("## Agreement of the conflict sets")
    out.append("")
    out.append(
        "Each method's conflicts are compared with the engine's as sets of unordered pairs "
        "((owner id, volume index), (owner id, volume index)); for the check path, over all the checks compared. "
        "Every pair found by one side only is recomputed: the engine's gap with `deconflict.lateral.core_distance`, "
        "the pair's minima, and the time and altitude tests. It is *borderline* when time and altitude do not "
        "separate the pair and |gap − lateral minimum| ≤ "
        f"{TOL_ABS_M:g} m + {TOL_REL_RADIUS:.1%} × (r_a + r_b) + {TOL_REL_DISTANCE:.1%} × D_core — the error budget of "
        "the approximations: shapely's buffer is a polygon inscribed in the circle (up to 0.48 % of the radius short "
        "with 8 segments a quarter circle), one projection over the whole theatre stretches distances by up to ~0.1 %, "
        "and PostGIS's geography edges are great-circle arcs on a sphere, not geodesics on the ellipsoid. "
        "Any other difference would be a real discrepancy and is counted as such."
    )
    out.append("")
    rows = []
    for a in _agreements(results):
        rows.append(
            [
                a.method,
                a.path,
                _n(a.size),
                str(a.runs),
                _n(a.engine_pairs),
                _n(a.method_pairs),
                str(a.engine_only),
                str(a.method_only),
                str(a.borderline),
                str(a.not_borderline),
                "—" if a.worst_margin_m is None else f"{a.worst_margin_m:.1f} m",
            ]
        )
    out += _table(
        [
            "Method",
            "Path",
            "N",
            "Runs",
            "Engine pairs",
            "Method pairs",
            "Engine only",
            "Method only",
            "Borderline",
            "Not borderline",
            "Worst |gap − min|",
        ],
        rows,
    )
    out.append("")
    examples = [(a, d) for a in _agreements(results) for d in a.examples]
    if examples:
        out.append("Differences, worst first per comparison (gap = engine's geodesic gap):")
        out.append("")
        rows = [
            [
                f"{a.method} {a.path} N={_n(a.size)}",
                f"{d.pair[0][0]}/{d.pair[0][1]} – {d.pair[1][0]}/{d.pair[1][1]}",
                d.side,
                f"{d.gap_m:.1f} m",
                f"{d.minimum_m:g} m",
                f"{d.margin_m:.1f} m",
                f"{d.tolerance_m:.1f} m",
                "yes" if d.borderline else "**no**",
            ]
            for a, d in examples
        ]
        out += _table(
            ["Comparison", "Pair", "Found by", "Gap", "Minimum", "|gap − min|", "Tolerance", "Borderline"], rows
        )
        out.append("")

    out += _memory_section(results)
    out += _profiles(results)
    return "\n".join(out) + "\n"


def _size_section(r: SizeResult) -> list[str]:
    out = [f"## N = {_n(r.volumes)} volumes", ""]
    out.append(
        f"Online check of {_n(r.checked_activities)} fresh activities ({_n(r.checked_volumes)} volumes, ≤ 4 each) "
        f"against the N indexed volumes; the naive loop over the first {len(r.naive_check.ms)} of them."
    )
    out.append("")
    e = r.engine_check
    rows = []
    for name, lat in (("engine", e), ("naive", r.naive_check), ("STRtree", r.strtree_check), ("PostGIS", r.pg_check)):
        if not lat.ms:
            continue
        rel50, rel99 = _ratio(lat.p50, e.p50), _ratio(lat.p99, e.p99)
        rows.append(
            [
                name,
                str(len(lat.ms)),
                _ms(lat.p50),
                _ms(lat.p99),
                _ms(lat.mean),
                "—" if name == "engine" or rel50 is None else f"{rel50:.1f}×",
                "—" if name == "engine" or rel99 is None else f"{rel99:.1f}×",
            ]
        )
    out += _table(["Method", "Checks", "p50", "p99", "Mean", "p50 / engine", "p99 / engine"], rows)
    out.append("")
    out.append("Batch — every conflicting pair among the N volumes, and the one-off costs:")
    out.append("")
    engine_batch = (
        _s(r.engine_batch_s)
        if r.engine_batch_error is None
        else f"**did not complete**: {r.engine_batch_error} (after {_s(r.engine_batch_s)})"
    )
    rows = [["engine `all_conflicts`", engine_batch, "—", f"`insert_many` {_s(r.engine_build_s)}"]]
    if r.naive_batch_s is not None:
        rows.append(
            [
                "naive double loop",
                _s(r.naive_batch_s),
                _vs(r.naive_batch_s, r),
                f"project + buffer {_s(r.planar_s)}",
            ]
        )
    else:
        rows.append(
            ["naive double loop", "not run (O(N²); see extrapolation below)", "—", f"project + buffer {_s(r.planar_s)}"]
        )
    if r.strtree_batch_s is not None:
        rows.append(
            [
                "STRtree, one-day slices",
                _s(r.strtree_batch_s),
                _vs(r.strtree_batch_s, r),
                f"tree {_s(r.strtree_build_s)}",
            ]
        )
    if r.pg_batch_s is not None:
        load = f"COPY {_s(r.pg_copy_s)}, indexes + ANALYZE {_s(r.pg_index_s)}"
        if r.pg_batch_timed_out:
            rows.append(
                [
                    "PostGIS self-join",
                    f"> {_s(r.pg_batch_s)} (stopped: timeout)",
                    _vs(r.pg_batch_s, r, "> "),
                    load,
                ]
            )
        elif r.pg_batch_measured_s is not None:
            every = r.config.pg_batch_every
            rows.append(
                [
                    "PostGIS self-join",
                    f"~{_s(r.pg_batch_s)} (**estimated**: {_s(r.pg_batch_measured_s)} measured on the outer rows"
                    f" with id % {every} = 0, × {every})",
                    _vs(r.pg_batch_s, r, "~"),
                    load,
                ]
            )
        else:
            rows.append(["PostGIS self-join", _s(r.pg_batch_s), _vs(r.pg_batch_s, r), load])
    out += _table(["Method", "Batch time", "/ engine", "Build / load"], rows)
    out.append("")
    return out


def naive_extrapolation(results: list[SizeResult]) -> list[str]:
    small = [r for r in results if r.naive_batch_s is not None]
    if not small:
        return []
    s = min(small, key=lambda r: r.volumes)
    assert s.naive_batch_s is not None
    out = [
        f"**Naive batch, extrapolated** (not measured): the double loop took {_s(s.naive_batch_s)} for "
        f"N = {_n(s.volumes)} ({_n(s.volumes * (s.volumes - 1) // 2)} pairs). Scaling by (N / {_n(s.volumes)})² "
        "(the pair loop dominates) gives:",
        "",
    ]
    rows = []
    for r in results:
        if r.naive_batch_s is not None and r is s:
            continue
        est = s.naive_batch_s * (r.volumes / s.volumes) ** 2
        rows.append([_n(r.volumes), f"~{_s(est)} (~{est / 3600:.1f} h)", _vs(est, r, "~")])
    out += _table(["N", "Extrapolated naive batch", "/ engine batch (measured)"], rows)
    out.append("")
    return out


def _memory_section(results: list[SizeResult]) -> list[str]:
    out = ["## Memory per indexed volume", ""]
    out.append(
        "Measured in the subprocess that runs each size, so that the heap starts clean. "
        "**RSS growth**: resident set size (`/proc/self/statm`) after `Engine.insert_many` and a first check, minus "
        "before, both after `gc.collect()` and glibc `malloc_trim(0)` (so freed pages go back to the OS); the input "
        "objects stay alive throughout, so what grows is the index — its numpy columns, the Python lists and dicts it "
        "keeps, and anything native libraries allocate outside Python's allocator. The owner-id strings the index "
        "references are shared with the inputs, so their size (`sys.getsizeof`) is added. **tracemalloc**: a second "
        "build of the same index under `tracemalloc`, which sees Python objects and numpy buffers (numpy reports its "
        "allocations to it) but not native allocations, plus the same id strings; the difference with the RSS figure "
        "is the native part (or, when negative, allocator slack). **RSS after dropping the inputs**: RSS with only the "
        "(second) index alive minus RSS before the scenario was generated — an upper bound, as it also counts heap "
        "fragmentation and whatever else the run left behind. The target is judged on the larger of the first two: "
        "RSS growth can come out low when the index reuses pages the scenario generator freed, tracemalloc misses "
        "native allocations."
    )
    out.append("")
    rows = []
    for r in results:
        m = r.memory
        if m is None:
            continue
        traced = m.traced_per_volume
        native = m.native_per_volume
        dropped = None if m.rss_after_drop_bytes is None else m.rss_after_drop_bytes / m.volumes
        rows.append(
            [
                _n(m.volumes),
                f"{m.rss_per_volume:.0f} B",
                "—" if traced is None else f"{traced:.0f} B",
                f"**{m.per_volume:.0f} B**",
                "—" if native is None else f"{native:.0f} B",
                "—" if dropped is None else f"{dropped:.0f} B",
                f"{m.id_bytes / m.volumes:.0f} B",
            ]
        )
    out += _table(
        [
            "N",
            "RSS growth + ids (per volume)",
            "tracemalloc + ids",
            "judged (the larger)",
            "native (RSS − traced)",
            "RSS after dropping inputs",
            "of which id strings",
        ],
        rows,
    )
    out.append("")
    pg = [r for r in results if r.pg_table_bytes is not None]
    if pg:
        out.append(
            "For comparison, PostgreSQL's on-disk size of the table and its two GiST indexes: "
            + "; ".join(
                f"N = {_n(r.volumes)}: {(r.pg_table_bytes or 0) / r.volumes:.0f} B"
                f" + {(r.pg_index_bytes or 0) / r.volumes:.0f} B a volume"
                for r in pg
            )
            + "."
        )
        out.append("")
    return out


def _limits(results: list[SizeResult]) -> list[str]:
    out: list[str] = []
    missed = [t for t in targets(results) if t.met is False]
    out += naive_extrapolation(results)
    if missed:
        out.append(
            "Targets not met: " + "; ".join(f"{t.name} ({t.measured})" for t in missed) + ". "
            "The profiles at the end show where the engine's time goes."
        )
        out.append("")
    return out


def _profiles(results: list[SizeResult]) -> list[str]:
    out: list[str] = []
    for r in results:
        for title, text in r.profiles.items():
            out.append(f"## Profile: {title} (N = {_n(r.volumes)})")
            out.append("")
            out.append("```")
            out.append(text.rstrip())
            out.append("```")
            out.append("")
    plans = [r for r in results if r.pg_plan]
    if plans:
        r = max(plans, key=lambda r: r.volumes)
        out.append(f"## PostGIS batch plan (N = {_n(r.volumes)}, `EXPLAIN`)")
        out.append("")
        out.append("```")
        out.append(r.pg_plan.rstrip())
        out.append("```")
        out.append("")
    return out
