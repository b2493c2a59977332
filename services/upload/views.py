"""What the upload API answers: the response models and the functions that shape a row into one."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Literal
from uuid import UUID

import asyncpg
from pydantic import BaseModel

from services.upload.explain import Explained, explain
from services.upload.renditions import RenditionView, renditions_view
from services.upload.upload import summary
from shared.db.culling import Flag
from shared.db.status import ProxyStatus
from shared.exif.capture import ZoneSource, format_offset


class Thumbnail(BaseModel):
    url: str
    inline: str | None = None


class KeptImage(BaseModel):
    """The kept Image an upload repeats (same sha256): nothing new was stored."""

    id: int
    path: str
    url: str


class UploadAnswer(BaseModel):
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
    #: an unconfirmed proxy is removed (objects and all) at this time unless confirmed first
    expires_at: datetime | None = None


class ColourView(BaseModel):
    """The original's colour and HDR, as its preview's render found them (null until then).

    `space`: srgb, display-p3, adobe-rgb, prophoto-rgb, rec2020, rgb (another RGB
    profile), cmyk, grey, lab or unknown; `evidence`: icc (an embedded profile),
    exif (ColorSpace / InteropIndex R03) or assumed; `profile`: the embedded
    profile's description; `preview_gamut`: srgb or display-p3, what the preview
    and thumbnail hold; `hdr`: the original holds more than its SDR picture,
    `hdr_format` ultra-hdr, iso-21496-1, apple-gain-map, pq or hlg, with
    `hdr_headroom` in stops when the file states it.
    """

    space: str | None = None
    evidence: str | None = None
    profile: str | None = None
    preview_gamut: str | None = None
    hdr: bool = False
    hdr_format: str | None = None
    hdr_headroom: float | None = None


def colour_view(row: asyncpg.Record) -> ColourView:
    keys = row.keys()
    return ColourView(
        space=row["colour_space"], profile=row["colour_profile"],
        evidence=row["colour_evidence"] if "colour_evidence" in keys else None,
        preview_gamut=row["preview_gamut"] if "preview_gamut" in keys else None,
        hdr=row["hdr_format"] is not None, hdr_format=row["hdr_format"], hdr_headroom=row["hdr_headroom"])


class ProxyView(BaseModel):
    uuid: UUID
    original_name: str
    format: str
    mime: str
    size: int
    sha256: str
    preview_status: str
    preview_error: str | None
    preview_width: int | None
    preview_height: int | None
    preview_method: str | None
    preview_degraded: str | None
    enhancement_status: str | None
    ingest_status: str | None
    metadata_error: str | None
    problem: Explained | None
    flag: Flag | None
    rating: int | None
    preview_url: str | None
    thumbnail_url: str
    #: every rendition made (`shared.imaging.renditions`), the preview and thumbnail among them
    renditions: dict[str, RenditionView] = {}
    colour: ColourView
    metadata: dict[str, Any]
    uploaded_at: datetime
    #: an unconfirmed proxy is removed (objects and all) at this time unless confirmed first
    expires_at: datetime | None = None


class ProxyPage(BaseModel):
    items: list[ProxyView]
    next_cursor: str | None


def proxy_view(row: asyncpg.Record) -> ProxyView:
    uuid = row["uuid"]
    return ProxyView(
        uuid=uuid, original_name=row["original_name"], format=row["format"], mime=row["mime"],
        size=row["size"], sha256=row["sha256"], preview_status=row["preview_status"],
        preview_error=row["preview_error"], preview_width=row["preview_width"],
        preview_height=row["preview_height"], preview_method=row["preview_method"],
        preview_degraded=row["preview_degraded"], enhancement_status=row["enhancement_status"],
        ingest_status=row["ingest_status"], metadata_error=row["metadata_error"],
        problem=explain(row["metadata_error"] if row["ingest_status"] == "failed" else row["preview_error"]),
        flag=row["flag"], rating=row["rating"],
        preview_url=f"/v1/proxies/{uuid}/preview" if row["preview_status"] == ProxyStatus.READY else None,
        thumbnail_url=f"/v1/proxies/{uuid}/thumbnail",
        renditions=renditions_view(row, f"/v1/proxies/{uuid}"), colour=colour_view(row),
        metadata=summary(row["metadata"] or {}), uploaded_at=row["uploaded_at"],
        expires_at=_expiry(row),
    )


def _expiry(row: asyncpg.Record) -> datetime | None:
    """When the proxy expires: only while nobody has confirmed it."""
    return row["expires_at"] if row["ingest_status"] is None else None


def kept_answer(image: asyncpg.Record) -> UploadAnswer:
    """The answer to a re-upload of a kept photo: the Image it already is."""
    return UploadAnswer(
        uuid=image["proxy_uuid"], status="ingested", duplicate=True, original_name=image["original_name"],
        size=image["size"], sha256=image["sha256"], format=image["format"] or "",
        thumbnail=Thumbnail(url=f"/v1/images/{image['id']}/thumbnail"), metadata={},
        kept_image=KeptImage(id=image["id"], path=image["path"], url=f"/v1/images/{image['id']}"),
    )


def upload_answer(row: asyncpg.Record, duplicate: bool, inline: str | None) -> UploadAnswer:
    return UploadAnswer(
        uuid=row["uuid"], status=row["preview_status"], duplicate=duplicate,
        original_name=row["original_name"], size=row["size"], sha256=row["sha256"],
        format=row["format"],
        thumbnail=Thumbnail(url=f"/v1/proxies/{row['uuid']}/thumbnail", inline=inline),
        metadata=summary(row["metadata"] or {}), expires_at=_expiry(row),
    )


class Place(BaseModel):
    """IPTC location names (docs/metadata.md)."""

    sublocation: str | None = None
    city: str | None = None
    state: str | None = None
    country: str | None = None
    country_code: str | None = None


class Position(BaseModel):
    latitude: float
    longitude: float
    #: metres, negative below sea level
    altitude: float | None = None


class ImageView(BaseModel):
    id: int
    proxy_uuid: UUID
    path: str
    original_name: str
    sha256: str
    size: int
    #: the capture instant in the offset it was taken in; null when the zone is unknown
    taken_at: datetime | None
    #: the wall-clock time on the camera, with sub-seconds
    taken_at_local: datetime | None
    #: "+09:00"; null when unknown
    taken_at_offset: str | None
    #: the IANA zone, when it came from the GPS position
    taken_at_zone: str | None
    taken_at_zone_source: ZoneSource | None
    camera_make: str | None
    camera_model: str | None
    camera: str | None
    lens: str | None
    #: -1 (rejected) .. 5
    rating: int | None
    label: str | None
    title: str | None
    caption: str | None
    creator: str | None
    copyright: str | None
    credit: str | None
    location: Place | None
    gps: Position | None
    #: flat tags: the request's tags and the photo's keywords
    tags: list[str]
    keywords: list[str]
    #: hierarchical keywords, "Places|Japan|Tokyo"
    keyword_paths: list[str]
    #: the colour space the file's metadata declares (ICC description, EXIF ColorSpace...); what
    #: the render found is `colour`
    declared_colour_space: str | None
    bit_depth: int | None
    #: the HDR gain map the metadata declares: "ultra-hdr", "apple-gain-map", or null (the
    #: render's own finding is `colour.hdr_format`)
    hdr_gain_map: str | None
    #: where each descriptive value came from: embedded | sidecar | person
    sources: dict[str, str]
    #: the XMP sidecar kept beside the original in the final store (`001-IMG_1234.xmp`)
    sidecar_path: str | None
    #: "raw+jpeg": `paired_image_id` is the other half of the frame; "live-photo": `live_video_path`
    #: is the movie kept beside this photo
    pair_kind: Literal["raw+jpeg", "live-photo"] | None
    paired_image_id: int | None
    live_video_path: str | None
    association: dict[str, Any]
    metadata: dict[str, Any]
    original_url: str
    preview_url: str | None
    thumbnail_url: str | None
    renditions: dict[str, RenditionView] = {}
    colour: ColourView
    created_at: datetime


class ImagePage(BaseModel):
    items: list[ImageView]
    next_cursor: int | None


def _instant(row: asyncpg.Record) -> datetime | None:
    """The UTC instant shown in the offset the photo was taken in."""
    when, minutes = row["taken_at"], row["taken_at_offset_minutes"]
    if when is None or minutes is None:
        return when  # type: ignore[no-any-return]
    return when.astimezone(timezone(timedelta(minutes=minutes)))  # type: ignore[no-any-return]


def image_view(row: asyncpg.Record) -> ImageView:
    meta = dict(row["metadata"] or {})
    return ImageView(
        id=row["id"], proxy_uuid=row["proxy_uuid"], path=row["path"], original_name=row["original_name"],
        sha256=row["sha256"], size=row["size"], taken_at=_instant(row), taken_at_local=row["taken_at_local"],
        taken_at_offset=format_offset(None if row["taken_at_offset_minutes"] is None
                                      else timedelta(minutes=row["taken_at_offset_minutes"])),
        taken_at_zone=row["taken_at_zone"], taken_at_zone_source=row["taken_at_zone_source"],
        camera_make=row["camera_make"], camera_model=row["camera_model"], camera=meta.get("camera"),
        lens=row["lens"], rating=row["rating"], label=row["label"], title=row["title"],
        caption=row["caption"], creator=row["creator"], copyright=row["copyright"], credit=row["credit"],
        location=row["location"], gps=meta.get("gps"), tags=list(row["tags"] or []),
        keywords=list(row["keywords"] or []), keyword_paths=list(row["keyword_paths"] or []),
        declared_colour_space=row["declared_colour_space"], bit_depth=row["bit_depth"],
        hdr_gain_map=row["hdr_gain_map"],
        sources=dict(meta.get("sources") or {}), sidecar_path=row["sidecar_path"],
        pair_kind=row["pair_kind"], paired_image_id=row["paired_image_id"],
        live_video_path=row["live_video_path"],
        association=dict(row["association"] or {}), metadata=meta,
        original_url=f"/v1/images/{row['id']}/original",
        preview_url=f"/v1/images/{row['id']}/preview" if row["preview_path"] else None,
        thumbnail_url=f"/v1/images/{row['id']}/thumbnail" if row["thumbnail_path"] else None,
        renditions=renditions_view(row, f"/v1/images/{row['id']}"), colour=colour_view(row),
        created_at=row["created_at"],
    )
