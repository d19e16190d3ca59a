"""The web UI: the common operating picture, served by the API server itself.

The page (``/``) and its assets (``/ui/…``) are built from ``web/`` by ``make web``
(esbuild bundles OpenLayers and the page's modules; the basemap is Natural Earth from the
npm package ``world-atlas``, cut at the antimeridian) into ``webui/`` next to this module,
which the Python package ships: a ``pip install`` needs no Node.  Nothing is fetched from
anywhere else at run time — no CDN, no tile server, no font service — and every response
carries a Content-Security-Policy that lets the browser talk to this origin only (plus the
tile server, when ``deconflict serve --tile-url`` names one for a connected deployment).

``DECONFLICT_WEBUI`` names another assets folder (development: ``node web/build.mjs --out DIR``).
``GET /ui/config.json`` tells the page the optional tile URL and the server's version.
When the assets were not built, ``/`` answers 503 with the command that builds them.
"""

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI, HTTPException
from fastapi.responses import FileResponse, HTMLResponse, Response

from .. import __version__

__all__ = ["ASSETS", "check_tile_url", "content_security_policy", "install"]

ASSETS = Path(os.environ.get("DECONFLICT_WEBUI") or Path(__file__).parent / "webui")
_TYPES = {".js": "text/javascript", ".css": "text/css", ".json": "application/json", ".txt": "text/plain"}


def content_security_policy(tile_url: str | None) -> str:
    """The policy of every UI response: this origin only, plus the tile server's origin.

    >>> "connect-src 'self';" in content_security_policy(None)
    True
    >>> "img-src 'self' data: blob: https://tiles.example:8443;" in content_security_policy(
    ...     "https://tiles.example:8443/{z}/{x}/{y}.png")
    True
    """
    extra = ""
    if tile_url:
        parts = urlsplit(tile_url)
        extra = f" {parts.scheme}://{parts.netloc}"
    return (
        "default-src 'self'; "
        f"img-src 'self' data: blob:{extra}; "
        "connect-src 'self'; "
        "script-src 'self'; "
        "style-src 'self' 'unsafe-inline'; "
        "font-src 'self'; "
        "worker-src 'self' blob:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


def check_tile_url(tile_url: str | None) -> None:
    """Refuse a tile URL that is not http(s) with a host and {z}/{x}/{y} (ValueError naming ``tile_url``)."""
    if tile_url is None:
        return
    parts = urlsplit(tile_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"tile_url: must be an http(s) URL with a host, got {tile_url!r}")
    if not all(k in tile_url for k in ("{z}", "{x}", "{y}")):
        raise ValueError("tile_url: must contain {z}, {x} and {y}")


def install(app: FastAPI, *, tile_url: str | None = None, assets: Path = ASSETS) -> None:
    """Serve the page at ``/`` and its assets under ``/ui/``."""
    check_tile_url(tile_url)
    csp = content_security_policy(tile_url)
    headers = {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
    router = APIRouter(include_in_schema=False)

    @router.get("/")
    def index() -> Response:
        page = assets / "index.html"
        if not page.is_file():
            return HTMLResponse(
                "<h1>deconflict: the web UI is not built</h1><p>Run <code>make web</code> "
                "(needs Node.js and npm) in the source tree, or install a built package.</p>",
                status_code=503,
                headers=headers,
            )
        return FileResponse(page, media_type="text/html", headers={**headers, "Cache-Control": "no-cache"})

    @router.get("/ui/config.json")
    def config() -> dict[str, Any]:
        return {"tile_url": tile_url, "version": __version__}

    @router.get("/ui/{name}")
    def asset(name: str) -> Response:
        path = assets / name
        kind = _TYPES.get(path.suffix)
        # Only plain files directly in the assets folder, of a known type (no traversal, no listing).
        if kind is None or "/" in name or name.startswith(".") or not path.is_file():
            raise HTTPException(status_code=404, detail=f"no UI asset {name!r}")
        return FileResponse(path, media_type=kind, headers={**headers, "Cache-Control": "no-cache"})

    app.include_router(router)
