"""What the finalize job reads and writes: the proxy's ingest, the Image, its companions, its pair.

Four small protocols, one per helper that needs them (`SidecarRecords` for
`services/finalize/sidecar.py`, `PairRecords` for `pairs.py`,
`ReindexRecords` for `reindex.py`), and `FinalizeRecords`, all four with the
job's own steps. `PgFinalizeRecords` implements them on the pool, each method
calling the `shared/db` function it names (no SQL of its own);
`tests/fakes/finalize_records.py` implements them in memory for unit tests,
and mypy holds both to these signatures.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

import asyncpg

from shared.db import images, ingests, pairs, proxies, sidecars
from shared.db.previews import Row as Row  # re-exported: the rows the finalize helpers read


class SidecarRecords(Protocol):
    async def claim_sidecar(self, user_id: str, uuid: UUID, base: str, kind: str) -> Row | None:
        """`sidecars.claim_for_proxy`: the proxy's companion of `kind`, attached to it now if it waited."""

    async def sidecars_attached_to(self, uuid: UUID) -> list[Row]:
        """`sidecars.attached_to`."""

    async def delete_sidecar(self, sidecar_id: int) -> None:
        """`sidecars.delete_sidecar`."""


class PairRecords(Protocol):
    async def pairing_facts(self, image_id: int) -> Row | None:
        """`pairs.pairing_facts`: with `base`, `is_raw` and `preview_size`."""

    async def partner_of(self, me: Row) -> Row | None:
        """`pairs.partner_of`: the user's unpaired Image of the other kind of the same frame."""

    async def link_images(self, a: int, b: int, kind: str) -> bool:
        """`pairs.link`: both name each other, or neither (one was paired meanwhile)."""

    async def set_image_renditions(self, image_id: int, values: dict[str, Any]) -> None:
        """`pairs.set_renditions`."""


class ReindexRecords(Protocol):
    async def image_to_reindex(self, image_id: int, user_id: str) -> Row | None:
        """`images.image_to_reindex`: every column of the user's Image."""

    async def update_metadata(self, image_id: int, values: dict[str, Any]) -> None:
        """`images.update_metadata`."""


class FinalizeRecords(SidecarRecords, PairRecords, ReindexRecords, Protocol):
    async def load_proxy(self, uuid: UUID) -> Row | None:
        """`proxies.load_proxy`: every column."""

    async def image_for_proxy(self, uuid: UUID) -> Row | None:
        """`images.image_for_proxy`: id, path, disk."""

    async def start_ingest(self, uuid: UUID) -> None:
        """`ingests.start_ingest`: queued -> processing."""

    async def allocate_key(self, uuid: UUID, user_id: str, disk: str, directory: str,
                           key_for: Callable[[int], str],
                           object_exists: Callable[[str], Awaitable[bool]]) -> tuple[int, str]:
        """`ingests.allocate_key`: (sequence, final key), once per proxy, never a used key."""

    async def insert_image(self, uuid: UUID, values: dict[str, Any]) -> int:
        """`images.insert_image`: once per proxy; its id either way."""

    async def delete_ingested(self, uuid: UUID) -> None:
        """`proxies.delete_ingested`."""

    async def mark_ingest_failed(self, uuid: UUID, error: str) -> Row | None:
        """`ingests.mark_ingest_failed`: queued/processing -> failed with the reason."""


@dataclass(frozen=True)
class PgFinalizeRecords:
    """`FinalizeRecords` on the pool."""

    pool: asyncpg.Pool

    async def load_proxy(self, uuid: UUID) -> Row | None:
        return await proxies.load_proxy(self.pool, uuid)

    async def image_for_proxy(self, uuid: UUID) -> Row | None:
        return await images.image_for_proxy(self.pool, uuid)

    async def start_ingest(self, uuid: UUID) -> None:
        await ingests.start_ingest(self.pool, uuid)

    async def allocate_key(self, uuid: UUID, user_id: str, disk: str, directory: str,
                           key_for: Callable[[int], str],
                           object_exists: Callable[[str], Awaitable[bool]]) -> tuple[int, str]:
        return await ingests.allocate_key(self.pool, uuid, user_id, disk, directory, key_for, object_exists)

    async def insert_image(self, uuid: UUID, values: dict[str, Any]) -> int:
        return await images.insert_image(self.pool, uuid, values)

    async def delete_ingested(self, uuid: UUID) -> None:
        await proxies.delete_ingested(self.pool, uuid)

    async def mark_ingest_failed(self, uuid: UUID, error: str) -> Row | None:
        return await ingests.mark_ingest_failed(self.pool, uuid, error)

    async def claim_sidecar(self, user_id: str, uuid: UUID, base: str, kind: str) -> Row | None:
        return await sidecars.claim_for_proxy(self.pool, user_id, uuid, base, kind)

    async def sidecars_attached_to(self, uuid: UUID) -> list[Row]:
        return list(await sidecars.attached_to(self.pool, uuid))

    async def delete_sidecar(self, sidecar_id: int) -> None:
        await sidecars.delete_sidecar(self.pool, sidecar_id)

    async def pairing_facts(self, image_id: int) -> Row | None:
        return await pairs.pairing_facts(self.pool, image_id)

    async def partner_of(self, me: Row) -> Row | None:
        return await pairs.partner_of(self.pool, me)

    async def link_images(self, a: int, b: int, kind: str) -> bool:
        return await pairs.link(self.pool, a, b, kind)

    async def set_image_renditions(self, image_id: int, values: dict[str, Any]) -> None:
        await pairs.set_renditions(self.pool, image_id, values)

    async def image_to_reindex(self, image_id: int, user_id: str) -> Row | None:
        return await images.image_to_reindex(self.pool, image_id, user_id)

    async def update_metadata(self, image_id: int, values: dict[str, Any]) -> None:
        await images.update_metadata(self.pool, image_id, values)


def _conforms(records: PgFinalizeRecords) -> FinalizeRecords:
    return records  # mypy: the adapter is a `FinalizeRecords`
