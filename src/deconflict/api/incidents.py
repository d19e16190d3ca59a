"""Incident routes: report, list, read, timeline, links, comment, review, close, reopen.

Request bodies are strict (unknown fields refused, no NUL anywhere, finite numbers);
the service then checks meaning (the time not in the future, links that exist and that
the caller may see) and names the field that is wrong.
"""

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from ..service import Idempotency, Service
from ..service.incidents import DEFAULT_AFTER_S, DEFAULT_BEFORE_S, DEFAULT_RADIUS_M, MAX_RADIUS_M, MAX_SPAN_S
from .schemas import NoNul

__all__ = ["install"]

Id = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")]
IdStr = Annotated[str, Field(min_length=1, max_length=64), NoNul]
IdemKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]
Limit = Annotated[int, Query(ge=1, le=1000)]
Cursor = Annotated[str | None, Query(max_length=64)]
Span = Annotated[float, Query(ge=0, le=MAX_SPAN_S, allow_inf_nan=False)]
Kind = Literal["near_miss", "unplanned_encounter", "zone_violation", "strike_on_notified_site", "other"]
State = Literal["open", "under_review", "closed"]
Action = Annotated[str, Path(pattern="^(comment|review|close|reopen)$")]
# lengths and printability are checked by the service (the same reasons for every client)
Text = Annotated[str, Field(max_length=100_000), NoNul]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class PositionIn(_Strict):
    lat: Annotated[float, Field(ge=-90, le=90)]
    lon: Annotated[float, Field(ge=-180, le=180)]


class LinkIn(_Strict):
    type: Literal["activity", "zone", "conflict", "message", "thread"]
    id: IdStr


Links = Annotated[list[LinkIn], Field(max_length=100)]


class IncidentIn(_Strict):
    kind: Kind
    title: Text
    occurred_at: AwareDatetime
    position: PositionIn
    radius_m: Annotated[float, Field(ge=0, le=MAX_RADIUS_M)] = DEFAULT_RADIUS_M
    description: Text | None = None
    links: Links = Field(default_factory=list)


class LinksIn(_Strict):
    links: Annotated[list[LinkIn], Field(min_length=1, max_length=100)]


class IncidentActionIn(_Strict):
    text: Text | None = Field(default=None, description="the comment; for close, the findings (required)")


def install(
    v1: APIRouter,
    service: Service,
    Who: Any,
    idem: Callable[[str | None, Request, Any], Idempotency | None],
    reply: Callable[[tuple[int, dict[str, Any]]], JSONResponse],
) -> None:
    """Add the incident routes to ``v1``."""

    @v1.post("/incidents", tags=["incidents"], status_code=201)
    def report_incident(who: Who, body: IncidentIn, request: Request, key: IdemKey = None) -> JSONResponse:
        doc = body.model_dump(mode="json")
        return reply(
            service.report_incident(
                who,
                body.kind,
                body.title,
                body.occurred_at,
                body.position.model_dump(),
                radius_m=body.radius_m,
                description=body.description,
                links=[link.model_dump() for link in body.links],
                idem=idem(key, request, doc),
            )
        )

    @v1.get("/incidents", tags=["incidents"])
    def list_incidents(
        who: Who,
        state: Annotated[list[State] | None, Query(max_length=10)] = None,
        party: Annotated[str | None, Query(max_length=64)] = None,
        limit: Limit = 100,
        cursor: Cursor = None,
    ) -> dict[str, Any]:
        return service.list_incidents(who, state=state or (), party=party, limit=limit, cursor=cursor)

    @v1.get("/incidents/{incident_id}", tags=["incidents"])
    def get_incident(who: Who, incident_id: Id) -> dict[str, Any]:
        return service.get_incident(who, incident_id)

    @v1.get("/incidents/{incident_id}/timeline", tags=["incidents"])
    def incident_timeline(
        who: Who, incident_id: Id, before_s: Span = DEFAULT_BEFORE_S, after_s: Span = DEFAULT_AFTER_S
    ) -> dict[str, Any]:
        """Everything recorded around the incident, in time order, as the caller may see it."""
        return service.incident_timeline(who, incident_id, before_s=before_s, after_s=after_s)

    # registered before /{action}: "links" is not an action
    @v1.post("/incidents/{incident_id}/links", tags=["incidents"])
    def link_incident(who: Who, incident_id: Id, body: LinksIn, request: Request, key: IdemKey = None) -> JSONResponse:
        links = [link.model_dump() for link in body.links]
        return reply(service.link_incident(who, incident_id, links, idem=idem(key, request, {"links": links})))

    @v1.post("/incidents/{incident_id}/{action}", tags=["incidents"])
    def incident_action(
        who: Who,
        incident_id: Id,
        action: Action,
        request: Request,
        body: IncidentActionIn | None = None,
        key: IdemKey = None,
    ) -> JSONResponse:
        text = body.text if body else None
        return reply(
            service.incident_action(who, incident_id, action, text=text, idem=idem(key, request, {"text": text}))
        )
