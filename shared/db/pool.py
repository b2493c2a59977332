"""asyncpg pool creation and the database bootstrap used by services and tests."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlparse, urlunparse

import asyncpg

from shared.resource_settings import DatabaseSettings

#: what a query function runs on: the pool, or a connection inside the caller's transaction
Executor = asyncpg.Pool | asyncpg.Connection


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


class DatabaseUnreachable(ConnectionError):
    """No connection to PostgreSQL could be made (refused, reset, timed out)."""


async def _connect(*args: Any, **kwargs: Any) -> asyncpg.Connection:
    # a refused connection is an OSError like any other; name it, so callers can say
    # "the database is unavailable" instead of guessing which socket failed
    try:
        return await asyncpg.connect(*args, **kwargs)
    except (OSError, TimeoutError) as exc:
        raise DatabaseUnreachable(f"{type(exc).__name__}: {exc}") from exc


async def create_pool(database: DatabaseSettings, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        database.url, min_size=min_size, max_size=max_size, init=_init_connection,
        command_timeout=60, connect=_connect,
    )
    assert pool is not None
    return pool


async def ensure_database(database_url: str) -> bool:
    """Create the database named in the URL if it does not exist. True if created."""
    parsed = urlparse(database_url)
    name = parsed.path.lstrip("/")
    admin_url = urlunparse(parsed._replace(path="/postgres"))
    conn = await asyncpg.connect(admin_url)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists:
            return False
        quoted = '"' + name.replace('"', '""') + '"'
        try:
            await conn.execute(f"CREATE DATABASE {quoted}")
        except (asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
            # another runner created it meanwhile (two concurrent CREATEs collide on the catalog)
            return False
        return True
    finally:
        await conn.close()
