"""Renditions as data: one more entry in `shared.imaging.renditions.SPECS` (monkeypatched here,
nothing else changed) is rendered by the preview job, stored under a key named for it, recorded
on the proxy, listed and served by the API, kept by finalize beside the original, and removed
with the proxy or the Image. Real PostgreSQL, RabbitMQ, libvips, the upload API and a finalize
worker (a separate process: it never sees the patched list, only what the proxy recorded)."""

from __future__ import annotations

import asyncio
import uuid as uuidlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from services.preview.preview import PreviewDeps, generate_preview
from shared import imaging, keys
from shared.db import previews
from shared.filetype import jpeg_dimensions
from shared.imaging import renditions
from shared.imaging.renditions import Spec
from shared.messages import GeneratePreview
from shared.metrics import PreviewMetrics
from shared.settings import Settings
from shared.worker import render_process
from shared.worker.context import JobContext
from tests.conftest import make_settings
from tests.fixtures.proxies import *  # noqa: F403
from tests.fixtures.proxies import make_proxy, wait_until
from tests.fixtures.upload import UploadServer
from tests.integration.test_upload_api import jpeg_bytes

pytestmark = pytest.mark.integration
WEB = Spec("web", 1024, 1024, crop=False, quality=82)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, final_store=f"file://{tmp_path / 'final'}")


async def _render(settings: Settings, pool: Any, store: Any, user: str, data: bytes) -> uuidlib.UUID:
    proxy = await make_proxy(pool, store, user, data, f"{uuidlib.uuid4().hex[:6]}.jpg", preview_status="pending")
    renderer = render_process.for_settings(settings)
    deps = PreviewDeps(records=previews.PgPreviewRecords(pool), store=store,
                       limits=imaging.Limits.from_settings(settings), metrics=PreviewMetrics(CollectorRegistry()),
                       cpu=asyncio.Semaphore(1), renderer=renderer)
    try:
        ctx = JobContext(attempt=1, max_attempts=3, first_attempt_at=datetime.now(UTC), redelivered=False)
        await generate_preview(deps, GeneratePreview(uuid=proxy.uuid, user_id=user), ctx)
    finally:
        renderer.close()
    return proxy.uuid


async def test_a_third_rendition_spec_is_rendered_stored_recorded_served_kept_and_removed(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, pool: Any, temp_store: Any, final_store: Any,
    upload_server: UploadServer, finalize_workers: Any,
) -> None:
    monkeypatch.setattr(renditions, "SPECS", (*renditions.SPECS, WEB))
    me = f"alice-{settings.exchange}"
    uuid = await _render(settings, pool, temp_store, me, jpeg_bytes(3000, 2000))

    # the worker rendered it, under the key its name gives
    key = keys.rendition_key(uuid, "web")
    assert key == f"ingest-temp/renditions/web/{uuid}.jpg"
    web = await temp_store.get_bytes(key)
    assert jpeg_dimensions(web) == (1024, 682)  # fitted in its box, cut from the 2048x1365 preview
    # the database recorded it beside the preview and the thumbnail
    row = await pool.fetchrow("SELECT * FROM proxy_images WHERE uuid = $1", uuid)
    assert row["renditions"]["web"] == {"key": key, "width": 1024, "height": 682}
    assert row["renditions"]["preview"] == {"key": row["preview_path"], "width": 2048, "height": 1365}
    assert row["renditions"]["thumbnail"] == {"key": row["thumbnail_path"], "width": 400, "height": 400}

    async with upload_server.client() as http:
        # the API lists and serves it; the preview's and thumbnail's own fields and routes are as they were
        view = (await http.get(f"/v1/proxies/{uuid}")).json()
        assert view["renditions"]["web"] == {"url": f"/v1/proxies/{uuid}/renditions/web",
                                             "width": 1024, "height": 682}
        assert sorted(view["renditions"]) == ["preview", "thumbnail", "web"]
        assert (view["preview_url"], view["preview_width"]) == (f"/v1/proxies/{uuid}/preview", 2048)
        assert (await http.get(view["renditions"]["web"]["url"])).content == web
        assert (await http.get(f"/v1/proxies/{uuid}/preview")).content == \
            (await http.get(f"/v1/proxies/{uuid}/renditions/preview")).content
        missing = await http.get(f"/v1/proxies/{uuid}/renditions/poster")
        assert missing.status_code == 404 and missing.json()["title"] == "No such rendition"

        # finalize keeps it beside the original, and the Image lists and serves it
        finalize_workers.start()
        assert (await http.post("/v1/ingest", json={"uuids": [str(uuid)]})).status_code == 202

        async def kept() -> list[dict[str, Any]] | None:
            return (await http.get("/v1/images")).json()["items"] or None

        [image] = await wait_until(kept, 30, "the Image")
        kept_key = keys.kept_rendition_key(image["path"], "web")
        assert kept_key.endswith(".renditions/" + image["path"].rpartition("/")[2] + ".web.jpg")
        assert image["renditions"]["web"] == {"url": f"/v1/images/{image['id']}/renditions/web",
                                              "width": 1024, "height": 682}
        assert (await http.get(image["renditions"]["web"]["url"])).content == web
        assert await final_store.get_bytes(kept_key) == web
        assert not await temp_store.exists(key)  # finalize removed the temporary one

        # deleting the Image removes it; discarding a proxy removes its temporary one
        assert (await http.delete(f"/v1/images/{image['id']}")).status_code == 204
        assert not await final_store.exists(kept_key)
        other = await _render(settings, pool, temp_store, me, jpeg_bytes(1600, 1200))
        assert await temp_store.exists(keys.rendition_key(other, "web"))
        assert (await http.delete(f"/v1/proxies/{other}")).status_code == 204
        assert not await temp_store.exists(keys.rendition_key(other, "web"))
