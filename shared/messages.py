"""Every message on the broker, used by producers and consumers alike.

Commands are imperative (`GeneratePreview`), events past tense
(`ProxyStatusChanged`). They carry ids and object keys, never pixels.
Each has a `version`; a consumer refuses versions it does not know
(the message is parked with the reason, not dropped).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION: Literal[1] = 1


def _now() -> datetime:
    return datetime.now(UTC)


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    version: Literal[1] = SCHEMA_VERSION
    sent_at: datetime = Field(default_factory=_now)

    def tags(self) -> list[str]:
        return []


class ProxyCommand(Message):
    uuid: UUID
    user_id: str

    def tags(self) -> list[str]:
        return ["ingest", f"proxy:{self.uuid}", f"user:{self.user_id}"]


class Lane(StrEnum):
    """Where a preview job waits: a worker takes on-demand, then interactive, then bulk work.

    On-demand is the front of the interactive lane (a photo somebody has on screen).
    """

    ON_DEMAND = "on-demand"
    INTERACTIVE = "interactive"
    BULK = "bulk"


def new_claim() -> UUID:
    """A fresh claim token for one copy of a preview job."""
    return uuid4()


class GeneratePreview(ProxyCommand):
    kind: Literal["generate_preview"] = "generate_preview"
    uploaded_at: datetime | None = None
    lane: Lane = Lane.INTERACTIVE
    #: this copy of the job: of several copies of one proxy's job (the upload's and a
    #: prioritize's), the first to claim the proxy renders it and the others find it taken;
    #: None (a job from before lanes) claims as before; producers set `new_claim()`
    claim: UUID | None = None
    #: a re-render: previews rendered before this instant are rendered again
    rerender_before: datetime | None = None
    #: the lane's shard its producer chose for the user (`shared/lanes.py`); None: by hash
    shard: int | None = None


class FinalizeIngest(ProxyCommand):
    kind: Literal["finalize_ingest"] = "finalize_ingest"
    image_tags: list[str] = Field(default_factory=list)
    association: dict[str, Any] = Field(default_factory=dict)
    requested_at: datetime = Field(default_factory=_now)
    #: an operator's reindex: re-read this existing Image's original (and sidecar), nothing else
    reindex_image_id: int | None = None


class EnhancePreview(ProxyCommand):
    kind: Literal["enhance_preview"] = "enhance_preview"
    target_width: int


TraceType = Literal[
    "preview_extraction",
    "thumbnail_generation",
    "metadata_extraction",
    "finalize",
    "enhance",
    "upload",
]


class TraceEvent(Message):
    """One attempt of one method at one step, for the tracing service."""

    kind: Literal["trace"] = "trace"
    uuid: UUID
    user_id: str | None = None
    trace_type: TraceType
    method: str
    success: bool
    reason: str | None = None
    duration_ms: float
    result_size: int | None = None
    #: a metadata read: the normalized fields it found a value for
    fields: list[str] | None = None
    #: pixel dimensions of what the attempt made (a thumbnail), when it made an image
    width: int | None = None
    height: int | None = None
    attempt: int = 1
    service: str
    created_at: datetime = Field(default_factory=_now)


StatusField = Literal["preview", "enhancement", "ingest"]


class ProxyStatusChanged(Message):
    """A proxy moved to a new status; the upload service turns these into SSE."""

    kind: Literal["status"] = "status"
    uuid: UUID
    user_id: str
    field: StatusField = "preview"
    status: str
    error: str | None = None
    preview_width: int | None = None
    preview_height: int | None = None
    image_id: int | None = None


class WorkerHeartbeat(Message):
    """A worker says it is alive, every few seconds, on the events exchange.

    The tracing service keeps the live set from these: no list of worker
    addresses anywhere, so replicas can come and go. `leaving` is the last
    beat of a worker that stops cleanly.
    """

    kind: Literal["heartbeat"] = "heartbeat"
    worker: str  # host:pid:random, unique per process
    service: str
    queue: str
    in_progress: float = 0.0
    last_started: float | None = None  # unix seconds
    last_finished: float | None = None
    #: deliveries this worker holds (received, not yet acked or rejected): its jobs in hand
    held: int = 0
    #: when one of its jobs last moved (started or finished), unix seconds
    last_progress: float | None = None
    #: seconds since its consumer connection last had an answer from the broker
    #: (shared.broker.connections.Echo): large while that connection is half-open
    broker_silent_s: float | None = None
    every_s: float
    leaving: bool = False
