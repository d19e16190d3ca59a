"""Development helpers (test fixtures, benchmarks): never imported by the library itself."""

from .pgserver import PostgresUnavailableError, local_postgres

__all__ = ["PostgresUnavailableError", "local_postgres"]
