"""Hotline benchmark: a FLASH message fanned out to 200 connected clients, SQLite and PostgreSQL.

    python bench/hotline_fanout.py --out docs/benchmarks.md     # the full run (~5 min on 2 cores)
    python bench/hotline_fanout.py --clients 5 --messages 3 --db sqlite   # a smoke run
    python bench/hotline_fanout.py --render bench/results/hotline_fanout.json --out docs/benchmarks.md

For every database and variant: a fresh database with parties alpha and bravo (members) and
unmed (mediator), one user per client, made in-process (``bench.service_load.prepare``); then
``deconflict serve`` as a subprocess (``bench.service_load.server``) and, in another
subprocess, the load: ``--clients`` WebSockets (``/v1/stream``), each authenticated as its own
user of a recipient party (``--parties``: by default half bravo, half the mediator), and one
alpha liaison who opens a thread with those parties (``POST /v1/threads``, not measured), then
sends ``--warmup`` + ``--messages`` FLASH emergency messages (catalogue code 401, "aircraft in
distress") to it (``POST /v1/threads/{id}/messages``), one every ``--interval`` seconds: spaced
out, a latency test and not a throughput test.

Delivery latency, per (message, client): from just before the sender's POST is written to the
arrival of the ``message.sent`` event for that message on that client's WebSocket — both ends
in the load process, read from one clock (``time.perf_counter``), as ``run_alerts`` of
``bench/service_client.py`` does.  Also the sender's POST latency, and per message the first
and the last of its clients to receive it.  Variants (``--variants``): ``plain`` (the default
server, which declines WebSocket compression), ``deflate`` (the clients offer permessage-deflate
to a server started with ``--ws-compression``), ``alone`` (the same messages with no WebSocket
connected: what the POST costs without the fan-out).

Writes the raw figures as JSON to ``--results`` and, with ``--out``, the section "Hotline: FLASH
fan-out" of that Markdown file, between its own marker comments; the rest of the file (the
engine report, the service section) is left as it is.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(_ROOT))

from bench.service_client import Http, percentile, process_cpu_s  # noqa: E402
from bench.service_load import LABELS, Databases, _f, _machine, _t, _verdict, prepare, server, write_section  # noqa: E402

__all__ = ["BEGIN", "END", "main", "render", "run", "write"]

BEGIN = "<!-- hotline-benchmark:begin (written by bench/hotline_fanout.py) -->"
END = "<!-- hotline-benchmark:end -->"

#: The issue's target: a FLASH message reaches 200 connected clients, p99 ≤ 50 ms.
TARGET_P99_MS = 50.0
VARIANTS = ("plain", "deflate", "alone")
NAMES = {
    "plain": "no compression",
    "deflate": "permessage-deflate",
    "alone": "no WebSocket connected",
}
#: The emergency message sent: "aircraft {callsign} in distress at {position}, altitude {altitude}".
CODE = 401
_SENT = '"type": "message.sent"'
_SUBJECT = '"subject_id": "'


# --- the load (in its own process) -----------------------------------------------------------


@dataclass
class FanoutConfig:
    host: str
    port: int
    server_pid: int | None
    sender_token: str  # alpha's liaison
    parties: list[str]  # the thread's other parties
    tokens: list[str] = field(default_factory=list)  # one per client (each its own user)
    messages: int = 200
    warmup: int = 10
    interval_s: float = 0.2
    compression: str = "none"  # what the clients offer: deflate or none
    drain_s: float = 5.0


def _params(k: int) -> dict[str, Any]:
    return {
        "callsign": f"FLT{k:04d}",
        "position": {"lat": 35.0 + k % 50 / 100, "lon": 36.0 + k % 70 / 100},
        "altitude": {"m": 3000, "ref": "amsl"},
    }


def _message(k: int) -> dict[str, Any]:
    return {"code": CODE, "params": _params(k), "text": None, "precedence": "flash"}


def _subject_id(text: str) -> str | None:
    """The subject id of a ``message.sent`` event, without parsing the whole document."""
    at = text.find(_SUBJECT)
    if at < 0:
        return None
    at += len(_SUBJECT)
    return text[at : text.index('"', at)]


def _cpu_self() -> float:
    t = os.times()
    return t.user + t.system


def _cpu_machine() -> float:
    """CPU seconds every core of the machine has spent busy so far (``/proc/stat``; 0.0 elsewhere)."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()[1:]
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _stats(values: list[float]) -> dict[str, float | None]:
    """Milliseconds: p50, p95, p99, max, mean of ``values`` (seconds)."""

    def ms(x: float | None) -> float | None:
        return None if x is None else round(x * 1000, 3)

    return {
        "n": len(values),
        "p50_ms": ms(percentile(values, 50)),
        "p95_ms": ms(percentile(values, 95)),
        "p99_ms": ms(percentile(values, 99)),
        "max_ms": ms(max(values)) if values else None,
        "mean_ms": ms(sum(values) / len(values)) if values else None,
    }


async def _last_seq(http: Http, token: str) -> int:
    """The stream's last sequence number (the clients replay nothing older)."""
    after = 0
    while True:
        status, data = await http.request("GET", f"/v1/events?limit=1000&after={after}", token=token)
        if status != 200:
            raise RuntimeError(f"GET /v1/events: {status} {data[:300]!r}")
        page = json.loads(data)
        if not page["events"]:
            return after
        after = page["last_seq"]


async def run_fanout(cfg: FanoutConfig) -> dict[str, Any]:
    import websockets

    http = Http(cfg.host, cfg.port)
    after = await _last_seq(http, cfg.sender_token)
    clients = len(cfg.tokens)
    received: dict[tuple[int, str], float] = {}  # (client, message id) → perf_counter at arrival
    arrivals: dict[str, int] = {}  # message id → clients that have it
    events = [0] * clients
    sample: dict[str, Any] = {}
    gate = asyncio.Semaphore(50)  # WebSocket handshakes in flight at once

    async def connect(i: int) -> Any:
        url = f"ws://{cfg.host}:{cfg.port}/v1/stream?after={after}&access_token={cfg.tokens[i]}"
        async with gate:
            return await websockets.connect(
                url,
                max_size=None,
                ping_interval=None,
                open_timeout=60,
                compression="deflate" if cfg.compression == "deflate" else None,
            )

    async def listen(i: int, ws: Any) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for text in ws:
                at = time.perf_counter()
                events[i] += 1
                if isinstance(text, str) and _SENT in text:
                    mid = _subject_id(text)
                    if mid is not None and (i, mid) not in received:
                        received[(i, mid)] = at
                        arrivals[mid] = arrivals.get(mid, 0) + 1
                        if not sample:
                            sample.update(json.loads(text), bytes=len(text.encode()))

    t_conn = time.perf_counter()
    sockets = await asyncio.gather(*(connect(i) for i in range(clients)))
    connect_s = time.perf_counter() - t_conn
    listeners = [asyncio.create_task(listen(i, ws)) for i, ws in enumerate(sockets)]
    await asyncio.sleep(0.5)

    async def until_delivered(mids: list[str], timeout: float) -> None:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline and any(arrivals.get(m, 0) < clients for m in mids):
            await asyncio.sleep(0.01)

    # the thread, opened with a first FLASH message (not measured)
    body = {"parties": cfg.parties, "subject": "fan-out benchmark", "message": _message(0)}
    status, data = await http.request("POST", "/v1/threads", token=cfg.sender_token, body=json.dumps(body).encode())
    if status != 201:
        raise RuntimeError(f"POST /v1/threads: {status} {data[:500]!r}")
    opened = json.loads(data)
    thread_id = opened["thread"]["id"]
    await until_delivered([opened["message"]["id"]], 10.0)
    sample.clear()

    sent: list[tuple[float, float, int, str | None]] = []  # (t0, POST seconds, status, message id)
    path = f"/v1/threads/{thread_id}/messages"
    start = measured_from = time.perf_counter()
    cpu0, server_cpu0, machine0 = _cpu_self(), process_cpu_s(cfg.server_pid), _cpu_machine()
    for k in range(cfg.warmup + cfg.messages):
        if k == cfg.warmup:
            cpu0, server_cpu0, machine0 = _cpu_self(), process_cpu_s(cfg.server_pid), _cpu_machine()
            measured_from = time.perf_counter()
        await asyncio.sleep(max(0.0, start + k * cfg.interval_s - time.perf_counter()))
        payload = json.dumps({**_message(k + 1), "in_reply_to": None}).encode()
        t0 = time.perf_counter()
        status, data = await http.request("POST", path, token=cfg.sender_token, body=payload)
        post_s = time.perf_counter() - t0
        doc = json.loads(data) if status == 201 else None
        sent.append((t0, post_s, status, doc.get("message", doc)["id"] if doc is not None else None))
    measured = sent[cfg.warmup :]
    await until_delivered([m for _, _, _, m in measured if m], cfg.drain_s)
    wall = time.perf_counter() - measured_from
    cpu, server_cpu = _cpu_self() - cpu0, process_cpu_s(cfg.server_pid) - server_cpu0
    machine_cpu = _cpu_machine() - machine0
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    for task in listeners:
        task.cancel()
    await asyncio.gather(*listeners, return_exceptions=True)
    await http.close()

    deliveries: list[float] = []
    firsts: list[float] = []
    lasts: list[float] = []
    per_message: list[dict[str, Any]] = []
    missing = 0
    for t0, post_s, status, mid in measured:
        got = sorted(at - t0 for i in range(clients) if mid is not None and (at := received.get((i, mid))) is not None)
        lost = clients - len(got) if mid is not None else 0
        missing += lost
        deliveries += got
        if got:
            firsts.append(got[0])
            lasts.append(got[-1])
        per_message.append(
            {
                "status": status,
                "post_ms": round(post_s * 1000, 3),
                "first_ms": round(got[0] * 1000, 3) if got else None,
                "median_ms": round((percentile(got, 50) or 0) * 1000, 3) if got else None,
                "last_ms": round(got[-1] * 1000, 3) if got else None,
                "missing": lost,
            }
        )
    ok = [post_s for _, post_s, status, _ in measured if status == 201]
    return {
        "clients": clients,
        "parties": cfg.parties,
        "compression": cfg.compression,
        "interval_s": cfg.interval_s,
        "connect_s": connect_s,
        "messages": len(measured),
        "messages_ok": len(ok),
        "failed_statuses": sorted({s for _, _, s, _ in measured if s != 201}),
        "deliveries": len(deliveries),
        "deliveries_missing": missing,
        "events_per_client": sum(events) / clients if clients else 0.0,
        "delivery": _stats(deliveries),
        "first": _stats(firsts),
        "last": _stats(lasts),
        "post": _stats(ok),
        "loadgen_cpu_s": cpu,
        "server_cpu_s": server_cpu,
        "machine_cpu_s": machine_cpu,  # every process on the machine, these two included
        "wall_s": wall,
        "event_sample": sample,
        "per_message": per_message,
    }


def run_worker(cfg: FanoutConfig) -> dict[str, Any]:
    """The load, in this process (with uvloop when installed)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] installs it
        return asyncio.run(run_fanout(cfg))
    result: dict[str, Any] = uvloop.run(run_fanout(cfg))
    return result


def _in_subprocess(cfg: FanoutConfig, tmp: Path) -> dict[str, Any]:
    cfg_path = tmp / f"fanout-{time.monotonic_ns()}.json"
    out_path = cfg_path.with_suffix(".result.json")
    cfg_path.write_text(json.dumps(asdict(cfg)))
    me = str(Path(__file__).resolve())
    subprocess.run([sys.executable, me, "--load-worker", str(cfg_path), "--result", str(out_path)], check=True)
    result: dict[str, Any] = json.loads(out_path.read_text())
    return result


# --- one run ---------------------------------------------------------------------------------------


def measure(backend: str, variant: str, args: argparse.Namespace, dbs: Databases, tmp: Path) -> dict[str, Any]:
    """One variant on a fresh database and a fresh server; the load from another process."""
    parties = [p.strip() for p in args.parties.split(",") if p.strip()]
    clients = 0 if variant == "alone" else args.clients
    per_party = {p: len(range(i, clients, len(parties))) for i, p in enumerate(parties)}
    url = dbs.url(backend)
    tokens = prepare(url, max(1, per_party.get("bravo", 0)), mediator_users=per_party.get("unmed", 0))
    mine = {p: list(tokens.get(p, [])) for p in parties}
    client_tokens = [mine[parties[i % len(parties)]].pop() for i in range(clients)]
    print(f"[{time.strftime('%H:%M:%S')}] {backend}: {NAMES[variant]}, {clients} clients …", flush=True)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    with server(url, tmp / f"server-{backend}.log", ws_compression=variant == "deflate") as (port, pid):
        cfg = FanoutConfig(
            host="127.0.0.1",
            port=port,
            server_pid=pid,
            sender_token=tokens["alpha"][0],
            parties=parties,
            tokens=client_tokens,
            messages=args.messages,
            warmup=args.warmup,
            interval_s=args.interval,
            compression="deflate" if variant == "deflate" else "none",
        )
        result = _in_subprocess(cfg, tmp)
    result.update(backend=backend, variant=variant, clients_per_party=per_party, load=load)
    d, p = result["delivery"], result["post"]
    print(
        f"  {result['messages_ok']}/{result['messages']} messages, {result['deliveries']} deliveries "
        f"({result['deliveries_missing']} missing); delivery p50 {d['p50_ms']} p99 {d['p99_ms']} max {d['max_ms']} ms; "
        f"POST p50 {p['p50_ms']} p99 {p['p99_ms']} ms",
        flush=True,
    )
    return result


def run(args: argparse.Namespace, command: str) -> dict[str, Any]:
    backends = [b.strip() for b in args.db.split(",") if b.strip()]
    for b in backends:
        if b not in ("sqlite", "postgres"):
            raise SystemExit(f"unknown database {b!r}: use sqlite, postgres")
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    for v in variants:
        if v not in VARIANTS:
            raise SystemExit(f"unknown variant {v!r}: use {', '.join(VARIANTS)}")
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    load0 = " ".join(f"{x:.2f}" for x in os.getloadavg())
    t0 = time.perf_counter()
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="deconflict-hotline-bench-") as tmpdir:
        tmp = Path(tmpdir)
        os.chmod(tmp, 0o755)  # the PostgreSQL server (user postgres) makes its cluster inside
        dbs = Databases(tmp)
        try:
            for backend in backends:
                for variant in variants:
                    runs.append(measure(backend, variant, args, dbs, tmp))
            pg_version = dbs.pg_version
        finally:
            dbs.close()
    try:
        shown = str(args.results.resolve().relative_to(_ROOT))
    except ValueError:
        shown = str(args.results)
    return {
        "command": command,
        "started": started,
        "load": [load0, " ".join(f"{x:.2f}" for x in os.getloadavg())],
        "wall_s": time.perf_counter() - t0,
        "pg_version": pg_version,
        "results_file": shown,
        "target_p99_ms": TARGET_P99_MS,
        "config": {
            "clients": args.clients,
            "parties": args.parties,
            "messages": args.messages,
            "warmup": args.warmup,
            "interval_s": args.interval,
            "code": CODE,
        },
        "runs": runs,
    }


# --- the report --------------------------------------------------------------------------------------


def _met(r: dict[str, Any]) -> bool:
    p99 = r["delivery"]["p99_ms"]
    return p99 is not None and p99 <= TARGET_P99_MS and r["deliveries_missing"] == 0


def render(results: dict[str, Any]) -> str:
    runs: list[dict[str, Any]] = results["runs"]
    cfg = results["config"]
    info = _machine(results.get("pg_version"))
    info["Load average (1/5/15 min) at start / end"] = f"{results['load'][0]} / {results['load'][1]}"
    info["Benchmark wall time"] = f"{results['wall_s'] / 60:.1f} min"
    parties = " and ".join(cfg["parties"].split(","))
    out = [BEGIN, "", "## Hotline: FLASH fan-out", ""]
    out.append(
        f"Generated by `bench/hotline_fanout.py` on {results['started']}; every figure below was measured in that "
        f"run (raw figures, per message: `{results['results_file']}`). Rerun to refresh (`make bench-hotline`):"
    )
    out += ["", "```", results["command"], "```", ""]
    out += _t(["", ""], [[k, v] for k, v in info.items()])
    out += [
        "",
        f"**Set-up.** As for the service benchmark above: `deconflict serve` (one uvicorn process, the 1 s scheduler "
        f"on) on a fresh database per run, and the load in a separate process over loopback, sharing the same "
        f"{info['CPUs (nproc)']} CPUs. {cfg['clients']} WebSockets (`/v1/stream`), each authenticated as its own "
        f"user, shared between {parties}; one alpha liaison opens a thread with those parties (`POST /v1/threads`, "
        f"not measured), then posts {cfg['warmup']} + {cfg['messages']} messages to it (`POST "
        f"/v1/threads/{{id}}/messages`), one every {cfg['interval_s'] * 1000:.0f} ms — spaced out, one at a time: "
        f'a latency test, not a throughput test. Each is catalogue message {cfg["code"]} (emergency, "aircraft '
        f'… in distress at …") at FLASH precedence, rendered by the server in every catalogue language '
        f"inside the `message.sent` event; the first {cfg['warmup']} are warm-up.",
        "",
        "**Delivery latency**, per (message, client): from just before the sender's POST is written to the arrival "
        "of that message's `message.sent` event on that client's WebSocket; sender and clients share the load "
        "process, so both ends read one clock. *First* / *last*: per message, the first and the last of its "
        "clients to receive it. *No WebSocket connected*: the same POSTs with nobody listening — what the write "
        "costs without the fan-out.",
        "",
    ]
    rows = []
    for r in runs:
        if r["variant"] == "alone":
            continue
        p99, lost = r["delivery"]["p99_ms"], r["deliveries_missing"]
        rows.append(
            [
                f"FLASH to {r['clients']} clients, {NAMES[r['variant']]} — {LABELS[r['backend']]}",
                _f(p99) + (f" ({lost} deliveries missing)" if lost else ""),
                f"≤ {TARGET_P99_MS:.0f} ms",
                _verdict(_met(r)),
                f"{_rest(r) / r['wall_s']:.2f}",
            ]
        )
    out += ["### Target", ""]
    out += _t(["Target", "Delivery p99", "Target value", "Verdict", "CPU cores used by the rest of the machine"], rows)
    out += ["", "### Figures", ""]
    rows = []
    for r in runs:
        d, first, last, post = r["delivery"], r["first"], r["last"], r["post"]
        fanned = r["variant"] != "alone"
        rows.append(
            [
                LABELS[r["backend"]],
                NAMES[r["variant"]],
                f"{r['messages_ok']}/{r['messages']}",
                f"{r['deliveries']} ({r['deliveries_missing']} missing)" if fanned else "—",
                f"**{_f(d['p50_ms'])}** / {_f(d['p95_ms'])} / **{_f(d['p99_ms'])}** / {_f(d['max_ms'])}"
                if fanned
                else "—",
                f"{_f(first['p50_ms'])} / {_f(last['p50_ms'])} / {_f(last['p99_ms'])}" if fanned else "—",
                f"{_f(post['p50_ms'])} / {_f(post['p95_ms'])} / {_f(post['p99_ms'])} / {_f(post['max_ms'])}",
                " / ".join(f"{x / r['wall_s']:.2f}" for x in (r["server_cpu_s"], r["loadgen_cpu_s"], _rest(r))),
            ]
        )
    out += _t(
        [
            "Database",
            "WebSockets",
            "Messages accepted",
            "Deliveries",
            "Delivery p50 / p95 / p99 / max",
            "First p50 / last p50 / last p99",
            "Sender's POST p50 / p95 / p99 / max",
            "CPU cores: server / load / rest of the machine",
        ],
        rows,
    )
    sample = next((r["event_sample"] for r in runs if r.get("event_sample")), None)
    note = ""
    if sample:
        langs = sorted(sample.get("payload", {}).get("message", {}).get("renderings", {}))
        note = (
            f" Each `message.sent` event is {sample['bytes']} bytes of JSON: the message with its parameters and its "
            f"text in each of the catalogue's {len(langs)} languages ({', '.join(langs)})."
        )
    out += [
        "",
        "*CPU cores*: CPU seconds of the server process, of the load process and of every other process on the "
        "machine (PostgreSQL's server included; other work on the machine too) over the measured messages, per "
        f"second (the machine has {info['CPUs (nproc)']}).{note}",
        "",
    ]
    out += _analysis(runs)
    out.append(END)
    return "\n".join(out) + "\n"


def _spread(r: dict[str, Any]) -> dict[str, float | None]:
    """Per message, from its first client to its last (seconds → the usual statistics)."""
    return _stats([(m["last_ms"] - m["first_ms"]) / 1000 for m in r["per_message"] if m["first_ms"] is not None])


def _rest(r: dict[str, Any]) -> float:
    """CPU seconds the rest of the machine used during the run."""
    return max(0.0, r.get("machine_cpu_s", 0.0) - r["server_cpu_s"] - r["loadgen_cpu_s"])


def _name(r: dict[str, Any]) -> str:
    return f"{LABELS[r['backend']]}, {NAMES[r['variant']]}"


def _analysis(runs: list[dict[str, Any]]) -> list[str]:
    fanned = [r for r in runs if r["variant"] != "alone" and r["delivery"]["n"]]
    if not fanned:
        return []
    missed = [r for r in fanned if not _met(r)]
    out = ["### Reading", ""]
    out.append(
        f"The {TARGET_P99_MS:.0f} ms p99 target is met in {len(fanned) - len(missed)} of the {len(fanned)} runs"
        + (f" (not in: {'; '.join(_name(r) for r in missed)})" if missed else "")
        + ". A delivery is two steps in the one server process: the *write* (the request parsed, the message checked "
        "against the catalogue and rendered, the message, its receipts and its event stored and committed inside the "
        "service's write unit — what the sender's POST measures), then the *fan-out* (the committed event handed to "
        "each subscribed socket's task on the event loop, which checks that the user may see it, frames it — with "
        "permessage-deflate, compresses it, once per socket — and writes it: one socket after another, on one core; "
        "the first socket of each recipient party also records the party's delivery receipt, a write). The first "
        "client's latency is about the write; the time from the first client to the last is the fan-out (the load "
        "process's reading of 200 sockets included)."
    )
    for r in fanned:
        alone = next((a for a in runs if a["backend"] == r["backend"] and a["variant"] == "alone"), None)
        d, first, last, post, spread = r["delivery"], r["first"], r["last"], r["post"], _spread(r)
        line = f"**{_name(r)}.** Write: the sender's POST took {_f(post['p50_ms'])} p50 / {_f(post['p99_ms'])} p99"
        if alone and alone["post"]["p50_ms"]:
            line += f" (with no socket connected: {_f(alone['post']['p50_ms'])} / {_f(alone['post']['p99_ms'])})"
        line += (
            f", and the first client had the message {_f(first['p50_ms'])} p50 after the POST began. Fan-out: "
            f"{_f(spread['p50_ms'])} p50 / {_f(spread['p99_ms'])} p99 from the first of the {r['clients']} clients "
            f"to the last ({(spread['p50_ms'] or 0) * 1000 / max(1, r['clients'] - 1):.0f} µs a socket); the last "
            f"had it {_f(last['p50_ms'])} p50 / {_f(last['p99_ms'])} p99 after the POST began."
        )
        slow = [m for m in r["per_message"] if (m["last_ms"] or 0) > TARGET_P99_MS]
        if slow:
            slow_write = sum(1 for m in slow if (m["first_ms"] or 0) > TARGET_P99_MS / 2)
            worst = max(slow, key=lambda m: m["last_ms"])
            line += (
                f" {len(slow)} of the {r['messages']} messages reached their last client more than "
                f"{TARGET_P99_MS:.0f} ms after the POST began: in {slow_write} of them even the first client waited "
                f"over {TARGET_P99_MS / 2:.0f} ms (a slow write), in the other {len(slow) - slow_write} the fan-out "
                f"stretched. The slowest message: POST {_f(worst['post_ms'])}, first client {_f(worst['first_ms'])}, "
                f"last {_f(worst['last_ms'])}."
            )
        else:
            line += f" Every message reached all its clients within {TARGET_P99_MS:.0f} ms (max {_f(d['max_ms'])})."
        line += (
            f" Meanwhile the rest of the machine used {_rest(r) / r['wall_s']:.2f} cores"
            + (" (PostgreSQL's server included)" if r["backend"] == "postgres" else "")
            + (f"; load average (1/5/15 min) when the run began: {r['load']}." if r.get("load") else ".")
        )
        out += ["", line]
    out.append("")
    return out


def write(path: Path, section: str) -> None:
    """Put the hotline section into ``path`` between its markers, leaving the rest of the file as it is."""
    write_section(path, section, BEGIN, END)


# --- main ---------------------------------------------------------------------------------------------


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db", default="sqlite,postgres", help="comma-separated: sqlite, postgres (default: %(default)s)")
    p.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated, of: %(default)s")
    p.add_argument("--clients", type=int, default=200, help="WebSockets, each its own user (default: %(default)s)")
    p.add_argument(
        "--parties",
        default="bravo,unmed",
        help="the recipient parties, clients shared between them in turn: bravo and/or unmed (default: %(default)s)",
    )
    p.add_argument("--messages", type=int, default=200, help="measured FLASH messages (default: %(default)s)")
    p.add_argument("--warmup", type=int, default=10, help="messages sent first, not measured (default: %(default)s)")
    p.add_argument("--interval", type=float, default=0.2, help="seconds between messages (default: %(default)s)")
    p.add_argument("--results", type=Path, default=_ROOT / "bench" / "results" / "hotline_fanout.json")
    p.add_argument("--out", type=Path, default=None, help="write the Markdown section into this file")
    p.add_argument("--render", type=Path, default=None, help="write --out from this results file (no measurement)")
    p.add_argument("--load-worker", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if not set(args.parties.split(",")) <= {"bravo", "unmed"}:
        p.error("--parties: bravo and/or unmed")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if args.load_worker is not None:
        cfg = FanoutConfig(**json.loads(args.load_worker.read_text()))
        args.result.write_text(json.dumps(run_worker(cfg)))
        return 0
    if args.render is not None:
        if args.out is None:
            raise SystemExit("--render needs --out")
        write(args.out, render(json.loads(args.render.read_text())))
        print(f"wrote the hotline section of {args.out} from {args.render}")
        return 0
    command = "python bench/hotline_fanout.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    results = run(args, command.strip())
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=1, default=str) + "\n")
    print(f"wrote {args.results}")
    if args.out is not None:
        write(args.out, render(results))
        print(f"wrote the hotline section of {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
