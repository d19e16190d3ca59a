"""Baseline (a): the plain loop most code writes.

Project every footprint once to a local metric CRS (pyproj ``Transformer``), buffer it
by its radius (shapely's default 8 segments a quarter circle), then, for a check, loop
over *every* indexed volume in Python: party, time, altitude, and only then
``shapely.distance`` between the buffered footprints.  The batch is the same test over
all N(N-1)/2 pairs — quadratic, so it is only run at small N.
"""

from __future__ import annotations

import time

import numpy as np
import numpy.typing as npt
import shapely

from .common import Flat, Key, Minima, Planar, key


class Naive:
    def __init__(self, indexed: Flat, minima: Minima, planar: Planar, geoms: npt.NDArray[np.object_]) -> None:
        """``geoms``: ``planar.buffered(indexed)``, made once and shared with the STRtree."""
        t = time.perf_counter()
        self.flat = indexed
        self.minima = minima
        self.planar = planar
        self.geoms = geoms
        # Plain Python lists: what a loop reads fastest.
        self.party = indexed.party.tolist()
        self.kind = indexed.kind.tolist()
        self.lower = indexed.lower.tolist()
        self.upper = indexed.upper.tolist()
        self.t0 = indexed.t0.tolist()
        self.t1 = indexed.t1.tolist()
        self.geom_list = self.geoms.tolist()
        self.lat_min = minima.lateral.tolist()
        self.ver_min = minima.vertical.tolist()
        self.tim_min = minima.time.tolist()
        self.setup_s = time.perf_counter() - t

    def check(self, cand: Flat) -> set[Key]:
        """Conflicts of the candidate's volumes (one activity) with every indexed volume."""
        geoms = self.planar.buffered(cand)
        out: set[Key] = set()
        owner_b = self.flat.owner
        for a in range(len(cand)):
            ga = geoms[a]
            pa, ka = int(cand.party[a]), int(cand.kind[a])
            la, ua, sa, ea = float(cand.lower[a]), float(cand.upper[a]), float(cand.t0[a]), float(cand.t1[a])
            lat_row, ver_row, tim_row = self.lat_min[ka], self.ver_min[ka], self.tim_min[ka]
            ref_a = cand.ref(a)
            for b in range(len(self.party)):
                if self.party[b] == pa or owner_b[b] == ref_a[0]:
                    continue
                kb = self.kind[b]
                start = max(sa, self.t0[b])
                end = min(ea, self.t1[b])
                if start >= end and start - end >= tim_row[kb]:
                    continue
                lo = max(la, self.lower[b])
                hi = min(ua, self.upper[b])
                if lo > hi and lo - hi >= ver_row[kb]:
                    continue
                gap = shapely.distance(ga, self.geom_list[b])
                if gap < lat_row[kb] or gap <= 0.0:
                    out.add(key(ref_a, (owner_b[b], int(self.flat.index[b]))))
        return out


def naive_batch(flat: Flat, minima: Minima, planar: Planar) -> tuple[set[Key], float]:
    """Every conflicting pair by the double loop; returns the set and the seconds taken
    (projection and buffering included)."""
    t = time.perf_counter()
    geoms: npt.NDArray[np.object_] = planar.buffered(flat)
    g = geoms.tolist()
    party, kind = flat.party.tolist(), flat.kind.tolist()
    lower, upper, t0, t1 = flat.lower.tolist(), flat.upper.tolist(), flat.t0.tolist(), flat.t1.tolist()
    lat_min, ver_min, tim_min = minima.lateral.tolist(), minima.vertical.tolist(), minima.time.tolist()
    owner = flat.owner
    out: set[Key] = set()
    n = len(flat)
    for a in range(n):
        pa, ka, la, ua, sa, ea, oa = party[a], kind[a], lower[a], upper[a], t0[a], t1[a], owner[a]
        for b in range(a + 1, n):
            if party[b] == pa or owner[b] == oa:
                continue
            kb = kind[b]
            start = max(sa, t0[b])
            end = min(ea, t1[b])
            if start >= end and start - end >= tim_min[ka][kb]:
                continue
            lo = max(la, lower[b])
            hi = min(ua, upper[b])
            if lo > hi and lo - hi >= ver_min[ka][kb]:
                continue
            gap = shapely.distance(g[a], g[b])
            if gap < lat_min[ka][kb] or gap <= 0.0:
                out.add(key(flat.ref(a), flat.ref(b)))
    return out, time.perf_counter() - t
