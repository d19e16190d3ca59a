"""The conflict engine: an index of volumes, the online check and the batch join.

Pure: no database, no clock, no web framework.  Volumes are held column-wise in numpy
arrays (about 0.1 KiB a volume plus its vertices) and indexed in a 4-D grid
(:mod:`deconflict.grid`) whose first three axes bound the footprint's cap on the unit
sphere of ellipsoid normals and whose fourth is time.  Working on unit normals
rather than longitude/latitude makes the antimeridian and the poles ordinary places:
a geodesic of length s turns the normal by at most ``s / R_LOW_M`` radians, so a box of
half-side ``ρ / R_LOW_M`` about a footprint's centre normal holds every point of it.

Every candidate pair then goes through the same filter, cheapest test first:
party → time → altitude → centre distance → exact geodesic gap
(:func:`deconflict.lateral.lateral_gaps`).

A zone may carry its own minima (:attr:`deconflict.model.Zone.minima`): each row holds
an ``override`` code into the distinct zone minima seen (``-1``: none), and the filter
replaces the table's minima by them where a row of the pair has one (the per-dimension
maximum where both have).  Index boxes of such rows are widened by their own minima, so
the candidate search covers them without widening every query.

* :meth:`Engine.check` — the online path: one activity or zone against all indexed.
* :func:`all_conflicts` — the batch path: every conflicting pair among many volumes,
  found slice by slice in time with a shapely STRtree per slice (:mod:`deconflict.join`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from .errors import IndexStateError, ValidationError
from .geo import R_LOW_M, FootprintTable, Limits, prepare, ranges, unit_normals
from .grid import GridIndex
from .join import slices
from .lateral import lateral_gaps
from .model import (
    Activity,
    ActivityKind,
    Conflict,
    Dimension,
    MinimaTable,
    SeparationMinima,
    VolumeRef,
    Zone,
    ZoneKind,
)

__all__ = ["Engine", "Item", "all_conflicts"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
BOOL = npt.NDArray[np.bool_]

Item = Activity | Zone

KINDS: tuple[str, ...] = tuple(k.value for k in ActivityKind) + tuple(k.value for k in ZoneKind)
_KIND_CODE = {k: i for i, k in enumerate(KINDS)}


@dataclass(frozen=True, slots=True)
class _Minima:
    """The minima table as kind × kind matrices, plus the largest of each."""

    table: MinimaTable
    lateral: F64
    vertical: F64
    time: F64
    widest: SeparationMinima
    flat: tuple[SeparationMinima, ...]  # [kind a * len(KINDS) + kind b], shared by conflicts

    @classmethod
    def of(cls, table: MinimaTable) -> _Minima:
        size = len(KINDS)
        lat, ver, tim = np.zeros((size, size)), np.zeros((size, size)), np.zeros((size, size))
        objects = tuple(tuple(table.between(ka, kb) for kb in KINDS) for ka in KINDS)
        for i in range(size):
            for j in range(size):
                m = objects[i][j]
                lat[i, j], ver[i, j], tim[i, j] = m.lateral_m, m.vertical_m, m.time_s
        return cls(table, lat, ver, tim, table.largest(), tuple(m for row in objects for m in row))


@dataclass(frozen=True, slots=True)
class _Own:
    """Zones' own minima, interned: the ``override`` code of a row indexes ``objects``.

    The value arrays have one more entry than ``objects``, a trailing zero, so that code
    ``-1`` (no own minima) reads 0 and the maximum over a pair's two rows is its minima.
    """

    objects: tuple[SeparationMinima, ...]
    lateral: F64
    vertical: F64
    time: F64

    @classmethod
    def of(cls, codes: dict[SeparationMinima, int]) -> _Own:
        objects = tuple(codes)  # insertion order is code order
        return cls(
            objects,
            np.array([m.lateral_m for m in objects] + [0.0], dtype=np.float64),
            np.array([m.vertical_m for m in objects] + [0.0], dtype=np.float64),
            np.array([m.time_s for m in objects] + [0.0], dtype=np.float64),
        )


_NO_OWN = _Own.of({})


def _wider(x: SeparationMinima, y: SeparationMinima) -> SeparationMinima:
    """The per-dimension maximum of two minima (one of them when it dominates)."""
    if x.lateral_m >= y.lateral_m and x.vertical_m >= y.vertical_m and x.time_s >= y.time_s:
        return x
    if y.lateral_m >= x.lateral_m and y.vertical_m >= x.vertical_m and y.time_s >= x.time_s:
        return y
    return SeparationMinima(max(x.lateral_m, y.lateral_m), max(x.vertical_m, y.vertical_m), max(x.time_s, y.time_s))


@dataclass(frozen=True, slots=True)
class _Volumes:
    """Prepared volumes, column-wise (a batch, or the engine's store viewed as one)."""

    foot: FootprintTable
    lower: F64
    upper: F64
    t0: F64
    t1: F64
    party: list[str]
    party_code: npt.NDArray[np.int32]
    kind: npt.NDArray[np.int16]
    owner: list[str]
    item_no: I64  # which item a row belongs to: equal numbers, same item
    vol_no: I64  # which volume a row belongs to (a route is several rows)
    index: npt.NDArray[np.int32]
    override: npt.NDArray[np.int32]  # the zone's own minima, a code into an _Own; -1: none

    def __len__(self) -> int:
        return len(self.lower)


_BREACHED = tuple(
    frozenset(d for bit, d in ((1, Dimension.LATERAL), (2, Dimension.VERTICAL), (4, Dimension.TIME)) if code & bit)
    for code in range(8)
)


def _epoch(dt: datetime) -> float:
    return dt.timestamp()


def _prepare_items(
    items: Sequence[Item],
    limits: Limits,
    party_codes: dict[str, int],
    own_codes: dict[SeparationMinima, int],
    first_item_no: int = 0,
    first_vol_no: int = 0,
    prefix: str = "items",
) -> _Volumes:
    """Validate and prepare every volume of ``items``; raise naming the first bad field.

    ``party_codes`` interns party names to small integers (and is extended here), so
    party comparisons over millions of candidate pairs are one numpy operation;
    ``own_codes`` interns zones' own minima the same way (:class:`_Own`).
    """
    footprints = []
    fields = []
    lower, upper, t0, t1, kind, index, item_no, party_code, override = [], [], [], [], [], [], [], [], []
    party: list[str] = []
    owner: list[str] = []
    for n, item in enumerate(items):
        if not isinstance(item, (Activity, Zone)):
            raise ValidationError(f"{prefix}[{n}]", "must be an Activity or a Zone")
        code = _KIND_CODE[item.kind.value]
        pcode = party_codes.setdefault(item.party, len(party_codes))
        own = item.minima if isinstance(item, Zone) else None
        ocode = -1 if own is None else own_codes.setdefault(own, len(own_codes))
        for v, vol in enumerate(item.volumes):
            footprints.append(vol.footprint)
            fields.append(f"{prefix}[{n}].volumes[{v}].footprint")
            lower.append(vol.altitude.lower_m)
            upper.append(vol.altitude.upper_m)
            t0.append(_epoch(vol.window.start))
            t1.append(_epoch(vol.window.end))
            kind.append(code)
            index.append(v)
            item_no.append(first_item_no + n)
            party_code.append(pcode)
            override.append(ocode)
            party.append(item.party)
            owner.append(item.id)
    foot = prepare(footprints, limits, fields)
    src = foot.source
    rows = src.tolist()
    return _Volumes(
        foot,
        np.array(lower, dtype=np.float64)[src],
        np.array(upper, dtype=np.float64)[src],
        np.array(t0, dtype=np.float64)[src],
        np.array(t1, dtype=np.float64)[src],
        [party[r] for r in rows],
        np.array(party_code, dtype=np.int32)[src],
        np.array(kind, dtype=np.int16)[src],
        [owner[r] for r in rows],
        np.array(item_no, dtype=np.int64)[src],
        first_vol_no + src,
        np.array(index, dtype=np.int32)[src],
        np.array(override, dtype=np.int32)[src],
    )


def _conflicts(
    a: _Volumes,
    ia: I64,
    b: _Volumes,
    ib: I64,
    minima: _Minima,
    include_same_party: bool,
    own_a: _Own = _NO_OWN,
    own_b: _Own = _NO_OWN,
) -> list[Conflict]:
    """Evaluate candidate pairs, cheapest test first; return the conflicts.

    ``own_a``/``own_b`` are the zone minima that ``a.override``/``b.override`` code.
    """
    if not include_same_party:
        keep = a.party_code[ia] != b.party_code[ib]
        ia, ib = ia[keep], ib[keep]
    ka, kb = a.kind[ia], b.kind[ib]
    t_min, v_min, l_min = minima.time[ka, kb], minima.vertical[ka, kb], minima.lateral[ka, kb]
    oa = ob = None
    if own_a.objects or own_b.objects:
        oa, ob = a.override[ia], b.override[ib]
        has = (oa >= 0) | (ob >= 0)
        if has.any():
            # a zone's own minima replace the table's; code -1 reads 0, so the maximum
            # over the two rows is the pair's minima
            t_min = np.where(has, np.maximum(own_a.time[oa], own_b.time[ob]), t_min)
            v_min = np.where(has, np.maximum(own_a.vertical[oa], own_b.vertical[ob]), v_min)
            l_min = np.where(has, np.maximum(own_a.lateral[oa], own_b.lateral[ob]), l_min)
        else:
            oa = ob = None
    start = np.maximum(a.t0[ia], b.t0[ib])
    end = np.minimum(a.t1[ia], b.t1[ib])
    t_gap = np.maximum(0.0, start - end)
    lo = np.maximum(a.lower[ia], b.lower[ib])
    hi = np.minimum(a.upper[ia], b.upper[ib])
    v_gap = np.maximum(0.0, lo - hi)
    keep = ((start < end) | (t_gap < t_min)) & ((lo <= hi) | (v_gap < v_min))
    sel = np.nonzero(keep)[0]
    ia, ib = ia[sel], ib[sel]
    breach, gap = lateral_gaps(a.foot, ia, b.foot, ib, l_min[sel])
    # rows are pieces of volumes: one conflict per pair of volumes, at its smallest gap
    hits = np.nonzero(breach)[0]
    vb = b.vol_no[ib[hits]]
    pair_key = a.vol_no[ia[hits]] * (int(vb.max(initial=0)) + 1) + vb
    order = np.lexsort((gap[hits], pair_key))
    first = np.ones(len(order), dtype=bool)
    first[1:] = pair_key[order][1:] != pair_key[order][:-1]
    chosen = hits[order[first]]
    s = sel[chosen]
    ii, jj = ia[chosen], ib[chosen]
    lat_gap, t_gaps, v_gaps = gap[chosen], t_gap[s], v_gap[s]
    overlap = start[s] < end[s]
    w0 = np.where(overlap, start[s], end[s]).tolist()
    w1 = np.where(overlap, end[s], start[s]).tolist()
    # which minima are breached without contact, as one of eight shared frozensets
    code = (lat_gap > 0) * 1 + (v_gaps > 0) * 2 + (~overlap) * 4
    pool, which = _applied(
        minima, ka[s], kb[s], own_a, own_b, None if oa is None else oa[s], None if ob is None else ob[s]
    )
    out: list[Conflict] = []
    for n, (i, j, tg, vg, lg, c, mi, vo) in enumerate(
        zip(
            ii.tolist(),
            jj.tolist(),
            t_gaps.tolist(),
            v_gaps.tolist(),
            lat_gap.tolist(),
            code.tolist(),
            which.tolist(),
            np.maximum(0.0, hi[s] - lo[s]).tolist(),
            strict=True,
        )
    ):
        out.append(
            Conflict(
                a=VolumeRef(a.owner[i], int(a.index[i])),
                b=VolumeRef(b.owner[j], int(b.index[j])),
                party_a=a.party[i],
                party_b=b.party[j],
                window_start=datetime.fromtimestamp(w0[n], UTC),
                window_end=datetime.fromtimestamp(w1[n], UTC),
                time_gap_s=tg,
                lateral_gap_m=lg,
                vertical_gap_m=vg,
                vertical_overlap_m=vo,
                minima=pool[mi],
                breached=_BREACHED[c],
            )
        )
    return out


def _applied(
    minima: _Minima,
    ka: npt.NDArray[np.int16],
    kb: npt.NDArray[np.int16],
    own_a: _Own,
    own_b: _Own,
    oa: npt.NDArray[np.int32] | None,
    ob: npt.NDArray[np.int32] | None,
) -> tuple[tuple[SeparationMinima, ...], I64]:
    """The minima objects applied to conflicting pairs: a pool and each pair's place in it.

    The pool is the table's entries, then ``own_a``'s, then ``own_b``'s, then the
    per-dimension maxima of the pairs where both rows have their own minima.
    """
    which = ka.astype(np.int64) * len(KINDS) + kb
    if oa is None or ob is None:
        return minima.flat, which
    has_a, has_b = oa >= 0, ob >= 0
    if not (has_a.any() or has_b.any()):
        return minima.flat, which
    first_a = len(minima.flat)
    first_b = first_a + len(own_a.objects)
    which = np.where(has_a, first_a + oa, which)
    which = np.where(has_b, first_b + ob, which)
    both = np.nonzero(has_a & has_b)[0]
    extra: list[SeparationMinima] = []
    if len(both):
        nb = len(own_b.objects)
        pairs, inverse = np.unique(oa[both].astype(np.int64) * nb + ob[both], return_inverse=True)
        extra = [_wider(own_a.objects[k // nb], own_b.objects[k % nb]) for k in pairs.tolist()]
        which[both] = first_b + nb + inverse.reshape(-1)
    return (*minima.flat, *own_a.objects, *own_b.objects, *extra), which


def _boxes(
    v: _Volumes,
    widen_m: float | F64,
    widen_s: float | F64,
    frame: F64 | None = None,
    widen_alt: F64 | None = None,
) -> tuple[F64, F64]:
    """Boxes (normal x, y, z, [altitude,] time) holding each row widened by the margins.

    ``frame`` (3×3, orthonormal rows) rotates the normals first: any rotation keeps the
    boxes conservative, and one whose third axis is the data's mean normal makes a
    theatre-sized cloud of normals nearly flat along that axis, which the grid join
    exploits.  With ``widen_alt`` an altitude axis is added (for the batch join).
    """
    normals = unit_normals(v.foot.clon, v.foot.clat)
    if frame is not None:
        normals = normals @ frame.T
    half = ((v.foot.rho + widen_m) / R_LOW_M + 1e-9)[:, None]
    lo_cols = [normals - half]
    hi_cols = [normals + half]
    if widen_alt is not None:
        lo_cols.append((v.lower - widen_alt)[:, None])
        hi_cols.append((v.upper + widen_alt)[:, None])
    lo = np.column_stack([*lo_cols, v.t0 - widen_s])
    hi = np.column_stack([*hi_cols, v.t1 + widen_s])
    return lo, hi


class Engine:
    """An index of the volumes of activities and zones, checked online.

    >>> from datetime import datetime, timedelta, UTC
    >>> from deconflict.model import *
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> def sortie(id, party, lon):
    ...     v = Volume4D(Circle((lon, 35.0), 5000), AltitudeBand(1000, 5000), TimeWindow(t, t + timedelta(hours=2)))
    ...     return Activity(id, party, ActivityKind.AIR_SORTIE, (v,))
    >>> engine = Engine(MinimaTable(SeparationMinima(lateral_m=2000)))
    >>> engine.insert(sortie("A-1", "alpha", 36.0))
    >>> [round(c.lateral_gap_m) for c in engine.check(sortie("B-1", "bravo", 36.1))]
    [0]
    >>> engine.check(sortie("B-2", "bravo", 36.2))
    []
    """

    def __init__(
        self,
        minima: MinimaTable | None = None,
        *,
        limits: Limits | None = None,
        include_same_party: bool = False,
    ) -> None:
        self.minima = _Minima.of(minima if minima is not None else MinimaTable())
        self.limits = limits if limits is not None else Limits()
        self.include_same_party = include_same_party
        self._grid = GridIndex()
        # Rows live in at most two parts: a large main part and a small tail that takes
        # the inserts.  The tail is folded into the main part once it holds an eighth as
        # many rows, so a live insert copies the tail, not the whole store (amortised
        # O(1) copies per row).  Row numbers never change until a compaction.
        self._main: _Part | None = None
        self._tail: _Part | None = None
        self._rows: dict[str, list[int]] = {}
        self._alive = np.zeros(1024, dtype=bool)  # grows by doubling
        self._size = 0
        self._items = 0
        self._volumes = 0  # volumes ever inserted: numbers them
        self._live_volumes = 0
        self._party_codes: dict[str, int] = {}
        # zones' own minima, interned; never shrinks (one entry per distinct value)
        self._own_codes: dict[SeparationMinima, int] = {}
        self._own = _NO_OWN
        self._volume_count: dict[str, int] = {}

    # --- index maintenance ----------------------------------------------------------

    def __len__(self) -> int:
        """Number of volumes indexed."""
        return self._live_volumes

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._rows

    def insert(self, item: Item) -> None:
        """Index every volume of an activity or zone (validated first; all or nothing)."""
        self.insert_many([item])

    def insert_many(self, items: Sequence[Item]) -> None:
        """Index many items at once; all are validated before any is indexed."""
        seen: set[str] = set()
        for n, item in enumerate(items):
            item_id = getattr(item, "id", None)
            if item_id in self._rows or item_id in seen:
                raise IndexStateError(f"items[{n}].id", f"{item_id!r} is already indexed")
            if isinstance(item_id, str):
                seen.add(item_id)
        if not items:
            return
        vols = _prepare_items(items, self.limits, self._party_codes, self._own_codes, self._items, self._volumes)
        if len(self._own.objects) != len(self._own_codes):
            self._own = _Own.of(self._own_codes)
        if len(vols) > 1:
            # rows in time order: the rows one query gathers then sit near each other in
            # memory, which matters once the columns outgrow the CPU caches
            vols = _take(vols, np.argsort(vols.t0, kind="stable"))
        self._items += len(items)
        for item in items:
            self._volume_count[item.id] = len(item.volumes)
            self._volumes += len(item.volumes)
            self._live_volumes += len(item.volumes)
        if (vols.override >= 0).any():
            # a zone's own minima may exceed the table's: its boxes are widened by them,
            # so that a check (widened by the table's) still meets it
            lo, hi = _boxes(vols, self._own.lateral[vols.override], self._own.time[vols.override])
        else:
            lo, hi = _boxes(vols, 0.0, 0.0)
        base = self._size
        self._grid.insert(np.arange(base, base + len(vols), dtype=np.int64), lo, hi)
        self._append(_Part(vols, lo, hi, base))
        self._size += len(vols)
        if self._size > len(self._alive):
            grown = np.zeros(max(self._size, 2 * len(self._alive)), dtype=bool)
            grown[: len(self._alive)] = self._alive
            self._alive = grown
        self._alive[base : self._size] = True
        for r, owner in enumerate(vols.owner):
            self._rows.setdefault(owner, []).append(base + r)

    def _append(self, part: _Part) -> None:
        if self._main is None:
            self._main = part
            return
        self._tail = part if self._tail is None else _Part.join(self._tail, part)
        if len(self._tail.vols) * 8 >= len(self._main.vols):
            self._main, self._tail = _Part.join(self._main, self._tail), None

    def _parts(self) -> list[_Part]:
        return [p for p in (self._main, self._tail) if p is not None]

    def remove(self, item_id: str) -> None:
        """Drop every volume of the item with this id."""
        rows = self._rows.pop(item_id, None)
        if rows is None:
            raise IndexStateError("id", f"{item_id!r} is not indexed")
        self._live_volumes -= self._volume_count.pop(item_id)
        drop = np.array(rows, dtype=np.int64)
        for part in self._parts():
            local = part.local(drop)
            if len(local):
                self._grid.remove(local + part.base, part.lo[local], part.hi[local])
        self._alive[drop] = False
        if self._size > 1024 and self._alive[: self._size].sum() * 2 < self._size:
            self._compact()

    def _compact(self) -> None:
        """Rebuild without the removed volumes (their rows would otherwise stay)."""
        parts = self._parts()
        whole = parts[0] if len(parts) == 1 else _Part.join(*parts)
        keep = np.nonzero(self._alive[: self._size])[0]
        vols, lo, hi = _take(whole.vols, keep), whole.lo[keep], whole.hi[keep]
        self._grid.clear()
        self._grid.insert(np.arange(len(keep), dtype=np.int64), lo, hi)
        self._main, self._tail = _Part(vols, lo, hi, 0), None
        self._alive = np.ones(max(1024, len(keep)), dtype=bool)
        self._alive[len(keep) :] = False
        self._size = len(keep)
        self._rows = {}
        for r, owner in enumerate(vols.owner):
            self._rows.setdefault(owner, []).append(r)

    # --- queries --------------------------------------------------------------------

    def _candidates(self, lo: F64, hi: F64, exclude: str | None) -> I64:
        rows = self._grid.query(lo, hi)
        rows = rows[self._alive[rows]]
        own = self._rows.get(exclude) if exclude is not None else None
        if own:
            rows = rows[~np.isin(rows, own)]
        return rows

    def query(self, item: Item, *, widen_m: float = 0.0, widen_s: float = 0.0) -> list[VolumeRef]:
        """Indexed volumes that may come within ``widen_m`` / ``widen_s`` of ``item``.

        A coarse, conservative candidate list (a superset of the conflicts).
        """
        cand = _prepare_items([item], self.limits, self._party_codes, {})
        lo, hi = _boxes(cand, widen_m, widen_s)
        rows = self._candidates(lo, hi, None)
        refs: set[VolumeRef] = set()
        for part in self._parts():
            local = part.local(rows)
            refs.update(VolumeRef(part.vols.owner[r], int(part.vols.index[r])) for r in local.tolist())
        return sorted(refs)

    def check(
        self, item: Item, *, include_same_party: bool | None = None, minima: MinimaTable | None = None
    ) -> list[Conflict]:
        """Every conflict between ``item``'s volumes and the indexed ones.

        ``item`` is validated but not inserted; its own id is ignored in the index.
        ``minima`` replaces the engine's table *and* zones' own minima for this check
        only; it must not exceed them (rows' boxes were widened by those at insertion):
        ``MinimaTable()`` asks for exact 4D intersection.
        """
        same = self.include_same_party if include_same_party is None else include_same_party
        codes: dict[SeparationMinima, int] = {}
        cand = _prepare_items([item], self.limits, self._party_codes, codes)
        table, own, own_b = self.minima, (_Own.of(codes) if codes else _NO_OWN), self._own
        if minima is not None:
            table, own, own_b = _Minima.of(minima), _NO_OWN, _NO_OWN
        # a zone with its own minima is judged by them against every row (or by the larger
        # minima of a row that has its own, whose box is widened by them at insertion)
        widest = own.objects[0] if own.objects else table.widest
        lo, hi = _boxes(cand, widest.lateral_m, widest.time_s)
        rows = self._candidates(lo, hi, item.id)
        found: list[Conflict] = []
        for part in self._parts():
            local = part.local(rows)
            if not len(local):
                continue
            # every candidate volume against every row found: the filters are vectorised
            a_rows = np.repeat(np.arange(len(cand), dtype=np.int64), len(local))
            b_rows = np.tile(local, len(cand))
            found.extend(_conflicts(cand, a_rows, part.vols, b_rows, table, same, own, own_b))
        return found


@dataclass(frozen=True, slots=True)
class _Part:
    """Consecutive rows of the engine's store, from row ``base`` on, with their boxes."""

    vols: _Volumes
    lo: F64
    hi: F64
    base: int

    def local(self, rows: I64) -> I64:
        """Those of the store's ``rows`` that are in this part, as positions in it."""
        return rows[(rows >= self.base) & (rows < self.base + len(self.vols))] - self.base

    @staticmethod
    def join(*parts: _Part) -> _Part:
        return _Part(
            _concat([p.vols for p in parts]),
            np.vstack([p.lo for p in parts]),
            np.vstack([p.hi for p in parts]),
            parts[0].base,
        )


def _concat(parts: list[_Volumes]) -> _Volumes:
    if len(parts) == 1:
        return parts[0]
    feet = [p.foot for p in parts]
    shift = np.cumsum([0] + [len(f.lon) for f in feet[:-1]])
    foot = FootprintTable(
        np.concatenate([f.kind for f in feet]),
        np.concatenate([f.radius for f in feet]),
        np.concatenate([f.clon for f in feet]),
        np.concatenate([f.clat for f in feet]),
        np.concatenate([f.rho for f in feet]),
        np.concatenate([f.off + s for f, s in zip(feet, shift, strict=True)]),
        np.concatenate([f.n for f in feet]),
        np.concatenate([f.lon for f in feet]),
        np.concatenate([f.lat for f in feet]),
        np.concatenate([f.source for f in feet]),
    )
    return _Volumes(
        foot,
        np.concatenate([p.lower for p in parts]),
        np.concatenate([p.upper for p in parts]),
        np.concatenate([p.t0 for p in parts]),
        np.concatenate([p.t1 for p in parts]),
        [x for p in parts for x in p.party],
        np.concatenate([p.party_code for p in parts]),
        np.concatenate([p.kind for p in parts]),
        [x for p in parts for x in p.owner],
        np.concatenate([p.item_no for p in parts]),
        np.concatenate([p.vol_no for p in parts]),
        np.concatenate([p.index for p in parts]),
        np.concatenate([p.override for p in parts]),
    )


def _take(v: _Volumes, rows: I64) -> _Volumes:
    f = v.foot
    n = f.n[rows]
    idx = ranges(f.off[rows], n)
    foot = FootprintTable(
        f.kind[rows],
        f.radius[rows],
        f.clon[rows],
        f.clat[rows],
        f.rho[rows],
        np.cumsum(n) - n,
        n,
        f.lon[idx],
        f.lat[idx],
        f.source[rows],
    )
    rl = rows.tolist()
    return _Volumes(
        foot,
        v.lower[rows],
        v.upper[rows],
        v.t0[rows],
        v.t1[rows],
        [v.party[i] for i in rl],
        v.party_code[rows],
        v.kind[rows],
        [v.owner[i] for i in rl],
        v.item_no[rows],
        v.vol_no[rows],
        v.index[rows],
        v.override[rows],
    )


# --- the batch path ---------------------------------------------------------------------


def _frame(v: _Volumes) -> F64:
    """An orthonormal frame whose third axis is the mean normal of the volumes' centres."""
    mean = unit_normals(v.foot.clon, v.foot.clat).mean(axis=0) if len(v) else np.zeros(3)
    norm = float(np.linalg.norm(mean))
    if norm < 1e-6:
        return np.eye(3)
    w = mean / norm
    helper = np.array([1.0, 0.0, 0.0]) if abs(w[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    u = np.cross(w, helper)
    u /= np.linalg.norm(u)
    return np.vstack([u, np.cross(w, u), w])


def all_conflicts(
    items: Iterable[Item],
    minima: MinimaTable | None = None,
    *,
    limits: Limits | None = None,
    include_same_party: bool = False,
) -> list[Conflict]:
    """Every conflicting pair among the volumes of ``items`` (a whole plan at once)."""
    table = _Minima.of(minima if minima is not None else MinimaTable())
    items = list(items)
    ids = [getattr(it, "id", None) for it in items]
    if len(set(ids)) != len(ids):
        dup = next(x for x in ids if ids.count(x) > 1)
        raise IndexStateError("items.id", f"{dup!r} appears more than once")
    codes: dict[SeparationMinima, int] = {}
    vols = _prepare_items(items, limits if limits is not None else Limits(), {}, codes)
    own = _Own.of(codes) if codes else _NO_OWN
    # each row widened by half the largest minima its kind has with any kind: two boxes
    # then meet whenever the pair's own minima could be breached
    kind = vols.kind
    widen_m = table.lateral.max(axis=1)[kind] / 2.0
    widen_s = table.time.max(axis=1)[kind] / 2.0
    widen_alt = table.vertical.max(axis=1)[kind] / 2.0
    if own.objects:
        # a zone's own minima hold for every pair it is in (or the other zone's, when
        # larger, which that zone's box covers): its rows are widened by all of them
        mine = vols.override >= 0
        widen_m = np.where(mine, own.lateral[vols.override], widen_m)
        widen_s = np.where(mine, own.time[vols.override], widen_s)
        widen_alt = np.where(mine, own.vertical[vols.override], widen_alt)
    lo, hi = _boxes(vols, widen_m, widen_s, _frame(vols), widen_alt)
    found: list[Conflict] = []
    for i, j in slices(lo, hi):  # one time slice at a time: memory stays bounded
        other = vols.item_no[i] != vols.item_no[j]
        found.extend(_conflicts(vols, i[other], vols, j[other], table, include_same_party, own, own))
    return found
