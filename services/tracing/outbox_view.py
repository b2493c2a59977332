"""The upload service's outbox as the debug page and `/v1/queue-status` show it.

Read from the shared database (shared/db/outbox.py), so any tracing instance
sees the relay of every upload instance: `idle` (nothing waiting),
`processing` (rows waiting, none refused), `pending` (the broker refused
rows lately; they back off and retry), `stalled` (refused rows and the oldest
has waited past `outbox_unready_after_s`: the upload service is unready too).
"""

from __future__ import annotations

from typing import Any

import asyncpg

from shared.db.outbox import backlog
from shared.settings import Settings


async def outbox_status(pool: asyncpg.Pool, settings: Settings) -> dict[str, Any]:
    b = await backlog(pool, settings.exchange)
    if not b.pending:
        status, detail = "idle", "every job confirmed by the broker"
    elif not b.failing:
        status, detail = "processing", f"{b.pending} job(s) being published"
    elif b.oldest_age_s >= settings.outbox_unready_after_s:
        status, detail = "stalled", (f"{b.failing} job(s) refused by the broker, the oldest "
                                     f"waiting {b.oldest_age_s:.0f} s: {b.last_error}")
    else:
        status, detail = "pending", f"{b.failing} job(s) refused, retrying: {b.last_error}"
    return {"status": status, "detail": detail, "pending": b.pending, "failing": b.failing,
            "oldest_age_s": round(b.oldest_age_s, 1), "last_error": b.last_error}
