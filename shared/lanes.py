"""Choosing a preview job's lane, and putting jobs on the bulk lane (docs/architecture.md,
"Interactive work first").

Interactive is the default: a single upload, a small batch from the web page,
CLI or API. A job goes to the bulk lane when its producer says so (`--bulk`,
`?bulk=true`, an import, a re-render) or, with no flag at all, once its user
has uploaded more than `bulk_after_uploads_per_minute` photos in the last
minute: a web page uploading a whole shoot sends none. Inside a lane, the
topology puts each user's jobs in the user's own shard, so fair shares need
no flag either.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

from shared.broker import Publisher, publish_command
from shared.db.lanes import uploads_in_last_minute
from shared.db.pool import Executor
from shared.messages import GeneratePreview, Lane, new_claim
from shared.settings import Settings
from shared.topology import Topology


async def upload_lane(db: Executor, settings: Settings, user_id: str, bulk: bool) -> Lane:
    """The lane of a new upload's preview: bulk when asked, or past the user's per-minute threshold."""
    if bulk:
        return Lane.BULK
    threshold = settings.bulk_after_uploads_per_minute
    # counted in the upload's own transaction, after its row: the upload itself is one of them
    recent = await uploads_in_last_minute(db, user_id, threshold + 1)
    return Lane.BULK if recent > threshold else Lane.INTERACTIVE


def preview_job(uuid: UUID, user_id: str, lane: Lane, uploaded_at: datetime | None = None,
                rerender_before: datetime | None = None) -> GeneratePreview:
    """One copy of a proxy's preview job, with its own claim token."""
    return GeneratePreview(uuid=uuid, user_id=user_id, uploaded_at=uploaded_at, lane=lane,
                           claim=new_claim(), rerender_before=rerender_before)


async def publish_bulk(publisher: Publisher, topology: Topology,
                       jobs: Iterable[GeneratePreview]) -> int:
    """Publish jobs on the bulk lane (each to its user's shard), confirmed one by one.

    For work that is recorded elsewhere and can be sent again (a re-render
    run's cursor, an import's list): a job sent twice is claimed once.
    """
    sent = 0
    for job in jobs:
        await publish_command(publisher, topology, job.model_copy(update={"lane": Lane.BULK}))
        sent += 1
    return sent
