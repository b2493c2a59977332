"""Reading, removing and replaying parked messages in `<queue>.failed`.

Messages are fetched unacknowledged on a private channel; those we act on
are acked only after their replacement is confirmed, and closing the channel
returns every other message to the parking queue untouched. A replay
publishes through the caller's `Publisher` (persistent, mandatory,
confirmed), like every other publish; one it did not confirm raises
`PublishFailed` and stops the replay, leaving that message and the rest
parked.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from aio_pika.abc import AbstractIncomingMessage

from shared import tags
from shared.broker.publisher import Publisher, connect_once
from shared.broker.topology import ATTEMPT_HEADER, Topology
from shared.worker.park import describe_parked

MAX_SCAN = 10_000


@dataclass(frozen=True)
class Parked:
    uuid: str | None
    user_id: str | None
    reason: str | None
    error: str | None
    parked_at: str | None
    attempt: int
    #: the job's tags (its `tags` header; for older copies without one, from its payload)
    tags: tuple[str, ...] = ()


def _parked(msg: AbstractIncomingMessage) -> Parked:
    info = describe_parked(dict(msg.headers or {}), msg.body)
    payload = info["payload"] if isinstance(info["payload"], dict) else {}
    return Parked(
        uuid=str(payload.get("uuid")) if payload.get("uuid") else None,
        user_id=payload.get("user_id"),
        reason=info["reason"], error=info["error"], parked_at=info["parked_at"],
        attempt=info["attempt"],
        tags=tuple(info["tags"] or tags.of_job(payload.get("uuid"), payload.get("user_id"))),
    )


async def _scan(
    topology: Topology, queue: str,
    act: Callable[[AbstractIncomingMessage, Parked], Awaitable[bool]],
) -> int:
    acted = 0
    settings = topology.settings
    connection = await connect_once(settings.amqp_url, timeout=settings.publish_timeout_s)
    async with connection:
        channel = await connection.channel()
        failed = await channel.declare_queue(topology.failed_queue(queue), passive=True)
        count = min(failed.declaration_result.message_count or 0, MAX_SCAN)
        for _ in range(count):
            msg = await failed.get(no_ack=False, fail=False)
            if msg is None:
                break
            if await act(msg, _parked(msg)):
                await msg.ack()
                acted += 1
        # closing the channel returns every message we did not ack
    return acted


async def peek(topology: Topology, queue: str) -> list[Parked]:
    seen: list[Parked] = []

    async def collect(_: AbstractIncomingMessage, parked: Parked) -> bool:
        seen.append(parked)
        return False

    await _scan(topology, queue, collect)
    return seen


async def remove(topology: Topology, queue: str, uuid: str) -> int:
    async def matches(_: AbstractIncomingMessage, parked: Parked) -> bool:
        return parked.uuid == uuid

    return await _scan(topology, queue, matches)


async def replay(
    topology: Topology, queue: str, publisher: Publisher, *, user_id: str | None = None,
    uuids: set[str] | None = None, before: Callable[[str], Awaitable[None]] | None = None,
) -> int:
    """Send matching parked messages back to their work queue with attempts reset."""

    async def send_back(msg: AbstractIncomingMessage, parked: Parked) -> bool:
        if user_id is not None and parked.user_id != user_id:
            return False
        if uuids is not None and parked.uuid not in uuids:
            return False
        if before is not None and parked.uuid:
            await before(parked.uuid)
        headers = {k: v for k, v in (msg.headers or {}).items()
                   if not k.startswith("x-") and not k.startswith("job-")}
        headers[ATTEMPT_HEADER] = 1
        headers["job-replayed-at"] = datetime.now(UTC).isoformat()
        await publisher.publish(topology.exchange, queue, msg.body, headers=headers,
                                message_id=msg.message_id,
                                content_type=msg.content_type or "application/json")
        return True

    return await _scan(topology, queue, send_back)

