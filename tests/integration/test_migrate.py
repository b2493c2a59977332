"""The migration runner on a brand-new database of the real PostgreSQL."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid

import asyncpg
import pytest

from shared.migrate import migrate, migration_files
from shared.settings import Settings
from tests.conftest import DATABASE_URL, REPO

pytestmark = pytest.mark.integration


@pytest.fixture
async def fresh_db():
    base, _, _ = DATABASE_URL.rpartition("/")
    name = f"prophoto_migrate_{uuid.uuid4().hex[:10]}"
    yield f"{base}/{name}"
    admin = await asyncpg.connect(f"{base}/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def test_concurrent_runners_create_the_database_and_apply_every_migration_once(fresh_db):
    settings = Settings(database_url=fresh_db)
    results = await asyncio.gather(*(migrate(settings.database) for _ in range(3)))
    names = [name for name, _ in migration_files()]
    # the advisory lock serialises them: one runner applies everything, the others nothing
    assert sorted(results, key=len) == [[], [], names]
    conn = await asyncpg.connect(fresh_db)
    try:
        rows = await conn.fetch("SELECT name FROM schema_migrations ORDER BY name")
        assert [r["name"] for r in rows] == names
        tables = {r["tablename"] for r in await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        assert {"proxy_images", "images", "outbox", "directory_sequences", "ingest_traces"} <= tables
        # finalize's key check must not scan every waiting proxy
        plan = "\n".join(r[0] for r in await conn.fetch(
            "EXPLAIN SELECT 1 FROM proxy_images WHERE final_key = 'k'"))
        assert "proxy_images_final_key" in plan, plan
    finally:
        await conn.close()
    assert await migrate(settings.database) == []  # nothing left to do


def test_the_command_line_runner_reports_and_exits_0(fresh_db):
    env = {"PROPHOTO_DATABASE_URL": fresh_db, "PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)}
    run = subprocess.run([sys.executable, "-m", "shared.migrate"], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert f"({len(migration_files())} migration(s) applied now)" in run.stdout


def test_an_unreachable_database_is_one_clear_line_and_exit_1():
    env = {"PROPHOTO_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nowhere", "PATH": "/usr/bin:/bin",
           "PYTHONPATH": str(REPO)}
    run = subprocess.run([sys.executable, "-m", "shared.migrate"], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 1 and "migration failed:" in run.stderr
    assert "Traceback" not in run.stderr
