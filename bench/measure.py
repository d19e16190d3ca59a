"""Measure every method at one size, on the same data, and compare their conflict sets.

:func:`run_size` is what the runner does for each size (in a fresh subprocess, so that
the memory figures start from a clean heap) and what the agreement test does in-process
at a tiny size.
"""

from __future__ import annotations

import cProfile
import gc
import hashlib
import io
import pstats
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from deconflict.engine import Engine, all_conflicts
from deconflict.model import Zone
from deconflict.scenario import default_minima, generate, horizon_days

from .agreement import Agreement, Explainer, compare
from .common import Budget, Flat, Item, Key, Minima, conflict_keys, flatten, guarded, planar_for, rss_bytes, settle
from .naive import Naive, naive_batch
from .postgis_method import PostGIS
from .strtree_method import StrTree, strtree_batch

PARTIES = ("alpha", "bravo")
_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class SizeConfig:
    n: int
    seed: int = 0
    checks: int = 1000  # engine, STRtree and PostGIS checks
    naive_checks: int = 20  # the naive loop is slow: fewer, the first of the same activities
    naive_batch: bool = False  # run the O(N²) naive batch at this size
    postgis: bool = True
    pg_batch_timeout_s: float | None = None
    pg_batch_every: int = 1  # > 1: time the self-join on every k-th outer row only, and scale (labelled)
    strtree_batch: bool = True
    tracemalloc: bool = True  # cross-check memory with a second, traced build
    engine_batch_timeout_s: float | None = None
    profile: bool = False  # cProfile the engine's checks
    profile_batch: bool = False  # cProfile the engine's batch (a second run)


@dataclass
class Latencies:
    ms: list[float]

    @property
    def p50(self) -> float:
        return float(np.percentile(self.ms, 50)) if self.ms else float("nan")

    @property
    def p99(self) -> float:
        return float(np.percentile(self.ms, 99)) if self.ms else float("nan")

    @property
    def mean(self) -> float:
        return float(np.mean(self.ms)) if self.ms else float("nan")


@dataclass
class Memory:
    volumes: int
    rss_growth_bytes: int  # RSS after build (inputs alive) minus RSS before build
    id_bytes: int  # the owner-id strings the index keeps (shared with the inputs)
    rss_after_drop_bytes: int | None  # RSS after the inputs are dropped minus RSS before generating them
    traced_bytes: int | None  # tracemalloc: Python + numpy bytes held by a second, traced build

    @property
    def rss_per_volume(self) -> float:
        return (self.rss_growth_bytes + self.id_bytes) / self.volumes

    @property
    def per_volume(self) -> float:
        """The figure judged against the target: the larger of the RSS and tracemalloc figures."""
        traced = self.traced_per_volume
        return self.rss_per_volume if traced is None else max(self.rss_per_volume, traced)

    @property
    def traced_per_volume(self) -> float | None:
        return None if self.traced_bytes is None else (self.traced_bytes + self.id_bytes) / self.volumes

    @property
    def native_per_volume(self) -> float | None:
        traced = self.traced_per_volume
        return None if traced is None else self.rss_per_volume - traced


@dataclass
class SizeResult:
    config: SizeConfig
    items: int = 0
    zones: int = 0
    volumes: int = 0
    horizon_days: float = 0.0
    generate_s: float = 0.0
    checked_activities: int = 0
    checked_volumes: int = 0
    engine_build_s: float = 0.0
    engine_check: Latencies = field(default_factory=lambda: Latencies([]))
    engine_batch_s: float = 0.0
    engine_batch_error: str | None = None  # the batch failed (memory budget or time limit)
    engine_batch_budget_bytes: int = 0
    engine_batch_conflicts: int = 0
    engine_check_conflicts: int = 0
    memory: Memory | None = None
    planar_s: float = 0.0  # projection + buffering of the indexed footprints (naive and STRtree)
    naive_check: Latencies = field(default_factory=lambda: Latencies([]))
    naive_batch_s: float | None = None
    strtree_build_s: float = 0.0
    strtree_check: Latencies = field(default_factory=lambda: Latencies([]))
    strtree_batch_s: float | None = None
    pg_copy_s: float | None = None
    pg_index_s: float | None = None
    pg_table_bytes: int | None = None
    pg_index_bytes: int | None = None
    pg_check: Latencies = field(default_factory=lambda: Latencies([]))
    pg_batch_s: float | None = None
    pg_batch_timed_out: bool = False
    pg_batch_measured_s: float | None = None  # the sampled join's own time, when sampled
    pg_plan: str = ""
    agreements: list[Agreement] = field(default_factory=list)
    profiles: dict[str, str] = field(default_factory=dict)
    engine_source: str = ""


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def fresh_activities(n: int, seed: int, count: int) -> list[Item]:
    """``count`` new activities from the same generator (another seed, same horizon)."""
    items = generate(
        4 * count, seed=seed + 10_000, parties=PARTIES, horizon=horizon_days(n), zones=False, id_prefix=f"c{seed}-"
    )
    return list(items[:count])


def _timed_checks(fn: Callable[[Item], set[Key]], activities: Sequence[Item]) -> tuple[Latencies, list[set[Key]]]:
    ms: list[float] = []
    found: list[set[Key]] = []
    for a in activities:
        t = time.perf_counter()
        keys = fn(a)
        ms.append((time.perf_counter() - t) * 1000.0)
        found.append(keys)
    return Latencies(ms), found


def _profile(fn: Callable[[], object], top: int = 18) -> str:
    prof = cProfile.Profile()
    prof.enable()
    fn()
    prof.disable()
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf)
    stats.sort_stats("tottime").print_stats(top)
    text = buf.getvalue()
    # Drop pstats' preamble; keep the header line and the rows, with paths shortened.
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls")), 0)
    body = [line.replace(sys.prefix + "/", "").replace(str(_ROOT) + "/", "") for line in lines[start:] if line.strip()]
    total = next((line.strip() for line in lines if "function calls" in line), "")
    return "\n".join([total, "", *body])


def _union(sets: Sequence[set[Key]]) -> set[Key]:
    out: set[Key] = set()
    for s in sets:
        out |= s
    return out


@dataclass
class _Run:
    """What the phases of one size share."""

    cfg: SizeConfig
    res: SizeResult
    log: Callable[[str], None]
    items: list[Item]
    fresh: list[Item]
    engine_sets: list[set[Key]] = field(default_factory=list)
    engine_batch: set[Key] = field(default_factory=set)
    explainer: Explainer | None = None
    flat: Flat | None = None
    by_id: dict[str, Flat] = field(default_factory=dict)

    def agree(self, method: str, path: str, runs: int, eng: set[Key], other: set[Key]) -> None:
        assert self.explainer is not None
        if path.startswith("batch") and self.res.engine_batch_error is not None:
            self.log(f"N={self.cfg.n}: {method} {path}: not compared (the engine's batch failed)")
            return
        ag = compare(method, path, self.res.volumes, runs, eng, other, self.explainer)
        self.res.agreements.append(ag)
        self.log(
            f"N={self.cfg.n}: {method} {path}: engine {ag.engine_pairs} / method {ag.method_pairs}, "
            f"{ag.engine_only} engine-only, {ag.method_only} method-only, {ag.not_borderline} not borderline"
        )


_TABLE = default_minima()
_MINIMA = Minima.of(_TABLE)


def _engine_phase(run: _Run) -> tuple[int, int]:
    """Build (timed, and RSS before/after), online checks, batch, optional profiles."""
    res, cfg, items, fresh, log = run.res, run.cfg, run.items, run.fresh, run.log
    settle()
    rss_items = rss_bytes()
    t = time.perf_counter()
    engine = Engine(_TABLE)
    engine.insert_many(items)
    res.engine_build_s = time.perf_counter() - t
    engine.check(fresh[0])  # first use merges the store: measure the steady state
    settle()
    rss_engine = rss_bytes()
    log(f"N={cfg.n}: engine built in {res.engine_build_s:.1f} s")

    for a in fresh[:20]:  # warm-up
        engine.check(a)
    lat, run.engine_sets = _timed_checks(lambda a: conflict_keys(engine.check(a)), fresh)
    res.engine_check = lat
    res.engine_check_conflicts = sum(len(s) for s in run.engine_sets)
    log(f"N={cfg.n}: engine check p50 {lat.p50:.3f} ms p99 {lat.p99:.3f} ms")
    t = time.perf_counter()
    try:
        with guarded(cfg.engine_batch_timeout_s) as budget:
            res.engine_batch_budget_bytes = budget
            batch = all_conflicts(items, _TABLE)
            res.engine_batch_s = time.perf_counter() - t
    except Budget as e:
        res.engine_batch_s = time.perf_counter() - t
        res.engine_batch_error = str(e)
        settle()
        log(f"N={cfg.n}: engine batch FAILED after {res.engine_batch_s:.0f} s: {e}")
    else:
        run.engine_batch = conflict_keys(batch)
        res.engine_batch_conflicts = len(run.engine_batch)
        del batch
        log(f"N={cfg.n}: engine batch {res.engine_batch_s:.1f} s, {res.engine_batch_conflicts} conflicts")

    if cfg.profile:
        sample = fresh[: min(len(fresh), 300)]
        res.profiles[f"engine.check, {len(sample)} checks, by own time"] = _profile(
            lambda: [engine.check(a) for a in sample]
        )
    if cfg.profile_batch and res.engine_batch_error is None:
        res.profiles["all_conflicts, by own time (a second run, under cProfile)"] = _profile(
            lambda: all_conflicts(items, _TABLE)
        )
    if cfg.profile or cfg.profile_batch:
        log(f"N={cfg.n}: profiled")
    return rss_items, rss_engine


def _planar_phase(run: _Run) -> None:
    """(a) the naive loop and (b) the STRtree, on the same projected, buffered footprints."""
    res, cfg, fresh, log, flat, by_id = run.res, run.cfg, run.fresh, run.log, run.flat, run.by_id
    assert flat is not None
    planar = planar_for(flat)
    t = time.perf_counter()
    geoms = planar.buffered(flat)
    res.planar_s = time.perf_counter() - t
    naive = Naive(flat, _MINIMA, planar, geoms)
    k = min(cfg.naive_checks, len(fresh))
    lat, naive_sets = _timed_checks(lambda a: naive.check(by_id[a.id]), fresh[:k])
    res.naive_check = lat
    run.agree("naive", "check", k, _union(run.engine_sets[:k]), _union(naive_sets))
    log(f"N={cfg.n}: naive check p50 {lat.p50:.1f} ms over {k}")
    if cfg.naive_batch:
        keys, res.naive_batch_s = naive_batch(flat, _MINIMA, planar)
        run.agree("naive", "batch", 1, run.engine_batch, keys)

    tree = StrTree(flat, _MINIMA, planar, geoms)
    res.strtree_build_s = tree.setup_s
    lat, tree_sets = _timed_checks(lambda a: tree.check(by_id[a.id]), fresh)
    res.strtree_check = lat
    run.agree("STRtree", "check", len(fresh), _union(run.engine_sets), _union(tree_sets))
    log(f"N={cfg.n}: STRtree check p50 {lat.p50:.3f} ms p99 {lat.p99:.3f} ms")
    if cfg.strtree_batch:
        keys, res.strtree_batch_s = strtree_batch(flat, _MINIMA, planar)
        run.agree("STRtree", "batch", 1, run.engine_batch, keys)
        log(f"N={cfg.n}: STRtree batch {res.strtree_batch_s:.1f} s")


def _postgis_phase(run: _Run, dsn: str) -> None:
    """(c) PostgreSQL + PostGIS: load, checks, self-join."""
    res, cfg, fresh, log, flat, by_id = run.res, run.cfg, run.fresh, run.log, run.flat, run.by_id
    assert flat is not None
    pg = PostGIS(dsn, flat, _MINIMA)
    try:
        res.pg_copy_s, res.pg_index_s = pg.stats.copy_s, pg.stats.index_s
        res.pg_table_bytes, res.pg_index_bytes = pg.stats.table_bytes, pg.stats.index_bytes
        log(f"N={cfg.n}: PostGIS loaded in {pg.stats.copy_s:.1f} s, indexed in {pg.stats.index_s:.1f} s")
        for a in fresh[:20]:  # warm-up (and past psycopg's prepare threshold)
            pg.check(by_id[a.id])
        lat, pg_sets = _timed_checks(lambda a: pg.check(by_id[a.id]), fresh)
        res.pg_check = lat
        run.agree("PostGIS", "check", len(fresh), _union(run.engine_sets), _union(pg_sets))
        log(f"N={cfg.n}: PostGIS check p50 {lat.p50:.3f} ms p99 {lat.p99:.3f} ms")
        every = max(1, cfg.pg_batch_every)
        res.pg_plan = pg.explain_batch(every)
        pg_keys, elapsed = pg.batch(cfg.pg_batch_timeout_s, every)
        res.pg_batch_s = elapsed * every
        if every > 1:
            res.pg_batch_measured_s = elapsed
        if pg_keys is None:
            res.pg_batch_timed_out = True
            log(f"N={cfg.n}: PostGIS batch stopped after {elapsed:.0f} s (timeout)")
            return
        engine_keys = run.engine_batch
        if every > 1:
            row = {flat.ref(i): i for i in range(len(flat))}
            engine_keys = {k for k in engine_keys if min(row[k[0]], row[k[1]]) % every == 0}
            pg_keys = {k for k in pg_keys if min(row[k[0]], row[k[1]]) % every == 0}
        run.agree("PostGIS", "batch" if every == 1 else f"batch (1/{every} of rows)", 1, engine_keys, pg_keys)
        log(f"N={cfg.n}: PostGIS batch {elapsed:.1f} s" + (f" on 1/{every} of the outer rows" if every > 1 else ""))
    finally:
        pg.close()


_CORE_SOURCES = ("model.py", "geo.py", "lateral.py", "grid.py", "engine.py", "scenario.py")


def _engine_source() -> str:
    """Which engine was measured: git commit (+ dirty flag) and a digest of the core sources."""
    src = _ROOT / "src" / "deconflict"
    digest = hashlib.sha256()
    for name in _CORE_SOURCES:
        path = src / name
        if path.exists():
            digest.update(name.encode() + b"\0" + path.read_bytes())
    try:
        rev = subprocess.run(
            ["git", "-C", str(_ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        rev = "unknown"
    return f"git {rev}; sha256 of the core sources {digest.hexdigest()[:16]}"


def run_size(cfg: SizeConfig, dsn: str | None, log: Callable[[str], None] = _log) -> SizeResult:
    if cfg.postgis and dsn is None:
        raise RuntimeError("PostGIS measurements need a server (dsn)")
    res = SizeResult(cfg)
    res.engine_source = _engine_source()
    settle()
    rss_start = rss_bytes()

    t = time.perf_counter()
    items = generate(cfg.n, seed=cfg.seed, parties=PARTIES)
    res.generate_s = time.perf_counter() - t
    res.items = len(items)
    res.zones = sum(isinstance(i, Zone) for i in items)
    res.volumes = sum(len(i.volumes) for i in items)
    res.horizon_days = horizon_days(cfg.n)
    fresh = fresh_activities(cfg.n, cfg.seed, cfg.checks)
    res.checked_activities = len(fresh)
    res.checked_volumes = sum(len(a.volumes) for a in fresh)
    log(f"N={cfg.n}: generated {res.items} items in {res.generate_s:.1f} s; {len(fresh)} fresh activities")
    id_bytes = sum(sys.getsizeof(i.id) for i in items)

    run = _Run(cfg, res, log, items, fresh)
    rss_items, rss_engine = _engine_phase(run)
    run.explainer = Explainer({i.id: i for i in [*items, *fresh]}, _TABLE)
    run.flat = flatten(items, PARTIES)
    run.by_id = {a.id: flatten([a], PARTIES) for a in fresh}
    _planar_phase(run)
    if cfg.postgis:
        assert dsn is not None
        _postgis_phase(run, dsn)
    del run

    # --- memory, cross-checked with tracemalloc on a second build --------------------------
    traced: int | None = None
    rss_dropped: int | None = None
    if cfg.tracemalloc:
        settle()
        tracemalloc.start()
        try:
            with guarded(None):
                second = Engine(_TABLE)
                second.insert_many(items)
                second.check(fresh[0])
                gc.collect()
                traced = tracemalloc.get_traced_memory()[0]
        except Budget as e:
            log(f"N={cfg.n}: traced build failed: {e}")
            second = None
        tracemalloc.stop()
        del items, fresh
        settle()
        if second is not None:
            rss_dropped = rss_bytes() - rss_start
        del second
    res.memory = Memory(res.volumes, rss_engine - rss_items, id_bytes, rss_dropped, traced)
    log(f"N={cfg.n}: memory {res.memory.per_volume:.0f} B/volume")
    return res
