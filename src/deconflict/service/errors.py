"""The service's errors: each says which HTTP status it maps to (the API's table).

::

    DeconflictError                          (deconflict.errors)
    └── ServiceError
        ├── NotAuthenticated        401  no or bad credentials
        ├── Forbidden               403  authenticated, but not allowed
        ├── NotFound                404  no such object (or not visible to the caller)
        ├── StateConflict           409  the transition is not allowed from this state
        ├── AwarenessError          409  the key lacks versions of intersecting objects
        ├── IdempotencyMismatch     422  an Idempotency-Key reused for another request
        ├── LateNoticeRefused       422  the notice is later than the agreement allows
        └── VersionMismatch         412  the object changed since the version given
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import DeconflictError

__all__ = [
    "AwarenessError",
    "Forbidden",
    "IdempotencyMismatch",
    "LateNoticeRefused",
    "NotAuthenticated",
    "NotFound",
    "ServiceError",
    "StateConflict",
    "VersionMismatch",
]


class ServiceError(DeconflictError):
    status = 400
    title = "Bad request"

    def extra(self) -> dict[str, Any]:
        """Members added to the problem document besides field and reason."""
        return {}


class NotAuthenticated(ServiceError):
    status = 401
    title = "Not authenticated"


class Forbidden(ServiceError):
    status = 403
    title = "Forbidden"


class NotFound(ServiceError):
    status = 404
    title = "Not found"


class StateConflict(ServiceError):
    status = 409
    title = "State conflict"


class VersionMismatch(ServiceError):
    status = 412
    title = "Version mismatch"

    def __init__(self, field: str, reason: str, current: str | None = None) -> None:
        super().__init__(field, reason)
        self.current = current

    def within(self, prefix: str) -> DeconflictError:
        return VersionMismatch(f"{prefix}.{self.field}", self.reason, self.current)


class IdempotencyMismatch(ServiceError):
    status = 422
    title = "Idempotency key reused"


class LateNoticeRefused(ServiceError):
    status = 422
    title = "Late notice refused"

    def __init__(self, field: str, reason: str, late_by_s: float, required_s: float) -> None:
        super().__init__(field, reason)
        self.late_by_s = late_by_s
        self.required_s = required_s

    def within(self, prefix: str) -> DeconflictError:
        return LateNoticeRefused(f"{prefix}.{self.field}", self.reason, self.late_by_s, self.required_s)

    def extra(self) -> dict[str, Any]:
        return {"late_by_s": self.late_by_s, "required_notice_s": self.required_s}


class AwarenessError(ServiceError):
    """Proof of awareness failed: the caller has not seen every object its activity
    intersects.  ``missing`` lists them (ids, owners, kinds, windows — not their
    versions: those come only from reading each object, which is recorded)."""

    status = 409
    title = "Key does not cover intersecting objects"

    def __init__(self, field: str, reason: str, missing: Sequence[dict[str, Any]]) -> None:
        super().__init__(field, reason)
        self.missing = list(missing)

    def within(self, prefix: str) -> DeconflictError:
        return AwarenessError(f"{prefix}.{self.field}", self.reason, self.missing)

    def extra(self) -> dict[str, Any]:
        return {"missing": self.missing}
