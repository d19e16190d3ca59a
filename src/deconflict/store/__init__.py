"""Persistence: the tables (:mod:`.schema`), the database and its write lock (:mod:`.db`),
and the Alembic migrations that create and upgrade the schema (``migrations/``)."""

from .db import DEFAULT_URL, Store, normalise_url

__all__ = ["DEFAULT_URL", "Store", "normalise_url"]
