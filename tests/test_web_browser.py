"""The web page in a real browser: Debian's Chromium driven by Playwright, against a real
``deconflict serve`` on a SQLite file.

The story: alpha's liaison officer (English) files a sortie that conflicts with bravo's
protected site, seeing the conflict before filing; bravo's officer (Arabic, right to
left) gets the alert live, acknowledges it and answers on the hotline in Arabic; alpha
reads the answer in English.  Then: a party going silent and the connection being lost
both put a banner on the page.  Every request either page makes stays on the server's
origin.  The screenshots the README shows are taken here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from browser import PASSWORD, Guard, launch, log_in, new_context, screenshot, web_world
from deconflict.model import AltitudeBand, Circle, TimeWindow, Volume4D
from deconflict.service import open_service
from deconflict.service.items import ItemInput
from serverproc import ServerProcess, wait_until

# A generic place on the open ocean (as the demo's theatre): no real territory.
LAT, LON = 30.0, -40.0
LIVE_MS = 15_000  # how long a live update may take to show, at most (a deadline, not a measure)


class Web:
    def __init__(self, server: ServerProcess, browser: Browser, zone_id: str) -> None:
        self.server = server
        self.browser = browser
        self.zone_id = zone_id
        self.guard = Guard(server.url)

    def page(self, user: str, language: str) -> Page:
        return log_in(new_context(self.browser, self.guard, language=language).new_page(), self.server.url, user)

    @contextmanager
    def api(self, user: str) -> Iterator[httpx.Client]:
        with httpx.Client(base_url=self.server.url, timeout=10) as client:
            token = client.post("/v1/auth/login", json={"username": user, "password": PASSWORD}).json()["access_token"]
            client.headers["Authorization"] = f"Bearer {token}"
            yield client


def _clinic(db_url: str) -> str:
    """Bravo's protected site, active for two days from an hour ago."""
    service = open_service(db_url)
    try:
        now = datetime.now(UTC)
        band = AltitudeBand(0.0, 3000.0)
        window = TimeWindow(now - timedelta(hours=1), now + timedelta(hours=48))
        done = service.create_item(
            service.principal_for("b_liaison"),
            "zone",
            ItemInput(
                kind="protected_site",
                subtype="hospital",
                title="Clinic",
                volumes=(Volume4D(Circle((LON, LAT), 2_000.0), band, window),),
            ),
        )
        return str(done[1]["item"]["id"])
    finally:
        service.store.dispose()


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web]:
    tmp = tmp_path_factory.mktemp("web")
    db_url = f"sqlite:///{tmp / 'web.db'}"
    web_world(db_url)
    zone_id = _clinic(db_url)
    with ServerProcess(db_url, tmp / "server.log") as server:
        server.start()
        with launch() as (_p, browser):
            yield Web(server, browser, zone_id)


def _utc(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M")


def test_a_conflict_filed_by_alpha_reaches_bravo_live_and_bravo_answers_in_arabic(web: Web) -> None:
    a = web.page("a_liaison", "en")
    b = web.page("b_liaison", "ar")
    expect(a.get_by_test_id("connection")).to_have_attribute("data-state", "up", timeout=LIVE_MS)
    expect(b.get_by_test_id("connection")).to_have_attribute("data-state", "up", timeout=LIVE_MS)

    # Right to left for Arabic: the document's direction, and the side panel on the left of the map.
    expect(b.locator("html")).to_have_attribute("dir", "rtl")
    expect(a.locator("html")).to_have_attribute("dir", "ltr")
    for page, side_first in ((b, True), (a, False)):
        side, picture = page.locator("aside.side").bounding_box(), page.locator("#map").bounding_box()
        assert side is not None and picture is not None
        assert (side["x"] < picture["x"]) is side_first

    # Alpha files a sortie over bravo's clinic: Check shows the conflict before anything is filed.
    a.get_by_test_id("tab-file").click()
    start = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(hours=3)
    a.get_by_test_id("file-kind").select_option("air_sortie")
    a.get_by_test_id("file-title").fill("Recce north")
    a.get_by_test_id("file-callsign").fill("VIPER 1")
    a.get_by_test_id("file-shape").select_option("circle")
    a.get_by_test_id("file-lat").fill(str(LAT + 0.01))
    a.get_by_test_id("file-lon").fill(str(LON + 0.01))
    a.get_by_test_id("file-radius").fill("5000")
    a.get_by_test_id("file-alt-lower").fill("0")
    a.get_by_test_id("file-alt-upper").fill("2500")
    a.get_by_test_id("file-start").fill(_utc(start))
    # Bad input first: an end before the start is named on its field and nothing is filed.
    a.get_by_test_id("file-end").fill(_utc(start - timedelta(hours=1)))
    a.get_by_test_id("file-submit").click()
    expect(a.locator('[data-testid=file-field-error][data-field="volumes[0].time_end"]')).to_be_visible()
    with web.api("a_liaison") as alpha:
        assert alpha.get("/v1/activities").json()["items"] == []
    a.get_by_test_id("file-end").fill(_utc(start + timedelta(hours=2)))
    a.get_by_test_id("file-check").click()
    row = a.get_by_test_id("file-conflict-row")
    expect(row).to_have_count(1, timeout=LIVE_MS)
    expect(row).to_contain_text("Clinic")
    # Nothing filed yet: bravo has no conflict.
    with web.api("b_liaison") as bravo:
        assert bravo.get("/v1/conflicts").json()["conflicts"] == []
    a.get_by_test_id("file-open-conflict").click()  # the key rule: alpha has seen the clinic
    expect(row).to_have_attribute("data-seen", "true")
    screenshot(a, "file-en")
    a.get_by_test_id("file-submit").click()
    expect(a.get_by_test_id("file-result")).to_be_visible(timeout=LIVE_MS)

    # Bravo sees the conflict arrive in its queue without reloading, and acknowledges it.
    conflict = b.get_by_test_id("queue-conflict-row")
    expect(conflict).to_have_count(1, timeout=LIVE_MS)
    expect(conflict).to_contain_text("VIPER 1")
    screenshot(b, "picture-ar")
    conflict.get_by_test_id("conflict-ack").click()
    with web.api("b_liaison") as bravo:

        def acknowledged() -> bool:
            return bool(bravo.get("/v1/conflicts").json()["conflicts"][0]["b"]["acknowledged_by"] == "b_liaison")

        wait_until(acknowledged, timeout=LIVE_MS / 1000, what="bravo's acknowledgement to be stored")
        [doc] = bravo.get("/v1/conflicts").json()["conflicts"]
        assert doc["a"]["item"]["callsign"] == "VIPER 1"
        conflict_id = doc["id"]

    # Bravo answers on the hotline, composing in Arabic: keep 2 km clear of the clinic until a time.
    b.get_by_test_id("tab-hotline").click()
    b.get_by_test_id("hotline-new-thread").click()
    b.get_by_test_id("hotline-party-alpha").check()
    b.get_by_test_id("hotline-subject").fill("العيادة")
    b.get_by_test_id("hotline-link").select_option(f"conflict:{conflict_id}")
    b.get_by_test_id("hotline-group").select_option("request")
    b.get_by_test_id("hotline-code").select_option("202")
    b.get_by_test_id("hotline-slot-distance").fill("2")
    b.get_by_test_id("hotline-slot-distance-unit").select_option("km")
    b.get_by_test_id("hotline-slot-position-lat").fill(str(LAT))
    b.get_by_test_id("hotline-slot-position-lon").fill(str(LON))
    b.get_by_test_id("hotline-slot-time").fill(_utc(start + timedelta(hours=2)))
    preview = b.get_by_test_id("hotline-preview")
    expect(preview).to_contain_text("٢")  # Arabic-Indic digits in the Arabic preview
    b.get_by_test_id("hotline-send").click()
    expect(b.get_by_test_id("hotline-message")).to_have_count(1, timeout=LIVE_MS)
    expect(b.get_by_test_id("hotline-message-text")).to_have_attribute("dir", "rtl")
    screenshot(b, "hotline-ar")

    # Alpha receives it live, in English.
    a.get_by_test_id("tab-hotline").click()
    thread = a.get_by_test_id("hotline-thread-row")
    expect(thread).to_have_count(1, timeout=LIVE_MS)
    thread.click()
    text = a.get_by_test_id("hotline-message-text")
    expect(text).to_contain_text("Request you keep", timeout=LIVE_MS)
    expect(text).to_contain_text("2")
    expect(text).to_have_attribute("dir", "ltr")
    screenshot(a, "hotline-en")
    a.get_by_test_id("tab-queues").click()
    screenshot(a, "picture-en")
    web.guard.check()
    for page in (a, b):  # their heartbeats would keep alpha and bravo UP in the next test
        page.context.close()


def test_a_silent_party_and_a_lost_connection_put_banners_on_the_page(web: Web) -> None:
    with web.api("m_liaison") as mediator:
        policy = mediator.get("/v1/policy").json()
    # Bravo keeps its channel alive from its page; then its page closes and the channel goes silent.
    a = web.page("a_liaison", "en")
    b = web.page("b_liaison", "he")
    expect(b.locator("html")).to_have_attribute("dir", "rtl")
    with web.api("a_liaison") as alpha:
        states = {r["party"]: r["state"] for r in alpha.get("/v1/liveness").json()}
        assert states["bravo"] == "up", states
    policy["liveness"] = {"heartbeat_s": 1, "down_after_s": 3}
    admin = _admin_token(web)
    r = httpx.put(f"{web.server.url}/v1/policy", json=policy, headers={"Authorization": f"Bearer {admin}"})
    assert r.status_code == 200, r.text
    b.context.close()
    banner = a.get_by_test_id("banner-party-bravo")
    expect(banner).to_be_visible(timeout=LIVE_MS)
    expect(banner).to_contain_text("Bravo")
    expect(a.get_by_test_id("banner-connection")).to_have_count(0)
    # Alpha's page took up the new heartbeat period from the policy.changed event: alpha stays UP.
    expect(a.get_by_test_id("banner-party-alpha")).to_have_count(0)
    with web.api("a_liaison") as alpha:
        assert {r["party"]: r["state"] for r in alpha.get("/v1/liveness").json()}["alpha"] == "up"

    # The server goes away: the page says so.
    web.server.stop()
    expect(a.get_by_test_id("banner-connection")).to_be_visible(timeout=LIVE_MS)
    expect(a.get_by_test_id("connection")).not_to_have_attribute("data-state", "up")
    web.guard.check(allow_errors=("net::ERR_CONNECTION_REFUSED", "WebSocket connection"))


def _admin_token(web: Web) -> str:
    service = open_service(web.server.db_url)
    try:
        if "ops" not in {u["id"] for u in service.list_users("unmed")}:
            service.add_user("ops", "unmed", "client", scopes=["admin"])
        return str(service.issue_token("ops")["access_token"])
    finally:
        service.store.dispose()


def test_screenshots_are_where_the_readme_shows_them() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    for name in ("picture-en", "picture-ar", "file-en", "hotline-ar"):
        assert f"docs/screenshots/{name}.png" in readme
        assert (Path(__file__).resolve().parents[1] / "docs" / "screenshots" / f"{name}.png").is_file()
