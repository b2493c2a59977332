"""SQL on `revoked_sessions`: debug-page sessions their owner ended (shared/http/auth.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.db.pool import Executor


async def revoke(db: Executor, session_id: str, expires_at: float) -> None:
    """live -> revoked until `expires_at` (epoch seconds); repeating it is harmless. Rows past
    their expiry go on the way."""
    await db.execute("DELETE FROM revoked_sessions WHERE expires_at < now()")
    await db.execute("""INSERT INTO revoked_sessions (session_id, expires_at) VALUES ($1, $2)
                        ON CONFLICT (session_id) DO NOTHING""",
                     session_id, datetime.fromtimestamp(expires_at, UTC))


async def is_revoked(db: Executor, session_id: str) -> bool:
    return bool(await db.fetchval("SELECT true FROM revoked_sessions WHERE session_id = $1", session_id))
