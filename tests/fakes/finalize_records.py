"""The proxy rows, Images, companions and directory sequences of the finalize job, in dicts:
`shared.db.finalize_records.FinalizeRecords` without PostgreSQL.

The guards follow the SQL the job relies on: `start_ingest` and
`mark_ingest_failed` move only from the statuses their WHERE clauses name; a
proxy's (sequence, key) is allocated once and a number whose key an Image,
another proxy or an object already holds is skipped (`ingests.allocate_key`);
`insert_image` is once per proxy and refuses a second Image at one
(disk, path), as the unique constraints do; a waiting companion is attached
to one proxy only (`sidecars.claim_for_proxy`); two Images are paired both
or neither (`pairs.link`), and a partner is matched as `pairs.partner_of` does.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from shared.db.finalize_records import FinalizeRecords, Row
from shared.db.images import METADATA_COLUMNS
from shared.db.status import IngestStatus, ProxyStatus
from tests.fakes.records import FakeProxies

#: the Image columns `insert_image` writes (the rest: id, proxy_uuid, pairing, timestamps)
IMAGE_COLUMNS = ("user_id", "disk", "path", "original_name", "metadata", "tags", "association", "sha256",
                 "size", "taken_at", "camera_make", "camera_model", "renditions", "preview_path",
                 "thumbnail_path", "sidecar_path", "live_video_path", "pair_kind", "colour_space",
                 "colour_profile", "hdr_format", "hdr_headroom", *METADATA_COLUMNS)


class DuplicateKey(Exception):
    """What PostgreSQL's unique constraint `images_disk_path_key` would refuse."""


def _base(name: str) -> str:
    return re.sub(r"\.[^.]*$", "", name).lower()


def _is_raw(image: Row) -> bool | None:
    mime = (image["metadata"] or {}).get("mime")
    return None if mime is None else str(mime).startswith("image/x-")


class FakeFinalizeRecords(FakeProxies):
    def __init__(self) -> None:
        super().__init__()
        self.images: dict[int, dict[str, Any]] = {}
        self.sidecars: dict[int, dict[str, Any]] = {}
        self.sequences: dict[tuple[str, str], int] = {}

    def confirm(self, uuid: UUID, tags: list[str] | None = None,
                association: dict[str, Any] | None = None) -> None:
        """What `ingests.queue_ingest` does for one proxy whose preview has settled."""
        row = self.rows[uuid]
        assert row["ingest_status"] is None and row["preview_status"] in (ProxyStatus.READY, ProxyStatus.FAILED)
        row.update(ingest_status=IngestStatus.QUEUED, ingest_tags=tags or [],
                   ingest_association=association or {}, metadata_error=None)

    def add_sidecar(self, user_id: str, original_name: str, temp_key: str, sha256: str, size: int,
                    metadata: dict[str, Any] | None = None, kind: str = "xmp",
                    proxy_uuid: UUID | None = None) -> int:
        """A companion as the upload stores it (`sidecars.put_sidecar`), waiting or attached."""
        sidecar_id = max(self.sidecars, default=0) + 1
        self.sidecars[sidecar_id] = {
            "id": sidecar_id, "user_id": user_id, "base_name": _base(original_name),
            "original_name": original_name, "temp_key": temp_key, "sha256": sha256, "size": size,
            "metadata": metadata or {}, "proxy_uuid": proxy_uuid, "kind": kind, "created_at": datetime.now(UTC)}
        return sidecar_id

    async def image_for_proxy(self, uuid: UUID) -> Row | None:
        for image in self.images.values():
            if image["proxy_uuid"] == uuid:
                return {"id": image["id"], "path": image["path"], "disk": image["disk"]}
        return None

    async def start_ingest(self, uuid: UUID) -> None:
        row = self.rows.get(uuid)
        if row is not None and row["ingest_status"] == IngestStatus.QUEUED:
            row["ingest_status"] = IngestStatus.PROCESSING

    async def mark_ingest_failed(self, uuid: UUID, error: str) -> Row | None:
        row = self.rows.get(uuid)
        if row is None or row["ingest_status"] not in (IngestStatus.QUEUED, IngestStatus.PROCESSING):
            return None
        row.update(ingest_status=IngestStatus.FAILED, metadata_error=error[:1000])
        return {"uuid": uuid, "user_id": row["user_id"]}

    async def allocate_key(self, uuid: UUID, user_id: str, disk: str, directory: str,
                           key_for: Callable[[int], str],
                           object_exists: Callable[[str], Awaitable[bool]]) -> tuple[int, str]:
        row = self.rows.get(uuid)
        if row is None:
            raise LookupError(f"proxy {uuid} is gone")
        if row["sequence"] is not None and row["final_key"]:
            return int(row["sequence"]), str(row["final_key"])
        while True:
            seq = self.sequences[user_id, directory] = self.sequences.get((user_id, directory), 0) + 1
            key = key_for(seq)
            taken = any(i["disk"] == disk and i["path"] == key for i in self.images.values()) or any(
                p["final_key"] == key and p["uuid"] != uuid for p in self.rows.values())
            if not taken and not await object_exists(key):
                break
        row.update(sequence=seq, final_key=key)
        return seq, key

    async def insert_image(self, uuid: UUID, values: dict[str, Any]) -> int:
        done = await self.image_for_proxy(uuid)
        if done is not None:
            image_id = int(done["id"])
        else:
            if any(i["disk"] == values.get("disk") and i["path"] == values.get("path")
                   for i in self.images.values()):
                raise DuplicateKey(f"{values.get('disk')}:{values.get('path')}")
            image_id = max(self.images, default=0) + 1
            now = datetime.now(UTC)
            self.images[image_id] = {c: values.get(c) for c in IMAGE_COLUMNS} | {
                "id": image_id, "proxy_uuid": uuid, "paired_image_id": None, "metadata_read_at": now,
                "created_at": now, "updated_at": now}
        if uuid in self.rows:
            self.rows[uuid]["image_id"] = image_id
        return image_id

    async def delete_ingested(self, uuid: UUID) -> None:
        self.rows.pop(uuid, None)

    async def claim_sidecar(self, user_id: str, uuid: UUID, base: str, kind: str) -> Row | None:
        mine = [s for s in self.sidecars.values() if s["proxy_uuid"] == uuid and s["kind"] == kind]
        if mine:
            return dict(mine[0])
        waiting = sorted(i for i, s in self.sidecars.items() if s["user_id"] == user_id
                         and s["base_name"] == base and s["kind"] == kind and s["proxy_uuid"] is None)
        if not waiting:
            return None
        self.sidecars[waiting[0]]["proxy_uuid"] = uuid
        return dict(self.sidecars[waiting[0]])

    async def sidecars_attached_to(self, uuid: UUID) -> list[Row]:
        return [dict(s) for s in self.sidecars.values() if s["proxy_uuid"] == uuid]

    async def delete_sidecar(self, sidecar_id: int) -> None:
        self.sidecars.pop(sidecar_id, None)

    def _facts(self, image: dict[str, Any]) -> dict[str, Any]:
        return {"id": image["id"], "path": image["path"], "preview_path": image["preview_path"],
                "thumbnail_path": image["thumbnail_path"], "renditions": image["renditions"],
                "is_raw": _is_raw(image), "preview_size": (image["metadata"] or {}).get("preview_size")}

    async def pairing_facts(self, image_id: int) -> Row | None:
        image = self.images.get(image_id)
        if image is None:
            return None
        return self._facts(image) | {
            "user_id": image["user_id"], "image_unique_id": image["image_unique_id"],
            "taken_at_local": image["taken_at_local"], "paired_image_id": image["paired_image_id"],
            "base": _base(image["original_name"])}

    async def partner_of(self, me: Row) -> Row | None:
        def same_frame(image: dict[str, Any]) -> bool:
            if me["image_unique_id"] is not None and image["image_unique_id"] == me["image_unique_id"]:
                return True
            mine, theirs = me["taken_at_local"], image["taken_at_local"]
            return (_base(image["original_name"]) == me["base"] and mine is not None and theirs is not None
                    and mine.replace(microsecond=0) == theirs.replace(microsecond=0))

        for image_id in sorted(self.images):
            image = self.images[image_id]
            raw = _is_raw(image)
            mime = (image["metadata"] or {}).get("mime")
            if (image["user_id"] == me["user_id"] and image_id != me["id"] and image["paired_image_id"] is None
                    and raw is not None and raw != me["is_raw"]
                    and (raw or mime in ("image/jpeg", "image/heic")) and same_frame(image)):
                return self._facts(image)
        return None

    async def link_images(self, a: int, b: int, kind: str) -> bool:
        both = [self.images.get(a), self.images.get(b)]
        if any(image is None or image["paired_image_id"] is not None for image in both):
            return False
        self.images[a].update(paired_image_id=b, pair_kind=kind)
        self.images[b].update(paired_image_id=a, pair_kind=kind)
        return True

    async def set_image_renditions(self, image_id: int, values: dict[str, Any]) -> None:
        image = self.images.get(image_id)
        if image is not None:
            image.update(renditions=values["renditions"], preview_path=values["preview_path"],
                         thumbnail_path=values["thumbnail_path"],
                         metadata=(image["metadata"] or {}) | {"preview_source": values["preview_source"]})

    async def image_to_reindex(self, image_id: int, user_id: str) -> Row | None:
        image = self.images.get(image_id)
        return dict(image) if image is not None and image["user_id"] == user_id else None

    async def update_metadata(self, image_id: int, values: dict[str, Any]) -> None:
        image = self.images.get(image_id)
        if image is not None:
            columns = ("metadata", "tags", "taken_at", "camera_make", "camera_model", *METADATA_COLUMNS)
            image.update({c: values[c] for c in columns}, metadata_read_at=datetime.now(UTC))


def _conforms(records: FakeFinalizeRecords) -> FinalizeRecords:
    return records  # mypy: the fake is a `FinalizeRecords`
