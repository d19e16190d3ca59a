"""The HTTP edge: FastAPI routes, pydantic request shapes, problem details, the event stream."""

from .app import create_app

__all__ = ["create_app"]
