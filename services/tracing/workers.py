"""The live worker set, from the heartbeats workers publish (shared/worker/heartbeat.py).

Each tracing-service instance binds its own exclusive, auto-deleted queue to
`heartbeat.#` on the events exchange, so every instance hears every worker.
"""

from __future__ import annotations

import logging

from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection
from pydantic import ValidationError

from services.tracing.queue_status import Activity
from shared.messages import WorkerHeartbeat
from shared.topology import Topology
from shared.worker.heartbeat import LiveWorkers

log = logging.getLogger(__name__)


def activity_by_queue(beats: list[WorkerHeartbeat]) -> dict[str, Activity]:
    """Fold the live workers' beats into what each queue's workers are doing."""
    out: dict[str, Activity] = {}
    for beat in beats:
        act = out.setdefault(beat.queue, Activity())
        act.workers += 1
        act.in_progress += beat.in_progress
        for attr in ("last_started", "last_finished"):
            value = getattr(beat, attr)
            if value:
                current = getattr(act, attr)
                setattr(act, attr, value if current is None else max(current, value))
    return out


async def listen_for_heartbeats(connection: AbstractRobustConnection, topology: Topology,
                                live: LiveWorkers) -> None:
    """Bind this instance's heartbeat queue and feed `live` until the connection closes."""
    channel = await connection.channel()
    exchange = await channel.get_exchange(topology.events_exchange, ensure=False)
    queue = await channel.declare_queue(exclusive=True, auto_delete=True,
                                        arguments={"x-queue-type": "classic"})
    await queue.bind(exchange, Topology.HEARTBEAT_BINDING)

    async def on_beat(message: AbstractIncomingMessage) -> None:
        try:
            live.observe(WorkerHeartbeat.model_validate_json(message.body))
        except ValidationError:
            log.warning("ignored a heartbeat that does not parse")

    await queue.consume(on_beat, no_ack=True)
