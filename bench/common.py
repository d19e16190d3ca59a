"""What every benchmarked method shares: flat volume arrays, the minima matrices, keys.

A *pair key* is the unordered pair of volumes ``((owner_id, index), (owner_id, index))``
in sorted order — the same thing as :attr:`deconflict.model.Conflict.key`, without the
dataclass, so that sets from every method compare directly.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import resource
import signal
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
import shapely
from pyproj import Transformer

from deconflict.model import (
    Activity,
    ActivityKind,
    Circle,
    Conflict,
    Corridor,
    MinimaTable,
    Polygon,
    Zone,
    ZoneKind,
)

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Ref = tuple[str, int]
Key = tuple[Ref, Ref]
Item = Activity | Zone

POINT, LINE, POLYGON = 0, 1, 2
KINDS: tuple[str, ...] = tuple(k.value for k in ActivityKind) + tuple(k.value for k in ZoneKind)
KIND_CODE = {k: i for i, k in enumerate(KINDS)}


def key(a: Ref, b: Ref) -> Key:
    return (a, b) if a <= b else (b, a)


def conflict_keys(conflicts: Sequence[Conflict]) -> set[Key]:
    return {key((c.a.owner_id, c.a.index), (c.b.owner_id, c.b.index)) for c in conflicts}


@dataclass(frozen=True, slots=True)
class Minima:
    """Kind × kind matrices (lateral m, vertical m, time s) and their maxima."""

    lateral: F64
    vertical: F64
    time: F64

    @classmethod
    def of(cls, table: MinimaTable) -> Minima:
        size = len(KINDS)
        lat, ver, tim = np.zeros((size, size)), np.zeros((size, size)), np.zeros((size, size))
        for i, a in enumerate(KINDS):
            for j, b in enumerate(KINDS):
                m = table.between(a, b)
                lat[i, j], ver[i, j], tim[i, j] = m.lateral_m, m.vertical_m, m.time_s
        return cls(lat, ver, tim)

    @property
    def max_lateral(self) -> float:
        return float(self.lateral.max())

    @property
    def max_time(self) -> float:
        return float(self.time.max())


@dataclass(frozen=True, slots=True)
class Flat:
    """Volumes as parallel arrays, straight from the model (raw vertices, no densifying)."""

    owner: list[str]
    owner_code: I64  # a code per owner id, within this Flat
    index: I64
    party: I64  # a code per party name (see ``parties``)
    kind: npt.NDArray[np.int16]
    lower: F64
    upper: F64
    t0: F64  # POSIX seconds
    t1: F64
    form: npt.NDArray[np.int8]  # POINT / LINE / POLYGON core
    radius: F64
    off: I64  # vertices of row i: lon[off[i] : off[i] + n[i]]
    n: I64
    lon: F64
    lat: F64
    parties: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.lower)

    def ref(self, i: int) -> Ref:
        return (self.owner[i], int(self.index[i]))


def flatten(items: Sequence[Item], parties: Sequence[str]) -> Flat:
    party_code = {p: i for i, p in enumerate(parties)}
    owner: list[str] = []
    owner_code: list[int] = []
    index: list[int] = []
    party: list[int] = []
    kind: list[int] = []
    lower: list[float] = []
    upper: list[float] = []
    t0: list[float] = []
    t1: list[float] = []
    form: list[int] = []
    radius: list[float] = []
    counts: list[int] = []
    coords: list[tuple[float, float]] = []
    for n_item, item in enumerate(items):
        code = KIND_CODE[item.kind.value]
        pc = party_code.setdefault(item.party, len(party_code))
        for v, vol in enumerate(item.volumes):
            owner.append(item.id)
            owner_code.append(n_item)
            index.append(v)
            party.append(pc)
            kind.append(code)
            lower.append(vol.altitude.lower_m)
            upper.append(vol.altitude.upper_m)
            t0.append(vol.window.start.timestamp())
            t1.append(vol.window.end.timestamp())
            fp = vol.footprint
            if isinstance(fp, Circle):
                form.append(POINT)
                radius.append(fp.radius_m)
                counts.append(1)
                coords.append(fp.center)
            elif isinstance(fp, Corridor):
                form.append(LINE)
                radius.append(fp.half_width_m)
                counts.append(len(fp.path))
                coords.extend(fp.path)
            elif isinstance(fp, Polygon):
                form.append(POLYGON)
                radius.append(0.0)
                counts.append(len(fp.vertices))
                coords.extend(fp.vertices)
    n = np.asarray(counts, dtype=np.int64)
    xy = np.asarray(coords, dtype=np.float64).reshape(-1, 2)
    names = tuple(sorted(party_code, key=party_code.__getitem__))
    return Flat(
        owner,
        np.asarray(owner_code, dtype=np.int64),
        np.asarray(index, dtype=np.int64),
        np.asarray(party, dtype=np.int64),
        np.asarray(kind, dtype=np.int16),
        np.asarray(lower),
        np.asarray(upper),
        np.asarray(t0),
        np.asarray(t1),
        np.asarray(form, dtype=np.int8),
        np.asarray(radius),
        np.cumsum(n) - n,
        n,
        xy[:, 0].copy(),
        xy[:, 1].copy(),
        names,
    )


# --- the planar baselines' geometry ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Planar:
    """A local metric projection (azimuthal equidistant about a fixed centre), made once."""

    centre: tuple[float, float]
    transformer: Transformer

    @classmethod
    def about(cls, lon: float, lat: float) -> Planar:
        crs = f"+proj=aeqd +lat_0={lat} +lon_0={lon} +datum=WGS84 +units=m +no_defs"
        return cls((lon, lat), Transformer.from_crs("EPSG:4326", crs, always_xy=True))

    def buffered(self, flat: Flat) -> npt.NDArray[np.object_]:
        """Each footprint as one planar shapely geometry: the core buffered by its radius."""
        x, y = self.transformer.transform(flat.lon, flat.lat)
        cores = core_geometries(flat, np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
        out = cores.copy()
        wide = flat.radius > 0
        out[wide] = shapely.buffer(cores[wide], flat.radius[wide])
        shapely.prepare(out)
        return out


def core_geometries(flat: Flat, x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> npt.NDArray[np.object_]:
    """Each volume's core (point, line string or polygon) as a shapely geometry, built
    from its vertices' coordinates ``x``, ``y`` (lon/lat or projected)."""
    xy = np.column_stack([x, y])
    owner = np.repeat(np.arange(len(flat), dtype=np.int64), flat.n)
    vform = flat.form[owner]
    cores = np.empty(len(flat), dtype=object)
    for code in (POINT, LINE, POLYGON):
        sel = vform == code
        if not sel.any():
            continue
        rows, compact = np.unique(owner[sel], return_inverse=True)
        if code == POINT:
            cores[rows] = shapely.points(xy[sel])
        elif code == LINE:
            cores[rows] = shapely.linestrings(xy[sel], indices=compact)
        else:
            cores[rows] = shapely.polygons(shapely.linearrings(xy[sel], indices=compact))
    return cores


def planar_for(flat: Flat) -> Planar:
    """The projection every planar baseline uses: centred on the data's mean position."""
    return Planar.about(float(np.mean(flat.lon)), float(np.mean(flat.lat)))


# --- the separation rule, vectorised (time and altitude are exact everywhere) -----------------


def time_alt_ok(a: Flat, ia: I64, b: Flat, ib: I64, minima: Minima) -> npt.NDArray[np.bool_]:
    """Pairs separated neither in time nor in altitude (the lateral test is left)."""
    ka, kb = a.kind[ia], b.kind[ib]
    start = np.maximum(a.t0[ia], b.t0[ib])
    end = np.minimum(a.t1[ia], b.t1[ib])
    lo = np.maximum(a.lower[ia], b.lower[ib])
    hi = np.minimum(a.upper[ia], b.upper[ib])
    time_ok = (start < end) | (start - end < minima.time[ka, kb])
    alt_ok = (lo <= hi) | (lo - hi < minima.vertical[ka, kb])
    ok: npt.NDArray[np.bool_] = time_ok & alt_ok
    return ok


def lateral_breach(gap: F64, minimum: F64) -> npt.NDArray[np.bool_]:
    out: npt.NDArray[np.bool_] = (gap < minimum) | (gap <= 0.0)
    return out


# --- process memory -----------------------------------------------------------------------------

_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    """Resident set size of this process, from /proc/self/statm."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


def settle() -> None:
    """Collect garbage and hand free heap pages back to the OS (glibc ``malloc_trim``)."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _meminfo(field: str) -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


def _vm_size() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * _PAGE


class Budget(Exception):
    """A guarded computation ran out of its memory budget or its time."""


@contextlib.contextmanager
def guarded(seconds: float | None, reserve_bytes: int = 2 << 30) -> Iterator[int]:
    """Run a block under a time limit and a memory budget, so that a computation too big
    for the machine fails here (:class:`Budget`) instead of inviting the OOM killer.

    The budget is the memory available now minus ``reserve_bytes`` (at most a quarter of
    it, on a small machine); it is enforced as an
    address-space limit (``RLIMIT_AS``) of the current size plus the budget, restored on
    exit.  Yields the budget in bytes.
    """
    available = _meminfo("MemAvailable")
    budget = max(0, available - min(reserve_bytes, available // 4))
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = _vm_size() + budget
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    previous = signal.getsignal(signal.SIGALRM)

    def expire(_signum: int, _frame: object) -> None:
        raise Budget(f"stopped after {seconds:.0f} s (time limit)")

    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    if seconds is not None:
        signal.signal(signal.SIGALRM, expire)
        signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield budget
    except MemoryError as e:
        raise Budget(f"out of memory (budget {budget / 2**30:.1f} GiB): {type(e).__name__}") from e
    finally:
        if seconds is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def epoch(dt: datetime) -> float:
    return dt.timestamp()


def from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
