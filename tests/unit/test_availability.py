"""Which errors are an outage (answered 503 with Retry-After) and which are a bug (500)."""

from __future__ import annotations

import asyncpg

from shared.availability import unavailable_from


def test_an_asyncpg_connection_interrupted_mid_operation_by_a_restart_is_a_database_outage():
    # met in `make chaos`, between "connection refused" answers of a restarting PostgreSQL
    exc = asyncpg.InternalClientError("cannot switch to state 15; another operation (2) is in progress")
    outage = unavailable_from(exc)
    assert outage is not None and outage.what == "database"
    assert "another operation" in outage.detail


def test_a_refused_connection_is_an_outage_and_a_plain_bug_is_not():
    assert unavailable_from(ConnectionRefusedError(111, "Connection refused")) is not None
    assert unavailable_from(KeyError("uuid")) is None
