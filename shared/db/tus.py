"""SQL on `tus_uploads` (resumable uploads, `services.upload.resumable`), named for its callers."""

from __future__ import annotations

from typing import Any, TypeAlias
from uuid import UUID

import asyncpg

from shared.db.status import TusState

COLUMNS = """id, user_id, length, "offset", filename, metadata, storage, hash_state, state, sha256,
    proxy_uuid, problem, created_at, updated_at, expires_at, expires_at <= now() AS expired"""

Conn: TypeAlias = asyncpg.Connection | asyncpg.Pool


async def lock_user_creations(conn: asyncpg.Connection, user_id: str) -> None:
    """Serialize one user's creations for the rest of the transaction, so caps hold under races."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('tus-create:' || $1))", user_id)


async def incomplete_totals(conn: Conn, user_id: str) -> tuple[int, int]:
    row = await conn.fetchrow(
        """SELECT count(*) AS n, coalesce(sum(length), 0) AS bytes FROM tus_uploads
            WHERE user_id = $1 AND state = 'receiving' AND expires_at > now()""", user_id)
    assert row is not None
    return int(row["n"]), int(row["bytes"])


async def insert_upload(conn: Conn, values: dict[str, Any]) -> asyncpg.Record:
    row = await conn.fetchrow(
        f"""INSERT INTO tus_uploads (id, user_id, length, filename, metadata, storage, hash_state,
                expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {COLUMNS}""",
        values["id"], values["user_id"], values["length"], values["filename"], values["metadata"],
        values["storage"], values["hash_state"], values["expires_at"])
    assert row is not None
    return row


async def get_upload_for_user(conn: Conn, user_id: str, upload_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {COLUMNS} FROM tus_uploads WHERE id = $1 AND user_id = $2", upload_id, user_id)


async def record_append(conn: Conn, upload_id: UUID, old_offset: int, new_offset: int,
                        storage: dict[str, Any], hash_state: bytes,
                        sha256: str | None) -> asyncpg.Record | None:
    """Move the offset; None when another request moved it first (never happens under the lock)."""
    return await conn.fetchrow(
        f"""UPDATE tus_uploads SET "offset" = $3, storage = $4, hash_state = $5, sha256 = $6,
                   updated_at = now()
             WHERE id = $1 AND "offset" = $2 AND state = 'receiving' RETURNING {COLUMNS}""",
        upload_id, old_offset, new_offset, storage, hash_state, sha256)


async def record_outcome(conn: Conn, upload_id: UUID, state: TusState, proxy_uuid: UUID | None,
                         problem: dict[str, Any] | None) -> asyncpg.Record | None:
    """receiving -> accepted (with the proxy) | rejected (with the refusal, `shared.errors.record`)."""
    return await conn.fetchrow(
        f"""UPDATE tus_uploads SET state = $2, proxy_uuid = $3, problem = $4, storage = '{{}}',
                   updated_at = now()
             WHERE id = $1 RETURNING {COLUMNS}""",
        upload_id, state, proxy_uuid, problem)


async def delete_upload(conn: Conn, upload_id: UUID) -> None:
    await conn.execute("DELETE FROM tus_uploads WHERE id = $1", upload_id)


async def expired_uploads(conn: Conn, limit: int) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT {COLUMNS} FROM tus_uploads WHERE expires_at <= now() ORDER BY expires_at LIMIT $1",
        limit)
    return rows

