"""DSS benchmark: ASTM F3548 operational intents through ``/dss/v1`` of ``deconflict serve``.

    python bench/dss_load.py --out docs/benchmarks.md       # the full run (~3 min on 2 cores, SQLite)
    python bench/dss_load.py --quick                        # a smoke run (< 30 s)

A fresh SQLite file with four USSs (``protocol='f3548'``), a test RS256 authority trusted
with ``party_from="sub"``, then ``deconflict serve`` as a subprocess and the load from this
process over loopback (one keep-alive connection per client, :class:`bench.service_client.Http`):

1. **populate**: ``--intents`` OIRs (Accepted, each with its implicit subscription) spread
   over a 2°×2° area in small circles, and ``--subscriptions`` explicit subscriptions of
   another USS over the same area — written through the API like any USS would, at
   ``--concurrency`` clients; creates/s is reported;
2. **keyed writes** (one client, unloaded latency): ``--writes`` new OIRs, each placed on
   top of existing ones: first sent without a key (→ 409 ``AirspaceConflictResponse``
   naming the intersecting intents), then again with their OVNs (→ 201); then each is
   updated once (PUT with its OVN, → 200) and queried (POST query over 20 km). The client
   plays every USS, so it knows every OVN (in F3548 a USS learns another's OVN from that
   USS, peer to peer);
3. **throughput**: keyed creates from ``--concurrency`` clients for ``--duration`` s.

The anchor is the InterUSS DSS figure the service issue quoted (~120–150 requests/s,
p50 ~20 ms); no DSS-specific target was set, so the figures are reported, not judged.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(_ROOT))

from bench.service_client import Http, percentile  # noqa: E402
from bench.service_load import publish, server  # noqa: E402

__all__ = ["main", "render"]

BEGIN = "<!-- dss-benchmark:begin (written by bench/dss_load.py) -->"
END = "<!-- dss-benchmark:end -->"
ANCHOR = "InterUSS DSS ~120–150 requests/s, p50 ~20 ms"
AUTH = "https://auth.bench"
HOST = "dss.bench"
USSES = ("uss1", "uss2", "uss3", "uss4")
SCOPES = "utm.strategic_coordination utm.constraint_management utm.constraint_processing"
CENTRE = (-40.0, 30.0)  # open ocean, as the demo's theatre


# --- set-up ------------------------------------------------------------------------------


def prepare(url: str) -> dict[str, str]:
    """Parties, the trusted authority and its clients; returns a token per USS."""
    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from deconflict.service import open_service

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    service = open_service(url)
    try:
        for uss in USSES:
            service.add_party(uss, uss.upper(), "member", protocol="f3548")
        service.add_trusted_issuer(AUTH, HOST, pem, algorithms=("RS256",), party_from="sub")
        for uss in USSES:
            service.add_uss_client(uss, uss, issuer=AUTH)
    finally:
        service.store.dispose()
    now = int(time.time())
    return {
        uss: jwt.encode(
            {
                "iss": AUTH,
                "sub": uss,
                "aud": HOST,
                "iat": now,
                "exp": now + 3 * 3600,
                "jti": uuid.uuid4().hex,
                "scope": SCOPES,
            },
            key,
            algorithm="RS256",
        )
        for uss in USSES
    }


def _time(t: datetime) -> dict[str, str]:
    return {"value": t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "format": "RFC3339"}


def _alt(m: float) -> dict[str, Any]:
    return {"value": m, "reference": "W84", "units": "M"}


def circle(
    lon: float, lat: float, r_m: float, start: datetime, end: datetime, lo: float = 0.0, hi: float = 120.0
) -> dict[str, Any]:
    return {
        "volume": {
            "outline_circle": {"center": {"lng": lon, "lat": lat}, "radius": {"value": r_m, "units": "M"}},
            "altitude_lower": _alt(lo),
            "altitude_upper": _alt(hi),
        },
        "time_start": _time(start),
        "time_end": _time(end),
    }


class Fleet:
    """What the load generator knows: every OIR's OVN, per entity id (it plays every USS)."""

    def __init__(self, tokens: dict[str, str], port: int, seed: int) -> None:
        self.tokens, self.port = tokens, port
        self.ovn: dict[str, str] = {}
        self.rng = random.Random(seed)
        self.t0 = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=10)

    def spot(self) -> tuple[float, float]:
        return CENTRE[0] + self.rng.uniform(-1, 1), CENTRE[1] + self.rng.uniform(-1, 1)

    def window(self) -> tuple[datetime, datetime]:
        start = self.t0 + timedelta(minutes=self.rng.randrange(0, 240))
        return start, start + timedelta(minutes=self.rng.choice((20, 40, 60)))

    def oir_body(self, uss: str, volume: dict[str, Any], key: Sequence[str], state: str = "Accepted") -> bytes:
        body = {
            "extents": [volume],
            "key": list(key),
            "state": state,
            "uss_base_url": f"https://{uss}.bench",
            "new_subscription": {"uss_base_url": f"https://{uss}.bench", "notify_for_constraints": False},
        }
        return json.dumps(body).encode()


async def _put_oir(
    http: Http, fleet: Fleet, uss: str, volume: dict[str, Any], timings: dict[str, list[float]] | None
) -> tuple[str, int, list[str]]:
    """Create one OIR: without a key first, then with the OVNs the 409 names (known to the
    fleet). Returns (entity id, number of subscriptions told, the key presented)."""
    oid = str(uuid.uuid4())
    token = fleet.tokens[uss]
    path = f"/dss/v1/operational_intent_references/{oid}"
    key: list[str] = []
    for _attempt in range(10):
        t = time.perf_counter()
        status, data = await http.request("PUT", path, token=token, body=fleet.oir_body(uss, volume, key))
        if status != 409:
            break
        if timings is not None:
            timings["409 (key missing)"].append((time.perf_counter() - t) * 1000)
        missing = [m["id"] for m in json.loads(data).get("missing_operational_intents", [])]
        key = [*key, *(fleet.ovn[m] for m in missing if m in fleet.ovn)]
        if any(m not in fleet.ovn for m in missing):  # another client's create, not yet answered to it
            await asyncio.sleep(0.02)
    if status != 201:
        raise RuntimeError(f"create OIR: {status} {data[:300]!r}")
    if timings is not None:
        timings["201 create (with key)"].append((time.perf_counter() - t) * 1000)
    doc = json.loads(data)
    fleet.ovn[oid] = doc["operational_intent_reference"]["ovn"]
    return oid, sum(len(s["subscriptions"]) for s in doc["subscribers"]), key


async def populate(fleet: Fleet, intents: int, subscriptions: int, concurrency: int) -> dict[str, Any]:
    async def subs() -> None:
        http = Http("127.0.0.1", fleet.port)
        for _ in range(subscriptions):
            lon, lat = fleet.spot()
            start, end = fleet.t0, fleet.t0 + timedelta(hours=6)
            body = {
                "extents": circle(lon, lat, 10_000, start, end, 0, 500),
                "uss_base_url": "https://uss4.bench",
                "notify_for_operational_intents": True,
                "notify_for_constraints": False,
            }
            status, data = await http.request(
                "PUT",
                f"/dss/v1/subscriptions/{uuid.uuid4()}",
                token=fleet.tokens["uss4"],
                body=json.dumps(body).encode(),
            )
            if status != 200:
                raise RuntimeError(f"create subscription: {status} {data[:300]!r}")
        await http.close()

    t = time.perf_counter()
    await subs()
    subs_s = time.perf_counter() - t
    queue = list(range(intents))

    async def worker(n: int) -> None:
        http = Http("127.0.0.1", fleet.port)
        while queue:
            queue.pop()
            lon, lat = fleet.spot()
            start, end = fleet.window()
            await _put_oir(http, fleet, USSES[n % 3], circle(lon, lat, 800, start, end), None)
        await http.close()

    t = time.perf_counter()
    await asyncio.gather(*(worker(n) for n in range(concurrency)))
    oir_s = time.perf_counter() - t
    return {
        "subscriptions": subscriptions,
        "subscriptions_per_s": subscriptions / subs_s if subs_s else None,
        "intents": intents,
        "intents_per_s": intents / oir_s if oir_s else None,
    }


async def keyed(fleet: Fleet, writes: int) -> dict[str, Any]:
    http = Http("127.0.0.1", fleet.port)
    timings: dict[str, list[float]] = {
        k: []
        for k in ("409 (key missing)", "201 create (with key)", "200 update (with key)", "200 query (20 km)", "200 get")
    }
    told: list[int] = []
    for n in range(writes):
        uss = USSES[n % 3]
        lon, lat = fleet.spot()
        start, end = fleet.window()
        volume = circle(lon, lat, 6000, start, end)  # wide enough to meet a few standing intents
        oid, k, key = await _put_oir(http, fleet, uss, volume, timings)
        told.append(k)
        # update: its top raised by 10 m, presenting the key the create used; the standing
        # intents it meets are the same, so no second try is needed unless one changed
        volume["volume"]["altitude_upper"] = _alt(130.0)
        path = f"/dss/v1/operational_intent_references/{oid}/{fleet.ovn[oid]}"
        t = time.perf_counter()
        status, data = await http.request("PUT", path, token=fleet.tokens[uss], body=fleet.oir_body(uss, volume, key))
        if status == 409:
            missing = json.loads(data).get("missing_operational_intents", [])
            key = [*key, *(fleet.ovn[m["id"]] for m in missing)]
            t = time.perf_counter()
            status, data = await http.request(
                "PUT", path, token=fleet.tokens[uss], body=fleet.oir_body(uss, volume, key)
            )
        if status != 200:
            raise RuntimeError(f"update OIR: {status} {data[:300]!r}")
        timings["200 update (with key)"].append((time.perf_counter() - t) * 1000)
        fleet.ovn[oid] = json.loads(data)["operational_intent_reference"]["ovn"]
        query = {"area_of_interest": circle(lon, lat, 20_000, fleet.t0, fleet.t0 + timedelta(hours=6), 0, 500)}
        t = time.perf_counter()
        status, data = await http.request(
            "POST",
            "/dss/v1/operational_intent_references/query",
            token=fleet.tokens[uss],
            body=json.dumps(query).encode(),
        )
        if status != 200:
            raise RuntimeError(f"query: {status} {data[:300]!r}")
        timings["200 query (20 km)"].append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        status, data = await http.request(
            "GET", f"/dss/v1/operational_intent_references/{oid}", token=fleet.tokens[USSES[(n + 1) % 3]]
        )
        if status != 200:
            raise RuntimeError(f"get: {status} {data[:300]!r}")
        timings["200 get"].append((time.perf_counter() - t) * 1000)
    await http.close()
    return {
        "writes": writes,
        "subscribers_told_mean": sum(told) / len(told) if told else None,
        "latency_ms": {
            k: {"n": len(v), "p50": percentile(v, 50), "p95": percentile(v, 95), "p99": percentile(v, 99)}
            for k, v in timings.items()
        },
    }


async def throughput(fleet: Fleet, concurrency: int, duration_s: float) -> dict[str, Any]:
    done: list[float] = []
    stop = time.perf_counter() + duration_s

    async def worker(n: int) -> None:
        http = Http("127.0.0.1", fleet.port)
        while time.perf_counter() < stop:
            lon, lat = fleet.spot()
            start, end = fleet.window()
            t = time.perf_counter()
            await _put_oir(http, fleet, USSES[n % 3], circle(lon, lat, 3000, start, end), None)
            done.append((time.perf_counter() - t) * 1000)
        await http.close()

    t = time.perf_counter()
    await asyncio.gather(*(worker(n) for n in range(concurrency)))
    elapsed = time.perf_counter() - t
    return {
        "concurrency": concurrency,
        "intents": len(done),
        "intents_per_s": len(done) / elapsed,
        "p50_ms": percentile(done, 50),
        "p99_ms": percentile(done, 99),
    }


# --- report -----------------------------------------------------------------------------------------------


def _ms(x: float | None) -> str:
    return "—" if x is None else f"{x:,.1f} ms"


def render(r: dict[str, Any]) -> str:
    p, k, t = r["populate"], r["keyed"], r["throughput"]
    lines = [
        BEGIN,
        "## DSS: ASTM F3548 operational intents (`/dss/v1`)",
        "",
        f"Command: `{r['command']}` — {r['machine']}, SQLite (`synchronous=FULL`), `deconflict serve` "
        "as a subprocess, load from another process over loopback. Every write goes through the "
        "key rule, the conflict index, notices, the notification-index counting and the joint record.",
        "",
        f"Standing traffic: {p['intents']:,} Accepted intents (each with its implicit subscription) and "
        f"{p['subscriptions']:,} explicit subscriptions in a 2°×2° area; populated at "
        f"{p['intents_per_s']:,.1f} intents/s ({r['concurrency']} clients) and "
        f"{p['subscriptions_per_s']:,.1f} subscriptions/s (one client).",
        "",
        f"Unloaded latency (one client, {k['writes']} new intents of 6 km radius on top of standing ones; "
        f"each write told {k['subscribers_told_mean']:.1f} subscriptions on average):",
        "",
        "| request | n | p50 | p95 | p99 |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, v in k["latency_ms"].items():
        lines.append(f"| {name} | {v['n']} | {_ms(v['p50'])} | {_ms(v['p95'])} | {_ms(v['p99'])} |")
    lines += [
        "",
        f"Throughput: {t['intents_per_s']:,.1f} keyed creates/s from {t['concurrency']} clients over "
        f"{r['duration_s']:.0f} s ({t['intents']} intents; a create that meets standing intents is two "
        f"requests: the 409, then the keyed PUT), p50 {_ms(t['p50_ms'])}, p99 {_ms(t['p99_ms'])} per create.",
        "",
        f"Anchor: {ANCHOR}. No DSS-specific target was set; the figures are reported, not judged.",
        END,
    ]
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace, command: str) -> dict[str, Any]:
    import platform

    work = Path(args.workdir or tempfile.mkdtemp(prefix="dss-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    db = work / "dss.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{db}"
    tokens = prepare(url)
    with server(url, work / "serve.log") as (port, _pid):
        fleet = Fleet(tokens, port, args.seed)
        populated = asyncio.run(populate(fleet, args.intents, args.subscriptions, args.concurrency))
        measured = asyncio.run(keyed(fleet, args.writes))
        loaded = asyncio.run(throughput(fleet, args.concurrency, args.duration))
    return {
        "command": command,
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} CPUs, Python {platform.python_version()}",
        "concurrency": args.concurrency,
        "duration_s": args.duration,
        "populate": populated,
        "keyed": measured,
        "throughput": loaded,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--intents", type=int, default=2000)
    parser.add_argument("--subscriptions", type=int, default=300)
    parser.add_argument("--writes", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: 100 intents, 20 subscriptions, 20 writes, 5 s"
    )
    parser.add_argument("--results", type=Path, default=_ROOT / "bench" / "results" / "dss_load.json")
    parser.add_argument("--out", type=Path, default=None, help="write the section into this Markdown file")
    args = parser.parse_args(argv)
    if args.quick:
        args.intents, args.subscriptions, args.writes, args.duration = 100, 20, 20, 5.0
    if (
        min(args.intents, args.writes, args.concurrency) < 1
        or args.subscriptions < 0
        or not math.isfinite(args.duration)
        or args.duration <= 0
    ):
        parser.error(
            "--intents, --writes and --concurrency must be at least 1, --subscriptions at least 0, --duration positive"
        )
    command = "python bench/dss_load.py " + " ".join(argv if argv is not None else sys.argv[1:])
    result = run(args, command.strip())
    publish(result, args.results, args.out, lambda: render(result), BEGIN, END, "the DSS section")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
