"""Benchmark of the web UI's common operating picture in headless Chromium.

Builds two databases from the scenario generator (:func:`deconflict.scenario.generate`),
filed through the real service, one write per item: two member parties, ``alpha`` and
``bravo`` (the generator deals each item to one of them), every activity *notified*, every
zone active.  The viewer is a liaison of ``alpha``; an item that meets one of the other
party's is filed with the key rule satisfied (its conflicts previewed, the other items read
for their versions, then filed with those versions as its key), so the conflicts are real.

* **picture** — ``--activities`` activities (default 5,000; the generator's zones for that
  size come with them);
* **pan** — ``--volumes`` volumes in all (default 20,000).

Then it starts the real ``deconflict serve`` (``--no-scheduler``: see :func:`server`) on each and
drives Debian's Chromium (``--chromium``, headless, ``--disable-gpu``: software rendering) with Playwright:

(a) *first meaningful paint*: a fresh browser context per run (no cache), the bearer token put
    in ``sessionStorage['deconflict.token']`` by an init script (no login form), then the time
    from navigation to the page's ``performance.mark("picture-painted")`` — the map module sets it
    once the first frame holding the basemap and every item has rendered.  Median of ``--runs``.
    Also: when the last REST response of the snapshot arrived, the bytes transferred per
    resource, the JS heap.
(b) *pan*: the map fitted to the whole theatre, the mouse pressed on it (Playwright), then
    one ``pointermove`` per animation frame dispatched in the page, dragging it in circles for
    ``--pan-seconds`` (Playwright's own ``mouse.move`` waits for a frame per call, which would
    halve the input rate and measure that instead); frames are counted twice, by
    ``requestAnimationFrame`` callbacks and by OpenLayers' ``postrender`` events (a frame the
    map actually drew), over the drag's wall time; then the time a full redraw of every layer
    takes at that view.

Prints one JSON object, writes ``--results`` (bench/results/web_picture.json) and, with
``--out docs/benchmarks.md``, its section there.  Needs the built UI (``make web``, or
``--webui DIR`` from ``node web/build.mjs --out DIR``) and Playwright for Python.

    python bench/web_picture.py --out docs/benchmarks.md          # make bench-web
    python bench/web_picture.py --activities 500 --volumes 2000 --runs 2   # quick
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(_ROOT))

from bench.service_load import publish  # noqa: E402
from bench.service_load import server as service_server  # noqa: E402
from deconflict.model import Activity  # noqa: E402
from deconflict.scenario import generate  # noqa: E402
from deconflict.service import open_service  # noqa: E402
from deconflict.service.errors import AwarenessError  # noqa: E402
from deconflict.service.items import ItemInput  # noqa: E402

BEGIN = "<!-- web-benchmark:begin (written by bench/web_picture.py) -->"
END = "<!-- web-benchmark:end -->"
VIEWPORT = {"width": 1400, "height": 900}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWER = "viewer"


# --- the databases --------------------------------------------------------------------------------


def scenario(activities: int | None, volumes: int | None, seed: int) -> list[Any]:
    """Exactly ``volumes`` volumes, or the zones plus the first ``activities`` activities of a
    scenario drawn large enough to hold them."""
    if volumes is not None:
        return generate(volumes, seed=seed)
    assert activities is not None
    n = activities * 3
    while True:
        items = generate(n, seed=seed)
        acts = [i for i in items if isinstance(i, Activity)]
        if len(acts) >= activities:
            keep = {i.id for i in acts[:activities]}
            return [i for i in items if not isinstance(i, Activity) or i.id in keep]
        n *= 2


def build(url: str, items: list[Any]) -> dict[str, Any]:
    """File ``items`` through the service (one write each) and return the viewer's token and counts."""
    service = open_service(url, initialise=True)
    try:
        service.add_party("alpha", "Alpha", "member")
        service.add_party("bravo", "Bravo", "member", language="ar")
        service.add_user(VIEWER, "alpha", "liaison")
        service.add_user("bravo_liaison", "bravo", "liaison")
        who = {"alpha": service.principal_for(VIEWER), "bravo": service.principal_for("bravo_liaison")}
        counts = {"activities": 0, "zones": 0, "volumes": 0, "filed_with_key": 0}
        started = time.perf_counter()
        # Zones first (long-lived), then activities in time order, as they would be filed.
        order = sorted(items, key=lambda i: (isinstance(i, Activity), i.volumes[0].window.start))
        for it in order:
            kind = "activity" if isinstance(it, Activity) else "zone"
            title = it.id.split("-", 1)[-1].replace("_", " ")
            data = ItemInput(kind=str(it.kind), volumes=it.volumes, title=title, callsign=_callsign(it))
            principal = who[it.party]
            state = "notified" if kind == "activity" else None
            try:
                service.create_item(principal, kind, data, state=state)
            except AwarenessError:
                found = service.preview(principal, kind, data)["conflicts"]
                key = [service.get_item(principal, c["other"]["type"], c["other"]["id"])["version"] for c in found]
                service.create_item(principal, kind, data, state=state, key=key)
                counts["filed_with_key"] += 1
            counts["activities" if kind == "activity" else "zones"] += 1
            counts["volumes"] += len(it.volumes)
        counts["filing_s"] = round(time.perf_counter() - started, 1)
        counts["token"] = str(service.issue_token(VIEWER)["access_token"])
        return counts
    finally:
        service.store.dispose()


def _token(url: str) -> str:
    service = open_service(url)
    try:
        return str(service.issue_token(VIEWER)["access_token"])
    finally:
        service.store.dispose()


def _callsign(item: Any) -> str | None:
    kind = str(item.kind)
    if kind.startswith("air_"):
        return f"{'HAWK' if item.party == 'alpha' else 'FALCON'} {item.id.rsplit('-', 1)[-1]}"
    return None


@contextmanager
def server(url: str, log: Path) -> Iterator[tuple[int, int]]:
    """``deconflict serve --no-scheduler`` over ``url``; yields (port, pid) once /v1/health answers.

    Without the scheduler: the databases are filed minutes before they are shown, and its deadline
    sweeps (thousands of receipts coming due at once) would load the server while the page loads."""
    with service_server(url, log, scheduler=False) as running:
        yield running


# --- the browser ------------------------------------------------------------------------------------

_RESOURCES = """() => performance.getEntriesByType('resource').concat(performance.getEntriesByType('navigation'))
  .map(r => ({name: r.name, type: r.initiatorType || r.entryType, start: r.startTime, end: r.responseEnd,
              transfer: r.transferSize, encoded: r.encodedBodySize, decoded: r.decodedBodySize}))"""


def _resource_key(name: str) -> str:
    path = name.split("://", 1)[-1].split("/", 1)[-1].split("?", 1)[0]
    return "/" + path


def paint_once(browser: Any, base: str, token: str) -> dict[str, Any]:
    context = browser.new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.add_init_script(f"sessionStorage.setItem('deconflict.token', {json.dumps(token)})")
        page.goto(base + "/", wait_until="commit")
        page.wait_for_selector("body[data-painted='1']", state="attached", timeout=300_000)
        painted = page.evaluate("performance.getEntriesByName('picture-painted')[0].startTime")
        resources = page.evaluate(_RESOURCES)
        heap = page.evaluate("performance.memory ? performance.memory.usedJSHeapSize : null")
        counts = page.evaluate("window.__deconflictMap.deconflict.count()")
        if errors:
            raise RuntimeError(f"the page failed: {errors}")
    finally:
        context.close()
    api = [r for r in resources if "/v1/" in r["name"]]
    by_key: dict[str, dict[str, int]] = {}
    for r in resources:
        key = "/v1/… (REST)" if "/v1/" in r["name"] else _resource_key(r["name"])
        agg = by_key.setdefault(key, {"requests": 0, "transfer": 0, "decoded": 0})
        agg["requests"] += 1
        agg["transfer"] += int(r["transfer"] or 0)
        agg["decoded"] += int(r["decoded"] or 0)
    return {
        "painted_ms": round(painted),
        # the picture's snapshot: the REST responses in before the paint (notices and incidents follow it)
        "rest_done_ms": round(max((r["end"] for r in api if r["end"] <= painted), default=0)),
        "rest_after_paint": sum(1 for r in api if r["end"] > painted),
        "app_js_done_ms": round(max((r["end"] for r in resources if r["name"].endswith("/ui/app.js")), default=0)),
        "basemap_done_ms": round(max((r["end"] for r in resources if r["name"].endswith("/basemap.json")), default=0)),
        "requests": len(resources),
        "transfer_bytes": sum(int(r["transfer"] or 0) for r in resources),
        "by_resource": by_key,
        "heap_mb": round(heap / 2**20, 1) if heap else None,
        "features": counts,
    }


_PAN_SETUP = """() => new Promise((resolve) => {
  const map = window.__deconflictMap;
  const p = window.__pan = {raf: [], post: 0, on: true};
  const loop = (t) => { p.raf.push(t); if (p.on) requestAnimationFrame(loop); };
  requestAnimationFrame(loop);
  map.on('postrender', () => { if (p.on) p.post++; });
  map.once('rendercomplete', () => resolve(true));
  map.render();
})"""

_DRAG = """([cx, cy, ms]) => new Promise((resolve) => {
  const target = document.elementFromPoint(cx, cy);
  const t0 = performance.now();
  let moves = 0;
  const step = (now) => {
    const a = (now - t0) * 2 * Math.PI / 1500;  // a circle every 1.5 s
    const init = {clientX: cx + 120 * Math.sin(a), clientY: cy + 72 * (1 - Math.cos(a)), pointerId: 1,
                  pointerType: "mouse", isPrimary: true, button: -1, buttons: 1,
                  bubbles: true, cancelable: true, composed: true};
    target.dispatchEvent(new PointerEvent("pointermove", init));
    moves++;
    if (now - t0 < ms) requestAnimationFrame(step); else resolve([t0, performance.now(), moves]);
  };
  requestAnimationFrame(step);
})"""

# A full redraw of every layer at the current view (what a zoom step, or a pan beyond the margin
# drawn around the view, costs): median of five.
_REDRAW = """() => { const map = window.__deconflictMap, times = [];
  map.getView().cancelAnimations();  // the drag's kinetic glide: no layer is redrawn while the view moves
  for (let i = 0; i < 5; i++) {
    map.getLayers().forEach((l) => l.changed());
    const t0 = performance.now(); map.renderSync(); times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b); return times[2]; }"""


def pan_once(browser: Any, base: str, token: str, seconds: float) -> dict[str, Any]:
    context = browser.new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        page.add_init_script(f"sessionStorage.setItem('deconflict.token', {json.dumps(token)})")
        page.goto(base + "/", wait_until="commit")
        page.wait_for_selector("body[data-painted='1']", state="attached", timeout=300_000)
        painted = page.evaluate("performance.getEntriesByName('picture-painted')[0].startTime")
        page.evaluate(_PAN_SETUP)
        page.evaluate("window.__pan.raf = []; window.__pan.post = 0; 0")
        box = page.get_by_test_id("map").bounding_box()
        cx, cy = box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.55
        page.mouse.move(cx, cy)
        page.mouse.down()
        # The drag itself: one pointermove per animation frame, dispatched in the page (a round trip
        # of Playwright's mouse.move waits for a frame, which would halve the rate of input).
        t_start, t_end, moves = page.evaluate(_DRAG, [cx, cy, seconds * 1000])
        stats = page.evaluate(
            """([a, b]) => { const p = window.__pan; const raf = p.raf.filter(t => t >= a && t <= b);
               const gaps = raf.slice(1).map((t, i) => t - raf[i]).sort((x, y) => x - y);
               return {raf: raf.length, post: p.post,
                       p95_gap: gaps.length ? gaps[Math.floor(gaps.length * 0.95)] : null,
                       max_gap: gaps.length ? gaps[gaps.length - 1] : null}; }""",
            [t_start, t_end],
        )
        page.mouse.up()
        page.evaluate("window.__pan.on = false; 0")
        redraw_ms = page.evaluate(_REDRAW)
        page.evaluate("window.__pan.on = false; 0")
        counts = page.evaluate("window.__deconflictMap.deconflict.count()")
    finally:
        context.close()
    wall = (t_end - t_start) / 1000
    return {
        "painted_ms": round(painted),
        "seconds": round(wall, 2),
        "pointer_moves": moves,
        "raf_fps": round(stats["raf"] / wall, 1),
        "postrender_fps": round(stats["post"] / wall, 1),
        "p95_frame_ms": round(stats["p95_gap"], 1) if stats["p95_gap"] else None,
        "max_frame_ms": round(stats["max_gap"], 1) if stats["max_gap"] else None,
        "full_redraw_ms": round(redraw_ms),
        "features": counts,
    }


def chromium_version(path: str) -> str:
    try:
        return subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except OSError:
        return "?"


# --- the report -------------------------------------------------------------------------------------


def render(r: dict[str, Any], command: str, when: str) -> str:
    paint, pan = r["paint"], r["pan"]
    pic, big = r["databases"]["picture"], r["databases"]["pan"]

    def verdict(ok: bool) -> str:
        return "met" if ok else "**not met**"

    first = paint["runs"][0]
    sizes = ", ".join(
        f"`{k}` {v['transfer'] / 1e6:.2f} MB ({v['requests']} request{'s' if v['requests'] != 1 else ''})"
        for k, v in sorted(first["by_resource"].items(), key=lambda kv: -kv[1]["transfer"])
        if v["transfer"] > 0
    )
    return "\n".join(
        [
            BEGIN,
            "",
            "## Web UI: the common operating picture in a browser",
            "",
            f"Generated by `bench/web_picture.py` on {when} UTC ({r['cpus']} CPUs, load average "
            f"{r['load_start']} at the start, {r['load_end']} at the end; {r['chromium']}, headless, "
            "`--disable-gpu`: software rendering). Every figure below was measured in that run. Rerun to refresh "
            "(`make bench-web`):",
            "",
            "```",
            command,
            "```",
            "",
            *([r["note"], ""] if r.get("note") else []),
            "| Target | Measured | Target value | Verdict |",
            "|---|---|---|---|",
            f"| First meaningful paint, {pic['activities']:,} activities ({pic['volumes']:,} volumes with "
            f"{pic['zones']:,} zones), median of {len(paint['runs'])} | {paint['median_ms'] / 1000:.2f} s "
            f"| ≤ 2 s | {verdict(paint['median_ms'] <= 2000)} |",
            f"| Pan, {big['volumes']:,} volumes, frames the map drew (OpenLayers `postrender`), median of "
            f"{len(pan['runs'])} | {pan['median_postrender_fps']} frames/s | ≥ 30 frames/s "
            f"| {verdict(pan['median_postrender_fps'] >= 30)} |",
            "",
            f"**The data.** Scenario generator, two member parties, every activity notified and every zone active, "
            f"filed one write at a time through the service ({pic['filed_with_key']:,} and {big['filed_with_key']:,} "
            f"of them with the key rule's key, as they met the other party's items; {pic['filing_s']} s and "
            f"{big['filing_s']} s to file). The viewer is a liaison of one party and sees both. The server runs "
            "with `--no-scheduler`, so no deadline sweep over the thousands of fresh notices loads it meanwhile.",
            "",
            f"**First paint** (navigation → `picture-painted`, a fresh browser context each run): runs "
            f"{', '.join(str(x['painted_ms']) for x in paint['runs'])} ms. In the first run the picture's snapshot "
            f"(the event stream's head, then parties, activities, zones, conflicts and liveness, 1,000 items a page, "
            f"the lists side by side) was all in at {first['rest_done_ms']} ms, `app.js` at "
            f"{first['app_js_done_ms']} ms, the basemap at {first['basemap_done_ms']} ms; the rest, to "
            f"{first['painted_ms']} ms, is building the features and drawing the first frame. The work queue's "
            f"pending notices and the incidents are read after the paint ({first['rest_after_paint']} requests). "
            f"What limits it is the snapshot: the server (Python, on the same 2 cores as the browser) builds every "
            f"page of documents, and each list asks for its next page only when the last one arrived. "
            f"Transferred (paint and what followed): {first['transfer_bytes'] / 1e6:.2f} MB in "
            f"{first['requests']} requests — {sizes}. JS heap after the paint: {first['heap_mb']} MB.",
            "",
            f"**Pan** ({big['activities']:,} activities and {big['zones']:,} zones, {big['volumes']:,} volumes, the "
            f"map fitted to the whole theatre and dragged in circles for {pan['runs'][0]['seconds']} s, one pointer "
            "move per animation frame): "
            + "; ".join(
                f"{x['postrender_fps']} map frames/s ({x['raf_fps']} animation frames/s, p95 frame "
                f"{x['p95_frame_ms']} ms, longest {x['max_frame_ms']} ms, {x['pointer_moves']} pointer moves)"
                for x in pan["runs"]
            )
            + f". The big layers are `VectorImageLayer`s: while the view moves OpenLayers only shifts the image "
            f"drawn last (with a margin of half a view around it), and draws the {big['volumes']:,} volumes again "
            f"once the view settles beyond it or zooms: a full redraw of every layer at this view took "
            f"{pan['median_redraw_ms']} ms (median), during which the page does not respond. First paint of this "
            f"database: {', '.join(str(x['painted_ms']) for x in pan['runs'])} ms (its snapshot is "
            f"{pan['runs'][0]['features']['own'] + pan['runs'][0]['features']['other']:,} activity volumes read "
            "1,000 items a page).",
            "",
            END,
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--activities", type=int, default=5000, help="activities for the first-paint database")
    parser.add_argument("--volumes", type=int, default=20000, help="volumes for the pan database")
    parser.add_argument("--runs", type=int, default=5, help="first-paint runs (pan: 3)")
    parser.add_argument("--pan-seconds", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--webui", type=Path, help="the built UI's folder (default: the package's)")
    parser.add_argument("--note", default="", help="a sentence on what was measured, put in the report")
    parser.add_argument(
        "--workdir", type=Path, help="keep the databases here and reuse them on the next run (same sizes and seed)"
    )
    parser.add_argument("--out", type=Path, help="write the section of this Markdown file (docs/benchmarks.md)")
    parser.add_argument("--results", type=Path, default=Path("bench/results/web_picture.json"))
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    if args.webui is not None:
        os.environ["DECONFLICT_WEBUI"] = str(args.webui.resolve())
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
    shown = [a for i, a in enumerate(sys.argv[1:]) if a != "--note" and (i == 0 or sys.argv[i] != "--note")]
    command = "python bench/web_picture.py " + " ".join(shown)  # the note is printed as it is
    load_start = " ".join(f"{x:.2f}" for x in os.getloadavg())
    result: dict[str, Any] = {"cpus": os.cpu_count(), "machine": platform.machine(), "load_start": load_start}
    result["chromium"] = chromium_version(args.chromium)
    result["note"] = args.note
    with tempfile.TemporaryDirectory() as scratch:
        tmp = str(args.workdir or scratch)
        dbs = {
            "picture": (f"sqlite:///{tmp}/picture.db", lambda: scenario(args.activities, None, args.seed)),
            "pan": (f"sqlite:///{tmp}/pan.db", lambda: scenario(None, args.volumes, args.seed + 1)),
        }
        result["databases"] = {}
        tokens = {}
        for name, (url, items) in dbs.items():
            saved = Path(tmp) / f"{name}.json"
            if args.workdir is not None and saved.exists():  # built by an earlier run with --workdir
                counts = json.loads(saved.read_text())
                counts["token"] = _token(url)
            else:
                counts = build(url, items())
                saved.write_text(json.dumps({k: v for k, v in counts.items() if k != "token"}))
            tokens[name] = counts.pop("token")
            result["databases"][name] = counts
            print(f"{name}: {counts}", file=sys.stderr)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
            try:
                with server(dbs["picture"][0], Path(tmp) / "serve-picture.log") as (port, _pid):
                    base = f"http://127.0.0.1:{port}"
                    with urllib.request.urlopen(base + "/", timeout=10) as r:  # the UI is built
                        assert r.status == 200, "the web UI is not built: run make web"
                    paint_once(browser, base, tokens["picture"])  # warm the server's caches
                    runs = [paint_once(browser, base, tokens["picture"]) for _ in range(args.runs)]
                    result["paint"] = {"median_ms": statistics.median(x["painted_ms"] for x in runs), "runs": runs}
                    print(f"paint: {[x['painted_ms'] for x in runs]}", file=sys.stderr)
                with server(dbs["pan"][0], Path(tmp) / "serve-pan.log") as (port, _pid):
                    base = f"http://127.0.0.1:{port}"
                    paint_once(browser, base, tokens["pan"])  # warm the server's caches
                    runs = [pan_once(browser, base, tokens["pan"], args.pan_seconds) for _ in range(3)]
                    result["pan"] = {
                        "median_postrender_fps": statistics.median(x["postrender_fps"] for x in runs),
                        "median_raf_fps": statistics.median(x["raf_fps"] for x in runs),
                        "median_redraw_ms": statistics.median(x["full_redraw_ms"] for x in runs),
                        "runs": runs,
                    }
                    print(f"pan: {[x['postrender_fps'] for x in runs]}", file=sys.stderr)
            finally:
                browser.close()
    result["load_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    publish(
        result,
        args.results,
        args.out,
        lambda: render(result, command.strip(), when),
        BEGIN,
        END,
        "the web UI's section",
    )


if __name__ == "__main__":
    main()
