"""The API's request shapes (pydantic v2), strict: unknown fields are refused.

Volumes follow ASTM F3548's ``Volume4D`` (``outline_circle`` / ``outline_polygon``,
``Altitude`` with ``value``/``reference``/``units``, ``Time`` with ``value``/``format``)
plus ``corridor`` (a path with a half-width).  These classes check types and shapes;
:mod:`deconflict.wire` and the model then check meaning (units, datums, geometry) and
name the field that is wrong.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Request
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from ..errors import ValidationError
from ..model import ActivityKind, SeparationMinima, ZoneKind
from ..policy import Precedence
from ..service import ItemInput
from ..wire import reject_nul, volume_from_json

__all__ = [
    "ActivityIn",
    "ConflictActionIn",
    "ItemUpdateIn",
    "LoginIn",
    "TransitionIn",
    "VolumeIn",
    "ZoneIn",
    "reject_nul",
]

Finite = Annotated[float, Field(allow_inf_nan=False)]


def _no_nul(value: str) -> str:
    # PostgreSQL cannot store NUL in text (SQLite can): refuse it on every back-end alike
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


NoNul = AfterValidator(_no_nul)
Text64 = Annotated[str, Field(max_length=64), NoNul]
Text200 = Annotated[str, Field(max_length=200), NoNul]
Text4000 = Annotated[str, Field(max_length=4000), NoNul]
Version = Annotated[str, Field(min_length=1, max_length=64), NoNul]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class LatLng(_Strict):
    lng: Annotated[float, Field(ge=-180, le=180)]
    lat: Annotated[float, Field(ge=-90, le=90)]


class Length(_Strict):
    value: Annotated[float, Field(ge=0, le=1e7)]
    units: Literal["M", "m", "km", "NM", "ft"] = "M"


class Altitude(_Strict):
    value: Annotated[float, Field(ge=-1e5, le=1e6)]
    reference: Literal["W84", "AMSL", "FL"] = "W84"
    units: Literal["M", "m", "ft", "FT"] = "M"


class Time(_Strict):
    value: AwareDatetime
    format: Literal["RFC3339"] = "RFC3339"


class CircleIn(_Strict):
    center: LatLng
    radius: Length


class PolygonIn(_Strict):
    vertices: Annotated[list[LatLng], Field(min_length=3, max_length=2000)]


class CorridorIn(_Strict):
    path: Annotated[list[LatLng], Field(min_length=2, max_length=2000)]
    half_width: Length


class VolumeIn(_Strict):
    outline_circle: CircleIn | None = None
    outline_polygon: PolygonIn | None = None
    corridor: CorridorIn | None = None
    altitude_lower: Altitude
    altitude_upper: Altitude
    time_start: Time
    time_end: Time
    geoid_undulation_m: Annotated[float, Field(ge=-200, le=200)] | None = None

    @model_validator(mode="after")
    def _one_footprint(self) -> VolumeIn:
        given = [n for n in ("outline_circle", "outline_polygon", "corridor") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of outline_circle, outline_polygon, corridor")
        return self


Volumes = Annotated[list[VolumeIn], Field(min_length=1, max_length=100)]
Key = Annotated[list[Annotated[str, Field(max_length=64), NoNul]], Field(max_length=5000)]


def _volumes(volumes: list[VolumeIn]) -> tuple[Any, ...]:
    return tuple(
        volume_from_json(v.model_dump(mode="json", exclude_none=True), f"volumes[{i}]") for i, v in enumerate(volumes)
    )


class MinimaIn(_Strict):
    lateral_m: Annotated[float, Field(ge=0, le=1e6)] = 0.0
    vertical_m: Annotated[float, Field(ge=0, le=1e5)] = 0.0
    time_s: Annotated[float, Field(ge=0, le=31_622_400)] = 0.0


class _ItemCommon(_Strict):
    title: Text200 = ""
    priority: Precedence = Precedence.ROUTINE
    contact: Text200 | None = None
    notes: Text4000 | None = None
    volumes: Volumes


class ActivityIn(_ItemCommon):
    kind: ActivityKind
    callsign: Text64 | None = None
    state: Literal["draft", "notified"] = "draft"
    key: Key = Field(default_factory=list, description="versions of every intersecting object you have seen")

    def to_input(self) -> ItemInput:
        return ItemInput(
            kind=self.kind.value,
            volumes=_volumes(self.volumes),
            title=self.title,
            priority=self.priority,
            callsign=self.callsign,
            contact=self.contact,
            notes=self.notes,
        )


class ZoneIn(_ItemCommon):
    kind: ZoneKind
    subtype: (
        Literal["hospital", "school", "aid_warehouse", "shelter", "place_of_worship", "cultural_site", "other"] | None
    ) = None
    minima: MinimaIn | None = None

    def to_input(self) -> ItemInput:
        minima = SeparationMinima(**self.minima.model_dump()) if self.minima else None
        return ItemInput(
            kind=self.kind.value,
            volumes=_volumes(self.volumes),
            title=self.title,
            priority=self.priority,
            contact=self.contact,
            notes=self.notes,
            subtype=self.subtype,
            minima=minima,
        )


class ActivityCheckIn(ActivityIn):
    pass


class ActivityUpdateIn(ActivityIn):
    version: Version


class ZoneUpdateIn(ZoneIn):
    version: Version


ItemUpdateIn = ActivityUpdateIn | ZoneUpdateIn


class TransitionIn(_Strict):
    version: Version
    key: Key = Field(default_factory=list)


class ConflictActionIn(_Strict):
    text: Text4000 | None = None


class LoginIn(_Strict):
    username: Text64
    password: Annotated[str, Field(max_length=1024)]


def reject_nul_in_query(request: Request) -> None:
    """A dependency: no NUL in any query parameter (it would reach the database)."""
    for name, value in request.query_params.multi_items():
        if "\x00" in name or "\x00" in value:
            raise ValidationError(name.replace("\x00", "") or "query", "must not contain NUL characters")


def parse_bbox(value: str | None) -> tuple[float, float, float, float] | None:
    """``west,south,east,north`` in degrees."""
    if value is None:
        return None
    parts = value.split(",")
    try:
        w, s, e, n = (float(p) for p in parts)
    except ValueError:
        raise ValidationError("bbox", "must be four numbers: west,south,east,north") from None
    if not all(-180 <= x <= 180 for x in (w, e)) or not all(-90 <= y <= 90 for y in (s, n)) or s > n:
        raise ValidationError("bbox", "longitudes within ±180, latitudes within ±90, south ≤ north")
    return w, s, e, n


def aware(value: datetime | None, name: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValidationError(name, "must carry a time zone (Z or ±hh:mm)")
    return value
