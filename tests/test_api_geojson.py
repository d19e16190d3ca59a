"""GeoJSON over HTTP: ``GET /v1/export`` and ``POST /v1/import``.

Export gives only what the caller may see (no drafts of others, no private notes, an
observer only the parties sharing with it); an export re-imported — by the same party or,
without the ``party`` property, by another — creates drafts with the very same volumes;
an import with one bad feature stores nothing.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from api_helpers import Api, open_api, populate, volume
from deconflict.service import ManualClock, Service


@pytest.fixture
def api(service: Service, clock: ManualClock) -> Iterator[Api]:
    with open_api(populate(service, clock)) as a:
        yield a


def polygon_volume(lon: float, lat: float, *, clockwise: bool = False) -> dict[str, Any]:
    v = volume(lon, lat)
    ring = [(lon, lat), (lon + 0.1, lat), (lon + 0.1, lat + 0.1), (lon, lat + 0.1)]
    if clockwise:
        ring.reverse()
    del v["outline_circle"]
    v["outline_polygon"] = {"vertices": [{"lng": x, "lat": y} for x, y in ring]}
    return v


def corridor_volume(lon: float, lat: float) -> dict[str, Any]:
    v = volume(lon, lat, start_h=6)
    del v["outline_circle"]
    v["corridor"] = {
        "path": [{"lng": lon, "lat": lat}, {"lng": lon + 0.3, "lat": lat + 0.2}, {"lng": lon + 0.5, "lat": lat}],
        "half_width": {"value": 2.0, "units": "km"},
    }
    return v


def export(api: Api, user: str, **params: Any) -> dict[str, Any]:
    r = api.get(user, "/v1/export", params=params)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/geo+json"
    doc = dict(r.json())
    assert doc["type"] == "FeatureCollection"
    return doc


def item_ids(doc: dict[str, Any]) -> set[str]:
    return {f["properties"]["item_id"] for f in doc["features"]}


def test_export_shows_only_what_the_caller_may_see(api: Api) -> None:
    a = api.notify("a_liaison", title="alpha sortie", notes="alpha's notes", callsign="EAGLE 1")["item"]
    a_draft = api.draft("a_liaison", title="alpha draft", volumes=[volume(40.0, 30.0)])
    b = api.notify("b_liaison", volumes=[volume(10.0, 10.0), polygon_volume(11.0, 11.0)], notes="bravo's")["item"]
    b_draft = api.draft("b_liaison", volumes=[volume(12.0, 12.0)])
    zone = api.zone("a_liaison", notes="zone notes", volumes=[volume(50.0, 20.0, start_h=0)])["item"]

    seen = export(api, "b_liaison")
    assert item_ids(seen) == {a["id"], b["id"], b_draft["id"]}
    assert len(seen["features"]) == 4  # one feature per volume: bravo's activity has two
    for f in seen["features"]:
        props = f["properties"]
        assert "notes" not in props and "alpha's notes" not in str(f) and "zone notes" not in str(f)
        assert props["item_type"] == "activity"
    [alpha_feature] = [f for f in seen["features"] if f["properties"]["item_id"] == a["id"]]
    props = alpha_feature["properties"]
    assert (props["party"], props["kind"], props["callsign"]) == ("alpha", "air_sortie", "EAGLE 1")
    assert alpha_feature["geometry"] == {"type": "Point", "coordinates": [36.0, 35.0]}

    assert item_ids(export(api, "a_liaison")) == {a["id"], a_draft["id"], b["id"]}
    assert item_ids(export(api, "o_user")) == {a["id"]}  # bravo does not share with observers
    assert item_ids(export(api, "m_user", state="notified")) == {a["id"], b["id"]}
    assert item_ids(export(api, "m_user", party="bravo")) == {b["id"]}
    assert item_ids(export(api, "b_liaison", type="zone")) == {zone["id"]}
    assert item_ids(export(api, "b_liaison", bbox="35,34,37,36")) == {a["id"]}
    r = api.get("b_liaison", "/v1/export", params={"type": "notice"})
    assert r.status_code == 422 and r.json()["field"] == "type"


def test_round_trip_by_the_same_party_and_by_another(api: Api) -> None:
    volumes = [volume(20.0, 20.0), polygon_volume(21.0, 21.0, clockwise=True), corridor_volume(22.0, 22.0)]
    original = api.notify("a_liaison", volumes=volumes, title="three shapes", callsign="HAWK 2")["item"]
    doc = export(api, "a_liaison")
    assert len(doc["features"]) == 3

    def imported(user: str, collection: dict[str, Any]) -> dict[str, Any]:
        r = api.post(user, "/v1/import", collection)
        assert r.status_code == 201, r.text
        [created] = r.json()["created"]
        assert created["type"] == "activity"
        return dict(api.ok(api.get(user, f"/v1/activities/{created['id']}")))

    again = imported("a_liaison", doc)  # alpha re-imports its own export: a new draft
    assert again["id"] != original["id"]
    assert (again["state"], again["party"]) == ("draft", "alpha")
    assert again["volumes"] == original["volumes"]
    assert (again["kind"], again["title"], again["callsign"]) == ("air_sortie", "three shapes", "HAWK 2")

    # bravo cannot file alpha's items as alpha's …
    before = api.counts()
    bravo_view = export(api, "b_liaison")
    r = api.post("b_liaison", "/v1/import", bravo_view)
    assert r.status_code == 403 and r.json()["field"].endswith(".party")
    assert api.counts() == before
    # … but without the party property they become bravo's own drafts
    for f in bravo_view["features"]:
        del f["properties"]["party"]
    copied = imported("b_liaison", bravo_view)
    assert (copied["state"], copied["party"]) == ("draft", "bravo")
    assert copied["volumes"] == original["volumes"]
    assert api.ok(api.get("a_liaison", "/v1/activities", params={"party": "bravo"}))["items"] == []  # a draft
    after = api.counts()
    assert after["notices"] == before["notices"]  # drafts notify nobody
    assert after["items"] == before["items"] + 1


def test_import_zones_and_idempotency(api: Api) -> None:
    api.notify("a_liaison", title="alpha sortie")
    zone = api.zone("b_liaison", volumes=[volume(36.0, 35.0, start_h=0, hours=48)], title="clinic")["item"]
    doc = export(api, "b_liaison", type="zone")
    for f in doc["features"]:
        f["properties"]["item_id"] = "copy"
    first = api.post("b_liaison", "/v1/import", doc, headers={"Idempotency-Key": "imp-1"})
    assert first.status_code == 201, first.text
    [created] = first.json()["created"]
    assert created["type"] == "zone" and created["conflicts"] == 1  # zones are live at once
    replay = api.post("b_liaison", "/v1/import", doc, headers={"Idempotency-Key": "imp-1"})
    assert replay.json() == first.json()
    zones = api.ok(api.get("a_liaison", "/v1/zones"))["items"]
    assert {z["id"] for z in zones} == {zone["id"], created["id"]}
    assert {z["state"] for z in zones} == {"active"}


def test_import_with_one_bad_feature_stores_nothing(api: Api) -> None:
    api.notify("b_liaison", volumes=[volume(5.0, 5.0)])
    good = export(api, "b_liaison")["features"][0]
    del good["properties"]["party"]
    variants: list[tuple[dict[str, Any], str]] = []
    bad = copy.deepcopy(good)
    bad["properties"]["item_id"] = "second"
    bad["geometry"]["coordinates"] = [5.0, 95.0]
    variants.append((bad, "features[1].geometry"))
    bad = copy.deepcopy(good)
    bad["properties"]["item_id"] = "second"
    bad["properties"]["time_end"] = "2026-11-25T08:00:00"
    variants.append((bad, "features[1].properties.time_end"))
    bad = copy.deepcopy(good)
    bad["properties"]["item_id"] = "second"
    bad["geometry"] = {
        "type": "Polygon",
        "coordinates": [[[5.0, 5.0], [5.1, 5.1], [5.1, 5.0], [5.0, 5.1], [5.0, 5.0]]],
    }
    del bad["properties"]["radius_m"]
    variants.append((bad, "features[1]"))
    bad = copy.deepcopy(good)
    bad["properties"]["item_id"] = "second"
    bad["properties"]["altitude_upper_m"] = "NaN"
    variants.append((bad, "features[1].properties.altitude_upper_m"))

    before = api.counts()
    for feature, field in variants:
        r = api.post("a_liaison", "/v1/import", {"type": "FeatureCollection", "features": [good, feature]})
        assert r.status_code == 422, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["field"].startswith(field), (field, r.json())
        assert api.counts() == before
    # a feature that parses but fails the engine (a footprint too large) rolls back the good one before it
    huge = copy.deepcopy(good)
    huge["properties"]["item_id"] = "second"
    huge["properties"]["radius_m"] = 5_000_000.0
    r = api.post("a_liaison", "/v1/import", {"type": "FeatureCollection", "features": [good, huge]})
    assert r.status_code == 422 and r.json()["field"].startswith("items[1]"), r.text
    assert api.counts() == before
    assert api.ok(api.get("a_liaison", "/v1/activities", params={"party": "alpha"}))["items"] == []


def test_export_of_activity_body_shapes(api: Api) -> None:
    """Each wire footprint maps to its GeoJSON geometry."""
    api.draft("a_liaison", volumes=[volume(1.0, 1.0), polygon_volume(2.0, 2.0), corridor_volume(3.0, 3.0)])
    kinds = [f["geometry"]["type"] for f in export(api, "a_liaison")["features"]]
    assert kinds == ["Point", "Polygon", "LineString"]
