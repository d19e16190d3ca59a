"""The browser tests' parts: Debian's Chromium driven by Playwright for Python, a real
``deconflict serve`` over a SQLite file, people who log in through the page.

* :func:`launch` starts ``/usr/bin/chromium`` through ``executable_path`` (no browser is
  ever downloaded), headless, with the flags that keep it from calling home.
* :class:`Guard` watches a browser context: every request it makes, every console error
  and page error.  :meth:`Guard.check` fails on any request that leaves the server's
  origin (the page must work air-gapped) and on any error in the page.
* :func:`web_world` seeds parties and users with passwords, and :func:`log_in` logs a
  person in through the login form and waits for the picture.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from deconflict.service import open_service

CHROMIUM = "/usr/bin/chromium"
# Headless, and nothing in the background: no component updates, no sync, no first-run
# pages, no QUIC; --no-sandbox because CI runs as root.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-dev-shm-usage",
]
PASSWORD = "correct horse battery staple"
PEOPLE = {
    # user: (party, role)
    "a_liaison": ("alpha", "liaison"),
    "b_liaison": ("bravo", "liaison"),
    "m_liaison": ("unmed", "liaison"),
}
SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"


@contextmanager
def launch() -> Iterator[tuple[Playwright, Browser]]:
    if not os.access(CHROMIUM, os.X_OK):
        raise AssertionError(f"{CHROMIUM} is missing: run scripts/install-system-deps (apt-get install chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield p, browser
        finally:
            browser.close()


@dataclass
class Guard:
    """What one browser context asked for and what went wrong in its pages."""

    origin: str
    requests: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def watch(self, context: BrowserContext) -> BrowserContext:
        ws_origin = "ws" + self.origin.removeprefix("http")

        def on_request(request: Any) -> None:
            url = request.url
            self.requests.append(url)
            if not url.startswith((self.origin + "/", ws_origin + "/", "data:", "blob:")):
                self.foreign.append(url)

        context.on("request", on_request)
        context.on("websocket", lambda ws: on_request(ws))
        context.on("requestfailed", lambda r: self.errors.append(f"request failed: {r.url} {r.failure}"))

        def on_page(page: Page) -> None:
            page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
            page.on("console", lambda m: m.type == "error" and self.errors.append(f"console: {m.text}"))

        context.on("page", on_page)
        return context

    def check(self, *, allow_errors: tuple[str, ...] = ()) -> None:
        assert self.requests, "the page made no request at all"
        assert self.foreign == [], f"requests left the server's origin {self.origin}: {self.foreign}"
        errors = [e for e in self.errors if not any(a in e for a in allow_errors)]
        assert errors == [], errors


def web_world(db_url: str) -> None:
    """Parties alpha (English), bravo (Arabic) and a mediator, a liaison officer each, with passwords."""
    service = open_service(db_url, initialise=True)
    try:
        service.add_party("alpha", "Alpha", "member", language="en")
        service.add_party("bravo", "Bravo", "member", language="ar")
        service.add_party("unmed", "Mediator", "mediator", language="en")
        for user, (party, role) in PEOPLE.items():
            service.add_user(user, party, role, password=PASSWORD)
    finally:
        service.store.dispose()


def new_context(browser: Browser, guard: Guard, *, language: str | None = None, **kwargs: Any) -> BrowserContext:
    context = guard.watch(browser.new_context(viewport={"width": 1400, "height": 900}, **kwargs))
    if language is not None:
        # (init scripts also run in about:blank, where storage is off limits)
        context.add_init_script(
            f"if (location.protocol.startsWith('http')) localStorage.setItem('deconflict.language', {language!r})"
        )
    return context


def log_in(page: Page, origin: str, user: str, *, timeout_ms: float = 20_000) -> Page:
    page.goto(origin + "/")
    page.get_by_test_id("username").fill(user)
    page.get_by_test_id("password").fill(PASSWORD)
    page.get_by_test_id("login").locator("button[type=submit]").click()
    page.wait_for_selector("body[data-state=ready]", timeout=timeout_ms)
    page.wait_for_selector("body[data-painted='1']", timeout=timeout_ms)
    return page


def screenshot(page: Page, name: str) -> Path:
    """Save a screenshot under docs/screenshots (the README shows them)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path
