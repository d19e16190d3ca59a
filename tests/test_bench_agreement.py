"""The benchmark's baselines find the engine's conflicts (bench/ machinery at a tiny size).

Runs :func:`bench.measure.run_size` on a small scenario against a throw-away PostgreSQL
+ PostGIS server: the engine (online checks and batch), the naive loop, the STRtree and
PostGIS must return the same conflict sets, except for pairs whose engine gap lies within
the documented tolerance of the lateral minimum (``bench/agreement.py``).  No skipping:
without the PostgreSQL binaries this fails, saying what to install.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.agreement import TOL_ABS_M, TOL_REL_DISTANCE, TOL_REL_RADIUS, Agreement  # noqa: E402
from bench.measure import SizeConfig, SizeResult, run_size  # noqa: E402

from deconflict.devtools import local_postgres  # noqa: E402

pytestmark = pytest.mark.postgres

EXPECTED = {
    ("naive", "check"),
    ("naive", "batch"),
    ("STRtree", "check"),
    ("STRtree", "batch"),
    ("PostGIS", "check"),
    ("PostGIS", "batch"),
}


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> SizeResult:
    config = SizeConfig(
        n=2500,
        seed=11,
        checks=80,
        naive_checks=20,
        naive_batch=True,
        pg_batch_timeout_s=120.0,
        tracemalloc=False,
    )
    with local_postgres(tmp_path_factory.mktemp("pg")) as dsn:
        return run_size(config, dsn, log=lambda _message: None)


def _by_kind(result: SizeResult) -> dict[tuple[str, str], Agreement]:
    return {(a.method, a.path): a for a in result.agreements}


def test_every_method_and_path_was_compared(result: SizeResult) -> None:
    assert set(_by_kind(result)) == EXPECTED
    assert result.volumes == 2500


def test_the_scenario_is_not_trivial(result: SizeResult) -> None:
    """Enough conflicts, online and in the batch, for the comparison to mean something."""
    agreements = _by_kind(result)
    assert agreements[("naive", "batch")].engine_pairs >= 100
    assert agreements[("PostGIS", "check")].engine_pairs >= 20


@pytest.mark.parametrize(("method", "path"), sorted(EXPECTED))
def test_conflict_sets_agree_up_to_borderline_pairs(result: SizeResult, method: str, path: str) -> None:
    a = _by_kind(result)[(method, path)]
    assert a.not_borderline == 0, [d for d in a.examples if not d.borderline]
    assert a.borderline == a.engine_only + a.method_only
    # Most of the set is shared: borderline pairs are the exception.
    assert a.borderline <= max(3, 0.05 * a.engine_pairs)


def test_borderline_pairs_really_are_borderline(result: SizeResult) -> None:
    """Each difference is recomputed independently: time and altitude do not separate the
    pair, and its geodesic gap is within the tolerance of the lateral minimum."""
    for a in result.agreements:
        for d in a.examples:
            assert d.time_alt_conflict, d
            radii_and_distance = d.tolerance_m - TOL_ABS_M
            assert radii_and_distance >= 0.0
            assert d.tolerance_m <= TOL_ABS_M + (TOL_REL_RADIUS + TOL_REL_DISTANCE) * 1_000_000.0
            assert abs(d.gap_m - d.minimum_m) == pytest.approx(d.margin_m)
            assert d.margin_m <= d.tolerance_m, d


def test_engine_is_exact_where_the_others_are_exact(result: SizeResult) -> None:
    """Where the sets differ, the engine's side is the one the geodesic gap supports."""
    for a in result.agreements:
        for d in a.examples:
            if d.side == "engine only":
                assert d.gap_m < d.minimum_m or d.gap_m == 0.0, d
            else:
                assert d.gap_m >= d.minimum_m and d.gap_m > 0.0, d
