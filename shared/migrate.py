"""Apply the numbered SQL migrations in `shared/migrations/`, forward only.

`python -m shared.migrate` is the one runner used by services, tests and CI.
A session advisory lock makes concurrent runners wait for each other, and each
migration runs in its own transaction with its row in `schema_migrations`.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from importlib import resources

import asyncpg

from shared.db import ensure_database
from shared.resource_settings import DatabaseSettings
from shared.settings import get_settings

log = logging.getLogger(__name__)
LOCK_ID = 0x70726F70  # "prop"


def migration_files() -> list[tuple[str, str]]:
    folder = resources.files("shared") / "migrations"
    files = sorted((p for p in folder.iterdir() if p.name.endswith(".sql")), key=lambda p: p.name)
    return [(p.name.removesuffix(".sql"), p.read_text()) for p in files]


async def migrate(database: DatabaseSettings, create: bool = True) -> list[str]:
    """Apply what is missing; returns the names applied now."""
    if create:
        await ensure_database(database.url)
    conn = await asyncpg.connect(database.url)
    applied: list[str] = []
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", LOCK_ID)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
        for name, sql in migration_files():
            if name in done:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", name)
            applied.append(name)
            log.info("applied migration %s", name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", LOCK_ID)
        await conn.close()
    return applied


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        applied = asyncio.run(migrate(get_settings().database))
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"migration failed: {exc}", file=sys.stderr)
        raise SystemExit(1) from exc
    print(f"database is up to date ({len(applied)} migration(s) applied now)")


if __name__ == "__main__":
    main()
