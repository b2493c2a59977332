"""Parking: a message that cannot be handled goes to `<queue>.failed`, saying why.

One function parks, for every consumer (`JobRunner` and the tracing
consumer): the message's own headers (never the broker's `x-*` ones) plus
the reason, the error, when, and the work queue; published with confirms to
the failed exchange under the work queue's name, with a park id of its own
(`job-park-id`). Once the broker confirmed the copy, `record` writes its row
in the read model (`parked_jobs`, shared/db/parked.py); a crash between the
two leaves a parked message without a row, which the rebuild in
`shared/worker/parked.py` adds (it also covers what the broker dead-lettered
itself). `describe_parked` and `as_parked` read the headers back.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid as uuids
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared import tags
from shared.broker.publisher import Publisher
from shared.broker.topology import (
    ATTEMPT_HEADER,
    PARK_ERROR_HEADER,
    PARK_REASON_HEADER,
    PARKED_AT_HEADER,
    QUEUE_HEADER,
    Topology,
)
from shared.db.parked import Parked

log = logging.getLogger(__name__)
#: a parked copy's own id: the key of its row in `parked_jobs`
PARK_ID_HEADER = "job-park-id"
#: writes a parked copy's row (the harness and the tracing consumer give one over their pool)
Record = Callable[[Parked], Awaitable[None]]


@dataclass(frozen=True)
class Delivery:
    """What parking and the job runner need from a broker message."""

    body: bytes
    headers: dict[str, Any] = field(default_factory=dict)
    message_id: str | None = None
    content_type: str | None = "application/json"
    redelivered: bool = False


def own_headers(headers: dict[str, Any]) -> dict[str, Any]:
    """Headers to carry over: never the broker-owned `x-*` ones."""
    return {k: v for k, v in headers.items() if not k.startswith("x-")}


def attempt_of(headers: dict[str, Any]) -> int:
    try:
        return max(1, int(headers.get(ATTEMPT_HEADER, 1)))
    except (TypeError, ValueError):
        return 1


async def park(publisher: Publisher, topology: Topology, queue: str, delivery: Delivery,
               reason: str, error: str, record: Record | None = None) -> bool:
    """Publish the message to `<queue>.failed`, then `record` its row; False (logged) when the
    broker did not take it. A row that could not be written is only logged: the message is
    parked, and the rebuild records it."""
    headers = own_headers(delivery.headers) | {
        PARK_REASON_HEADER: reason[:500],
        PARK_ERROR_HEADER: error,
        PARKED_AT_HEADER: datetime.now(UTC).isoformat(),
        QUEUE_HEADER: queue,
        PARK_ID_HEADER: str(uuids.uuid4()),
    }
    try:
        await publisher.publish(topology.failed_exchange, queue, delivery.body,
                                headers=headers, message_id=delivery.message_id)
    except Exception:
        log.exception("could not park a message of %s [%s]; requeueing", queue,
                      delivery.headers.get(tags.HEADER, ""))
        return False
    if record is not None:
        try:
            await record(as_parked(queue, headers, delivery.body, delivery.message_id))
        except Exception as exc:  # the database away: the message is safe in the broker
            log.warning("parked a message of %s but could not record it (%r); the rebuild "
                        "will", queue, exc)
    return True


def park_id_of(headers: dict[str, Any], body: bytes, message_id: str | None) -> str:
    """The copy's park id; for one without (dead-lettered by the broker, or parked before ids
    existed) a digest of what identifies it, the same at every scan."""
    own = headers.get(PARK_ID_HEADER)
    if isinstance(own, bytes):
        own = own.decode(errors="replace")
    if isinstance(own, str) and own:
        return own
    deaths = headers.get("x-death")
    first = deaths[0] if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict) else {}
    seen = [message_id, headers.get(PARKED_AT_HEADER), headers.get(QUEUE_HEADER),
            first.get("queue"), first.get("reason"), first.get("time")]
    digest = hashlib.sha256(body + repr([str(v) for v in seen]).encode()).hexdigest()
    return f"d-{digest[:32]}"


def as_parked(queue: str, headers: dict[str, Any], body: bytes,
              message_id: str | None) -> Parked:
    """The read-model row of a copy parked in `queue`'s parking queue."""
    info = describe_parked(headers, body)
    payload = info["payload"] if isinstance(info["payload"], dict) else {}
    uuid = str(payload["uuid"]) if payload.get("uuid") else None
    user = payload.get("user_id")
    user_id = str(user) if user is not None else None
    try:
        parked_at = datetime.fromisoformat(str(info["parked_at"]))
    except ValueError:
        parked_at = datetime.now(UTC)
    if parked_at.tzinfo is None:
        parked_at = parked_at.replace(tzinfo=UTC)
    return Parked(
        park_id=park_id_of(headers, body, message_id), queue=queue, uuid=uuid, user_id=user_id,
        reason=info["reason"], error=info["error"], parked_at=parked_at, attempt=info["attempt"],
        tags=tuple(info["tags"] or tags.of_job(uuid, user_id)))


def describe_parked(headers: dict[str, Any], body: bytes) -> dict[str, Any]:
    """A parked message as operators see it (CLI, debug page)."""
    try:
        payload = json.loads(body)
    except ValueError:
        payload = None
    return {
        "queue": headers.get(QUEUE_HEADER),
        "reason": headers.get(PARK_REASON_HEADER) or _death_reason(headers),
        "error": headers.get(PARK_ERROR_HEADER),
        "parked_at": headers.get(PARKED_AT_HEADER),
        "attempt": attempt_of(headers),
        "tags": tags.parse(headers.get(tags.HEADER)),
        "payload": payload,
    }


def _death_reason(headers: dict[str, Any]) -> str | None:
    deaths = headers.get("x-death")
    if isinstance(deaths, list) and deaths:
        first = deaths[0]
        if isinstance(first, dict):
            return f"dead-lettered by the broker ({first.get('reason')})"
    return None
