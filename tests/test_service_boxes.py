"""The lon/lat boxes the service files items and subscriptions under (SQL prefilters of
the DSS queries, subscription matching and implicit subscriptions) and the worst-case
envelope of a DOWN party's activity must *contain* the footprints — geodesic edges
included, which bow towards the pole between their vertices.  A box of the vertices
alone let a USS intersect a DOWN USS's intent without its key (the envelope was smaller
than the intent) and hid intents from queries that the key rule counted."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod

from builders import anchors, footprints_near
from conftest import T0
from deconflict import f3548
from deconflict.model import Activity, ActivityKind, AltitudeBand, Circle, Corridor, Polygon, TimeWindow, Volume4D
from deconflict.service import Principal, Service
from deconflict.service.core import bounding_box, envelope
from deconflict.service.dss_types import F3548_SCOPES, DssError

GEOD = Geod(ellps="WGS84")
T = datetime(2026, 12, 4, tzinfo=UTC)
WINDOW = TimeWindow(T, T + timedelta(hours=1))


def _edge_points(fp: Polygon | Corridor, per_edge: int = 64) -> list[tuple[float, float]]:
    points = list(fp.vertices) if isinstance(fp, Polygon) else list(fp.path)
    if isinstance(fp, Polygon):
        points.append(points[0])
    out = list(points)
    for (lo1, la1), (lo2, la2) in itertools.pairwise(points):
        out += GEOD.npts(lo1, la1, lo2, la2, per_edge)
    return out


@settings(max_examples=150, deadline=None, database=None)
@given(st.data())
def test_the_box_holds_every_point_of_the_geodesic_edges(data: st.DataObject) -> None:
    fp = data.draw(footprints_near(data.draw(anchors())))
    if isinstance(fp, Circle):
        return
    west, east, south, north = bounding_box([Volume4D(fp, AltitudeBand(0, 1), WINDOW)])
    for lon, lat in _edge_points(fp):
        assert south <= lat <= north, (fp, lat, south, north)
        if east - west < 360:
            assert west - 1e-9 <= lon <= east + 1e-9 or west <= lon + 360 <= east or west <= lon - 360 <= east


def test_an_edge_along_a_parallel_bows_out_of_a_box_of_its_vertices() -> None:
    """The reviewer's case: an 83 km edge along 60°N reaches ~60.0021°N."""
    fp = Polygon(((0.0, 60.0), (1.5, 60.0), (1.5, 59.95), (0.0, 59.95)))
    _, _, _, north = bounding_box([Volume4D(fp, AltitudeBand(0, 100), WINDOW)])
    assert north > 60.002
    highest = max(lat for _, lat in GEOD.npts(0.0, 60.0, 1.5, 60.0, 200))
    assert highest > 60.002 and north >= highest


@settings(max_examples=40, deadline=None, database=None)
@given(st.data())
def test_the_worst_case_envelope_contains_the_activity(data: st.DataObject) -> None:
    anchor = data.draw(anchors())
    fp = data.draw(footprints_near(anchor, spread_m=50_000.0))
    vol = Volume4D(fp, AltitudeBand(100, 200), WINDOW)
    activity = Activity("a", "p", ActivityKind.AIR_SORTIE, (vol,))
    env = envelope(activity)
    if env is activity:  # across ±180° or at a pole the activity keeps its own volumes
        return
    points = [fp.center] if isinstance(fp, Circle) else _edge_points(fp, 12)
    probes = [Volume4D(Circle((lon, lat), 0.5), AltitudeBand(150, 150), WINDOW) for lon, lat in points]
    for probe in probes:
        assert f3548.volumes_intersect(env.volumes, [probe]), (fp, probe.footprint)


def _f3548(vertices: list[tuple[float, float]] | None = None, circle: tuple[float, float, float] | None = None) -> dict:
    def t(h: float) -> dict[str, str]:
        return {"value": (T0 + timedelta(hours=h)).isoformat().replace("+00:00", "Z"), "format": "RFC3339"}

    if vertices is not None:
        outline = {"outline_polygon": {"vertices": [{"lng": lo, "lat": la} for lo, la in vertices]}}
    else:
        assert circle is not None
        outline = {
            "outline_circle": {
                "center": {"lng": circle[0], "lat": circle[1]},
                "radius": {"value": circle[2], "units": "M"},
            }
        }
    alt = {
        "altitude_lower": {"value": 0, "reference": "W84", "units": "M"},
        "altitude_upper": {"value": 120, "reference": "W84", "units": "M"},
    }
    return {"volume": outline | alt, "time_start": t(1), "time_end": t(2)}


def test_the_key_query_subscriptions_and_the_down_envelope_agree_at_a_bowed_edge(service: Service) -> None:
    """A 20 m circle inside the bow of an 83 km polygon edge at 60°N (beyond the vertices'
    latitude): the key rule names the polygon's intent, so must the query, the
    subscription over the circle, and the worst case once its USS is Down."""
    for party in ("uss1", "uss2", "arb"):
        service.add_party(party, party, "member", protocol="f3548")
    uss1, uss2, arb = (Principal(p, p, "member", "client", F3548_SCOPES) for p in ("uss1", "uss2", "arb"))
    url = "https://uss2.example.com"
    sub = str(uuid.uuid4())
    inside = _f3548(circle=(0.75, 60.0015, 20.0))
    service.dss_put_subscription(
        uss2, sub, None, {"extents": inside, "uss_base_url": url, "notify_for_operational_intents": True}
    )
    polygon = _f3548(vertices=[(0.0, 60.0), (1.5, 60.0), (1.5, 59.95), (0.0, 59.95)])
    a_id = str(uuid.uuid4())
    made = service.dss_put_oir(uss1, a_id, None, {"extents": [polygon], "state": "Accepted", "uss_base_url": url})[1]
    assert [s["subscription_id"] for g in made["subscribers"] for s in g["subscriptions"]] == [sub]
    found = service.dss_query_oirs(uss2, {"area_of_interest": inside})["operational_intent_references"]
    assert [r["id"] for r in found] == [a_id]
    body = {"extents": [inside], "state": "Accepted", "uss_base_url": url}
    with pytest.raises(DssError) as e:
        service.dss_put_oir(uss2, str(uuid.uuid4()), None, body)
    assert e.value.status == 409
    service.dss_set_availability(arb, "uss1", {"availability": "Down"})
    with pytest.raises(DssError) as e:  # its worst case still holds its true extent
        service.dss_put_oir(uss2, str(uuid.uuid4()), None, body)
    assert e.value.status == 409 and e.value.body is not None
    assert [m["id"] for m in e.value.body["missing_operational_intents"]] == [a_id]
