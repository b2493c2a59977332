"""The live worker set, from the heartbeats workers publish (shared/worker/heartbeat.py).

Each tracing-service instance hears the topology's `HEARTBEAT_FEED` on its
own exclusive, auto-deleted queue, so every instance hears every worker.
"""

from __future__ import annotations

import logging

from pydantic import ValidationError

from services.tracing.queue_status import Activity
from shared.broker.topology import HEARTBEAT_FEED, Topology
from shared.messages import WorkerHeartbeat
from shared.worker.consumer import Connection, FeedListener
from shared.worker.heartbeat import LiveWorkers, Seen

log = logging.getLogger(__name__)


def activity_by_queue(beats: list[WorkerHeartbeat],
                      silent: list[Seen] | None = None) -> dict[str, Activity]:
    """Fold the live workers' beats (and the silent holders') into what each queue's workers do."""
    out: dict[str, Activity] = {}
    for beat in beats:
        act = out.setdefault(beat.queue, Activity())
        act.workers += 1
        act.in_progress += beat.in_progress
        if beat.broker_silent_s is not None:
            act.broker_silent.append(beat.broker_silent_s)
        for attr in ("last_started", "last_finished"):
            value = getattr(beat, attr)
            if value:
                current = getattr(act, attr)
                setattr(act, attr, value if current is None else max(current, value))
        if beat.held > 0:
            act.held += beat.held
            progress = beat.last_progress or beat.last_started
            if progress is not None:
                act.oldest_progress = progress if act.oldest_progress is None \
                    else min(act.oldest_progress, progress)
    for seen in silent or []:
        act = out.setdefault(seen.beat.queue, Activity())
        act.silent_workers += 1
        act.silent_held += seen.beat.held
        act.silent_since = seen.at if act.silent_since is None else min(act.silent_since, seen.at)
    return out


async def listen_for_heartbeats(connection: Connection, topology: Topology,
                                live: LiveWorkers) -> FeedListener:
    """Bind this instance's heartbeat queue and feed `live` until the connection closes."""

    def on_beat(body: bytes) -> None:
        try:
            live.observe(WorkerHeartbeat.model_validate_json(body))
        except ValidationError:
            log.warning("ignored a heartbeat that does not parse")

    listener = FeedListener(connection, topology, HEARTBEAT_FEED, on_beat)
    await listener.start()
    return listener
