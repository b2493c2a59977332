"""What the browser tests share: the real stack behind the page."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from shared.settings import Settings
from tests.fixtures.upload import UploadServer, serve
from tests.fixtures.workers import ServiceWorkers


@pytest.fixture
async def stack(settings: Settings, topology: object, migrated: str) -> AsyncIterator[UploadServer]:
    preview = ServiceWorkers(settings, "preview", "PROPHOTO_PREVIEW_METRICS_PORT")
    finalize = ServiceWorkers(settings, "finalize", "PROPHOTO_FINALIZE_METRICS_PORT")
    try:
        # started (and answering) before the page: under load a cold worker takes seconds
        preview.start()
        finalize.start()
        async for server in serve(settings):
            yield server
    finally:
        preview.stop()
        finalize.stop()
