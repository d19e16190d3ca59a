"""The web UI as files: how the server serves them, the interface's translations, and the
offline basemap (built by ``make web`` from the npm package ``world-atlas``).

No browser here: see test_web_browser.py for the page itself.
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from deconflict.api import create_app, web
from deconflict.service import ManualClock, open_service

ROOT = Path(__file__).resolve().parents[1]
I18N = ROOT / "web" / "src" / "i18n"
LANGUAGES = ("en", "ar", "tr", "he")
BUILT = web.ASSETS
T0_DB = "sqlite:///{}"


def _app(tmp_path: Path, **kwargs: Any) -> FastAPI:
    from conftest import T0

    service = open_service(T0_DB.format(tmp_path / "web.db"), clock=ManualClock(T0), initialise=True)
    return create_app(service, scheduler_interval_s=None, **kwargs)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with TestClient(_app(tmp_path_factory.mktemp("web"))) as c:
        yield c


def test_the_page_and_its_assets_are_served_with_a_same_origin_policy(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200, "the web UI is not built: run `make web`"
    assert page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    for directive in ("default-src 'self'", "connect-src 'self'", "script-src 'self'", "img-src 'self' data: blob:;"):
        assert directive in csp
    assert '<script type="module" src="/ui/app.js">' in page.text
    for name, kind in (("app.js", "text/javascript"), ("app.css", "text/css"), ("basemap.json", "application/json")):
        r = client.get(f"/ui/{name}")
        assert r.status_code == 200, name
        assert r.headers["content-type"].startswith(kind), name
        assert r.headers["content-security-policy"] == csp
        assert r.headers["x-content-type-options"] == "nosniff"
    # The bundle names no address outside this origin to fetch from.
    bundle = client.get("/ui/app.js").text + client.get("/ui/app.css").text
    assert not re.findall(r"""(?:src|href|url)\s*[=(]\s*["']?(?:https?:)?//""", bundle)
    assert "fonts.googleapis" not in bundle and "unpkg.com" not in bundle and "cdn." not in bundle


@pytest.mark.parametrize(
    "path", ["/ui/nothing.js", "/ui/..%2Fweb.py", "/ui/.built", "/ui/index.py", "/ui/%2e%2e/web.py", "/ui/"]
)
def test_only_known_assets_are_served(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 404


def test_config_names_no_tiles_by_default_and_the_tile_origin_when_given(tmp_path: Path) -> None:
    with TestClient(_app(tmp_path)) as c:
        assert c.get("/ui/config.json").json()["tile_url"] is None
    url = "https://tiles.example.org/{z}/{x}/{y}.png"
    with TestClient(_app(tmp_path, tile_url=url)) as c:
        assert c.get("/ui/config.json").json()["tile_url"] == url
        csp = c.get("/").headers["content-security-policy"]
        assert "img-src 'self' data: blob: https://tiles.example.org;" in csp
        assert "connect-src 'self';" in csp


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://tiles.example.org/{z}/{x}/{y}.png", "http(s) URL"),
        ("https:///{z}/{x}/{y}.png", "http(s) URL"),
        ("https://tiles.example.org/tile.png", "{z}, {x} and {y}"),
    ],
)
def test_a_bad_tile_url_is_refused_naming_it(tmp_path: Path, url: str, reason: str) -> None:
    with pytest.raises(ValueError, match=r"^tile_url: .*") as info:
        _app(tmp_path, tile_url=url)
    assert reason in str(info.value)


def test_an_unbuilt_ui_answers_503_saying_how_to_build_it(tmp_path: Path) -> None:
    app = FastAPI()
    web.install(app, assets=tmp_path / "empty")
    with TestClient(app) as c:
        r = c.get("/")
        assert r.status_code == 503
        assert "make web" in r.text
        assert c.get("/ui/app.js").status_code == 404


# --------------------------------------------------------------------------- translations


def _table(area: str, lang: str) -> dict[str, str]:
    data = json.loads((I18N / area / f"{lang}.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict) and all(isinstance(v, str) for v in data.values()), (area, lang)
    return data


AREAS = sorted(p.name for p in I18N.iterdir() if p.is_dir())


def test_every_area_has_every_language_and_nothing_else() -> None:
    assert {"shell", "map", "work", "hotline"} <= set(AREAS)
    for area in AREAS:
        assert sorted(p.stem for p in (I18N / area).glob("*.json")) == sorted(LANGUAGES), area


@pytest.mark.parametrize("area", AREAS)
def test_every_string_is_in_every_language_with_the_same_placeholders(area: str) -> None:
    en = _table(area, "en")
    assert en, f"{area}: no strings"
    for lang in LANGUAGES[1:]:
        other = _table(area, lang)
        assert set(other) == set(en), (area, lang, set(en) ^ set(other))
        for key, text in en.items():
            assert set(re.findall(r"\{(\w+)\}", other[key])) == set(re.findall(r"\{(\w+)\}", text)), (lang, key)
            assert other[key].strip(), (lang, key)
        # Translated, not copied: most strings differ from English (names, units and symbols may not).
        copied = [k for k, v in other.items() if v == en[k] and re.search(r"[A-Za-z]{4,}", v)]
        assert len(copied) <= max(2, len(en) // 10), (area, lang, copied)


def test_keys_do_not_collide_across_areas() -> None:
    seen: dict[str, str] = {}
    for area in AREAS:
        for key in _table(area, "en"):
            assert key not in seen, f"{key} is in both {seen[key]} and {area}"
            seen[key] = area


def test_arabic_and_hebrew_strings_are_in_their_scripts() -> None:
    for lang, script in (("ar", r"[\u0600-\u06FF]"), ("he", r"[\u0590-\u05FF]")):
        for area in AREAS:
            for key, text in _table(area, lang).items():
                if re.search(r"[A-Za-z]{3,}", re.sub(r"\{\w+\}", "", text)) and not re.search(script, text):
                    pytest.fail(f"{lang} {area} {key}: {text!r} has no {lang} script")


# --------------------------------------------------------------------------- the basemap


@pytest.fixture(scope="module")
def basemap() -> dict[str, Any]:
    path = BUILT / "basemap.json"
    assert path.is_file(), "the web UI is not built: run `make web`"
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def _rings(geometry: dict[str, Any]) -> list[list[list[float]]]:
    if geometry["type"] == "Polygon":
        return list(geometry["coordinates"])
    assert geometry["type"] == "MultiPolygon", geometry["type"]
    return [ring for polygon in geometry["coordinates"] for ring in polygon]


def test_the_basemap_is_natural_earth_countries(basemap: dict[str, Any]) -> None:
    assert basemap["type"] == "FeatureCollection"
    assert len(basemap["features"]) > 200
    assert "Natural Earth" in basemap["source"]
    lons = [pt[0] for f in basemap["features"] for ring in _rings(f["geometry"]) for pt in ring]
    lats = [pt[1] for f in basemap["features"] for ring in _rings(f["geometry"]) for pt in ring]
    assert min(lons) >= -180 and max(lons) <= 180
    assert min(lats) >= -85.06 and max(lats) <= 85.06  # clamped to Web Mercator's limit
    assert min(lons) < -179.9 and max(lons) > 179.9  # land reaches both sides of the antimeridian


def test_no_polygon_crosses_the_antimeridian(basemap: dict[str, Any]) -> None:
    """Edges jumping more than 180° of longitude would draw as bands across a flat map.

    Natural Earth's Russia, Fiji and Antarctica straddle ±180°: they must arrive cut into
    parts on either side.  Only edges along the clamped polar limit may run the whole width
    (Antarctica's southern edge, drawn off the map)."""
    jumps = []
    for f in basemap["features"]:
        for ring in _rings(f["geometry"]):
            for (x0, y0), (x1, y1) in itertools.pairwise(ring):
                if abs(x1 - x0) > 180 and not (abs(y0) > 85 and abs(y1) > 85):
                    jumps.append((f["properties"]["name"], (x0, y0), (x1, y1)))
    assert jumps == []
    names = {f["properties"]["name"] for f in basemap["features"]}
    assert {"Russia", "Fiji", "Antarctica"} <= names
    russia = next(f for f in basemap["features"] if f["properties"]["name"] == "Russia")
    sides = {pt[0] > 0 for ring in _rings(russia["geometry"]) for pt in ring if abs(pt[0]) > 179}
    assert sides == {True, False}, "Russia's far east should reach +180 and continue from -180"
