"""The upload service's janitor: expired unconfirmed proxies, dead spools and orphaned
temporary objects go; everything still wanted stays."""

from __future__ import annotations

import os
import time
import uuid as uuidlib
from typing import Any

import pytest

from services.upload.janitor import STAGING_GRACE_S, Janitor
from shared import keys
from shared.storage import open_store
from tests.fixtures.proxies import make_proxy
from tests.integration.test_upload_api import jpeg_bytes

pytestmark = pytest.mark.integration


async def test_expired_proxies_dead_spools_and_orphans_go_and_the_rest_stays(pool: Any, settings: Any) -> None:
    store = open_store(settings.temp_store, settings.stores.s3)
    user = f"jan-{uuidlib.uuid4().hex[:8]}"
    expired = await make_proxy(pool, store, user, jpeg_bytes(64, 48))
    confirmed = await make_proxy(pool, store, user, jpeg_bytes(60, 40), ingest_status="failed")
    fresh = await make_proxy(pool, store, user, jpeg_bytes(50, 40))
    await pool.execute("UPDATE proxy_images SET expires_at = now() - interval '1 second' "
                       "WHERE uuid = ANY($1::uuid[])", [expired.uuid, confirmed.uuid])
    await pool.execute("UPDATE proxy_images SET expires_at = now() + interval '30 days' WHERE uuid = $1",
                       fresh.uuid)
    dead, live = store.staging_file(), store.staging_file()
    os.utime(dead, (time.time() - STAGING_GRACE_S - 60,) * 2)
    orphan = uuidlib.uuid4()  # a render that finished after its proxy was deleted
    await store.put_bytes(keys.preview_key(orphan), b"x", "image/jpeg")
    await store.put_bytes(keys.enhanced_key(orphan, 3000), b"x", "image/jpeg")

    janitor = Janitor(pool, store, every_s=300)
    first = await janitor.run_once()
    assert first["expired proxies"] >= 1 and first["dead spools"] == 1
    assert await pool.fetchval("SELECT count(*) FROM proxy_images WHERE uuid = $1", expired.uuid) == 0
    assert not await store.exists(keys.original_key(expired.uuid, "jpg"))
    assert not await store.exists(keys.preview_key(expired.uuid))
    assert not dead.exists() and live.exists()
    assert await store.exists(keys.preview_key(orphan))  # seen once: it may be about to be recorded
    await janitor.run_once()
    assert not await store.exists(keys.preview_key(orphan))
    assert not await store.exists(keys.enhanced_key(orphan, 3000))
    for kept in (confirmed, fresh):  # confirmed once (a failed ingest) or not yet expired
        assert await pool.fetchval("SELECT count(*) FROM proxy_images WHERE uuid = $1", kept.uuid) == 1
        assert await store.exists(keys.preview_key(kept.uuid))
