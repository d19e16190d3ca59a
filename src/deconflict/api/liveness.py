"""Liveness routes: ``POST /v1/heartbeat`` and ``GET /v1/liveness`` (see
:mod:`deconflict.service.liveness`; a WebSocket client may instead send
``{"type": "heartbeat"}`` frames on ``/v1/stream``)."""

from typing import Any

from fastapi import APIRouter

from ..service import Service

__all__ = ["install"]


def install(v1: APIRouter, service: Service, Who: Any) -> None:
    """Add the liveness routes to ``v1``."""

    @v1.post("/heartbeat", tags=["liveness"])
    def heartbeat(who: Who) -> dict[str, Any]:
        """The caller's party is on the channel (send at least every ``liveness.heartbeat_s``)."""
        return service.heartbeat(who)

    @v1.get("/liveness", tags=["liveness"])
    def list_liveness(who: Who) -> list[dict[str, Any]]:
        """Every party's channel: unknown (never heard from), up, or down since when."""
        return service.liveness(who)
