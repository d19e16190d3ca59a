"""Alembic environment: run with the connection the store hands over (no ini file)."""

from __future__ import annotations

from alembic import context

from deconflict.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only when alembic is run by hand
    raise RuntimeError("run migrations through deconflict.store.migrate(), which passes a connection")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,  # SQLite cannot ALTER most things: alembic rebuilds the table
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
