"""The answers of the upload API as typed models.

They mirror the server's OpenAPI schemas (a test compares them) and allow
extra fields, so a newer server never breaks an older client.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field


class Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class Thumbnail(Model):
    url: str
    inline: str | None = None  # base64 of the EXIF thumbnail, when the original had one


class Rendition(Model):
    """One rendition of a proxy or an Image (the preview, the thumbnail, any other the server makes)."""

    url: str
    width: int | None = None
    height: int | None = None


class KeptImage(Model):
    """The kept Image an upload repeats: nothing new was stored."""

    id: int
    path: str
    url: str


class Upload(Model):
    """The answer to an upload: 201 for new bytes, 200 (`duplicate`) for bytes already sent,
    or (`kept_image` set) for bytes that are already one of your kept Images."""

    uuid: UUID
    status: str
    duplicate: bool
    kept_image: KeptImage | None = None
    original_name: str
    size: int
    sha256: str
    format: str
    thumbnail: Thumbnail
    metadata: dict[str, Any]
    #: an unconfirmed proxy is removed at this time unless confirmed (ingested) first
    expires_at: datetime | None = None


class Explained(Model):
    """A failure in plain words; `technical` is the stored reason, `retryable` whether
    trying again can help."""

    message: str
    technical: str
    retryable: bool


class Colour(Model):
    """The original's colour space and HDR, as its preview's render found them (None until then).

    `space`: srgb, display-p3, adobe-rgb, prophoto-rgb, rec2020, rgb, cmyk,
    grey, lab, unknown; `evidence`: icc, exif or assumed; `preview_gamut`: what
    the preview holds (srgb or display-p3); `hdr_format`: ultra-hdr,
    iso-21496-1, apple-gain-map, pq or hlg; `hdr_headroom` in stops.
    """

    space: str | None = None
    evidence: str | None = None
    profile: str | None = None
    preview_gamut: str | None = None
    hdr: bool = False
    hdr_format: str | None = None
    hdr_headroom: float | None = None


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
    problem: Explained | None = None
    flag: Literal["pick", "reject"] | None = None
    rating: int | None = None
    preview_url: str | None = None
    thumbnail_url: str
    #: every rendition made, by name ("preview", "thumbnail", ...): `Client.rendition` fetches one
    renditions: dict[str, Rendition] = {}
    colour: Colour = Colour()
    metadata: dict[str, Any]
    uploaded_at: datetime
    #: an unconfirmed proxy is removed at this time unless confirmed (ingested) first
    expires_at: datetime | None = None


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


class Place(Model):
    """IPTC location names."""

    sublocation: str | None = None
    city: str | None = None
    state: str | None = None
    country: str | None = None
    country_code: str | None = None


class Position(Model):
    latitude: float
    longitude: float
    altitude: float | None = None  # metres, negative below sea level


class Image(Model):
    """A confirmed photo in permanent storage (docs/metadata.md lists each field's sources)."""

    id: int
    proxy_uuid: UUID
    path: str
    original_name: str
    sha256: str
    size: int
    taken_at: datetime | None = None  # the instant, in the offset it was taken in; None: zone unknown
    taken_at_local: datetime | None = None  # the camera's wall-clock time, with sub-seconds
    taken_at_offset: str | None = None  # "+09:00"
    taken_at_zone: str | None = None  # IANA zone, when inferred from the GPS position
    taken_at_zone_source: Literal["offset", "gps_time", "gps_position", "unknown"] | None = None
    camera_make: str | None = None
    camera_model: str | None = None
    camera: str | None = None
    lens: str | None = None
    rating: int | None = None  # -1 (rejected) .. 5
    label: str | None = None
    title: str | None = None
    caption: str | None = None
    creator: str | None = None
    copyright: str | None = None
    credit: str | None = None
    location: Place | None = None
    gps: Position | None = None
    tags: list[str]
    keywords: list[str] = Field(default_factory=list)
    keyword_paths: list[str] = Field(default_factory=list)  # "Places|Japan|Tokyo"
    declared_colour_space: str | None = None
    bit_depth: int | None = None
    hdr_gain_map: str | None = None  # "ultra-hdr", "apple-gain-map"
    sources: dict[str, str] = Field(default_factory=dict)  # field -> embedded | sidecar | person
    sidecar_path: str | None = None  # the XMP sidecar beside the original
    pair_kind: Literal["raw+jpeg", "live-photo"] | None = None
    paired_image_id: int | None = None  # the other half of a RAW+JPEG pair
    live_video_path: str | None = None  # a Live Photo's movie, beside the photo
    association: dict[str, Any]
    metadata: dict[str, Any]
    original_url: str
    preview_url: str | None = None
    thumbnail_url: str | None = None
    renditions: dict[str, Rendition] = {}
    colour: Colour = Colour()
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


class RerenderRun(Model):
    """An operator's re-render: previews queued again on the bulk lane, and how far it got."""

    id: int
    user_id: str | None = None
    status: str  # queueing | queued
    requested_by: str
    started_at: datetime
    finished_queueing_at: datetime | None = None
    total: int
    queued: int
    rendered: int


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
    #: the job's tags (`ingest`, `proxy:{uuid}`, `user:{id}`), for filtering with `?tag=`
    tags: list[str] = []
