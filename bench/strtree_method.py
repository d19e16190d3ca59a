"""Baseline (b): a shapely ``STRtree`` of the buffered footprints.

Same projection and buffering as the naive loop.  A check queries the tree with the
bounding box of each candidate footprint grown by the largest lateral minimum, then
filters the candidates exactly and vectorised: party, owner, time, altitude, and
``shapely.distance`` against the pair's lateral minimum.  An STRtree is
two-dimensional, so the batch walks the horizon in one-day slices: one tree per slice
over the volumes alive in it (widened by half the largest time minimum), self-queried
and filtered exactly; a pair alive in several slices is found in each and kept once.
"""

from __future__ import annotations

import time

import numpy as np
import numpy.typing as npt
import shapely

from .common import I64, Flat, Key, Minima, Planar, key, lateral_breach, time_alt_ok

_SLICE_S = 86_400.0
Geoms = npt.NDArray[np.object_]


def _grown_boxes(geoms: Geoms, margin: float) -> Geoms:
    b = shapely.bounds(geoms)
    out: Geoms = shapely.box(b[:, 0] - margin, b[:, 1] - margin, b[:, 2] + margin, b[:, 3] + margin)
    return out


def _exact(a: Flat, ga: Geoms, ia: I64, b: Flat, gb: Geoms, ib: I64, minima: Minima) -> npt.NDArray[np.bool_]:
    """Which candidate pairs conflict (party, then time and altitude, then distance)."""
    keep = a.party[ia] != b.party[ib]
    sel = np.nonzero(keep)[0]
    ia, ib = ia[sel], ib[sel]
    ok = time_alt_ok(a, ia, b, ib, minima)
    sel, ia, ib = sel[ok], ia[ok], ib[ok]
    gap = shapely.distance(ga[ia], gb[ib])
    hit = lateral_breach(gap, minima.lateral[a.kind[ia], b.kind[ib]])
    out = np.zeros(len(keep), dtype=bool)
    out[sel[hit]] = True
    return out


class StrTree:
    def __init__(self, indexed: Flat, minima: Minima, planar: Planar, geoms: Geoms) -> None:
        """``geoms``: ``planar.buffered(indexed)``, made once and shared with the naive loop."""
        t = time.perf_counter()
        self.flat = indexed
        self.minima = minima
        self.planar = planar
        self.geoms = geoms
        self.tree = shapely.STRtree(geoms)
        self.owner_code = {o: int(c) for o, c in zip(indexed.owner, indexed.owner_code.tolist(), strict=True)}
        self.setup_s = time.perf_counter() - t

    def check(self, cand: Flat) -> set[Key]:
        geoms = self.planar.buffered(cand)
        ia, ib = self.tree.query(_grown_boxes(geoms, self.minima.max_lateral))
        ia, ib = ia.astype(np.int64), ib.astype(np.int64)
        own = np.array([self.owner_code.get(o, -1) for o in cand.owner], dtype=np.int64)
        not_self = self.flat.owner_code[ib] != own[ia]
        ia, ib = ia[not_self], ib[not_self]
        hit = _exact(cand, geoms, ia, self.flat, self.geoms, ib, self.minima)
        return {key(cand.ref(int(i)), self.flat.ref(int(j))) for i, j in zip(ia[hit], ib[hit], strict=True)}


def strtree_batch(flat: Flat, minima: Minima, planar: Planar) -> tuple[set[Key], float]:
    """Every conflicting pair, one STRtree per one-day slice; returns the set and the
    seconds taken (projection and buffering included)."""
    t = time.perf_counter()
    geoms = planar.buffered(flat)
    boxes = _grown_boxes(geoms, minima.max_lateral)
    half = minima.max_time / 2.0
    lo, hi = flat.t0 - half, flat.t1 + half
    first, last = float(lo.min()), float(hi.max())
    found: list[I64] = []
    n = len(flat)
    start = first
    while start < last:
        end = start + _SLICE_S
        rows = np.nonzero((lo < end) & (hi >= start))[0].astype(np.int64)
        start = end
        if len(rows) < 2:
            continue
        tree = shapely.STRtree(geoms[rows])
        qa, qb = tree.query(boxes[rows])
        keep = qa < qb
        ia, ib = rows[qa[keep]], rows[qb[keep]]
        not_same = flat.owner_code[ia] != flat.owner_code[ib]
        ia, ib = ia[not_same], ib[not_same]
        hit = _exact(flat, geoms, ia, flat, geoms, ib, minima)
        found.append(ia[hit] * n + ib[hit])
    code = np.unique(np.concatenate(found)) if found else np.zeros(0, dtype=np.int64)
    out = {key(flat.ref(int(c // n)), flat.ref(int(c % n))) for c in code.tolist()}
    return out, time.perf_counter() - t
