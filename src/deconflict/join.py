"""The batch join: every pair of 4-D boxes that meet, vectorised with numpy.

Boxes are ``(x, y, z, altitude, t)``: three axes of unit-normal space (rotated so that
the third is the plan's mean normal, see ``engine._frame``), altitude, and time last.  The
grid runs over the four space axes (altitude included: a sortie at 6 000 m never meets a
hospital's 0–300 m band in a cell), and time is swept.  Two regimes:

* **short × short** — a uniform grid over space, swept in time inside each cell: every
  box is registered in each cell it covers, entries are sorted by (cell, start), and an
  entry pairs with the following entries of its cell that start before it ends (one
  ``searchsorted``).
* **long × everything** — rows whose window is longer than ``long_s`` (zones valid for
  weeks) would meet every entry of their cell over the whole horizon in a time sweep; they
  are joined instead on a finer, space-only grid, each long entry against the entries of
  all rows in the same cell.

A pair is kept only in the cell holding the low corner of the two boxes' intersection,
so each pair is produced once, and only if the boxes really meet.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["candidate_pairs"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
BOOL = npt.NDArray[np.bool_]

_MAX_ENTRIES = 40_000_000
_EMPTY = np.zeros(0, dtype=np.int64)


_FLOOR = np.array([1e-4, 1e-4, 1e-4, 10.0])  # smallest cells: ~600 m, 10 m of altitude
_BITS = 15


def _cell_size(lo: F64, hi: F64, factor: float) -> F64:
    cell = np.maximum(np.median(hi[:, :4] - lo[:, :4], axis=0) * factor, _FLOOR)
    # the third axis is the mean normal: a theatre is nearly flat along it
    cell[2] = max(cell[2], float(hi[:, 2].max() - lo[:, 2].min()))
    return cell


def _register(lo: F64, hi: F64, cell: F64) -> tuple[I64, I64, I64, F64]:
    """Entries (owner, cell coordinates, cell key) of every box in every cell it covers.

    Returns the cell size actually used (doubled until the entries fit the budget).
    """
    while True:
        ilo = np.floor(lo[:, :4] / cell).astype(np.int64)
        span = np.floor(hi[:, :4] / cell).astype(np.int64) - ilo + 1
        per_box = np.prod(span, axis=1)
        total = int(per_box.sum())
        if total <= _MAX_ENTRIES:
            break
        cell = cell * 2.0
    owner = np.repeat(np.arange(len(lo), dtype=np.int64), per_box)
    rank = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(per_box) - per_box, per_box)
    cells = np.empty((total, 4), dtype=np.int64)
    for d in range(4):
        s = span[owner, d]
        cells[:, d] = ilo[owner, d] + rank % s
        rank //= s
    return owner, cells, _key(cells), cell


def _key(cells: I64) -> I64:
    # with the cell floors, every axis spans fewer than 2**15 cells (unit normals: 2/1e-4;
    # altitude: 108 km / 10 m)
    shifted = cells + (1 << (_BITS - 1))
    key = shifted[:, 0]
    for d in range(1, 4):
        key = (key << _BITS) | shifted[:, d]
    return key


def _keep(lo: F64, hi: F64, i: I64, j: I64, home: I64, cell: F64) -> BOOL:
    """Pairs whose boxes meet, counted in the cell holding their intersection's low corner."""
    keep = i != j
    for d in range(4):
        low = np.maximum(lo[i, d], lo[j, d])
        keep &= low <= np.minimum(hi[i, d], hi[j, d])
        keep &= np.floor(low / cell[d]).astype(np.int64) == home[:, d]
    keep &= np.maximum(lo[i, 4], lo[j, 4]) <= np.minimum(hi[i, 4], hi[j, 4])
    return keep


def _expand(counts: I64) -> tuple[I64, I64]:
    """For entries with ``counts[e]`` partners each: (entry, k) for k in range(counts[e])."""
    left = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    k = np.arange(len(left), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    return left, k


def _sweep(lo: F64, hi: F64) -> tuple[I64, I64]:
    if len(lo) < 2:
        return _EMPTY, _EMPTY
    owner, cells, key, cell = _register(lo, hi, _cell_size(lo, hi, 1.5))
    t_lo, t_hi = lo[:, 4], hi[:, 4]
    order = np.lexsort((t_lo[owner], key))
    key, owner, cells = key[order], owner[order], cells[order]
    group = np.cumsum(np.r_[True, key[1:] != key[:-1]]) - 1
    t_min = float(t_lo.min())
    stride = float(t_hi.max()) - t_min + 1.0
    # (cell, start) as one monotone float key; float rounding is monotone, so no pair is lost
    start_key = group * stride + (t_lo[owner] - t_min)
    end_key = group * stride + (t_hi[owner] - t_min)
    partners = np.searchsorted(start_key, end_key, side="right") - np.arange(len(key)) - 1
    left, k = _expand(partners)
    right = left + 1 + k
    i, j = owner[left], owner[right]
    keep = _keep(lo, hi, i, j, cells[left], cell)
    return i[keep], j[keep]


def _bipartite(lo: F64, hi: F64, long_rows: I64) -> tuple[I64, I64]:
    """Pairs (long row, any row) whose boxes meet; each long–long pair once."""
    if not len(long_rows):
        return _EMPTY, _EMPTY
    cell = _cell_size(lo[long_rows], hi[long_rows], 1.0)
    cell[2] = max(cell[2], float(hi[:, 2].max() - lo[:, 2].min()))
    owner_a, _, key_a, cell = _register(lo, hi, cell)
    owner_l, cells_l, key_l, _ = _register(lo[long_rows], hi[long_rows], cell)
    order = np.argsort(key_a, kind="stable")
    key_a, owner_a = key_a[order], owner_a[order]
    first = np.searchsorted(key_a, key_l, side="left")
    counts = np.searchsorted(key_a, key_l, side="right") - first
    left, k = _expand(counts)
    i = long_rows[owner_l[left]]
    j = owner_a[first[left] + k]
    is_long = np.zeros(len(lo), dtype=bool)
    is_long[long_rows] = True
    keep = _keep(lo, hi, i, j, cells_l[left], cell) & (~is_long[j] | (i < j))
    return i[keep], j[keep]


def candidate_pairs(lo: F64, hi: F64, long_s: float = 2 * 86_400.0) -> tuple[I64, I64]:
    """All pairs ``i < j`` whose closed 5-D boxes (x, y, z, altitude, time) intersect."""
    if len(lo) < 2:
        return _EMPTY, _EMPTY
    long = (hi[:, 4] - lo[:, 4]) > long_s
    short_rows = np.nonzero(~long)[0]
    si, sj = _sweep(lo[short_rows], hi[short_rows])
    li, lj = _bipartite(lo, hi, np.nonzero(long)[0])
    i = np.concatenate([short_rows[si], li])
    j = np.concatenate([short_rows[sj], lj])
    return np.minimum(i, j), np.maximum(i, j)
