"""Baseline (c): PostgreSQL 15 + PostGIS 3.

One row a volume: the footprint's *core* as ``geography`` (a point for a circle, the
route line for a corridor, the polygon), its radius, the time window as a half-open
``tstzrange``, the altitude band, party and kind.  A GiST index on the geography and a
GiST index on the range (range types have GiST support built in, no ``btree_gist``
needed).  Loaded with ``COPY`` (hex EWKB), then indexed and ``ANALYZE``d.

* check: one query per candidate volume, prepared.  The indexable conditions use the
  largest reach (``ST_DWithin(core, $core, r + r_max + L_max)`` and ``&&`` on the window
  widened by ``T_max``); the exact ones join the minima table for the pair's ``L``, ``V``,
  ``T``: ``ST_DWithin(core, $core, r_a + r_b + L)`` (geodesic on the spheroid),
  ``&&`` on the window widened by ``T``, and the altitude gap against ``V``.
* batch: the same conditions as a self-join (``a.id < b.id``).

``ST_DWithin`` is ``distance <= reach`` where the rule says ``gap < L``; the two differ
only for a gap exactly equal to the minimum (never seen with real coordinates).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import psycopg
import shapely

from .common import Flat, Key, Minima, core_geometries, key

_CHECK_SQL = """
SELECT v.owner, v.idx
FROM vol v JOIN minima m ON m.ka = %(kind)s AND m.kb = v.kind
WHERE ST_DWithin(v.core, %(core)s::geography, %(reach)s)
  AND v.during && tstzrange(%(t0)s::timestamptz - %(tmax)s * interval '1 second',
                            %(t1)s::timestamptz + %(tmax)s * interval '1 second', '[)')
  AND ST_DWithin(v.core, %(core)s::geography, v.radius + %(radius)s + m.lateral_m)
  AND v.during && tstzrange(%(t0)s::timestamptz - m.time_s * interval '1 second',
                            %(t1)s::timestamptz + m.time_s * interval '1 second', '[)')
  AND (GREATEST(v.lower_m - %(upper)s, %(lower)s - v.upper_m) <= 0
       OR GREATEST(v.lower_m - %(upper)s, %(lower)s - v.upper_m) < m.vertical_m)
  AND v.party <> %(party)s AND v.owner <> %(owner)s
"""

_BATCH_SQL = """
SELECT a.owner, a.idx, b.owner, b.idx
FROM vol a
JOIN vol b
  ON ST_DWithin(b.core, a.core, a.radius + %(rmax)s + %(lmax)s)
 AND b.during && tstzrange(lower(a.during) - %(tmax)s * interval '1 second',
                           upper(a.during) + %(tmax)s * interval '1 second', '[)')
JOIN minima m ON m.ka = a.kind AND m.kb = b.kind
WHERE a.id < b.id AND a.party <> b.party AND a.owner <> b.owner AND a.id %% %(every)s = 0
  AND ST_DWithin(a.core, b.core, a.radius + b.radius + m.lateral_m)
  AND b.during && tstzrange(lower(a.during) - m.time_s * interval '1 second',
                            upper(a.during) + m.time_s * interval '1 second', '[)')
  AND (GREATEST(b.lower_m - a.upper_m, a.lower_m - b.upper_m) <= 0
       OR GREATEST(b.lower_m - a.upper_m, a.lower_m - b.upper_m) < m.vertical_m)
"""


def core_wkb(flat: Flat) -> list[str]:
    """Hex EWKB (SRID 4326) of every volume's core, in lon/lat."""
    cores = shapely.set_srid(core_geometries(flat, flat.lon, flat.lat), 4326)
    out: list[str] = shapely.to_wkb(cores, hex=True, include_srid=True).tolist()
    return out


def _stamps(seconds: npt.NDArray[np.float64]) -> list[str]:
    us = np.round(seconds * 1e6).astype(np.int64).astype("datetime64[us]")
    out: list[str] = np.datetime_as_string(us, timezone="UTC").tolist()
    return out


@dataclass
class LoadStats:
    copy_s: float
    index_s: float
    table_bytes: int
    index_bytes: int


class PostGIS:
    """The loaded table, and a connection for the checks."""

    def __init__(self, dsn: str, indexed: Flat, minima: Minima) -> None:
        self.dsn = dsn
        self.flat = indexed
        self.minima = minima
        self.rmax = float(indexed.radius.max()) if len(indexed) else 0.0
        self.conn = psycopg.connect(dsn, autocommit=True)
        self.stats = self._load()

    def close(self) -> None:
        self.conn.close()

    def _load(self) -> LoadStats:
        conn = self.conn
        flat = self.flat
        conn.execute("DROP TABLE IF EXISTS vol")
        conn.execute("DROP TABLE IF EXISTS minima")
        conn.execute(
            "CREATE TABLE minima (ka smallint, kb smallint, lateral_m float8, vertical_m float8, time_s float8,"
            " PRIMARY KEY (ka, kb))"
        )
        with conn.cursor() as cur, cur.copy("COPY minima FROM STDIN") as copy:
            size = self.minima.lateral.shape[0]
            for i in range(size):
                for j in range(size):
                    m = self.minima
                    copy.write_row((i, j, float(m.lateral[i, j]), float(m.vertical[i, j]), float(m.time[i, j])))
        conn.execute(
            "CREATE TABLE vol (id integer, owner text, idx integer, party smallint, kind smallint,"
            " core geography(Geometry, 4326), radius float8, during tstzrange, lower_m float8, upper_m float8)"
        )
        t = time.perf_counter()
        wkb = core_wkb(flat)
        s0, s1 = _stamps(flat.t0), _stamps(flat.t1)
        index, party, kind = flat.index.tolist(), flat.party.tolist(), flat.kind.tolist()
        radius, lower, upper = flat.radius.tolist(), flat.lower.tolist(), flat.upper.tolist()
        with conn.cursor() as cur, cur.copy("COPY vol FROM STDIN") as copy:
            chunk: list[str] = []
            for i in range(len(flat)):
                chunk.append(
                    f"{i}\t{flat.owner[i]}\t{index[i]}\t{party[i]}\t{kind[i]}\t{wkb[i]}\t{radius[i]!r}"
                    f"\t[{s0[i]},{s1[i]})\t{lower[i]!r}\t{upper[i]!r}\n"
                )
                if len(chunk) >= 10_000:
                    copy.write("".join(chunk))
                    chunk = []
            if chunk:
                copy.write("".join(chunk))
        copy_s = time.perf_counter() - t
        t = time.perf_counter()
        conn.execute("CREATE INDEX vol_core ON vol USING gist (core)")
        conn.execute("CREATE INDEX vol_during ON vol USING gist (during)")
        conn.execute("ANALYZE vol")
        conn.execute("ANALYZE minima")
        index_s = time.perf_counter() - t
        row = conn.execute(
            "SELECT pg_table_size('vol'), pg_relation_size('vol_core') + pg_relation_size('vol_during')"
        ).fetchone()
        assert row is not None
        return LoadStats(copy_s, index_s, int(row[0]), int(row[1]))

    def check(self, cand: Flat) -> set[Key]:
        """One prepared query per candidate volume."""
        wkb = core_wkb(cand)
        s0, s1 = _stamps(cand.t0), _stamps(cand.t1)
        out: set[Key] = set()
        lmax, tmax = self.minima.max_lateral, self.minima.max_time
        with self.conn.cursor() as cur:
            for a in range(len(cand)):
                radius = float(cand.radius[a])
                params = {
                    "kind": int(cand.kind[a]),
                    "core": wkb[a],
                    "reach": radius + self.rmax + lmax,
                    "radius": radius,
                    "t0": s0[a],
                    "t1": s1[a],
                    "tmax": tmax,
                    "lower": float(cand.lower[a]),
                    "upper": float(cand.upper[a]),
                    "party": int(cand.party[a]),
                    "owner": cand.owner[a],
                }
                cur.execute(_CHECK_SQL, params, prepare=True)
                ref_a = cand.ref(a)
                for owner, idx in cur.fetchall():
                    out.add(key(ref_a, (owner, int(idx))))
        return out

    def batch(self, timeout_s: float | None, every: int = 1) -> tuple[set[Key] | None, float]:
        """The self-join; ``None`` when it ran past ``timeout_s``.

        ``every > 1`` samples the outer side: only rows ``a`` with ``a.id % every == 0``
        (found: the conflicts whose lower row id is a multiple of ``every``).  A nested-loop
        join's time is linear in its outer rows, so ``every ×`` the time estimates the full
        join.
        """
        params = {"rmax": self.rmax, "lmax": self.minima.max_lateral, "tmax": self.minima.max_time, "every": every}
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            if timeout_s is not None:
                conn.execute("SELECT set_config('statement_timeout', %s, false)", [str(int(timeout_s * 1000))])
            t = time.perf_counter()
            try:
                rows = conn.execute(_BATCH_SQL, params).fetchall()
            except psycopg.errors.QueryCanceled:
                return None, time.perf_counter() - t
            elapsed = time.perf_counter() - t
        return {key((a, int(i)), (b, int(j))) for a, i, b, j in rows}, elapsed

    def explain_batch(self, every: int = 1) -> str:
        params = {"rmax": self.rmax, "lmax": self.minima.max_lateral, "tmax": self.minima.max_time, "every": every}
        rows = self.conn.execute("EXPLAIN " + _BATCH_SQL, params).fetchall()
        return "\n".join(str(r[0]) for r in rows)
