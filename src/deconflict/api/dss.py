"""The ASTM F3548-21 DSS interface: ``create_dss_app(service)``, mounted at ``/dss/v1``.

A FastAPI application of its own (design ``docs/design/dss.md`` D1), so that its errors
are the standard's ``ErrorResponse`` ``{"message": "<field>: <reason>"}`` (L348–L358)
and its routes stay out of the native OpenAPI document.  The 18 operations of the spec's
``/dss/v1`` paths (L2093–L3457) are thin: authenticate the bearer token, take a token
from the client's rate-limit bucket (429 + ``Retry-After``), check the scopes of the
operation's ``security`` (an OR of ANDs), check the shape of the body
(:mod:`.dss_schemas`) and of the path, and call the service's ``dss_*`` use case.

Errors → statuses (only statuses the operation declares are answered):

=============================================  ======================================
``DssError``                                   its own ``status`` (and ``body``: a 409
                                               ``AirspaceConflictResponse``)
``f3548.AreaTooLarge``, a too wide footprint   413 (400 where the operation has no 413)
``NotAuthenticated``                           401 + ``WWW-Authenticate: Bearer``
``Forbidden``                                  403
``NotFound``                                   404 (409 on the update routes, which
                                               declare no 404: design D10)
``VersionMismatch``                            409
any other validation or service error          400 (a malformed body: 400, not 422)
an unknown route / method                      404 / 405
anything unexpected                            500 ``{"message": "internal error"}``, logged
=============================================  ======================================
"""

import json
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from enum import Enum
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Mount

from .. import __version__, f3548
from ..errors import DeconflictError, FootprintTooLargeError
from ..service import Principal, Service
from ..service.dss_types import AA, CM, CMSA, CP, SC, DssError, DssLimits, require_any
from ..service.errors import Forbidden, NotAuthenticated, NotFound, VersionMismatch
from .dss_ratelimit import RateLimiter, retry_after
from .dss_schemas import (
    ErrorReportIn,
    PutConstraintIn,
    PutOirIn,
    PutSubscriptionIn,
    QueryIn,
    SetAvailabilityIn,
    dump,
)
from .limits import BodyTooLarge

__all__ = ["DECLARED", "NATIVE_PREFIX", "PREFIX", "create_dss_app", "create_native_uss_app", "mount_dss"]

#: where the DSS is served (the spec's paths are ``/dss/v1/…``)
PREFIX = "/dss/v1"
#: where this service answers, as the USS of the native parties, the ``/uss/v1`` reads of
#: their items' details: the default DSS setting ``native_base_url`` is ``…/native``
NATIVE_PREFIX = "/native/uss/v1"

log = logging.getLogger("deconflict.api.dss")
_bearer = HTTPBearer(auto_error=False, description="An access token of a trusted F3548 authority (RS256)")
_WWW_AUTHENTICATE = {"WWW-Authenticate": 'Bearer realm="dss"'}

#: the statuses each operation declares (spec ``responses``), by operationId
DECLARED: dict[str, frozenset[int]] = {
    name: frozenset(statuses)
    for name, statuses in {
        "queryOperationalIntentReferences": (200, 400, 401, 403, 413, 429),
        "getOperationalIntentReference": (200, 400, 401, 403, 404, 429),
        "createOperationalIntentReference": (201, 400, 401, 403, 409, 412, 413, 429),
        "updateOperationalIntentReference": (200, 400, 401, 403, 409, 412, 413, 429),
        "deleteOperationalIntentReference": (200, 400, 401, 403, 404, 409, 412, 429),
        "queryConstraintReferences": (200, 400, 401, 403, 413, 429),
        "getConstraintReference": (200, 400, 401, 403, 404, 429),
        "createConstraintReference": (201, 400, 401, 403, 409, 413, 429),
        "updateConstraintReference": (200, 400, 401, 403, 409, 413, 429),
        "deleteConstraintReference": (200, 400, 401, 403, 404, 409, 429),
        "querySubscriptions": (200, 400, 401, 403, 413, 429),
        "getSubscription": (200, 400, 401, 403, 404, 429),
        "createSubscription": (200, 400, 401, 403, 409, 429),
        "updateSubscription": (200, 400, 401, 403, 409, 429),
        "deleteSubscription": (200, 400, 401, 403, 404, 409, 429),
        "makeDssReport": (201, 400, 401, 403, 429),
        "setUssAvailability": (200, 400, 401, 403, 429),
        "getUssAvailability": (200, 400, 401, 403, 429),
        "getOperationalIntentDetails": (200, 400, 401, 403, 404, 429),
        "getConstraintDetails": (200, 400, 401, 403, 404, 429),
    }.items()
}


class RateLimited(Exception):
    """The client's bucket is empty: 429, retry after ``wait_s``."""

    def __init__(self, wait_s: float) -> None:
        super().__init__(f"retry after {wait_s:.3f} s")
        self.wait_s = wait_s


def _message(exc: DeconflictError) -> str:
    return f"{exc.field}: {exc.reason}" if exc.field else exc.reason


def _status_of(exc: DeconflictError) -> int:
    if isinstance(exc, DssError):
        return exc.status
    if isinstance(exc, f3548.AreaTooLarge | FootprintTooLargeError):
        return 413
    for cls, status in ((NotAuthenticated, 401), (Forbidden, 403), (NotFound, 404), (VersionMismatch, 409)):
        if isinstance(exc, cls):
            return status
    return 400


def _fit(status: int, request: Request) -> int:
    """``status`` as the operation declares it: a 404 where only 409 is declared (the
    update routes, D10) is a 409; a 413 where none is declared is a 400."""
    route = request.scope.get("route")
    declared = DECLARED.get(getattr(route, "name", ""))
    if declared is None or status in declared:
        return status
    if status == 404:
        return 409 if 409 in declared else 400
    if status == 413:
        return 400
    return status


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=status, headers=headers)


def _loc(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _first_problem(errors: Sequence[Any]) -> tuple[str, str]:
    """The first of pydantic's errors as ``(field, reason)``, the field in F3548's names."""
    for e in errors:
        loc = list(e.get("loc", ()))
        where = loc.pop(0) if loc and loc[0] in ("body", "query", "path", "header") else "body"
        reason = str(e.get("msg", "is invalid")).removeprefix("Value error, ")
        if e.get("type") == "json_invalid":
            return "body", "is not valid JSON"
        if e.get("type") == "missing" and not loc:
            return "body", "is required (a JSON object)"
        return _loc(loc) or where, reason
    return "body", "is invalid"


def install_errors(app: FastAPI) -> None:
    """The exception handlers of the DSS application: every error is ``{"message"}``."""

    @app.exception_handler(DeconflictError)
    async def _deconflict(request: Request, exc: DeconflictError) -> JSONResponse:
        status = _fit(_status_of(exc), request)
        headers = _WWW_AUTHENTICATE if status == 401 else None
        message = _message(exc)
        if isinstance(exc, DssError) and exc.body is not None:
            body = {"message": message, **exc.body}
            return JSONResponse(body, status_code=status, headers=headers)
        return _error(status, message, headers)

    @app.exception_handler(RequestValidationError)
    async def _request(request: Request, exc: RequestValidationError) -> JSONResponse:
        field, reason = _first_problem(exc.errors())
        return _error(400, f"{field}: {reason}")

    @app.exception_handler(RateLimited)
    async def _limited(request: Request, exc: RateLimited) -> JSONResponse:
        return _error(
            429, "rate: too many requests from this client; retry later", {"Retry-After": retry_after(exc.wait_s)}
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # the body could not be read (not UTF-8, a broken stream)
            return _error(400, "body: could not be read as JSON (it must be UTF-8 encoded JSON)")
        message = {404: "no such DSS operation", 405: "method not allowed here"}.get(exc.status_code, str(exc.detail))
        return _error(exc.status_code, f"{request.url.path}: {message}", getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:  # pragma: no cover - a bug
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return _error(500, "internal error")


def _settings_limits(service: Service) -> tuple[float, int]:
    try:
        limits = DssLimits.from_settings(service.get_dss_settings())
    except Exception:  # unreadable settings must not stop the DSS: fall back to the defaults
        log.exception("could not read the DSS settings; rate limits at their defaults")
        limits = DssLimits()
    return limits.rate_per_s, limits.burst


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_COMPONENTS: dict[str, Any] = {}  # the body models' nested schemas, for the OpenAPI document


def _body(model: type[BaseModel]) -> Any:
    """A dependency giving the request body checked against ``model`` and dumped for the
    service.  Declared after the principal, it reads the body only once the caller is
    authenticated, within its rate and scopes: a stranger's body is never parsed."""

    async def body(request: Request) -> dict[str, Any]:
        try:
            raw = await request.body()
        except BodyTooLarge:  # BodyLimit answers 413 in place of what is sent here
            raise DssError(413, "body", "is too large") from None
        if not raw.strip():
            raise DssError(400, "body", "is required (a JSON object)")
        try:
            doc = json.loads(raw, parse_constant=_no_constant)
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            raise DssError(400, "body", "is not valid JSON (UTF-8 encoded)") from None
        try:
            parsed = model.model_validate(doc)
        except PydanticValidationError as e:
            raise DssError(400, *_first_problem(e.errors())) from None
        return dump(parsed, exclude={"report_id"} if model is ErrorReportIn else None)

    return Depends(body)


def _request_doc(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` documenting ``model`` as the request body."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    _COMPONENTS.update(schema.pop("$defs", {}))
    _COMPONENTS[model.__name__] = schema
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}


def _entity_id(value: str, field: str) -> str:
    return f3548.uuid4(value, field)


def _ovn(value: str, field: str = "ovn") -> str:
    if not 16 <= len(value) <= 128:
        raise DssError(400, field, "must be 16 to 128 characters (an OVN)")
    return value


def _uss_id(value: str) -> str:
    if not 1 <= len(value) <= 200 or not value.isprintable():
        raise DssError(400, "uss_id", "must be 1 to 200 printable characters")
    return value


def _version(value: str) -> str:
    if not 1 <= len(value) <= 64:
        raise DssError(400, "version", "must be 1 to 64 characters (a subscription version)")
    return value


def _needs(service: Service, limiter: RateLimiter) -> Callable[..., Callable[..., Principal]]:
    """``need(*alternatives)``: a dependency that authenticates the bearer token (401), takes
    from the client's bucket (429) and checks the operation's scopes (403), in that order."""

    def need(*alternatives: Iterable[str]) -> Callable[..., Principal]:
        options = tuple(frozenset(a) for a in alternatives)

        def principal(creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal:
            if creds is None or creds.scheme.lower() != "bearer":
                raise NotAuthenticated("authorization", "a bearer token is required (Authorization: Bearer …)")
            who = service.authenticate(creds.credentials)
            wait = limiter.take(f"{who.party_id}\x00{who.user_id}")
            if wait > 0:
                raise RateLimited(wait)
            require_any(who, *options)
            return who

        return principal

    return need


def create_dss_app(service: Service, *, rate_limiter: RateLimiter | None = None) -> FastAPI:
    """The ``/dss/v1`` application over ``service``.  ``rate_limiter`` defaults to one that
    reads ``rate_per_s``/``burst`` from the DSS settings; it is ``app.state.rate_limiter``."""
    app = FastAPI(
        title="deconflict DSS (ASTM F3548-21)",
        version=__version__,
        description="The USS→DSS interface of ASTM F3548-21 over the deconfliction service.",
        docs_url=None,
        redoc_url=None,
        generate_unique_id_function=lambda route: route.name,  # the spec's operationId
    )
    limiter = rate_limiter or RateLimiter(lambda: _settings_limits(service))
    app.state.rate_limiter = limiter
    install_errors(app)
    need = _needs(service, limiter)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            doc.setdefault("components", {}).setdefault("schemas", {}).update(_COMPONENTS)
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    Strategic = Annotated[Principal, Depends(need({SC}, {CMSA}))]
    StrategicWrite = Annotated[Principal, Depends(need({SC}, {SC, CP}, {CMSA}))]
    ConstraintRead = Annotated[Principal, Depends(need({CM}, {CP}))]
    ConstraintWrite = Annotated[Principal, Depends(need({CM}))]
    Subscriber = Annotated[Principal, Depends(need({CP}, {SC}))]
    Reporter = Annotated[Principal, Depends(need({CM}, {CP}, {SC}, {CMSA}, {AA}))]
    Arbiter = Annotated[Principal, Depends(need({AA}))]
    AvailabilityReader = Annotated[Principal, Depends(need({AA}, {SC}, {CMSA}))]

    def reply(result: dict[str, Any] | tuple[int, dict[str, Any]], status: int = 200) -> JSONResponse:
        if isinstance(result, tuple):
            return JSONResponse(result[1], status_code=result[0])
        return JSONResponse(result, status_code=status)

    QueryBody = Annotated[dict[str, Any], _body(QueryIn)]
    OirBody = Annotated[dict[str, Any], _body(PutOirIn)]
    ConstraintBody = Annotated[dict[str, Any], _body(PutConstraintIn)]
    SubscriptionBody = Annotated[dict[str, Any], _body(PutSubscriptionIn)]
    ReportBody = Annotated[dict[str, Any], _body(ErrorReportIn)]
    AvailabilityBody = Annotated[dict[str, Any], _body(SetAvailabilityIn)]
    query_doc = _request_doc(QueryIn)
    oir_doc = _request_doc(PutOirIn)
    constraint_doc = _request_doc(PutConstraintIn)
    subscription_doc = _request_doc(PutSubscriptionIn)

    oir = "/operational_intent_references"
    cr = "/constraint_references"
    tags_oir: list[str | Enum] = ["Operational intent references"]
    tags_cr: list[str | Enum] = ["Constraint references"]
    tags_sub: list[str | Enum] = ["Subscriptions"]

    # --- operational intent references (L2093–L2499) -----------------------------------

    @app.post(f"{oir}/query", name="queryOperationalIntentReferences", tags=tags_oir, openapi_extra=query_doc)
    def query_oirs(who: Strategic, body: QueryBody) -> JSONResponse:
        return reply(service.dss_query_oirs(who, body))

    @app.get(f"{oir}/{{entityid}}", name="getOperationalIntentReference", tags=tags_oir)
    def get_oir(who: Strategic, entityid: str) -> JSONResponse:
        return reply(service.dss_get_oir(who, _entity_id(entityid, "entityid")))

    @app.put(
        f"{oir}/{{entityid}}",
        name="createOperationalIntentReference",
        tags=tags_oir,
        status_code=201,
        openapi_extra=oir_doc,
    )
    def create_oir(who: StrategicWrite, entityid: str, body: OirBody) -> JSONResponse:
        return reply(service.dss_put_oir(who, _entity_id(entityid, "entityid"), None, body))

    @app.put(
        f"{oir}/{{entityid}}/{{ovn}}", name="updateOperationalIntentReference", tags=tags_oir, openapi_extra=oir_doc
    )
    def update_oir(who: StrategicWrite, entityid: str, ovn: str, body: OirBody) -> JSONResponse:
        return reply(service.dss_put_oir(who, _entity_id(entityid, "entityid"), _ovn(ovn), body))

    @app.delete(f"{oir}/{{entityid}}/{{ovn}}", name="deleteOperationalIntentReference", tags=tags_oir)
    def delete_oir(who: Strategic, entityid: str, ovn: str) -> JSONResponse:
        return reply(service.dss_delete_oir(who, _entity_id(entityid, "entityid"), _ovn(ovn)))

    # --- constraint references (L2505–L2866) -------------------------------------------

    @app.post(f"{cr}/query", name="queryConstraintReferences", tags=tags_cr, openapi_extra=query_doc)
    def query_constraints(who: ConstraintRead, body: QueryBody) -> JSONResponse:
        return reply(service.dss_query_constraints(who, body))

    @app.get(f"{cr}/{{entityid}}", name="getConstraintReference", tags=tags_cr)
    def get_constraint(who: ConstraintRead, entityid: str) -> JSONResponse:
        return reply(service.dss_get_constraint(who, _entity_id(entityid, "entityid")))

    @app.put(
        f"{cr}/{{entityid}}",
        name="createConstraintReference",
        tags=tags_cr,
        status_code=201,
        openapi_extra=constraint_doc,
    )
    def create_constraint(who: ConstraintWrite, entityid: str, body: ConstraintBody) -> JSONResponse:
        return reply(service.dss_put_constraint(who, _entity_id(entityid, "entityid"), None, body))

    @app.put(f"{cr}/{{entityid}}/{{ovn}}", name="updateConstraintReference", tags=tags_cr, openapi_extra=constraint_doc)
    def update_constraint(who: ConstraintWrite, entityid: str, ovn: str, body: ConstraintBody) -> JSONResponse:
        return reply(service.dss_put_constraint(who, _entity_id(entityid, "entityid"), _ovn(ovn), body))

    @app.delete(f"{cr}/{{entityid}}/{{ovn}}", name="deleteConstraintReference", tags=tags_cr)
    def delete_constraint(who: ConstraintWrite, entityid: str, ovn: str) -> JSONResponse:
        return reply(service.dss_delete_constraint(who, _entity_id(entityid, "entityid"), _ovn(ovn)))

    # --- subscriptions (L2872–L3263) ---------------------------------------------------

    @app.post("/subscriptions/query", name="querySubscriptions", tags=tags_sub, openapi_extra=query_doc)
    def query_subscriptions(who: Subscriber, body: QueryBody) -> JSONResponse:
        return reply(service.dss_query_subscriptions(who, body))

    @app.get("/subscriptions/{subscriptionid}", name="getSubscription", tags=tags_sub)
    def get_subscription(who: Subscriber, subscriptionid: str) -> JSONResponse:
        return reply(service.dss_get_subscription(who, _entity_id(subscriptionid, "subscriptionid")))

    @app.put(
        "/subscriptions/{subscriptionid}", name="createSubscription", tags=tags_sub, openapi_extra=subscription_doc
    )
    def create_subscription(who: Subscriber, subscriptionid: str, body: SubscriptionBody) -> JSONResponse:
        sid = _entity_id(subscriptionid, "subscriptionid")
        return reply(service.dss_put_subscription(who, sid, None, body))

    @app.put(
        "/subscriptions/{subscriptionid}/{version}",
        name="updateSubscription",
        tags=tags_sub,
        openapi_extra=subscription_doc,
    )
    def update_subscription(who: Subscriber, subscriptionid: str, version: str, body: SubscriptionBody) -> JSONResponse:
        sid = _entity_id(subscriptionid, "subscriptionid")
        return reply(service.dss_put_subscription(who, sid, _version(version), body))

    @app.delete("/subscriptions/{subscriptionid}/{version}", name="deleteSubscription", tags=tags_sub)
    def delete_subscription(who: Subscriber, subscriptionid: str, version: str) -> JSONResponse:
        sid = _entity_id(subscriptionid, "subscriptionid")
        return reply(service.dss_delete_subscription(who, sid, _version(version)))

    # --- reports and availability (L3269–L3457) ----------------------------------------

    @app.post(
        "/reports", name="makeDssReport", tags=["Reports"], status_code=201, openapi_extra=_request_doc(ErrorReportIn)
    )
    def make_report(who: Reporter, body: ReportBody) -> JSONResponse:
        return reply(service.dss_report(who, body), 201)

    @app.put(
        "/uss_availability/{uss_id}",
        name="setUssAvailability",
        tags=["Availability"],
        openapi_extra=_request_doc(SetAvailabilityIn),
    )
    def set_availability(who: Arbiter, uss_id: str, body: AvailabilityBody) -> JSONResponse:
        return reply(service.dss_set_availability(who, _uss_id(uss_id), body))

    @app.get("/uss_availability/{uss_id}", name="getUssAvailability", tags=["Availability"])
    def get_availability(who: AvailabilityReader, uss_id: str) -> JSONResponse:
        return reply(service.dss_get_availability(who, _uss_id(uss_id)))

    return app


def create_native_uss_app(service: Service, *, rate_limiter: RateLimiter | None = None) -> FastAPI:
    """The USS side of the native parties (``NATIVE_PREFIX``, i.e. the DSS setting
    ``native_base_url`` + ``/uss/v1``): the two peer-to-peer reads a USS makes of the
    manager of an entity the DSS named — ``GET /operational_intents/{entityid}`` (L3458)
    and ``GET /constraints/{entityid}`` (L3677) — answered for native items with their
    OVN and volumes (:meth:`Service.dss_native_details`, recorded as opened)."""
    app = FastAPI(
        title="deconflict: the native parties' USS interface (ASTM F3548-21, details only)",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        generate_unique_id_function=lambda route: route.name,
    )
    limiter = rate_limiter or RateLimiter(lambda: _settings_limits(service))
    app.state.rate_limiter = limiter
    install_errors(app)
    need = _needs(service, limiter)
    Strategic = Annotated[Principal, Depends(need({SC}))]
    Processing = Annotated[Principal, Depends(need({CP}))]

    @app.get("/operational_intents/{entityid}", name="getOperationalIntentDetails", tags=["Operational intent details"])
    def oi_details(who: Strategic, entityid: str) -> JSONResponse:
        return JSONResponse(service.dss_native_details(who, "activity", _entity_id(entityid, "entityid")))

    @app.get("/constraints/{entityid}", name="getConstraintDetails", tags=["Constraint details"])
    def constraint_details(who: Processing, entityid: str) -> JSONResponse:
        return JSONResponse(service.dss_native_details(who, "zone", _entity_id(entityid, "entityid")))

    return app


def mount_dss(app: FastAPI, service: Service) -> FastAPI:
    """Mount :func:`create_dss_app` at :data:`PREFIX` of ``app`` (and the native parties'
    USS side, :func:`create_native_uss_app`, at :data:`NATIVE_PREFIX`, sharing its rate
    limiter) and return the DSS application.  The mounts match any path under their
    prefix, line breaks included (Starlette's ``.*`` stops at a percent-encoded newline,
    which would hand a DSS path to the native 404)."""
    dss = create_dss_app(service)
    native = create_native_uss_app(service, rate_limiter=dss.state.rate_limiter)
    for prefix, sub in ((PREFIX, dss), (NATIVE_PREFIX, native)):
        route = Mount(prefix, app=sub)
        route.path_regex = re.compile(route.path_regex.pattern, re.DOTALL)
        app.router.routes.append(route)
    return dss
