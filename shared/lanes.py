"""Choosing a preview job's lane, and putting jobs on the bulk lane (docs/lanes.md).

Interactive is the default: a single upload, a small batch from the web page,
CLI or API. A job goes to the bulk lane when its producer says so (`--bulk`,
`?bulk=true`, an import, a re-render) or, with no flag at all, once its user
has uploaded more than `bulk_after_uploads_per_minute` photos in the last
minute: a web page uploading a whole shoot sends none.

Inside a lane, each user's jobs go to one shard, and the worker takes the
shards in turn, so fair shares need no flag either. `ShardChooser` picks
the shard: a user keeps the one it has, unless another user active in the
last `SHARED_WITHIN_S` sends to it too and an empty shard exists; a newcomer
takes the first empty shard from where its id hashes (empty: nothing ready
in it, read from the broker at most every `DEPTH_CACHE_S`). So two active
users share a shard only when there are more active users than shards; with
the broker's depths unknown, it falls back to the hash.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

from aio_pika.abc import AbstractChannel

from shared.broker.connections import BrokerLink
from shared.broker.publisher import Publisher, publish_command
from shared.broker.topology import Topology
from shared.db import lanes as lanes_db
from shared.db.lanes import uploads_in_last_minute
from shared.db.pool import Executor
from shared.messages import GeneratePreview, Lane, new_claim
from shared.settings import Settings


async def upload_lane(db: Executor, settings: Settings, user_id: str, bulk: bool) -> Lane:
    """The lane of a new upload's preview: bulk when asked, or past the user's per-minute threshold."""
    if bulk:
        return Lane.BULK
    threshold = settings.bulk_after_uploads_per_minute
    # counted in the upload's own transaction, after its row: the upload itself is one of them
    recent = await uploads_in_last_minute(db, user_id, threshold + 1)
    return Lane.BULK if recent > threshold else Lane.INTERACTIVE


def preview_job(uuid: UUID, user_id: str, lane: Lane, uploaded_at: datetime | None = None,
                rerender_before: datetime | None = None, shard: int | None = None) -> GeneratePreview:
    """One copy of a proxy's preview job, with its own claim token."""
    return GeneratePreview(uuid=uuid, user_id=user_id, uploaded_at=uploaded_at, lane=lane,
                           claim=new_claim(), rerender_before=rerender_before, shard=shard)


log = logging.getLogger(__name__)
#: another user that sent to a shard this recently still counts as being there
SHARED_WITHIN_S = 600.0
DEPTH_CACHE_S = 0.5


class ShardChooser:
    """Chooses the shard of a lane a user's next job goes to (see the module's docstring)."""

    def __init__(self, topology: Topology, link: BrokerLink | None = None) -> None:
        self.topology = topology
        #: the process's connection (a link of its own without one); one channel on it
        self.link = link or BrokerLink(topology.settings.amqp_url, timeout=5,
                                       heartbeat_s=topology.settings.amqp_heartbeat_s)
        self._owns_link = link is None
        self._channel: AbstractChannel | None = None
        self._depths: dict[Lane, tuple[float, list[int]]] = {}
        self._lock = asyncio.Lock()

    async def choose(self, db: Executor, lane: Lane, user_id: str) -> int | None:
        """The shard index for the user's job (recorded in `lane_shards`); None: the lane has none."""
        count = len(self.topology.shards(self.topology.lane_queue(lane)))
        if count == 0:
            return None
        depths = await self.depths(lane)
        key = self.topology.lane_queue(lane)  # the lane's own queue names it in `lane_shards`
        current = await lanes_db.assigned_shard(db, key, user_id)
        shard = current if current is not None and current < count else None
        if shard is None or (depths is not None and depths[shard] > 0 and await lanes_db.shared_with_others(
                db, key, user_id, shard, SHARED_WITHIN_S)):
            start = self.topology.hashed_shard(lane, user_id)
            order = [(start + k) % count for k in range(count)]
            empty = [s for s in order if depths is not None and depths[s] == 0]
            shard = empty[0] if empty else (shard if shard is not None else start)
        await lanes_db.use_shard(db, key, user_id, shard)
        return shard

    async def depths(self, lane: Lane) -> list[int] | None:
        """Messages ready in each shard of `lane` (at most `DEPTH_CACHE_S` old); None: unknown."""
        cached = self._depths.get(lane)
        if cached is not None and time.monotonic() - cached[0] < DEPTH_CACHE_S:
            return cached[1]
        async with self._lock:
            cached = self._depths.get(lane)  # another caller may have just read them
            if cached is not None and time.monotonic() - cached[0] < DEPTH_CACHE_S:
                return cached[1]
            try:
                # the underlying channel: a robust one answers a passive declare from its cache
                channel = await (await self._open()).get_underlay_channel()
                counts = []
                for name in self.topology.shards(self.topology.lane_queue(lane)):
                    declared = await channel.queue_declare(name, passive=True)
                    counts.append(int(declared.message_count or 0))
            except Exception as exc:  # the broker away: the hash decides meanwhile
                log.debug("shard depths unknown: %r", exc)
                await self.close()
                return None
            self._depths[lane] = (time.monotonic(), counts)
            return counts

    async def _open(self) -> AbstractChannel:
        if self._channel is None or self._channel.is_closed:
            self._channel = await self.link.channel()
        return self._channel

    async def close(self) -> None:
        channel, self._channel = self._channel, None
        if channel is not None and not channel.is_closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(channel.close(), 5)
        if self._owns_link:
            await self.link.close()


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
