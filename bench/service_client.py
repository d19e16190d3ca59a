"""The load generator of ``bench/service_load.py``: a lean HTTP/1.1 client, the traffic, the clients' behaviour.

Runs in its own process (never in the server's).  The HTTP client is a few lines over
``asyncio`` streams — keep-alive, ``Content-Length`` framing (what uvicorn sends for
JSON), nothing else — because the load generator shares the machine's cores with the
server, and a full client library would spend more CPU per request than the server's
framework does.  WebSockets use the ``websockets`` library (what ``uvicorn[standard]``
installs).

A *notification* is ``POST /v1/activities`` with ``state: notified``.  A client that gets
409 (its key does not hold the current version of every intersecting object) reads each
missing object (``GET``), which reveals its version, and resubmits with those versions in
``key`` — as the proof-of-awareness rule intends; only a 2xx counts as a notification.

Traffic:

* **spread-out** — circles of 0.5–3 km radius anywhere in a 600 × 600 km theatre, 30 min
  to 2 h long, starting at random over 30 days (from 2 days ahead): conflicts are rare.
* **congested** — circles of 1.5–3 km radius whose centres lie in one 10 × 10 km square,
  all from the ground to 3 000 m.  The k-th submission (k counted across all clients)
  starts at ``base + k × step`` and lasts ``overlap × step``: every submission overlaps
  in time the ``overlap`` submissions before it and after it, and (two circles of ~2 km
  in a 10 km square) most of those in space — so nearly every submission conflicts with
  a few of the other party's recent activities, and clients submitting at the same time
  race for the same airspace.  (If *every* activity overlapped every other in time, each
  submission's key would have to name all of the other party's activities: the work per
  submission would grow with the run's length and no rate would be sustained.)

In both, the k-th activity is filed by alpha when k is even and by bravo when odd (each
connection holds a token of each), so neighbours in time belong to different parties
whatever order the server answers the connections in.

Alerts: bravo's WebSockets, alpha's open-loop submissions, each in conflict with one
standing bravo activity; the latency of a delivery is from just before alpha's POST to
the ``conflict.opened`` event on a socket, both read from ``time.perf_counter()`` in
this one process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import random
import resource
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = [
    "AlertConfig",
    "Http",
    "LoadConfig",
    "Outcome",
    "ThroughputConfig",
    "circle_volume",
    "notify",
    "percentile",
    "run_load",
]

MAX_ATTEMPTS = 20  # POSTs per notification before a client gives up (counted as a failure)


# --- HTTP ------------------------------------------------------------------------------


class HttpError(Exception):
    """The connection broke or the server answered something this client does not parse."""


class _Closed(Exception):
    """The connection was closed before any byte of the response."""


class Http:
    """One keep-alive HTTP/1.1 connection (re-opened when the server closes it)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None or self._writer.is_closing():
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        return self._reader, self._writer

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()
        self._reader = self._writer = None

    async def request(
        self, method: str, path: str, *, token: str | None = None, body: bytes | None = None
    ) -> tuple[int, bytes]:
        reused = self._writer is not None and not self._writer.is_closing()
        try:
            return await self._request(method, path, token, body)
        except _Closed:
            if not reused:
                raise HttpError(f"{method} {path}: the server closed the connection") from None
            # the server closed an idle keep-alive connection before reading the request: send it again
            return await self._request(method, path, token, body)

    async def _request(self, method: str, path: str, token: str | None, body: bytes | None) -> tuple[int, bytes]:
        reader, writer = await self._open()
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        if token is not None:
            head.append(f"Authorization: Bearer {token}")
        if body is not None:
            head += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + (body or b""))
        try:
            await writer.drain()
            try:
                raw = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError as e:
                if not e.partial:  # not a byte of answer: the request was not read
                    await self.close()
                    raise _Closed from None
                raise
            lines = raw.decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ", 2)[1])
            length, close = -1, False
            for line in lines[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value)
                elif name == "connection" and value.strip().lower() == "close":
                    close = True
                elif name == "transfer-encoding":
                    raise HttpError(f"unexpected Transfer-Encoding: {value.strip()}")
            if length < 0:
                raise HttpError("response without Content-Length")
            data = await reader.readexactly(length)
        except (asyncio.IncompleteReadError, ConnectionError, ValueError, IndexError) as e:
            await self.close()
            raise HttpError(f"{method} {path}: {type(e).__name__}: {e}") from e
        if close:
            await self.close()
        return status, data


# --- traffic ---------------------------------------------------------------------------


def rfc3339(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def circle_volume(
    lon: float, lat: float, radius_m: float, start: datetime, end: datetime, lower: float = 0.0, upper: float = 3000.0
) -> dict[str, Any]:
    """A circle volume in the API's wire shape (F3548 ``Volume4D``)."""
    return {
        "outline_circle": {"center": {"lng": round(lon, 6), "lat": round(lat, 6)}, "radius": {"value": radius_m}},
        "altitude_lower": {"value": lower, "reference": "W84", "units": "M"},
        "altitude_upper": {"value": upper, "reference": "W84", "units": "M"},
        "time_start": {"value": rfc3339(start)},
        "time_end": {"value": rfc3339(end)},
    }


def activity(volume: dict[str, Any], title: str) -> dict[str, Any]:
    return {"kind": "ground_movement", "state": "notified", "title": title, "volumes": [volume]}


SCENARIOS = ("spread", "congested", "health")

# Theatre for the spread-out traffic: 600 × 600 km about lon 38°, lat 35°.
THEATRE_CENTRE = (38.0, 35.0)
# The congested 10 × 10 km square, and (for the alerts) a spot inside it.
CONGESTED_CENTRE = (36.3, 33.5)
KM_LAT = 1 / 110.574  # degrees of latitude per km (about)


def _km_lon(lat: float) -> float:
    return 1 / (111.320 * math.cos(math.radians(lat)))


class Traffic:
    """Makes the activities of one scenario (see the module docstring)."""

    def __init__(self, scenario: str, base: datetime, seed: int, *, overlap: int = 10, step_s: float = 360.0) -> None:
        if scenario not in SCENARIOS:
            raise ValueError(scenario)
        self.scenario = scenario
        self.base = base
        self.rng = random.Random(seed)
        self.overlap = overlap
        self.step_s = step_s
        self.k = 0

    def next(self) -> dict[str, Any]:
        rng = self.rng
        self.k += 1
        if self.scenario == "spread":
            lon0, lat0 = THEATRE_CENTRE
            lat = lat0 + rng.uniform(-300, 300) * KM_LAT
            lon = lon0 + rng.uniform(-300, 300) * _km_lon(lat0)
            start = self.base + timedelta(seconds=rng.uniform(0, 30 * 86400))
            end = start + timedelta(minutes=rng.uniform(30, 120))
            vol = circle_volume(lon, lat, rng.uniform(500, 3000), start, end, 0.0, rng.choice([300.0, 1500.0, 3000.0]))
        else:
            lon0, lat0 = CONGESTED_CENTRE
            lat = lat0 + rng.uniform(-5, 5) * KM_LAT
            lon = lon0 + rng.uniform(-5, 5) * _km_lon(lat0)
            start = self.base + timedelta(seconds=self.k * self.step_s)
            end = start + timedelta(seconds=self.overlap * self.step_s)
            vol = circle_volume(lon, lat, rng.uniform(1500, 3000), start, end)
        return activity(vol, f"{self.scenario} {self.k}")


# --- one notification --------------------------------------------------------------------


@dataclass(slots=True)
class Outcome:
    ok: bool
    status: int  # the last POST's status (0: the connection broke)
    total_s: float  # first POST sent → 2xx received, 409s, reads and retries included
    post_s: float  # the last POST alone
    attempts: int  # POSTs sent
    reads: int  # GETs of missing objects
    done_at: float  # perf_counter() at completion
    item_id: str | None = None
    conflicts: int = 0  # conflicts stored for the accepted activity


async def notify(http: Http, token: str, doc: dict[str, Any], key: Sequence[str] = ()) -> Outcome:
    """Submit ``doc``; on 409 read each missing object and resubmit with its version."""
    t0 = time.perf_counter()
    versions = list(key)
    attempts = reads = 0
    post_s = 0.0
    status = 0
    while attempts < MAX_ATTEMPTS:
        attempts += 1
        body = json.dumps({**doc, "key": versions}).encode()
        ts = time.perf_counter()
        try:
            status, data = await http.request("POST", "/v1/activities", token=token, body=body)
        except HttpError:
            return Outcome(False, 0, time.perf_counter() - t0, 0.0, attempts, reads, time.perf_counter())
        now = time.perf_counter()
        post_s = now - ts
        if 200 <= status < 300:
            answer = json.loads(data)
            return Outcome(
                True, status, now - t0, post_s, attempts, reads, now, answer["item"]["id"], len(answer["conflicts"])
            )
        if status != 409:
            break
        missing = json.loads(data).get("missing")
        if not missing:
            break
        for m in missing:
            path = f"/v1/{'activities' if m['type'] == 'activity' else 'zones'}/{m['id']}"
            try:
                s, d = await http.request("GET", path, token=token)
            except HttpError:
                return Outcome(False, 0, time.perf_counter() - t0, post_s, attempts, reads, time.perf_counter())
            reads += 1
            if s == 200:
                versions.append(json.loads(d)["version"])
    return Outcome(False, status, time.perf_counter() - t0, post_s, attempts, reads, time.perf_counter())


# --- configurations ----------------------------------------------------------------------


@dataclass
class ThroughputConfig:
    scenario: str  # spread | congested
    concurrency: int = 32
    warmup_s: float = 5.0
    duration_s: float = 25.0
    seed: int = 1
    overlap: int = 10
    step_s: float = 360.0


@dataclass
class AlertConfig:
    clients: int = 200
    rate_per_s: float = 20.0
    warmup_s: float = 3.0
    duration_s: float = 20.0
    drain_s: float = 3.0
    seed: int = 2
    compression: str = "deflate"  # what the WebSocket clients offer: deflate (as browsers do) or none


@dataclass
class LoadConfig:
    host: str
    port: int
    base: str  # RFC 3339: when the generated activities begin (ahead of now: no late notices)
    server_pid: int | None
    tokens_a: list[str]  # alpha's users
    tokens_b: list[str]  # bravo's users
    throughput: ThroughputConfig | None = None
    alerts: AlertConfig | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> LoadConfig:
        raw = json.loads(text)
        tp, al = raw.pop("throughput"), raw.pop("alerts")
        return cls(
            **raw,
            throughput=ThroughputConfig(**tp) if tp else None,
            alerts=AlertConfig(**al) if al else None,
        )


# --- statistics ----------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0–100) by linear interpolation; ``None`` for no values."""
    if not values:
        return None
    s = sorted(values)
    pos = (len(s) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def _ms(values: Sequence[float]) -> dict[str, float | None]:
    def r(x: float | None) -> float | None:
        return None if x is None else round(x * 1000, 3)

    return {
        "p50_ms": r(percentile(values, 50)),
        "p99_ms": r(percentile(values, 99)),
        "mean_ms": r(sum(values) / len(values)) if values else None,
        "max_ms": r(max(values)) if values else None,
    }


def _cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


_TICK = os.sysconf("SC_CLK_TCK")


def process_cpu_s(pid: int | None) -> float:
    """CPU seconds (user + system) used so far by process ``pid`` (0.0 when unknown)."""
    if not pid:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


# --- the throughput run ---------------------------------------------------------------------


async def run_throughput(cfg: LoadConfig) -> dict[str, Any]:
    tp = cfg.throughput
    assert tp is not None
    traffic = Traffic(tp.scenario, datetime.fromisoformat(cfg.base), tp.seed, overlap=tp.overlap, step_s=tp.step_s)
    outcomes: list[Outcome] = []
    start = time.perf_counter()
    measure_from = start + tp.warmup_s
    stop_at = measure_from + tp.duration_s
    cpu_at_measure: list[float] = []

    async def worker(i: int) -> None:
        # the k-th activity is alpha's when k is even, bravo's when odd: neighbours in time alternate parties
        pair = (cfg.tokens_a[i % len(cfg.tokens_a)], cfg.tokens_b[i % len(cfg.tokens_b)])
        token = pair[0]
        http = Http(cfg.host, cfg.port)
        try:
            while time.perf_counter() < stop_at:
                if tp.scenario == "health":
                    t0 = time.perf_counter()
                    try:
                        status, _ = await http.request("GET", "/v1/health", token=token)
                    except HttpError:
                        status = 0
                    t1 = time.perf_counter()
                    outcomes.append(Outcome(status == 200, status, t1 - t0, t1 - t0, 1, 0, t1))
                else:
                    doc = traffic.next()
                    outcomes.append(await notify(http, pair[traffic.k % 2], doc))
        finally:
            await http.close()

    async def mark() -> None:
        await asyncio.sleep(max(0.0, measure_from - time.perf_counter()))
        cpu_at_measure[:] = [_cpu_s(), process_cpu_s(cfg.server_pid)]
        await asyncio.sleep(max(0.0, stop_at - time.perf_counter()))
        cpu_at_measure[:] = [_cpu_s() - cpu_at_measure[0], process_cpu_s(cfg.server_pid) - cpu_at_measure[1]]

    marker = asyncio.create_task(mark())
    await asyncio.gather(*(worker(i) for i in range(tp.concurrency)))
    await marker
    cpu, server_cpu = cpu_at_measure
    window = [o for o in outcomes if measure_from <= o.done_at < stop_at]
    ok = [o for o in window if o.ok]
    width = 5.0 if tp.duration_s >= 10 else tp.duration_s  # rates over 5 s slices of the window
    slices = [0] * max(1, math.ceil(tp.duration_s / width - 1e-9))
    for o in ok:
        slices[min(len(slices) - 1, int((o.done_at - measure_from) // width))] += 1
    widths = [min(width, tp.duration_s - i * width) for i in range(len(slices))]
    posts = sum(o.attempts for o in window)
    with_409 = sum(1 for o in ok if o.attempts > 1)
    return {
        "scenario": tp.scenario,
        "concurrency": tp.concurrency,
        "warmup_s": tp.warmup_s,
        "duration_s": tp.duration_s,
        "notifications": len(ok),
        "failed": len(window) - len(ok),
        "failed_statuses": sorted({o.status for o in window if not o.ok}),
        "notifications_per_s": len(ok) / tp.duration_s,
        "per_5s": [n / w for n, w in zip(slices, widths, strict=True)],
        "posts": posts,
        "posts_409": sum(o.attempts - 1 for o in window) + sum(1 for o in window if not o.ok and o.status == 409),
        "reads": sum(o.reads for o in window),
        "with_409": with_409,
        "share_with_409": with_409 / len(ok) if ok else None,
        "retries_per_notification": (sum(o.attempts - 1 for o in ok) / len(ok)) if ok else None,
        "reads_per_notification": (sum(o.reads for o in ok) / len(ok)) if ok else None,
        "conflicts_per_notification": (sum(o.conflicts for o in ok) / len(ok)) if ok else None,
        "requests_per_s": (posts + sum(o.reads for o in window)) / tp.duration_s,
        "post": _ms([o.post_s for o in ok]),
        "end_to_end": _ms([o.total_s for o in ok]),
        "end_to_end_with_409": _ms([o.total_s for o in ok if o.attempts > 1]),
        "total_submitted": len(outcomes),
        "loadgen_cpu_s": cpu,
        "server_cpu_s": server_cpu,
    }


# --- the alert-latency run -------------------------------------------------------------------


async def run_alerts(cfg: LoadConfig) -> dict[str, Any]:
    import websockets

    al = cfg.alerts
    assert al is not None
    rng = random.Random(al.seed)
    base = datetime.fromisoformat(cfg.base)
    lon0, lat0 = CONGESTED_CENTRE
    http = Http(cfg.host, cfg.port)
    # bravo's standing activity: a 20 km circle over the whole test window
    b_doc = activity(circle_volume(lon0, lat0, 20_000, base, base + timedelta(days=2)), "bravo standing")
    b = await notify(http, cfg.tokens_b[0], b_doc)
    if not b.ok or b.item_id is None:
        raise RuntimeError(f"could not file bravo's standing activity (status {b.status})")
    status, data = await http.request("GET", f"/v1/activities/{b.item_id}", token=cfg.tokens_a[0])
    if status != 200:
        raise RuntimeError(f"alpha could not read bravo's activity (status {status})")
    key = [json.loads(data)["version"]]
    status, data = await http.request("GET", "/v1/events?limit=1000&after=0", token=cfg.tokens_b[0])
    after = json.loads(data)["last_seq"]
    while True:  # the last sequence number (the stream replays nothing older)
        status, data = await http.request("GET", f"/v1/events?limit=1000&after={after}", token=cfg.tokens_b[0])
        page = json.loads(data)
        if not page["events"]:
            break
        after = page["last_seq"]

    received: dict[tuple[int, str], float] = {}  # (client, alpha's item id) → perf_counter at receipt
    messages = [0] * al.clients
    gate = asyncio.Semaphore(50)  # WebSocket handshakes in flight at once

    async def connect(i: int) -> Any:
        token = cfg.tokens_b[i % len(cfg.tokens_b)]
        url = f"ws://{cfg.host}:{cfg.port}/v1/stream?after={after}&access_token={token}"
        async with gate:
            return await websockets.connect(
                url,
                max_size=None,
                ping_interval=None,
                open_timeout=60,
                compression="deflate" if al.compression == "deflate" else None,
            )

    async def listen(i: int, ws: Any) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for text in ws:
                at = time.perf_counter()
                messages[i] += 1
                if isinstance(text, str) and '"conflict.opened"' in text:
                    c = json.loads(text)["payload"]["conflict"]
                    for side in ("a", "b"):
                        if c[side]["party"] == "alpha":
                            received.setdefault((i, c[side]["item"]["id"]), at)

    t_conn = time.perf_counter()
    sockets = await asyncio.gather(*(connect(i) for i in range(al.clients)))
    connect_s = time.perf_counter() - t_conn
    listeners = [asyncio.create_task(listen(i, ws)) for i, ws in enumerate(sockets)]
    await asyncio.sleep(1.0)

    submissions: list[tuple[float, Outcome]] = []  # (t0, outcome)
    https = [Http(cfg.host, cfg.port) for _ in range(8)]
    free: asyncio.Queue[Http] = asyncio.Queue()
    for h in https:
        free.put_nowait(h)

    async def submit(n: int) -> None:
        conn = await free.get()
        try:
            lat = lat0 + rng.uniform(-3, 3) * KM_LAT
            lon = lon0 + rng.uniform(-3, 3) * _km_lon(lat0)
            start = base + timedelta(hours=1 + rng.uniform(0, 40))
            doc = activity(circle_volume(lon, lat, 1000, start, start + timedelta(minutes=30)), f"alpha {n}")
            t0 = time.perf_counter()
            out = await notify(conn, cfg.tokens_a[n % len(cfg.tokens_a)], doc, key)
            submissions.append((t0, out))
        finally:
            free.put_nowait(conn)

    cpu0, server_cpu0 = _cpu_s(), process_cpu_s(cfg.server_pid)
    start = time.perf_counter()
    total = al.warmup_s + al.duration_s
    n = 0
    tasks: list[asyncio.Task[None]] = []
    while True:
        t_next = start + n / al.rate_per_s
        if t_next - start >= total:
            break
        await asyncio.sleep(max(0.0, t_next - time.perf_counter()))
        tasks.append(asyncio.create_task(submit(n)))
        n += 1
    await asyncio.gather(*tasks)
    await asyncio.sleep(al.drain_s)
    cpu, server_cpu = _cpu_s() - cpu0, process_cpu_s(cfg.server_pid) - server_cpu0
    wall = time.perf_counter() - start
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    for task in listeners:
        task.cancel()
    await asyncio.gather(*listeners, return_exceptions=True)
    for h in [*https, http]:
        await h.close()

    measured = [(t0, o) for t0, o in submissions if t0 >= start + al.warmup_s]
    latencies: list[float] = []
    missing = 0
    for t0, o in measured:
        if not o.ok or o.item_id is None:
            continue
        for i in range(al.clients):
            at = received.get((i, o.item_id))
            if at is None:
                missing += 1
            else:
                latencies.append(at - t0)
    ok = [o for _, o in measured if o.ok]
    return {
        "clients": al.clients,
        "compression": al.compression,
        "users": min(al.clients, len(cfg.tokens_b)),
        "rate_per_s": al.rate_per_s,
        "warmup_s": al.warmup_s,
        "duration_s": al.duration_s,
        "connect_s": connect_s,
        "submissions": len(measured),
        "submissions_ok": len(ok),
        "submission_with_409": sum(1 for o in ok if o.attempts > 1),
        "deliveries": len(latencies),
        "deliveries_missing": missing,
        "messages_per_client": sum(messages) / len(messages),
        "alert": _ms(latencies),
        "post": _ms([o.post_s for o in ok]),
        "loadgen_cpu_s": cpu,
        "server_cpu_s": server_cpu,
        "loadgen_wall_s": wall,
        "achieved_rate_per_s": len(measured) / al.duration_s,
    }


def run_load(cfg: LoadConfig) -> dict[str, Any]:
    """Run the configured load (in this process, with uvloop when installed)."""
    coro = run_throughput(cfg) if cfg.throughput is not None else run_alerts(cfg)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] installs it
        return asyncio.run(coro)
    result: dict[str, Any] = uvloop.run(coro)
    return result
