"""Small builders for volumes, activities and zones, and Hypothesis strategies for scenes.

>>> v = volume(Circle((0.0, 0.0), 10.0), 0, 100, 0, 60)
>>> v.window.duration.total_seconds()
3600.0
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from hypothesis import reject
from hypothesis import strategies as st
from pyproj import Geod

from deconflict import (
    Activity,
    ActivityKind,
    AltitudeBand,
    Circle,
    Conflict,
    Corridor,
    Footprint,
    MinimaTable,
    Polygon,
    SeparationMinima,
    TimeWindow,
    ValidationError,
    Volume4D,
    VolumeRef,
    Zone,
    ZoneKind,
)
from deconflict.geo import prepare

__all__ = [
    "EPOCH",
    "KINDS",
    "activity",
    "anchors",
    "footprints_near",
    "keys",
    "minima_tables",
    "minima_values",
    "scenes",
    "volume",
    "zone",
]

GEOD = Geod(ellps="WGS84")
EPOCH = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
KINDS: tuple[str, ...] = tuple(k.value for k in ActivityKind) + tuple(k.value for k in ZoneKind)


def volume(footprint: Footprint, lower: float, upper: float, start_min: float, end_min: float) -> Volume4D:
    """A volume whose window runs from ``start_min`` to ``end_min`` minutes after EPOCH."""
    return Volume4D(
        footprint,
        AltitudeBand(lower, upper),
        TimeWindow(EPOCH + timedelta(minutes=start_min), EPOCH + timedelta(minutes=end_min)),
    )


def activity(id_: str, party: str, *volumes: Volume4D, kind: str = "air_sortie") -> Activity:
    return Activity(id_, party, ActivityKind(kind), tuple(volumes))


def zone(id_: str, party: str, *volumes: Volume4D, kind: str = "base", minima: SeparationMinima | None = None) -> Zone:
    return Zone(id_, party, ZoneKind(kind), tuple(volumes), minima)


def keys(conflicts: Sequence[Conflict]) -> set[tuple[VolumeRef, VolumeRef]]:
    return {c.key for c in conflicts}


# --- strategies ---------------------------------------------------------------------------


def _fwd(lon: float, lat: float, az: float, dist: float) -> tuple[float, float]:
    lon2, lat2, _ = GEOD.fwd(lon, lat, az, dist)
    return (float(lon2), float(lat2))


@st.composite
def anchors(draw: st.DrawFn) -> tuple[float, float]:
    """Somewhere on Earth, often near a pole or the antimeridian."""
    where = draw(st.sampled_from(["anywhere", "pole", "antimeridian", "pole"]))
    if where == "pole":
        return (draw(st.floats(-180, 180)), draw(st.sampled_from([-1.0, 1.0])) * draw(st.floats(84, 90)))
    if where == "antimeridian":
        return (draw(st.sampled_from([-1.0, 1.0])) * draw(st.floats(179, 180)), draw(st.floats(-80, 80)))
    return (draw(st.floats(-180, 180)), draw(st.floats(-89, 89)))


_azimuth = st.floats(0, 360, exclude_max=True)


@st.composite
def footprints_near(draw: st.DrawFn, anchor: tuple[float, float], spread_m: float = 300_000.0) -> Footprint:
    """A circle, corridor or (star-shaped, simple) polygon up to ~500 km across, whose
    centre is within ``spread_m`` of ``anchor``."""
    centre = _fwd(*anchor, draw(_azimuth), draw(st.floats(0, spread_m)))
    size = draw(st.sampled_from([0.0, 1.0, 30.0, 2_000.0, 40_000.0, 240_000.0]))
    size = draw(st.floats(0, size)) if size else 0.0
    shape = draw(st.sampled_from(["circle", "corridor", "polygon"]))
    if shape == "circle":
        return Circle(centre, size)
    if shape == "corridor":
        n = draw(st.integers(2, 4))
        reach = max(size, 50.0)
        path = [_fwd(*centre, draw(_azimuth), draw(st.floats(0, reach))) for _ in range(n)]
        if len(set(path)) < 2:
            path = [centre, _fwd(*centre, 0.0, reach)]
        half_width = draw(st.sampled_from([0.0, draw(st.floats(0, reach / 4))]))
        return Corridor(tuple(path), half_width)
    n = draw(st.integers(3, 6))
    reach = max(size, 200.0)
    turn = draw(_azimuth)
    # star-shaped about the centre: vertices at evenly spread azimuths, jittered
    azimuths = [turn - 360.0 * k / n + draw(st.floats(-60.0 / n, 60.0 / n)) for k in range(n)]
    polygon = Polygon(tuple(_fwd(*centre, az, reach * draw(st.floats(0.5, 1.0))) for az in azimuths))
    try:
        prepare([polygon])
    except ValidationError:
        reject()  # a near-degenerate star the engine refuses: not what this strategy is for
    return polygon


def minima_values() -> st.SearchStrategy[SeparationMinima]:
    return st.builds(
        SeparationMinima,
        st.sampled_from([0.0, 500.0, 5_000.0, 30_000.0]) | st.floats(0, 60_000),
        st.sampled_from([0.0, 150.0, 300.0]) | st.integers(0, 600).map(float),
        st.sampled_from([0.0, 600.0, 1800.0]) | st.integers(0, 3600).map(float),
    )


@st.composite
def minima_tables(draw: st.DrawFn) -> MinimaTable:
    default = draw(minima_values())
    pairs = draw(
        st.dictionaries(st.tuples(st.sampled_from(KINDS), st.sampled_from(KINDS)), minima_values(), max_size=3)
    )
    return MinimaTable(default, pairs)


@st.composite
def scenes(
    draw: st.DrawFn, max_items: int = 4, max_volumes: int = 2, zone_minima: bool = False
) -> list[Activity | Zone]:
    """A few activities and zones of two or three parties, near one another in space and
    time, with integer-metre altitudes and whole-minute windows (some lasting days, as a
    zone's would; some far below or above the usual heights).  With ``zone_minima`` about
    half the items are zones, and a zone often carries its own minima."""
    anchor = draw(anchors())
    spread = draw(st.sampled_from([3_000.0, 30_000.0, 300_000.0]))
    base = draw(st.integers(0, 1440))  # windows cross the engine's time buckets anywhere
    count = draw(st.integers(2, max_items))
    items: list[Activity | Zone] = []
    for n in range(count):
        vols = []
        for _ in range(draw(st.integers(1, max_volumes))):
            lower = draw(st.sampled_from([0, 0, 0, -8000, 90_000])) + draw(st.integers(0, 3000))
            upper = min(lower + draw(st.integers(0, 2000)), 100_000)
            if draw(st.integers(0, 5)) == 0:  # valid for days
                start = base - draw(st.integers(0, 5 * 1440))
                end = base + draw(st.integers(2 * 1440, 20 * 1440))
            else:
                start = base + draw(st.integers(0, 120))
                end = start + draw(st.integers(1, 180))
            vols.append(volume(draw(footprints_near(anchor, spread)), lower, upper, start, end))
        party = draw(st.sampled_from(["alpha", "bravo", "charlie"]))
        kind = draw(st.sampled_from(KINDS))
        if zone_minima and draw(st.booleans()):
            kind = draw(st.sampled_from([k.value for k in ZoneKind]))
        if kind in {k.value for k in ZoneKind}:
            own = draw(st.none() | minima_values()) if zone_minima else None
            items.append(Zone(f"Z{n}", party, ZoneKind(kind), tuple(vols), own))
        else:
            items.append(Activity(f"A{n}", party, ActivityKind(kind), tuple(vols)))
    return items
