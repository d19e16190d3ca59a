"""The batch join: candidate pairs of boxes, one time slice at a time.

Boxes are ``(x, y, z, altitude, t)``: three axes of unit-normal space (rotated so that the
third is the plan's mean normal, see ``engine._frame``), altitude, and time last.

The horizon is cut into slices (six hours, or twice the median window).  For each
slice, the short rows whose window meets it go into a shapely ``STRtree`` of their
(x, y) boxes — projecting out the third axis only loses pruning, never a pair — which is
self-queried in C; rows longer than several slices (zones valid for months) live in one
tree of their own, joined once among themselves and queried by each slice's short rows.  The
candidates are then filtered on z, altitude and time, and a pair is kept only in the
slice holding the start of its time overlap, so each pair comes out once.

Working slice by slice also bounds memory: the caller evaluates each slice's pairs
before asking for the next (:func:`slices`).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt
import shapely

__all__ = ["slices"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

_SLICE_S = 6 * 3600.0
_SPAN = 8  # rows spanning more slices than this go to the long-row tree


def _slice_length(lo: F64, hi: F64) -> float:
    """Six hours, or twice the median window if that is longer."""
    return max(_SLICE_S, 2.0 * float(np.median(hi[:, 4] - lo[:, 4])))


def _meet(lo: F64, hi: F64, i: I64, j: I64) -> tuple[I64, I64]:
    """Keep the pairs whose boxes also meet on z, altitude and time (x, y are the tree's)."""
    keep = np.ones(len(i), dtype=bool)
    for d in (2, 3, 4):
        keep &= np.maximum(lo[i, d], lo[j, d]) <= np.minimum(hi[i, d], hi[j, d])
    return i[keep], j[keep]


def _tree(lo: F64, hi: F64, rows: I64) -> shapely.STRtree:
    return shapely.STRtree(shapely.box(lo[rows, 0], lo[rows, 1], hi[rows, 0], hi[rows, 1]))


def slices(lo: F64, hi: F64) -> Iterator[tuple[I64, I64]]:
    """Yield, slice by slice, the pairs ``i < j`` whose closed 5-D boxes intersect.

    Rows longer than ``_SPAN - 1`` slices (zones valid for weeks) are kept out of the
    slices: they go into one tree, joined once among themselves and queried by each
    slice's short rows.  Shorter rows are put in every slice they meet.
    """
    if len(lo) < 2:
        return
    length = _slice_length(lo, hi)
    long = (hi[:, 4] - lo[:, 4]) > (_SPAN - 1) * length
    long_rows = np.nonzero(long)[0]
    long_tree = _tree(lo, hi, long_rows) if len(long_rows) else None
    if long_tree is not None:
        a, b = long_tree.query(shapely.box(lo[long_rows, 0], lo[long_rows, 1], hi[long_rows, 0], hi[long_rows, 1]))
        i, j = long_rows[a], long_rows[b]
        keep = i < j
        yield _meet(lo, hi, i[keep], j[keep])
    short_rows = np.nonzero(~long)[0]
    if not len(short_rows):
        return
    t0 = float(lo[short_rows, 4].min())
    first = np.floor((lo[short_rows, 4] - t0) / length).astype(np.int64)
    last = np.floor((hi[short_rows, 4] - t0) / length).astype(np.int64)
    order = np.argsort(first, kind="stable")
    first_sorted = first[order]
    for s in range(int(last.max()) + 1):
        # short rows span at most _SPAN slices: those alive in s started in s - _SPAN + 1 .. s
        lo_k, hi_k = np.searchsorted(first_sorted, [s - _SPAN + 1, s + 1], side="left")
        local = order[lo_k:hi_k]
        local = local[last[local] >= s]
        if not len(local):
            continue
        rows = short_rows[local]
        boxes = shapely.box(lo[rows, 0], lo[rows, 1], hi[rows, 0], hi[rows, 1])
        a, b = shapely.STRtree(boxes).query(boxes)
        keep = a < b
        i, j = _meet(lo, hi, rows[a[keep]], rows[b[keep]])
        if long_tree is not None:
            a, b = long_tree.query(boxes)
            li, lj = _meet(lo, hi, rows[a], long_rows[b])
            i, j = np.concatenate([i, li]), np.concatenate([j, lj])
        # each pair once: in the slice where its time overlap starts
        home = np.floor((np.maximum(lo[i, 4], lo[j, 4]) - t0) / length).astype(np.int64) == s
        i, j = i[home], j[home]
        yield np.minimum(i, j), np.maximum(i, j)
