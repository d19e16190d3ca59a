"""Refuse request bodies over a size limit with a 413 problem, before they are parsed.

Under ``/dss/`` (the F3548 interface, :mod:`.dss`) the answer is the standard's
``ErrorResponse`` ``{"message": …}`` as ``application/json`` instead of a problem document.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyLimit", "BodyTooLarge"]


class BodyTooLarge(Exception):
    """Raised by the body stream once it passes the limit (the answer becomes a 413)."""


class BodyLimit:
    """ASGI middleware: a ``Content-Length`` over ``max_bytes``, or a streamed body that
    grows past it, gets ``413`` (nothing is read further, nothing is stored)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    too_big = False
                if too_big:
                    await self._refuse(scope, send)
                    return
        seen = 0
        started = False
        exceeded = False
        replaced = False

        async def limited() -> Message:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    exceeded = True
                    raise BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            # The app may catch BodyTooLarge itself (FastAPI turns any error while reading
            # the body into a 400): once the limit is passed, its answer is replaced by 413.
            nonlocal started, replaced
            if message["type"] == "http.response.start":
                started = True
                if exceeded:
                    replaced = True
                    await self._refuse(scope, send)
                    return
            if not replaced:
                await send(message)

        try:
            await self.app(scope, limited, guarded_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(scope, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        if str(scope.get("path", "")).startswith("/dss/"):
            await self._send(send, {"message": f"body: larger than {self.max_bytes} bytes"}, b"application/json")
            return
        body: dict[str, Any] = {
            "type": "https://deconflict.example/problems/payload-too-large",
            "title": "Payload too large",
            "status": 413,
            "detail": f"body: larger than {self.max_bytes} bytes",
            "field": "body",
            "reason": f"larger than {self.max_bytes} bytes",
            "instance": scope.get("path", ""),
        }
        await self._send(send, body, b"application/problem+json")

    @staticmethod
    async def _send(send: Send, body: dict[str, Any], content_type: bytes) -> None:
        data = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", content_type),
                    (b"content-length", str(len(data)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": data})
