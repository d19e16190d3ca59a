"""GeoJSON in and out of the service (RFC 7946, see :mod:`deconflict.geojson`)."""

from __future__ import annotations

from typing import Any

from ..geojson import ExportItem, feature_collection, parse_feature_collection
from ..policy import Precedence
from ..wire import reject_nul, volumes_from_json
from .core import Principal
from .errors import Forbidden
from .items import ItemInput

__all__ = ["geojson_of", "import_entries"]


def geojson_of(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """Item documents (as the API returns them) as a GeoJSON FeatureCollection."""
    shared = ("state", "priority", "title", "callsign", "contact", "version", "subtype")
    exported = [
        ExportItem(
            d["type"],
            d["id"],
            d["party"],
            d["kind"],
            volumes_from_json(d["volumes"]),
            {k: d[k] for k in shared if d.get(k) is not None},
        )
        for d in docs
    ]
    return feature_collection(exported)


def import_entries(document: Any, who: Principal) -> list[tuple[str, ItemInput]]:
    """A FeatureCollection's items as service inputs (every feature parsed before anything is stored)."""
    reject_nul(document)
    entries: list[tuple[str, ItemInput]] = []
    for n, item in enumerate(parse_feature_collection(document)):
        if item.party is not None and item.party != who.party_id:
            raise Forbidden(f"items[{n}].party", f"{item.party!r} is not your party ({who.party_id!r})")
        props = dict(item.properties)
        try:
            priority = Precedence(props.get("priority", "routine"))
        except ValueError:
            priority = Precedence.ROUTINE
        entries.append(
            (
                item.type,
                ItemInput(
                    kind=item.kind,
                    volumes=item.volumes,
                    title=str(props.get("title") or "")[:200],
                    priority=priority,
                    callsign=_opt_str(props.get("callsign"), 64),
                    contact=_opt_str(props.get("contact"), 200),
                    subtype=_opt_str(props.get("subtype"), 32),
                ),
            )
        )
    return entries


def _opt_str(value: Any, limit: int) -> str | None:
    return str(value)[:limit] if value is not None else None
