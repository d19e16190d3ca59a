"""The event stream: ``WS /v1/stream?after=SEQ`` (and ``GET /v1/events`` to page through it).

Every event has a sequence number (``seq``) that only increases.  A client keeps the
last ``seq`` it processed and reconnects with ``?after=<seq>``: the server first replays
every event after it that the user may see, from the database, then streams live ones —
no event is lost across a reconnect, and none is sent twice on one connection.

Authentication: ``Authorization: Bearer …`` on the upgrade request, or
``?access_token=…`` (browsers cannot set headers on WebSockets).  A bad token closes
the connection with code 4401 before anything is sent; an F3548 client's token (it may
use only ``/dss/v1``) with code 4403.

A client keeps its party's channel alive by sending ``{"type": "heartbeat"}`` frames
(see :mod:`deconflict.service.liveness`); other frames are ignored.

Events about notices, conflicts and messages addressed to the user's party mark them *delivered*
(to that user) on the receipt, the first time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import FastAPI, Query, WebSocket, WebSocketDisconnect
from fastapi.concurrency import run_in_threadpool

from ..service import Principal, Service
from ..service.core import event_document
from ..service.errors import Forbidden, ServiceError
from ..store.schema import events

__all__ = ["Seq", "events_after", "head", "install", "visible"]

_PAGE = 500
# An event sequence number: a 64-bit integer in both databases (a larger one is refused, not a 500).
Seq = Annotated[int, Query(ge=0, le=2**63 - 1)]
_POLL_S = 1.0


def visible(event: dict[str, Any], who: Principal) -> bool:
    audience = event["audience"]
    return "*" in audience or who.party_id in audience


def head(service: Service) -> int:
    """The last event's sequence number (0 when there is none)."""
    with service.store.read() as conn:
        return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(events.c.seq), 0))).scalar_one())


def events_after(service: Service, who: Principal, after: int, limit: int = _PAGE) -> list[dict[str, Any]]:
    """Events after ``after`` that ``who`` may see, oldest first (at most ``limit``)."""
    out: list[dict[str, Any]] = []
    cursor = after
    with service.store.read() as conn:
        while len(out) < limit:
            rows = conn.execute(
                sa.select(events).where(events.c.seq > cursor).order_by(events.c.seq).limit(_PAGE)
            ).all()
            for r in rows:
                doc = event_document(
                    r.seq,
                    r.at,
                    r.type,
                    list(r.audience),
                    r.user_id,
                    (r.subject_type, r.subject_id) if r.subject_type else None,
                    r.payload,
                )
                if visible(doc, who):
                    out.append(doc)
                    if len(out) >= limit:
                        break
            if len(rows) < _PAGE:
                break
            cursor = rows[-1].seq
    return out


def install(app: FastAPI, service: Service) -> None:
    encoded: dict[int, str] = {}  # seq → the event as JSON: every socket sends the same text, encode it once

    def text_of(event: dict[str, Any]) -> str:
        seq = event["seq"]
        text = encoded.get(seq)
        if text is None:
            if len(encoded) >= 4096:
                encoded.clear()
            text = encoded[seq] = json.dumps(event)
        return text

    @app.websocket("/v1/stream")
    async def stream(
        ws: WebSocket,
        after: Seq = 0,
        access_token: Annotated[str | None, Query(max_length=16384)] = None,
    ) -> None:
        header = ws.headers.get("authorization", "")
        token = access_token or (header[7:] if header.lower().startswith("bearer ") else None)
        try:
            who = await run_in_threadpool(service.authenticate_native, token)
        except Forbidden:
            await ws.close(code=4403, reason="forbidden: an F3548 client uses /dss/v1 only")
            return
        except ServiceError:
            await ws.close(code=4401, reason="not authenticated")
            return
        await ws.accept()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[list[dict[str, Any]], bool]] = asyncio.Queue()

        def on_events(batch: list[dict[str, Any]], contiguous: bool) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, (batch, contiguous))

        handle = service.bus.subscribe(on_events)
        last = after
        delivered: set[tuple[str, str]] = set()

        async def send(batch: list[dict[str, Any]]) -> None:
            nonlocal last
            fresh: list[tuple[str, str]] = []
            for event in batch:
                if event["seq"] > last and visible(event, who):
                    await ws.send_text(text_of(event))
                    last = event["seq"]
                    subject = (str(event.get("subject_type")), str(event.get("subject_id")))
                    if subject[0] in ("notice", "conflict", "message") and subject not in delivered:
                        delivered.add(subject)
                        fresh.append(subject)
            claimed = service.claim_delivered(who, fresh) if fresh else []
            if claimed:  # only the first of the party's sockets to get an event writes its delivery
                await run_in_threadpool(service.record_delivered, who, claimed)

        receiver = asyncio.create_task(_drain(ws, service, who))
        try:
            while True:  # replay
                batch = await run_in_threadpool(events_after, service, who, last)
                await send(batch)
                if len(batch) < _PAGE:
                    break
            while not receiver.done():
                # wake on the next published batch, on the client going away, or to poll
                getter = asyncio.ensure_future(queue.get())
                await asyncio.wait({getter, receiver}, timeout=_POLL_S, return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():
                    getter.cancel()
                    await asyncio.wait({getter})
                if not getter.cancelled():
                    batch, contiguous = getter.result()
                elif receiver.done():
                    break
                else:
                    batch, contiguous = [], False
                if not contiguous:  # something may have been committed elsewhere: the table decides
                    batch = await run_in_threadpool(events_after, service, who, last)
                await send(batch)
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            service.bus.unsubscribe(handle)
            receiver.cancel()
            with contextlib.suppress(BaseException):
                await receiver


async def _drain(ws: WebSocket, service: Service, who: Principal) -> None:
    """Read client frames, so a close is noticed promptly: ``{"type": "heartbeat"}``
    records the party's liveness (an F3548 USS's, whose availability is arbitrated, is
    refused and ignored); anything else is ignored."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            text = await ws.receive_text()
            if len(text) > 1000:
                continue
            try:
                frame = json.loads(text)
            except ValueError:
                continue
            if isinstance(frame, dict) and frame.get("type") == "heartbeat":
                with contextlib.suppress(Forbidden):
                    await run_in_threadpool(service.heartbeat, who)
