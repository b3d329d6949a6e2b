"""A real PostgreSQL for tests (``fixtures.local_postgres.LocalPostgres``), like tests/broker.py's
Mosquitto: Debian's server, started in a temporary folder on a free loopback port.

The ingest's promises (idempotent upserts, partitions made on demand, a partial
record replaced in the same transaction, acknowledgements after the commit) are
about a real database's behaviour, so the tests run against the real thing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from fixtures.local_postgres import LocalPostgres, find_pg_bin

__all__ = ["LocalPostgres", "running_postgres"]

SKIP_REASON = "PostgreSQL is not installed (`make tools` installs it with apt-get)"


@contextlib.contextmanager
def running_postgres() -> Iterator[LocalPostgres]:
    """A started server, stopped and deleted on exit (the test is skipped without one)."""
    if find_pg_bin() is None:
        pytest.skip(SKIP_REASON)
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg is not installed (pip install -e '.[dev]' installs it)")
    server = LocalPostgres()
    server.start()
    try:
        yield server
    finally:
        server.stop()
