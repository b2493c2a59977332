"""The answers of the upload API as typed models.

They mirror the server's OpenAPI schemas (a test compares them) and allow
extra fields, so a newer server never breaks an older client.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class Thumbnail(Model):
    url: str
    inline: str | None = None  # base64 of the EXIF thumbnail, when the original had one


class Upload(Model):
    """The answer to an upload: 201 for new bytes, 200 (`duplicate`) for bytes already sent."""

    uuid: UUID
    status: str
    duplicate: bool
    original_name: str
    size: int
    sha256: str
    format: str
    thumbnail: Thumbnail
    metadata: dict[str, Any]


class Proxy(Model):
    """An uploaded original waiting to be confirmed, with its preview's state."""

    uuid: UUID
    original_name: str
    format: str
    mime: str
    size: int
    sha256: str
    preview_status: str
    preview_error: str | None = None
    preview_width: int | None = None
    preview_height: int | None = None
    preview_method: str | None = None
    preview_degraded: str | None = None
    enhancement_status: str | None = None
    ingest_status: str | None = None
    metadata_error: str | None = None
    preview_url: str | None = None
    thumbnail_url: str
    metadata: dict[str, Any]
    uploaded_at: datetime


class ProxyPage(Model):
    items: list[Proxy]
    next_cursor: str | None = None


class StatusEvent(Model):
    """One `status` event of the SSE stream: `field` moved to `status`."""

    uuid: UUID
    field: Literal["preview", "enhancement", "ingest"] = "preview"
    status: str
    error: str | None = None
    preview_width: int | None = None
    preview_height: int | None = None
    image_id: int | None = None  # set on `ingest`/`ingested`


class IngestResult(Model):
    uuid: UUID
    status: Literal["queued", "refused"]
    reason: str | None = None


class Ingest(Model):
    """The answer to a confirmation: per proxy, queued or refused with a reason."""

    queued: int
    refused: int
    results: list[IngestResult]


class Image(Model):
    """A confirmed photo in permanent storage."""

    id: int
    proxy_uuid: UUID
    path: str
    original_name: str
    sha256: str
    size: int
    taken_at: datetime | None = None
    camera_make: str | None = None
    camera_model: str | None = None
    camera: str | None = None
    tags: list[str]
    association: dict[str, Any]
    metadata: dict[str, Any]
    original_url: str
    created_at: datetime


class ImagePage(Model):
    items: list[Image]
    next_cursor: int | None = None


class Enhancement(Model):
    uuid: UUID
    enhancement_status: str
    target_width: int
    limit: int
    source: Literal["original", "preview"]


class Prioritized(Model):
    uuid: UUID
    queued: bool
    preview_status: str


class Retry(Model):
    uuid: UUID
    requeued: str
    removed_parked: int


class ParkedJob(Model):
    queue: str
    uuid: str | None = None
    reason: str | None = None
    error: str | None = None
    parked_at: str | None = None
    attempt: int
