"""Request bodies of the DSS interface (``/dss/v1``): pydantic models mirroring the ASTM
F3548-21 OpenAPI schemas (line numbers ``Lnnn`` of ``tests/data/astm-f3548-utm.yaml``).

They check the *shape* at the edge — types, enums, required members, the ranges the
schemas state — so that a malformed body is a 400 naming the field
(``extents[0].volume.outline_circle.radius.units: Input should be 'M'``).  Meaning
(exactly one outline, polygon edges, time order, limits, scopes per flag) is the
service's (:mod:`deconflict.f3548`, :mod:`deconflict.service.dss`).  Unknown members are
ignored (L14–L15); ``null`` is the same as absent (L17–L18); the API hands the service
``model_dump(mode="json", exclude_none=True)``.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "UUID4_PATTERN",
    "ErrorReportIn",
    "PutConstraintIn",
    "PutOirIn",
    "PutSubscriptionIn",
    "QueryIn",
    "SetAvailabilityIn",
    "dump",
]

#: a version-4 UUID (the spec's UUIDv4Format, L121–L130, with its escaping fixed)
UUID4_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-4[0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}$"
_RFC3339_Z = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?[Zz]$")

Uuid4 = Annotated[str, Field(pattern=UUID4_PATTERN)]
Ovn = Annotated[str, Field(min_length=16, max_length=128)]  # EntityOVN, L137–L150
UssBaseUrl = Annotated[str, Field(min_length=1, max_length=2048)]  # UssBaseURL, L577–L584
Int32 = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]


class _In(BaseModel):
    # strict: no "1" for 1, no true for 1.0 (an int is still a valid number)
    model_config = ConfigDict(extra="ignore", strict=True, allow_inf_nan=False)


class Time(_In):
    """L171–L186: RFC 3339 with the time zone ``Z``."""

    value: str
    format: Literal["RFC3339"]

    @field_validator("value")
    @classmethod
    def _rfc3339(cls, value: str) -> str:
        if not _RFC3339_Z.match(value):
            raise ValueError("must be an RFC 3339 date-time with the time zone 'Z' (like 2026-11-25T10:00:00Z)")
        try:
            datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError("is not a valid date-time") from None
        return value


class Radius(_In):
    value: float = Field(gt=0)
    units: Literal["M"]


class Altitude(_In):
    value: float = Field(ge=-8000, le=100000)
    reference: Literal["W84"]
    units: Literal["M"]


class LatLngPoint(_In):
    lat: float = Field(ge=-90, le=90)
    lng: float = Field(ge=-180, le=180)


class Polygon(_In):
    vertices: list[LatLngPoint] = Field(min_length=3)


class Circle(_In):
    center: LatLngPoint | None = None
    radius: Radius | None = None


class Volume3D(_In):
    outline_circle: Circle | None = None
    outline_polygon: Polygon | None = None
    altitude_lower: Altitude | None = None
    altitude_upper: Altitude | None = None


class Volume4D(_In):
    volume: Volume3D
    time_start: Time | None = None
    time_end: Time | None = None


class QueryIn(_In):
    """Query{OperationalIntentReference,ConstraintReference,Subscription}Parameters
    (L834, L972, L468); a missing ``area_of_interest`` is the service's 400."""

    area_of_interest: Volume4D | None = None


class ImplicitSubscriptionIn(_In):
    """ImplicitSubscriptionParameters (L778–L800)."""

    uss_base_url: UssBaseUrl
    notify_for_constraints: bool | None = None


class PutOirIn(_In):
    """PutOperationalIntentReferenceParameters (L706–L777)."""

    extents: list[Volume4D] = Field(min_length=1)
    key: list[Ovn] | None = None
    state: Literal["Accepted", "Activated", "Nonconforming", "Contingent"]
    uss_base_url: UssBaseUrl
    subscription_id: Uuid4 | None = None
    new_subscription: ImplicitSubscriptionIn | None = None


class PutConstraintIn(_In):
    """PutConstraintReferenceParameters (L916–L933)."""

    extents: list[Volume4D] = Field(min_length=1)
    uss_base_url: UssBaseUrl


class PutSubscriptionIn(_In):
    """PutSubscriptionParameters (L499–L541): one volume, not a list."""

    extents: Volume4D
    uss_base_url: UssBaseUrl
    notify_for_operational_intents: bool | None = None
    notify_for_constraints: bool | None = None


class SetAvailabilityIn(_In):
    """SetUssAvailabilityStatusParameters (L1361–L1374); ``old_version`` defaults to ``""``."""

    old_version: str | None = Field(default=None, max_length=64)
    availability: Literal["Unknown", "Normal", "Down"]


class ExchangeRecordIn(_In):
    """ExchangeRecord (L1440–L1509).  Kept whole (a report is archived as sent): members
    the schema does not name are kept too."""

    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=False)

    url: str
    method: str
    headers: list[str] | None = None
    recorder_role: Literal["Client", "Server"]
    request_time: Time
    request_source: Any  # required by L1446, but given no schema
    request_body: str | None = None
    response_time: Time | None = None
    response_body: str | None = None
    response_code: Int32 | None = None
    problem: str | None = None

    @field_validator("request_source")
    @classmethod
    def _present(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("is required")
        return value


class ErrorReportIn(_In):
    """ErrorReport (L1516–L1531); ``report_id`` is the server's, a client's is dropped."""

    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=False)

    report_id: str | None = Field(default=None, max_length=128)
    exchange: ExchangeRecordIn


def dump(body: BaseModel, *, exclude: set[str] | None = None) -> dict[str, Any]:
    """What the service receives: plain JSON values, absent for ``null``."""
    return body.model_dump(mode="json", exclude_none=True, exclude=exclude)
