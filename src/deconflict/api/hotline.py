"""Hotline routes: the message catalogue, threads, messages and their receipts.

Request bodies are strict (unknown fields refused); a message's ``params`` is a free JSON
object checked against the catalogue by the service, so its errors name
``params.<slot>`` (``message.params.<slot>`` when opening a thread).  Reads take an
optional ``language`` that overrides the caller's own.
"""

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from ..errors import ValidationError
from ..policy import Precedence
from ..service import Idempotency, Service
from ..wire import reject_nul
from .schemas import NoNul

__all__ = ["install"]

Id = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")]
IdStr = Annotated[str, Field(min_length=1, max_length=64), NoNul]
Limit = Annotated[int, Query(ge=1, le=1000)]
Cursor = Annotated[str | None, Query(max_length=64)]
Language = Annotated[str | None, Query(max_length=8, description="render in this language instead of the caller's")]
# free text is checked by the service (length, printable, NUL) so that every client gets the same reasons
Text = Annotated[str, Field(max_length=100_000)]
IdemKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class LinkIn(_Strict):
    type: Literal["activity", "zone", "conflict", "incident", "thread", "message"]
    id: IdStr


class FirstMessageIn(_Strict):
    code: Annotated[int, Field(strict=True)]
    params: dict[str, Any] = Field(default_factory=dict)
    text: Text | None = None
    precedence: Precedence | None = None


class MessageIn(FirstMessageIn):
    in_reply_to: IdStr | None = None
    link: LinkIn | None = None


class ThreadIn(_Strict):
    parties: Annotated[list[IdStr], Field(min_length=1, max_length=20)]
    subject: Annotated[str, Field(max_length=1000)] | None = None
    link: LinkIn | None = None
    message: FirstMessageIn


def install(
    v1: APIRouter,
    service: Service,
    Who: Any,
    idem: Callable[[str | None, Request, Any], Idempotency | None],
    reply: Callable[[tuple[int, dict[str, Any]]], JSONResponse],
) -> None:
    """Add the hotline's routes to ``v1`` (``Who``: the authenticated principal dependency;
    ``idem(key, request, body)``: the Idempotency-Key; ``reply(result)``: a JSON response)."""

    @v1.get("/catalogue", tags=["hotline"])
    def catalogue(who: Who, language: Language = None) -> dict[str, Any]:
        """The message catalogue (groups, codes, slots, responses) in the caller's language."""
        return service.describe_catalogue(who, language)

    @v1.get("/threads", tags=["hotline"])
    def list_threads(
        who: Who,
        party: Annotated[str | None, Query(max_length=64)] = None,
        link_type: Annotated[Literal["activity", "zone", "conflict", "incident"] | None, Query()] = None,
        link_id: Annotated[str | None, Query(max_length=64)] = None,
        language: Language = None,
        limit: Limit = 100,
        cursor: Cursor = None,
    ) -> dict[str, Any]:
        link = None
        if link_type is not None or link_id is not None:
            if link_type is None or link_id is None:
                raise ValidationError("link_type" if link_type is None else "link_id", "give link_type and link_id")
            link = (link_type, link_id)
        return service.list_threads(who, party=party, link=link, language=language, limit=limit, cursor=cursor)

    @v1.post("/threads", tags=["hotline"], status_code=201)
    def open_thread(who: Who, body: ThreadIn, request: Request, key: IdemKey = None) -> JSONResponse:
        dumped = body.model_dump(mode="json")
        reject_nul(dumped)
        message = {k: v for k, v in dumped["message"].items() if v is not None}
        return reply(
            service.open_thread(
                who,
                parties=body.parties,
                message=message,
                subject=body.subject,
                link=dumped["link"],
                idem=idem(key, request, dumped),
            )
        )

    @v1.get("/threads/{thread_id}", tags=["hotline"])
    def get_thread(
        who: Who,
        thread_id: Id,
        language: Language = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 500,
        cursor: Cursor = None,
    ) -> dict[str, Any]:
        return service.get_thread(who, thread_id, language=language, limit=limit, cursor=cursor)

    @v1.post("/threads/{thread_id}/messages", tags=["hotline"], status_code=201)
    def send_message(who: Who, thread_id: Id, body: MessageIn, request: Request, key: IdemKey = None) -> JSONResponse:
        dumped = body.model_dump(mode="json")
        reject_nul(dumped)
        return reply(
            service.send_message(
                who,
                thread_id,
                body.code,
                dumped["params"],
                text=body.text,
                precedence=dumped["precedence"],
                in_reply_to=body.in_reply_to,
                link=dumped["link"],
                idem=idem(key, request, dumped),
            )
        )

    @v1.get("/messages", tags=["hotline"])
    def list_messages(
        who: Who,
        thread: Annotated[str | None, Query(max_length=64)] = None,
        pending: bool = False,
        language: Language = None,
        limit: Limit = 100,
        cursor: Cursor = None,
    ) -> dict[str, Any]:
        return service.list_messages(who, thread=thread, pending=pending, language=language, limit=limit, cursor=cursor)

    @v1.get("/messages/{message_id}", tags=["hotline"])
    def get_message(who: Who, message_id: Id, language: Language = None) -> dict[str, Any]:
        return service.get_message(who, message_id, language=language)

    @v1.post("/messages/{message_id}/acknowledge", tags=["hotline"])
    def acknowledge_message(who: Who, message_id: Id, request: Request, key: IdemKey = None) -> JSONResponse:
        return reply(service.acknowledge_message(who, message_id, idem=idem(key, request, {})))

    @v1.get("/messages/{message_id}/receipts", tags=["hotline"])
    def message_receipts(who: Who, message_id: Id) -> dict[str, Any]:
        return service.message_receipts(who, message_id)
