"""A preview that finishes after its proxy was deleted leaves no objects behind."""

from __future__ import annotations

import uuid as uuidlib
from types import SimpleNamespace
from typing import Any

import pytest

from services.preview.preview import _forget_if_deleted
from shared import imaging, keys
from shared.db import previews
from shared.messages import GeneratePreview
from shared.storage import open_store
from tests.fixtures.proxies import make_proxy
from tests.integration.test_upload_api import jpeg_bytes

pytestmark = pytest.mark.integration


async def test_objects_written_for_a_deleted_proxy_are_removed_and_a_live_ones_kept(
        pool: Any, settings: Any) -> None:
    store = open_store(settings.temp_store, settings.stores.s3)
    deps = SimpleNamespace(records=previews.PgPreviewRecords(pool), store=store, limits=imaging.Limits())
    gone = uuidlib.uuid4()  # its row was deleted mid-render: the render then wrote these
    for key in (keys.preview_key(gone), keys.thumb_key(gone)):
        await store.put_bytes(key, b"\xff\xd8late", "image/jpeg")
    await _forget_if_deleted(deps, GeneratePreview(uuid=gone, user_id="u"))  # type: ignore[arg-type]
    assert not await store.exists(keys.preview_key(gone))
    assert not await store.exists(keys.thumb_key(gone))

    live = await make_proxy(pool, store, f"u-{uuidlib.uuid4().hex[:6]}", jpeg_bytes(64, 48))
    await _forget_if_deleted(deps, GeneratePreview(uuid=live.uuid, user_id=live.user_id))  # type: ignore[arg-type]
    assert await store.exists(keys.preview_key(live.uuid))
    assert await store.exists(keys.thumb_key(live.uuid))
