"""deconflict — a deconfliction mechanism for parties sharing the same space.

The library's public API: the domain model, unit conversion at the edge, and the 4D
conflict engine.  See README.md and docs/ for the whole picture.
"""

from .engine import Engine, Item, all_conflicts
from .errors import (
    DeconflictError,
    FootprintTooLargeError,
    IndexStateError,
    InvalidAltitudeError,
    InvalidCoordinateError,
    InvalidFootprintError,
    InvalidNumberError,
    InvalidTimeWindowError,
    ValidationError,
)
from .geo import Limits
from .model import (
    Activity,
    ActivityKind,
    AltitudeBand,
    Circle,
    Conflict,
    Corridor,
    Dimension,
    Footprint,
    MinimaTable,
    Polygon,
    SeparationMinima,
    TimeWindow,
    Volume4D,
    VolumeRef,
    Zone,
    ZoneKind,
)
from .units import altitude_band, altitude_m

__version__ = "0.1.0"

__all__ = [
    "Activity",
    "ActivityKind",
    "AltitudeBand",
    "Circle",
    "Conflict",
    "Corridor",
    "DeconflictError",
    "Dimension",
    "Engine",
    "Footprint",
    "FootprintTooLargeError",
    "IndexStateError",
    "InvalidAltitudeError",
    "InvalidCoordinateError",
    "InvalidFootprintError",
    "InvalidNumberError",
    "InvalidTimeWindowError",
    "Item",
    "Limits",
    "MinimaTable",
    "Polygon",
    "SeparationMinima",
    "TimeWindow",
    "ValidationError",
    "Volume4D",
    "VolumeRef",
    "Zone",
    "ZoneKind",
    "__version__",
    "all_conflicts",
    "altitude_band",
    "altitude_m",
]
