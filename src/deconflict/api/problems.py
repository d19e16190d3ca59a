"""Errors as RFC 9457 problem details: every 4xx names the field and the reason.

::

    {"type": "https://deconflict.example/problems/validation", "title": "Invalid input",
     "status": 422, "detail": "volumes[0].time_end: must be after time_start",
     "field": "volumes[0].time_end", "reason": "must be after time_start",
     "errors": [{"field": …, "reason": …}, …], "instance": "/v1/activities"}

The table from error class to status lives on the classes themselves
(:mod:`deconflict.service.errors`); a model-level :class:`~deconflict.errors.ValidationError`
is 422.  Anything unexpected is a 500 problem without internals (and is logged).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import DeconflictError
from ..service.errors import NotAuthenticated, ServiceError

__all__ = ["PROBLEM_BASE", "PROBLEM_SCHEMA", "install", "problem", "problem_responses"]

PROBLEM_BASE = "https://deconflict.example/problems/"
log = logging.getLogger("deconflict.api")

#: The JSON Schema of a problem document (for the OpenAPI description of error responses).
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "required": ["type", "title", "status", "detail", "field", "reason", "instance"],
    "properties": {
        "type": {"type": "string", "description": "a URI naming the kind of problem"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string", "description": "field and reason in one sentence"},
        "field": {"type": "string", "description": "the path of the offending value ('' when none)"},
        "reason": {"type": "string"},
        "instance": {"type": "string", "description": "the request path"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "reason"],
                "properties": {"field": {"type": "string"}, "reason": {"type": "string"}, "in": {"type": "string"}},
            },
        },
        "missing": {"type": "array", "items": {"type": "object"}, "description": "409: objects the key lacks"},
        "current_version": {"type": "string", "description": "412: the object's current version"},
        "late_by_s": {"type": "number"},
        "required_notice_s": {"type": "number"},
    },
    "additionalProperties": True,
}

_DESCRIPTIONS = {
    400: "Bad request",
    401: "Not authenticated: no, bad, expired or revoked token (or wrong password)",
    403: "Forbidden: the token lacks the scope, or the object is another party's",
    404: "No such object, or not visible to the caller",
    409: "State conflict, or the key lacks versions of intersecting objects",
    412: "The object changed since the version given",
    413: "Request body too large",
    422: "Invalid input (the problem names the field)",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for error statuses answered with problem documents."""
    return {
        status: {
            "description": _DESCRIPTIONS.get(status, "Error"),
            "content": {"application/problem+json": {"schema": PROBLEM_SCHEMA}},
        }
        for status in statuses
    }


def problem(
    status: int,
    title: str,
    field: str,
    reason: str,
    *,
    instance: str = "",
    slug: str = "",
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + (slug or title.lower().replace(" ", "-")),
        "title": title,
        "status": status,
        "detail": f"{field}: {reason}" if field else reason,
        "field": field,
        "reason": reason,
        "instance": instance,
    }
    body.update(extra or {})
    return JSONResponse(body, status_code=status, media_type="application/problem+json", headers=headers)


def _loc(loc: tuple[Any, ...] | list[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def install(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service(request: Request, exc: ServiceError) -> JSONResponse:
        headers = {"WWW-Authenticate": 'Bearer realm="deconflict"'} if isinstance(exc, NotAuthenticated) else None
        extra = exc.extra()
        if getattr(exc, "current", None) is not None and exc.status == 412:
            extra = extra | {"current_version": exc.current}  # type: ignore[attr-defined]
        return problem(
            exc.status, exc.title, exc.field, exc.reason, instance=request.url.path, extra=extra, headers=headers
        )

    @app.exception_handler(DeconflictError)
    async def _model(request: Request, exc: DeconflictError) -> JSONResponse:
        return problem(
            422,
            "Invalid input",
            exc.field,
            exc.reason,
            instance=request.url.path,
            slug="validation",
            extra={"errors": [{"field": exc.field, "reason": exc.reason}]},
        )

    @app.exception_handler(RequestValidationError)
    async def _request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        for e in exc.errors():
            loc = list(e.get("loc", ()))
            if loc and loc[0] in ("body", "query", "path", "header"):
                where, loc = loc[0], loc[1:]
            else:
                where = "body"
            reason = str(e.get("msg", "is invalid"))
            if e.get("type") == "json_invalid":  # loc is (body, character offset): name the body
                error = (e.get("ctx") or {}).get("error")
                loc, reason = [], f"is not valid JSON ({error})" if error else "is not valid JSON"
            field = _loc(loc) or where
            errors.append({"field": field, "in": where, "reason": reason})
        first = errors[0] if errors else {"field": "body", "reason": "is invalid"}
        return problem(
            422,
            "Invalid input",
            first["field"],
            first["reason"],
            instance=request.url.path,
            slug="validation",
            extra={"errors": errors},
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # FastAPI could not read the body (not UTF-8, a broken stream)
            reason = "could not be read as JSON (it must be UTF-8 encoded JSON)"
            return problem(
                422,
                "Invalid input",
                "body",
                reason,
                instance=request.url.path,
                slug="validation",
                extra={"errors": [{"field": "body", "in": "body", "reason": reason}]},
            )
        title = {404: "Not found", 405: "Method not allowed", 413: "Payload too large"}.get(exc.status_code, "Error")
        return problem(
            exc.status_code,
            title,
            "",
            str(exc.detail),
            instance=request.url.path,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:  # pragma: no cover - a bug
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem(
            500, "Internal error", "", "an unexpected error occurred; it has been logged", instance=request.url.path
        )
