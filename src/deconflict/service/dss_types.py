"""The contract of the ASTM F3548-21 DSS interface (``/dss/v1``): names, tables, errors.

Shared by the service (:mod:`.dss`, :mod:`.dss_subscriptions`), the API
(:mod:`deconflict.api.dss`) and the tests, so that each side reads the standard's
vocabulary from one place.  The design is ``docs/design/dss.md``; spec line numbers
``Lnnn`` refer to ``tests/data/astm-f3548-utm.yaml``.

One model underneath: an operational intent reference (OIR) *is* an ``items`` row of
type ``activity``, a constraint reference *is* a ``zone``; the OVN *is* the item's
``version``; a USS *is* a party.  Only what F3548 has and the native model does not
(subscriptions, availability arbitration, reports, client UUIDs, numeric versions)
has tables of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from ..auth import F3548_SCOPES
from ..errors import ValidationError
from .core import Principal
from .errors import ServiceError

__all__ = [
    "AA",
    "AVAILABILITIES",
    "CM",
    "CMSA",
    "CP",
    "DSS_TRANSITIONS",
    "F3548_SCOPES",
    "KEY_STATES",
    "NATIVE_TO_STATE",
    "NULL_SUBSCRIPTION_ID",
    "OIR_STATES",
    "SC",
    "STATE_TO_NATIVE",
    "DssError",
    "DssLimits",
    "require_any",
]

# --- scopes (L20–L25, L58–L78) ----------------------------------------------------------

SC = "utm.strategic_coordination"
CM = "utm.constraint_management"
CP = "utm.constraint_processing"
CMSA = "utm.conformance_monitoring_sa"
AA = "utm.availability_arbitration"
assert frozenset({SC, CM, CP, CMSA, AA}) == F3548_SCOPES  # the verifier keeps exactly these


def require_any(principal: Principal, *alternatives: Iterable[str]) -> None:
    """403 unless the token carries every scope of at least one alternative (the spec's
    ``security`` list: an OR of ANDs)."""
    options = [frozenset(a) for a in alternatives]
    if any(o <= principal.scopes for o in options):
        return
    wanted = " or ".join(" and ".join(sorted(o)) for o in options)
    raise DssError(403, "scope", f"this operation needs the scope(s) {wanted}, which the token does not carry")


# --- states (L587–L627) -----------------------------------------------------------------

OIR_STATES = ("Accepted", "Activated", "Nonconforming", "Contingent")
STATE_TO_NATIVE = {
    "Accepted": "notified",
    "Activated": "active",
    "Nonconforming": "nonconforming",
    "Contingent": "contingent",
}
NATIVE_TO_STATE = {v: k for k, v in STATE_TO_NATIVE.items()}
#: states in which a write must present a key covering every intersecting entity (L733–L740)
KEY_STATES = frozenset({"Accepted", "Activated"})
#: allowed target states from each state (``None``: a new OIR); anything else is a 400.
#: Ending (DELETE) is allowed from every state.  Our reading of the standard's state
#: diagram; kept in one table so that it is easy to adjust.
DSS_TRANSITIONS: dict[str | None, frozenset[str]] = {
    None: frozenset({"Accepted", "Activated"}),
    "Accepted": frozenset({"Accepted", "Activated"}),
    "Activated": frozenset({"Activated", "Nonconforming", "Contingent"}),
    "Nonconforming": frozenset({"Activated", "Nonconforming", "Contingent"}),
    "Contingent": frozenset({"Contingent"}),
}

#: the subscription id of an OIR without one (the response field is required, L639)
NULL_SUBSCRIPTION_ID = "00000000-0000-4000-8000-000000000000"

AVAILABILITIES = ("Unknown", "Normal", "Down")


# --- errors -----------------------------------------------------------------------------


class DssError(ServiceError):
    """An answer of the DSS with the spec's own status: the API renders ``body`` when
    given (a 409 ``AirspaceConflictResponse``), else ``{"message": "<field>: <reason>"}``.

    Other service errors raised on the DSS path are mapped by the API: validation → 400,
    ``NotAuthenticated`` 401, ``Forbidden`` 403, ``NotFound`` 404, ``VersionMismatch``
    409, ``StateConflict`` 400."""

    def __init__(self, status: int, field: str, reason: str, *, body: Mapping[str, Any] | None = None) -> None:
        super().__init__(field, reason)
        self.status = status
        self.body = dict(body) if body is not None else None

    @property
    def message(self) -> str:
        return f"{self.field}: {self.reason}"


# --- limits (the YAML gives no numbers: §6.3 of the design) ------------------------------


@dataclass(frozen=True, slots=True)
class DssLimits:
    """The DSS's configurable limits and defaults, kept in ``settings["dss"]``."""

    max_area_km2: float = 2500.0  # query area, subscription, each extent → 413 beyond
    max_extents: int = 100  # extents of one OIR or constraint → 400 beyond
    max_duration_s: float = 86_400.0  # time_end - time_start of an OIR/constraint → 400
    subscription_default_s: float = 86_400.0  # a subscription's end when not given
    subscription_max_s: float = 86_400.0  # longest subscription → 400
    query_max_duration_s: float = 86_400.0  # a query window; a missing end = start + this
    rate_per_s: float = 100.0  # requests per second per client (token bucket)
    burst: int = 200  # bucket size
    activity_kind: str = "air_sortie"  # kind of the activity behind an OIR
    zone_kind: str = "restricted_area"  # kind of the zone behind a constraint
    native_base_url: str = "https://deconflict.invalid/native"  # uss_base_url of native items

    @classmethod
    def from_settings(cls, value: Mapping[str, Any] | None) -> DssLimits:
        """Validate a ``settings["dss"]`` document (unknown keys refused, by name)."""
        value = dict(value or {})
        names = {f.name: f for f in fields(cls)}
        for k in value:
            if k not in names:
                raise ValidationError(f"dss.{k}", "is not a DSS setting")
        out: dict[str, Any] = {}
        for k, v in value.items():
            default = getattr(cls(), k)
            if isinstance(default, str):
                if not isinstance(v, str) or not v:
                    raise ValidationError(f"dss.{k}", "must be a non-empty string")
            elif isinstance(v, bool) or not isinstance(v, int | float) or not v > 0 or v != v or v == float("inf"):
                raise ValidationError(f"dss.{k}", "must be a positive finite number")
            elif isinstance(default, int) and int(v) != v:
                raise ValidationError(f"dss.{k}", "must be a whole number")
            out[k] = type(default)(v)
        return cls(**out)

    def to_settings(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
