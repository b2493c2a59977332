"""The proxy rows the preview and enhance jobs read and write, in a dict: `PreviewRecords` and
`EnhanceRecords` without PostgreSQL.

The state changes follow the WHERE clauses of `shared/db/previews.py` and
`shared/db/enhancements.py` (which copy of a job may claim, which statuses may
become ready or failed), so a job function tested against it meets the same guards.
"""

from __future__ import annotations

import uuid as uuidlib
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from shared.db.enhancements import EnhanceRecords
from shared.db.previews import ColourFacts, PreviewRecords, Row
from shared.db.renditions import Recorded, Renditions, columns_for
from shared.db.status import ProxyStatus

IN_FLIGHT = (ProxyStatus.PENDING, ProxyStatus.PROCESSING)
SETTLED = (ProxyStatus.READY, ProxyStatus.FAILED)


class FakeProxies:
    def __init__(self) -> None:
        self.rows: dict[UUID, dict[str, Any]] = {}

    def add(self, temp_key: str, *, exif_thumb_key: str | None = None, status: str = ProxyStatus.PENDING,
            user_id: str = "alice", uuid: UUID | None = None, mime: str = "image/jpeg",
            metadata: dict[str, Any] | None = None) -> UUID:
        """A proxy as the upload leaves it (every column of `proxy_images`); returns its uuid."""
        uuid = uuid or uuidlib.uuid4()
        now = datetime.now(UTC)
        self.rows[uuid] = {
            "uuid": uuid, "user_id": user_id, "temp_key": temp_key, "exif_thumb_key": exif_thumb_key,
            "original_name": f"{uuid}.{temp_key.rpartition('.')[2]}", "size": 0, "sha256": "",
            "ext": temp_key.rpartition(".")[2], "mime": mime, "metadata": metadata or {},
            "enhancement_status": None, "enhancement_error": None, "ingest_status": None,
            "ingest_tags": None, "ingest_association": None, "metadata_error": None, "final_key": None,
            "sequence": None, "image_id": None, "flag": None, "rating": None, "expires_at": None,
            "format": None, "uploaded_at": now, "created_at": now, "updated_at": now,
            "preview_status": status, "preview_claim": None, "preview_prioritized_at": None,
            "preview_attempts": 0, "preview_error": None, "preview_degraded": None, "preview_method": None,
            "preview_width": None, "preview_height": None, "preview_rendered_at": None,
            "colour_space": None, "colour_evidence": None, "colour_profile": None, "preview_gamut": None,
            "hdr_format": None, "hdr_headroom": None,
            "renditions": {}, "preview_path": None, "thumbnail_path": None}
        return uuid

    async def claim_for_preview(self, uuid: UUID, claim: UUID | None,
                                rerender_before: datetime | None) -> Row | None:
        row = self.rows.get(uuid)
        if row is None:
            return None
        status = row["preview_status"]
        mine = claim is None or row["preview_claim"] in (None, claim)
        rendered = row["preview_rendered_at"] or datetime.min.replace(tzinfo=UTC)
        if not (status == ProxyStatus.PENDING or (status == ProxyStatus.PROCESSING and mine)
                or (rerender_before is not None and status in SETTLED and rendered < rerender_before)):
            return None
        row["preview_status"] = status if status in SETTLED else ProxyStatus.PROCESSING
        row["preview_claim"] = claim or row["preview_claim"]
        row["preview_attempts"] += 1
        return dict(row)

    async def mark_preview_ready(self, uuid: UUID, made: Renditions, method: str, degraded: str | None,
                                 colour: ColourFacts, claim: UUID | None) -> Row | None:
        row = self.rows.get(uuid)
        if row is None or not (row["preview_status"] == ProxyStatus.PROCESSING or (
                row["preview_status"] in SETTLED and claim is not None and row["preview_claim"] == claim)):
            return None
        values = columns_for(made)
        row.update(preview_status=ProxyStatus.READY, renditions=row["renditions"] | made,
                   preview_path=values["preview_path"], thumbnail_path=values["thumbnail_path"],
                   preview_width=made["preview"].get("width"), preview_height=made["preview"].get("height"),
                   preview_method=method, preview_degraded=degraded, preview_error=None,
                   colour_space=colour.space, colour_evidence=colour.evidence, colour_profile=colour.profile,
                   preview_gamut=colour.gamut, hdr_format=colour.hdr_format, hdr_headroom=colour.hdr_headroom,
                   preview_rendered_at=datetime.now(UTC))
        return {"uuid": uuid, "user_id": row["user_id"], "uploaded_at": row["uploaded_at"]}

    async def set_degraded_thumbnail(self, uuid: UUID, thumbnail: Recorded, note: str) -> None:
        row = self.rows.get(uuid)
        if row is not None:
            row.update(renditions=row["renditions"] | {"thumbnail": thumbnail},
                       thumbnail_path=thumbnail.get("key"), preview_degraded=note)

    async def mark_preview_failed(self, uuid: UUID, error: str) -> Row | None:
        row = self.rows.get(uuid)
        if row is None or row["preview_status"] not in IN_FLIGHT:
            return None
        row.update(preview_status=ProxyStatus.FAILED, preview_error=error[:1000])
        return dict(row)

    async def load_proxy(self, uuid: UUID) -> Row | None:
        row = self.rows.get(uuid)
        return None if row is None else dict(row)


    async def claim_for_enhance(self, uuid: UUID) -> Row | None:
        row = self.rows.get(uuid)
        if row is None or row["enhancement_status"] not in IN_FLIGHT or row["ingest_status"] is not None \
                or row["preview_status"] != ProxyStatus.READY:
            return None
        row["enhancement_status"] = ProxyStatus.PROCESSING
        return dict(row)

    async def mark_enhancement_ready(self, uuid: UUID, key: str, width: int, height: int
                                     ) -> tuple[bool, str | None]:
        row = self.rows.get(uuid)
        if row is None:
            return False, None
        old: str | None = row["preview_path"]
        if row["enhancement_status"] != ProxyStatus.PROCESSING or row["ingest_status"] is not None:
            return False, old
        row.update(preview_path=key, preview_width=width, preview_height=height,
                   renditions=row["renditions"] | {"preview": {"key": key, "width": width, "height": height}},
                   enhancement_status=ProxyStatus.READY, enhancement_error=None)
        return True, old

    async def mark_enhancement_failed(self, uuid: UUID, error: str) -> Row | None:
        row = self.rows.get(uuid)
        if row is None or row["enhancement_status"] not in IN_FLIGHT:
            return None
        row.update(enhancement_status=ProxyStatus.FAILED, enhancement_error=error[:1000])
        return {"uuid": uuid, "user_id": row["user_id"]}


def _conforms(records: FakeProxies) -> tuple[PreviewRecords, EnhanceRecords]:
    return records, records  # mypy: the fake is both a `PreviewRecords` and an `EnhanceRecords`
