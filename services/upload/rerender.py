"""Re-render: every proxy's preview (or one user's) queued again on the bulk lane, resumable.

An operator starts a run (`POST /v1/rerender`, `prophoto rerender`) after
changing the preview size or fixing a decoder. The upload service drives
it: a batch at a time (`shared/db/rerender.py`), each job confirmed by the
broker before the run's position moves past it. A service that stops
mid-run resumes its runs at start; several instances share a run safely
(each batch is taken under a row lock). The jobs go to the bulk lane, so
interactive work keeps coming first, and each user's part waits in the
user's own shard, so one user's ten thousand previews do not hold back
another's hundred. A preview that was rendered again since the run began
is not rendered a third time (the claim checks `preview_rendered_at`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from services.upload.deps import UploadContext, shards_of
from shared.db import rerender
from shared.lanes import preview_job, publish_bulk
from shared.messages import Lane

log = logging.getLogger(__name__)
#: after a failed batch (broker or database away), the pause before the next try
PAUSE_S = 2.0


class Rerenders:
    """The runs this process drives."""

    def __init__(self, ctx: UploadContext) -> None:
        self.ctx = ctx
        self._tasks: dict[int, asyncio.Task[None]] = {}

    async def start(self) -> None:
        """Resume the runs a stopped process left half queued."""
        with contextlib.suppress(Exception):  # the database away: the next start resumes them
            for run_id in await rerender.queueing_runs(self.ctx.pool):
                self.drive(run_id)

    async def stop(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        for task in list(self._tasks.values()):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def begin(self, operator: str, user_id: str | None) -> dict[str, Any]:
        row = await rerender.create_run(self.ctx.pool, operator, user_id)
        self.drive(row["id"])
        return await self.progress(row["id"]) or {}

    def drive(self, run_id: int) -> None:
        if run_id not in self._tasks or self._tasks[run_id].done():
            self._tasks[run_id] = asyncio.create_task(self._drive(run_id), name=f"rerender-{run_id}")

    async def _drive(self, run_id: int) -> None:
        while True:
            try:
                if not await self._batch(run_id):
                    return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("re-render run %d: a batch failed; trying again", run_id)
                await asyncio.sleep(PAUSE_S)
            await asyncio.sleep(0)  # the upload service's requests come between batches

    async def _batch(self, run_id: int) -> bool:
        """Queue the run's next batch; False when it has nothing left (or another process has it)."""
        ctx = self.ctx
        async with ctx.pool.acquire() as conn, conn.transaction():
            run = await rerender.lock_queueing_run(conn, run_id)
            if run is None:
                return False
            rows = await rerender.next_batch(conn, run["user_id"], run["position"],
                                             ctx.settings.rerender_batch)
            if not rows:
                await rerender.finish(conn, run_id)
                return False
            chooser = shards_of(ctx)
            jobs = [preview_job(r["uuid"], r["user_id"], Lane.BULK, r["uploaded_at"], run["started_at"],
                                await chooser.choose(conn, Lane.BULK, r["user_id"])) for r in rows]
            await publish_bulk(ctx.publisher, ctx.topology, jobs)
            await rerender.advance(conn, run_id, rows[-1]["uuid"], len(rows))
        return True

    async def progress(self, run_id: int) -> dict[str, Any] | None:
        row = await rerender.run_progress(self.ctx.pool, run_id)
        return None if row is None else view(row)


def view(row: Any) -> dict[str, Any]:
    return {"id": row["id"], "user_id": row["user_id"], "status": row["status"],
            "requested_by": row["requested_by"], "started_at": row["started_at"],
            "finished_queueing_at": row["finished_at"], "total": row["total"],
            "queued": row["queued"], "rendered": row["rendered"]}
