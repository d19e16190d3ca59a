"""The HTTP API: ``create_app(service)`` builds the FastAPI application.

Everything under ``/v1`` needs a bearer token (``Authorization: Bearer …``) except
``/v1/auth/login`` and ``/v1/health``.  Every POST accepts an ``Idempotency-Key``
header: a retried request with the same key and body gets the stored response, a reuse
with another body is refused (422).  Lists are paginated with ``limit`` and an opaque
``cursor`` (``next_cursor`` of the previous page).  Errors are RFC 9457 problem
documents (:mod:`.problems`).  The OpenAPI document is served at ``/openapi.json``,
interactive docs at ``/docs``; the event stream is the WebSocket ``/v1/stream``
(:mod:`.stream`).  The ASTM F3548-21 DSS interface is a sub-application of its own at
``/dss/v1`` (:mod:`.dss`; not in this OpenAPI document).
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, FastAPI, Header, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .. import __version__
from ..service import Idempotency, Principal, Service
from ..service.errors import Forbidden, NotAuthenticated
from ..service.exchange import geojson_of, import_entries
from . import hotline, incidents, ledger, liveness, problems, signing, stream, web
from .dss import mount_dss
from .limits import BodyLimit
from .schemas import (
    ActivityIn,
    ActivityUpdateIn,
    ConflictActionIn,
    LoginIn,
    TransitionIn,
    ZoneIn,
    ZoneUpdateIn,
    aware,
    parse_bbox,
    reject_nul,
    reject_nul_in_query,
)

__all__ = ["create_app"]

log = logging.getLogger("deconflict.api")
_bearer = HTTPBearer(auto_error=False, description="A token from `deconflict token issue` or POST /v1/auth/login")
Id = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")]
IdemKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]
Limit = Annotated[int, Query(ge=1, le=1000)]
Cursor = Annotated[str | None, Query(max_length=64)]
Seq = stream.Seq
# Error statuses every authenticated route may answer (problem documents, see .problems).
_ERRORS = problems.problem_responses(401, 403, 404, 409, 412, 413, 422)


class GeoJSONResponse(JSONResponse):
    media_type = "application/geo+json"


def create_app(
    service: Service,
    *,
    scheduler_interval_s: float | None = 1.0,
    max_body_bytes: int = 2_000_000,
    tile_url: str | None = None,
) -> FastAPI:
    """The application over ``service``; ``scheduler_interval_s=None`` runs no scheduler
    (tests drive :meth:`Service.tick` themselves).  The web UI is served at ``/`` (see
    :mod:`.web`); ``tile_url`` adds an online tile layer to its offline basemap."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(_scheduler(service, scheduler_interval_s)) if scheduler_interval_s else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    app = FastAPI(
        title="deconflict",
        version=__version__,
        description="A deconfliction mechanism: notify activities and zones, settle conflicts, prove receipt.",
        lifespan=lifespan,
    )
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    problems.install(app)
    app.state.service = service

    def principal(creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal:
        if creds is None or creds.scheme.lower() != "bearer":
            raise NotAuthenticated("authorization", "a bearer token is required (Authorization: Bearer …)")
        return service.authenticate_native(creds.credentials)

    Who = Annotated[Principal, Depends(principal)]

    def idem(key: str | None, request: Request, body: Any) -> Idempotency | None:
        return Idempotency.of(key, request.method, request.url.path, body) if key is not None else None

    def reply(result: tuple[int, dict[str, Any]]) -> JSONResponse:
        return JSONResponse(result[1], status_code=result[0])

    public = APIRouter(prefix="/v1")
    v1 = APIRouter(
        prefix="/v1",
        responses=_ERRORS,
        dependencies=[Depends(reject_nul_in_query), Depends(signing.dependency(service, principal))],
    )

    @public.get("/health", tags=["service"])
    def health() -> dict[str, Any]:
        return {"status": "ok", "version": __version__, "database": service.store.dialect}

    @public.post("/auth/login", tags=["auth"], responses=problems.problem_responses(401, 413, 422))
    def login(body: LoginIn) -> dict[str, Any]:
        return service.login(body.username, body.password)

    @v1.get("/me", tags=["auth"])
    def me(who: Who) -> dict[str, Any]:
        return {
            "user": who.user_id,
            "party": who.party_id,
            "party_role": who.party_role,
            "role": who.role,
            "scopes": sorted(who.scopes),
            "language": who.language,
        }

    @v1.get("/parties", tags=["service"])
    def list_parties(who: Who) -> list[dict[str, Any]]:
        return service.list_parties()

    @v1.get("/policy", tags=["service"])
    def get_policy(who: Who) -> dict[str, Any]:
        return service.get_policy()

    @v1.put("/policy", tags=["service"])
    def put_policy(who: Who, body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
        who.require("admin")
        reject_nul(body)
        return service.set_policy(body, by=who.user_id)

    # --- activities and zones ---------------------------------------------------------

    def item_routes(item_type: Literal["activity", "zone"], path: str, model_in: Any, model_update: Any) -> None:
        tag = path.strip("/")

        @v1.get(path, tags=[tag], name=f"list_{tag}")
        def list_items(
            who: Who,
            party: Annotated[str | None, Query(max_length=64)] = None,
            state: Annotated[list[str] | None, Query(max_length=10)] = None,
            kind: Annotated[list[str] | None, Query(max_length=10)] = None,
            bbox: Annotated[str | None, Query(max_length=100, description="west,south,east,north")] = None,
            start: datetime | None = None,
            end: datetime | None = None,
            limit: Limit = 100,
            cursor: Cursor = None,
        ) -> dict[str, Any]:
            return service.list_items(
                who,
                item_type,
                party=party,
                state=state or (),
                kind=kind or (),
                bbox=parse_bbox(bbox),
                start=aware(start, "start"),
                end=aware(end, "end"),
                limit=limit,
                cursor=cursor,
            )

        @v1.post(path, tags=[tag], name=f"create_{item_type}", status_code=201)
        def create(who: Who, body: model_in, request: Request, key: IdemKey = None) -> JSONResponse:
            data = body.to_input()
            state = getattr(body, "state", None)
            return reply(
                service.create_item(
                    who,
                    item_type,
                    data,
                    state=state,
                    key=getattr(body, "key", []),
                    idem=idem(key, request, body.model_dump(mode="json")),
                )
            )

        @v1.post(f"{path}/check", tags=[tag], name=f"check_{item_type}")
        def check(who: Who, body: model_in) -> dict[str, Any]:
            return service.preview(who, item_type, body.to_input())

        @v1.get(f"{path}/{{item_id}}", tags=[tag], name=f"get_{item_type}")
        def get(who: Who, item_id: Id) -> dict[str, Any]:
            return service.get_item(who, item_type, item_id)

        @v1.put(f"{path}/{{item_id}}", tags=[tag], name=f"update_{item_type}")
        def update(who: Who, item_id: Id, body: model_update) -> JSONResponse:
            return reply(
                service.update_item(
                    who,
                    item_type,
                    item_id,
                    body.to_input(),
                    version=body.version,
                    key=getattr(body, "key", []),
                )
            )

        @v1.get(f"{path}/{{item_id}}/receipts", tags=[tag], name=f"{item_type}_receipts")
        def item_receipts(who: Who, item_id: Id) -> dict[str, Any]:
            return service.receipts_for(who, item_type, item_id)

        actions = ("notify", "activate", "complete", "cancel") if item_type == "activity" else ("withdraw",)
        Action = Annotated[str, Path(pattern="^(" + "|".join(actions) + ")$")]

        @v1.post(f"{path}/{{item_id}}/{{action}}", tags=[tag], name=f"{item_type}_transition")
        def transition(
            who: Who, item_id: Id, action: Action, body: TransitionIn, request: Request, key: IdemKey = None
        ) -> JSONResponse:
            return reply(
                service.transition(
                    who,
                    item_type,
                    item_id,
                    action,
                    version=body.version,
                    key=body.key,
                    idem=idem(key, request, body.model_dump(mode="json")),
                )
            )

    item_routes("activity", "/activities", ActivityIn, ActivityUpdateIn)
    item_routes("zone", "/zones", ZoneIn, ZoneUpdateIn)

    # --- conflicts ----------------------------------------------------------------------

    @v1.get("/conflicts", tags=["conflicts"])
    def list_conflicts(
        who: Who,
        state: Annotated[list[str] | None, Query(max_length=10)] = None,
        party: Annotated[str | None, Query(max_length=64)] = None,
        item: Annotated[str | None, Query(max_length=64)] = None,
        limit: Limit = 100,
        cursor: Cursor = None,
    ) -> dict[str, Any]:
        return service.list_conflicts(who, state=state or (), party=party, item=item, limit=limit, cursor=cursor)

    @v1.get("/conflicts/{conflict_id}", tags=["conflicts"])
    def get_conflict(who: Who, conflict_id: Id) -> dict[str, Any]:
        return service.get_conflict(who, conflict_id)

    @v1.get("/conflicts/{conflict_id}/receipts", tags=["conflicts"])
    def conflict_receipts(who: Who, conflict_id: Id) -> dict[str, Any]:
        return service.receipts_for(who, "conflict", conflict_id)

    ConflictAction = Annotated[str, Path(pattern="^(acknowledge|accept|escalate|comment|propose)$")]

    @v1.post("/conflicts/{conflict_id}/{action}", tags=["conflicts"])
    def conflict_action(
        who: Who,
        conflict_id: Id,
        action: ConflictAction,
        request: Request,
        body: ConflictActionIn | None = None,
        key: IdemKey = None,
    ) -> JSONResponse:
        text = body.text if body else None
        return reply(
            service.conflict_action(who, conflict_id, action, text=text, idem=idem(key, request, {"text": text}))
        )

    # --- notices and receipts -----------------------------------------------------------

    @v1.get("/notices", tags=["notices"])
    def list_notices(who: Who, pending: bool = False, limit: Limit = 100, cursor: Cursor = None) -> dict[str, Any]:
        return service.list_notices(who, pending=pending, limit=limit, cursor=cursor)

    @v1.get("/notices/{notice_id}", tags=["notices"])
    def open_notice(who: Who, notice_id: Id) -> JSONResponse:
        return reply(service.notice_action(who, notice_id, "open"))

    @v1.post("/notices/{notice_id}/acknowledge", tags=["notices"])
    def acknowledge_notice(who: Who, notice_id: Id, request: Request, key: IdemKey = None) -> JSONResponse:
        return reply(service.notice_action(who, notice_id, "acknowledge", idem=idem(key, request, {})))

    @v1.get("/events", tags=["events"])
    def list_events(who: Who, after: Seq = 0, limit: Limit = 100) -> dict[str, Any]:
        """The event stream as pages (for clients that cannot hold a WebSocket open)."""
        found = stream.events_after(service, who, after, limit)
        return {"events": found, "last_seq": found[-1]["seq"] if found else after}

    @v1.get("/events/head", tags=["events"])
    def events_head(who: Who) -> dict[str, int]:
        """The stream's last sequence number now: load a snapshot after reading it, then stream
        with ``?after=<seq>`` and nothing falls between the two."""
        return {"seq": stream.head(service)}

    # --- GeoJSON --------------------------------------------------------------------------

    @v1.get("/export", tags=["geojson"], response_class=GeoJSONResponse)
    def export(
        who: Who,
        type: Annotated[Literal["activity", "zone"], Query()] = "activity",
        state: Annotated[list[str] | None, Query(max_length=10)] = None,
        party: Annotated[str | None, Query(max_length=64)] = None,
        bbox: Annotated[str | None, Query(max_length=100)] = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> GeoJSONResponse:
        docs: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = service.list_items(
                who,
                type,
                party=party,
                state=state or (),
                bbox=parse_bbox(bbox),
                start=aware(start, "start"),
                end=aware(end, "end"),
                limit=1000,
                cursor=cursor,
            )
            docs += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        return GeoJSONResponse(geojson_of(docs))

    @v1.post("/import", tags=["geojson"], status_code=201)
    def import_geojson(
        who: Who, body: Annotated[dict[str, Any], Body()], request: Request, key: IdemKey = None
    ) -> JSONResponse:
        # authorise before parsing: an empty collection, or a refusal of the body, must not
        # answer a caller who may not import at all
        if not who.scopes & {"activities:write", "zones:write"}:
            raise Forbidden("scope", "importing needs the scope 'activities:write' or 'zones:write'")
        who.require_member("import items")
        return reply(service.import_items(who, import_entries(body, who), idem=idem(key, request, body)))

    hotline.install(v1, service, Who, idem, reply)
    incidents.install(v1, service, Who, idem, reply)
    liveness.install(v1, service, Who)
    ledger.install(v1, service, Who, idem, reply)

    app.include_router(public)
    app.include_router(v1)
    app.state.dss = mount_dss(app, service)
    stream.install(app, service)
    web.install(app, tile_url=tile_url)
    return app


async def _scheduler(service: Service, interval: float) -> None:
    while True:
        try:
            await run_in_threadpool(service.tick)
        except Exception:  # pragma: no cover - logged, and the loop goes on
            log.exception("scheduler tick failed")
        await asyncio.sleep(interval)
