"""The one exception tree of ``deconflict``.

Every error raised on purpose by the library derives from :class:`DeconflictError`
and carries the *field* it is about and the *reason*, so an API layer can turn it
into a problem document without parsing messages::

    DeconflictError
    ├── ValidationError            bad input: the value named by ``field`` is refused
    │   ├── InvalidNumberError     NaN, infinity, wrong type where a number is needed
    │   ├── InvalidCoordinateError latitude/longitude out of range
    │   ├── InvalidTimeWindowError naive datetime, end <= start
    │   ├── InvalidAltitudeError   lower > upper, unknown unit or reference
    │   ├── InvalidFootprintError  degenerate or self-intersecting footprint
    │   └── FootprintTooLargeError footprint wider than the configured cap
    ├── IndexStateError            engine misuse: duplicate or unknown id
    └── AuthError                  authentication refused (field ``"authorization"``)
        ├── TokenError             bad, expired, or unknown-issuer bearer token (HTTP 401)
        └── PasswordError          a stored password hash is corrupt or unreadable

A conflict between two volumes is a *result*, never an exception.
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "DeconflictError",
    "FootprintTooLargeError",
    "IndexStateError",
    "InvalidAltitudeError",
    "InvalidCoordinateError",
    "InvalidFootprintError",
    "InvalidNumberError",
    "InvalidTimeWindowError",
    "PasswordError",
    "TokenError",
    "ValidationError",
]


class DeconflictError(Exception):
    """Root of every error ``deconflict`` raises on purpose.

    ``field`` is a dotted path to the offending value (``"volumes[1].altitude.lower_m"``),
    ``reason`` a sentence saying what is wrong with it.
    """

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")

    def within(self, prefix: str) -> DeconflictError:
        """Return a copy of this error whose field is nested under ``prefix``."""
        nested = f"{prefix}.{self.field}" if self.field else prefix
        return type(self)(nested, self.reason)


class ValidationError(DeconflictError):
    """Input refused; nothing was stored or indexed."""


class InvalidNumberError(ValidationError):
    """A number is NaN, infinite, or not a number at all."""


class InvalidCoordinateError(ValidationError):
    """A latitude or longitude is out of range."""


class InvalidTimeWindowError(ValidationError):
    """A time is naive (no time zone) or a window ends at or before its start."""


class InvalidAltitudeError(ValidationError):
    """An altitude band is inverted, or its unit or reference is unknown."""


class InvalidFootprintError(ValidationError):
    """A footprint is degenerate (too few distinct points, zero area) or self-intersecting."""


class FootprintTooLargeError(ValidationError):
    """A footprint is wider than the configured cap (``Limits.max_footprint_m``)."""


class IndexStateError(DeconflictError):
    """The engine was asked to insert an id it holds already, or remove one it does not."""


class AuthError(DeconflictError):
    """Authentication refused. ``field`` is ``"authorization"``; ``reason`` never quotes a secret."""


class TokenError(AuthError):
    """A bearer token is malformed, badly signed, expired, not yet valid, or from an unknown issuer."""


class PasswordError(AuthError):
    """A stored password hash is corrupt or not a hash this library can read (a mismatch is not an error)."""
