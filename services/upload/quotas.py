"""The upload service's per-user quotas (shared/quotas.py), built once per process."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg

from shared.db import proxies
from shared.metrics import UploadMetrics
from shared.quotas import Concurrent, Counted, Slot, Window
from shared.resource_settings import QuotaSettings

DAY_S = 24 * 3600.0


class UploadQuotas:
    """Uploads per minute, bytes per day, unconfirmed proxies, SSE streams, parked-job scans."""

    def __init__(self, settings: QuotaSettings, pool: asyncpg.Pool, metrics: UploadMetrics) -> None:
        def refused(quota: str) -> None:
            metrics.quota_refusals.labels(quota).inc()

        async def unconfirmed(user: str) -> int:
            return await proxies.count_unconfirmed(pool, user)

        self.uploads = Window("uploads per minute", settings.uploads_per_minute, 60.0, refused)
        self.bytes = Window("bytes per day", settings.bytes_per_day, DAY_S, refused, buckets=288)
        self.unconfirmed = Counted("unconfirmed proxies", settings.unconfirmed_proxies, unconfirmed,
                                   refused)
        self.streams = Concurrent("event streams", settings.sse_streams, refused)
        self.scans = Window("parked-job scans per minute", settings.parked_scans_per_minute, 60.0,
                            refused)
        self.scanning = Concurrent("parked-job scans", settings.parked_scans_concurrent, refused, 1.0)
        self._metrics = metrics

    async def before_upload(self, user: str, declared_bytes: int) -> None:
        """Before a body is read: one more upload, `declared_bytes` more today, one more proxy.
        Counts the upload (a refused body still cost the service its request)."""
        await self.unconfirmed.check(user)
        self.bytes.take(user, declared_bytes)
        self.uploads.take(user)

    def created(self, user: str) -> None:
        self.unconfirmed.added(user)

    def open_stream(self, user: str) -> Slot:
        """A place for one more event stream (RateLimited past the cap); release it when it ends."""
        slot = self.streams.slot(user)
        self._metrics.sse_streams.set(self.streams.total())
        return _Counting(slot, lambda: self._metrics.sse_streams.set(self.streams.total()))


class _Counting(Slot):
    """A stream's slot that updates the open-streams gauge when released."""

    def __init__(self, slot: Slot, after: Callable[[], None]) -> None:
        self._slot, self._after = slot, after

    def release(self) -> None:
        self._slot.release()
        self._after()
