"""SQL on `tus_uploads` (resumable uploads, `services.upload.resumable`), named for its callers."""

from __future__ import annotations

from typing import Any, TypeAlias
from uuid import UUID

import asyncpg

from shared.db.status import TusState

COLUMNS = """id, user_id, length, "offset", filename, metadata, storage, hash_state, state, sha256,
    proxy_uuid, problem, created_at, updated_at, expires_at, expires_at <= now() AS expired,
    lease_token, coalesce(lease_until > now(), false) AS leased"""

Conn: TypeAlias = asyncpg.Connection | asyncpg.Pool


async def lock_user_creations(conn: asyncpg.Connection, user_id: str) -> None:
    """Serialize one user's creations for the rest of the transaction, so caps hold under races."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('tus-create:' || $1))", user_id)


async def user_totals(conn: Conn, user_id: str) -> tuple[int, int, int]:
    """The user's unfinished uploads and their bytes, and all their rows (any state, expired
    or not): every row counts until the sweeper removes it."""
    row = await conn.fetchrow(
        """SELECT count(*) FILTER (WHERE state = 'receiving') AS n,
                  coalesce(sum(length) FILTER (WHERE state = 'receiving'), 0) AS bytes,
                  count(*) AS all_rows
             FROM tus_uploads WHERE user_id = $1""", user_id)
    assert row is not None
    return int(row["n"]), int(row["bytes"]), int(row["all_rows"])


async def take_lease(conn: Conn, user_id: str, upload_id: UUID, token: UUID,
                     lease_s: float) -> asyncpg.Record | None:
    """free -> leased to `token` for `lease_s`; None when another request holds it (or no row)."""
    return await conn.fetchrow(
        f"""UPDATE tus_uploads SET lease_token = $3, lease_until = now() + make_interval(secs => $4)
             WHERE id = $1 AND user_id = $2 AND (lease_until IS NULL OR lease_until <= now())
         RETURNING {COLUMNS}""", upload_id, user_id, token, lease_s)


async def renew_lease(conn: Conn, upload_id: UUID, token: UUID, lease_s: float) -> bool:
    """leased to `token` -> leased for another `lease_s`; False when the lease was lost."""
    done = await conn.fetchval(
        """UPDATE tus_uploads SET lease_until = now() + make_interval(secs => $3)
            WHERE id = $1 AND lease_token = $2 RETURNING true""", upload_id, token, lease_s)
    return bool(done)


async def release_lease(conn: Conn, upload_id: UUID, token: UUID) -> None:
    """leased to `token` -> free (a lease another request took since is left alone)."""
    await conn.execute("UPDATE tus_uploads SET lease_token = NULL, lease_until = NULL "
                       "WHERE id = $1 AND lease_token = $2", upload_id, token)


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


async def record_append(conn: Conn, upload_id: UUID, token: UUID, old_offset: int, new_offset: int,
                        storage: dict[str, Any], hash_state: bytes,
                        sha256: str | None) -> asyncpg.Record | None:
    """Move the offset; None when the request no longer holds the lease `token` (it expired
    and another request took it) or the offset moved."""
    return await conn.fetchrow(
        f"""UPDATE tus_uploads SET "offset" = $4, storage = $5, hash_state = $6, sha256 = $7,
                   updated_at = now()
             WHERE id = $1 AND lease_token = $2 AND "offset" = $3 AND state = 'receiving'
         RETURNING {COLUMNS}""",
        upload_id, token, old_offset, new_offset, storage, hash_state, sha256)


async def record_outcome(conn: Conn, upload_id: UUID, state: TusState, proxy_uuid: UUID | None,
                         problem: dict[str, Any] | None, keep_s: float) -> asyncpg.Record | None:
    """receiving -> accepted (with the proxy) | rejected (with the refusal, `shared.errors.record`);
    the outcome is kept `keep_s` (or until the upload's own expiry, if sooner) for a client that
    asks again, then swept."""
    return await conn.fetchrow(
        f"""UPDATE tus_uploads SET state = $2, proxy_uuid = $3, problem = $4, storage = '{{}}',
                   updated_at = now(),
                   expires_at = least(expires_at, now() + make_interval(secs => $5))
             WHERE id = $1 RETURNING {COLUMNS}""",
        upload_id, state, proxy_uuid, problem, keep_s)


async def lease_expired(conn: Conn, token: UUID, limit: int, lease_s: float) -> list[asyncpg.Record]:
    """Up to `limit` expired uploads no request holds, leased to the sweeper's `token`."""
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""UPDATE tus_uploads SET lease_token = $1, lease_until = now() + make_interval(secs => $3)
             WHERE id IN (SELECT id FROM tus_uploads
                           WHERE expires_at <= now() AND (lease_until IS NULL OR lease_until <= now())
                           ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)
         RETURNING {COLUMNS}""", token, limit, lease_s)
    return rows


async def delete_leased(conn: Conn, token: UUID, upload_ids: list[UUID]) -> int:
    """Delete the rows among `upload_ids` still leased to `token`; how many went."""
    done = await conn.fetch("DELETE FROM tus_uploads WHERE id = ANY($1::uuid[]) AND lease_token = $2 "
                            "RETURNING id", upload_ids, token)
    return len(done)



async def states_of(conn: Conn, upload_ids: list[UUID]) -> dict[UUID, asyncpg.Record]:
    """id -> (storage, state, leased) of those of `upload_ids` that still have a row."""
    rows = await conn.fetch("""SELECT id, storage, state, coalesce(lease_until > now(), false) AS leased
                                 FROM tus_uploads WHERE id = ANY($1::uuid[])""", upload_ids)
    return {r["id"]: r for r in rows}
