"""Benchmark runner: the engine against a naive loop, a shapely STRtree and PostGIS.

    python bench/run.py --sizes 100000,1000000 --seed 0 --checks 1000 --out docs/benchmarks.md
    python bench/run.py --quick            # tiny sizes, a minute or so

Starts a throw-away PostgreSQL + PostGIS server (``deconflict.devtools.local_postgres``),
then measures each size in a fresh subprocess (so memory figures start from a clean
heap): scenario generation, the engine's build, online checks and batch, the three
baselines on the same data, and the agreement of every conflict set with the engine's.
A small extra size (``--naive-batch-size``) runs the O(N²) naive batch too.  Prints a
table and writes the Markdown report.
"""

from __future__ import annotations

import argparse
import os
import pickle
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(_ROOT))

from bench.hotline_fanout import BEGIN as HOTLINE_BEGIN  # noqa: E402
from bench.hotline_fanout import END as HOTLINE_END  # noqa: E402
from bench.ledger_verify import BEGIN as LEDGER_BEGIN  # noqa: E402
from bench.ledger_verify import END as LEDGER_END  # noqa: E402
from bench.measure import SizeConfig, SizeResult, run_size  # noqa: E402
from bench.report import console_table, markdown  # noqa: E402
from bench.service_load import carry_section  # noqa: E402
from deconflict.devtools import local_postgres  # noqa: E402

#: Server settings for the PostGIS baseline (given a fair amount of memory).
PG_SETTINGS = {
    "shared_buffers": "2GB",
    "effective_cache_size": "8GB",
    "work_mem": "256MB",
    "maintenance_work_mem": "2GB",
    "max_parallel_workers_per_gather": "2",
    "random_page_cost": "1.1",
}


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--sizes", default="100000,1000000", help="comma-separated numbers of volumes (default: %(default)s)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checks", type=int, default=1000, help="online checks per size (engine, STRtree, PostGIS)")
    p.add_argument("--naive-checks", type=int, default=20, help="online checks by the naive loop per size")
    p.add_argument(
        "--naive-batch-size", type=int, default=3000, help="N of the extra size where the O(N²) naive batch runs"
    )
    p.add_argument(
        "--pg-batch-timeout", type=float, default=600.0, help="seconds before the PostGIS self-join is stopped"
    )
    p.add_argument(
        "--pg-batch-sample",
        type=int,
        default=0,
        help="time the PostGIS self-join on 1/K of the outer rows and scale by K (0: K = 1 up to N = 20 000, else"
        " N / 5 000)",
    )
    p.add_argument(
        "--engine-batch-timeout",
        type=float,
        default=1200.0,
        help="seconds before the engine's batch is stopped (it also stops when it would exhaust the memory)",
    )
    p.add_argument("--no-postgis", action="store_true", help="skip the PostGIS baseline")
    p.add_argument("--no-profile", action="store_true", help="skip the cProfile of the engine at the largest size")
    p.add_argument("--out", type=Path, default=None, help="write the Markdown report here")
    p.add_argument("--quick", action="store_true", help="tiny sizes (2 000 and 10 000), 100 checks: a smoke run")
    p.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--dsn", default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def _worker(args: argparse.Namespace) -> int:
    cfg: SizeConfig = pickle.loads(args.worker.read_bytes())
    result = run_size(cfg, args.dsn)
    args.result.write_bytes(pickle.dumps(result))
    return 0


def _run_in_subprocess(cfg: SizeConfig, dsn: str | None, tmp: Path) -> SizeResult:
    cfg_path = tmp / f"cfg-{cfg.n}.pickle"
    out_path = tmp / f"result-{cfg.n}.pickle"
    cfg_path.write_bytes(pickle.dumps(cfg))
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", str(cfg_path), "--result", str(out_path)]
    if dsn is not None:
        cmd += ["--dsn", dsn]
    subprocess.run(cmd, check=True)
    result: SizeResult = pickle.loads(out_path.read_bytes())
    return result


def _loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if args.worker is not None:
        return _worker(args)
    command = "python bench/run.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    if args.quick:
        sizes = [2_000, 10_000]
        checks, naive_checks, naive_n = (
            min(args.checks, 100),
            min(args.naive_checks, 10),
            min(args.naive_batch_size, 1_000),
        )
    else:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
        checks, naive_checks, naive_n = args.checks, args.naive_checks, args.naive_batch_size
    largest = max(sizes)
    # The batch profile is a second batch run: at the largest size up to 100 000 (same density, same costs per volume).
    batch_profiled = max((n for n in sizes if n <= 100_000), default=min(sizes))
    configs = []
    if naive_n > 0:
        configs.append(
            SizeConfig(
                n=naive_n,
                seed=args.seed,
                checks=min(checks, 200),
                naive_checks=naive_checks,
                naive_batch=True,
                postgis=not args.no_postgis,
                pg_batch_timeout_s=args.pg_batch_timeout,
            )
        )
    for n in sizes:
        configs.append(
            SizeConfig(
                n=n,
                seed=args.seed,
                checks=checks,
                naive_checks=naive_checks,
                postgis=not args.no_postgis,
                pg_batch_timeout_s=args.pg_batch_timeout,
                engine_batch_timeout_s=args.engine_batch_timeout,
                pg_batch_every=args.pg_batch_sample or (1 if n <= 20_000 else n // 5_000),
                profile=(n == largest and not args.no_profile),
                profile_batch=(n == batch_profiled and not args.no_profile),
            )
        )
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    load_start = _loadavg()
    t0 = time.perf_counter()
    results: list[SizeResult] = []
    extra: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="deconflict-bench-") as tmp:
        if args.no_postgis:
            results = [_run_in_subprocess(c, None, Path(tmp)) for c in configs]
        else:
            with local_postgres(settings=PG_SETTINGS) as dsn:
                import psycopg

                with psycopg.connect(dsn) as conn:
                    row = conn.execute("SELECT version(), postgis_full_version()").fetchone()
                assert row is not None
                extra["PostgreSQL"] = str(row[0]).split(" on ")[0]
                extra["PostGIS"] = str(row[1]).split(" ")[0].replace('POSTGIS="', "").rstrip('"')
                extra["PostgreSQL settings"] = ", ".join(f"{k}={v}" for k, v in PG_SETTINGS.items())
                results = [_run_in_subprocess(c, dsn, Path(tmp)) for c in configs]
    extra["Benchmark wall time"] = f"{(time.perf_counter() - t0) / 60:.1f} min"
    load_end = _loadavg()
    print(console_table(results))
    if args.out is not None:
        out = args.out if args.out.is_absolute() else Path.cwd() / args.out
        out.parent.mkdir(parents=True, exist_ok=True)
        text = markdown(results, command, started, (load_start, load_end), extra)
        if out.exists():  # keep the sections bench/service_load.py and bench/hotline_fanout.py write there
            old = out.read_text()
            text = carry_section(old, carry_section(old, text), HOTLINE_BEGIN, HOTLINE_END)
            text = carry_section(old, text, LEDGER_BEGIN, LEDGER_END)
        out.write_text(text)
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
