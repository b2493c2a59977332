"""Parking: a message that cannot be handled goes to `<queue>.failed`, saying why.

One function parks, for every consumer (`JobRunner` and the tracing
consumer): the message's own headers (never the broker's `x-*` ones) plus
the reason, the error, when, and the work queue; published with confirms to
the failed exchange under the work queue's name. `describe_parked` reads
those headers back for operators (`shared/worker/parked.py` lists and replays).
"""

from __future__ import annotations

import json
import logging
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

log = logging.getLogger(__name__)


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
               reason: str, error: str) -> bool:
    """Publish the message to `<queue>.failed`; False (logged) when the broker did not take it."""
    headers = own_headers(delivery.headers) | {
        PARK_REASON_HEADER: reason[:500],
        PARK_ERROR_HEADER: error,
        PARKED_AT_HEADER: datetime.now(UTC).isoformat(),
        QUEUE_HEADER: queue,
    }
    try:
        await publisher.publish(topology.failed_exchange, queue, delivery.body,
                                headers=headers, message_id=delivery.message_id)
    except Exception:
        log.exception("could not park a message of %s [%s]; requeueing", queue,
                      delivery.headers.get(tags.HEADER, ""))
        return False
    return True


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
