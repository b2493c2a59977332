"""The traces API against the real database: filters, keyset pages, stats, retention, auth."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from services.tracing.consumer import sweep_old_traces
from tests.fixtures.tracing import *  # noqa: F403

pytestmark = pytest.mark.integration


def quiet_window() -> datetime:
    """An hour in 2003 no other test writes to, so totals are exactly ours."""
    return datetime(2003, 1, 1, tzinfo=UTC) + timedelta(hours=random.randrange(300 * 24))


async def test_traces_are_filtered_by_uuid_type_method_success_and_time(tracing_server, trace_rows):
    photo, other = uuid.uuid4(), uuid.uuid4()
    start = quiet_window()
    await trace_rows(photo, trace_type="preview_extraction", method="embedded_jpeg",
                     created_at=start)
    await trace_rows(photo, trace_type="thumbnail_generation", method="vips_thumbnail",
                     success=False, reason="bad", created_at=start + timedelta(minutes=1))
    await trace_rows(photo, trace_type="thumbnail_generation", method="vips_thumbnail",
                     created_at=start + timedelta(minutes=2))
    await trace_rows(other, trace_type="thumbnail_generation", created_at=start)

    async with httpx.AsyncClient(base_url=tracing_server.url, headers=tracing_server.headers) as c:
        async def query(**params: object) -> list[dict]:
            r = await c.get("/v1/traces", params=params)
            assert r.status_code == 200, r.text
            return r.json()["items"]

        assert len(await query(uuid=str(photo))) == 3
        thumbs = await query(uuid=str(photo), type="thumbnail_generation")
        assert [t["success"] for t in thumbs] == [True, False]  # newest first
        assert [t["reason"] for t in await query(uuid=str(photo), success="false")] == ["bad"]
        assert len(await query(uuid=str(photo), method="embedded_jpeg")) == 1
        window = await query(**{"from": (start + timedelta(seconds=30)).isoformat(),
                                "to": (start + timedelta(seconds=90)).isoformat()})
        assert [t["uuid"] for t in window] == [str(photo)]
        assert (await c.get("/v1/traces", params={"uuid": "nope"})).status_code == 422


async def test_keyset_pages_cover_every_row_once_even_with_equal_timestamps(
    tracing_server, trace_rows, pool
):
    photo = uuid.uuid4()
    start = quiet_window()
    ids = set()
    for i in range(23):  # groups of three share a timestamp: the id breaks the tie
        ids.add(await trace_rows(photo, attempt=i, created_at=start + timedelta(seconds=i // 3)))
    seen: list[int] = []
    cursor = None
    pages = 0
    async with httpx.AsyncClient(base_url=tracing_server.url, headers=tracing_server.headers) as c:
        while True:
            params = {"uuid": str(photo), "limit": 5} | ({"cursor": cursor} if cursor else {})
            body = (await c.get("/v1/traces", params=params)).json()
            seen += [t["id"] for t in body["items"]]
            pages += 1
            cursor = body["next_cursor"]
            if cursor is None:
                break
        bad = await c.get("/v1/traces", params={"cursor": "garbage!"})
    assert pages == 5
    assert len(seen) == len(set(seen)) == 23 and set(seen) == ids
    expected = await pool.fetch(
        "SELECT id FROM ingest_traces WHERE uuid = $1 ORDER BY created_at DESC, id DESC", photo)
    assert seen == [r["id"] for r in expected]
    assert bad.status_code == 400


async def test_stats_count_by_type_and_give_p50_p95_per_method(tracing_server, trace_rows):
    photo = uuid.uuid4()
    start = quiet_window()
    for i in range(1, 21):
        await trace_rows(photo, trace_type="preview_extraction", method="embedded_jpeg",
                         duration_ms=float(i), created_at=start + timedelta(seconds=i))
    await trace_rows(photo, trace_type="thumbnail_generation", method="vips_thumbnail",
                     success=False, reason="x", duration_ms=500.0, created_at=start)
    async with httpx.AsyncClient(base_url=tracing_server.url, headers=tracing_server.headers) as c:
        r = await c.get("/v1/traces/stats", params={
            "from": start.isoformat(), "to": (start + timedelta(minutes=5)).isoformat()})
    stats = r.json()
    assert (stats["total"], stats["passed"], stats["failed"]) == (21, 20, 1)
    by_type = {t["trace_type"]: (t["total"], t["failed"]) for t in stats["by_type"]}
    assert by_type == {"preview_extraction": (20, 0), "thumbnail_generation": (1, 1)}
    jpeg = next(m for m in stats["by_method"] if m["method"] == "embedded_jpeg")
    assert jpeg["p50_ms"] == pytest.approx(10.5)
    assert jpeg["p95_ms"] == pytest.approx(19.05)


async def test_retention_deletes_rows_past_the_limit_in_batches_and_keeps_recent_ones(
    pool, trace_rows
):
    photo = uuid.uuid4()
    now = datetime.now(UTC)
    for days in (45, 40, 31, 31, 31):
        await trace_rows(photo, created_at=now - timedelta(days=days))
    keep = {await trace_rows(photo, created_at=now - timedelta(days=d)) for d in (29, 1, 0)}
    deleted = await sweep_old_traces(pool, retention_days=30, batch=2)
    assert deleted >= 5
    rows = await pool.fetch("SELECT id FROM ingest_traces WHERE uuid = $1", photo)
    left = {r["id"] for r in rows}
    assert left == keep


async def test_the_api_wants_a_known_bearer_token(tracing_server):
    async with httpx.AsyncClient(base_url=tracing_server.url) as c:
        assert (await c.get("/v1/traces")).status_code == 401
        wrong = await c.get("/v1/queue-status", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert wrong.headers["content-type"].startswith("application/problem+json")
        ok = await c.get("/v1/traces/stats", headers={"Authorization": "Bearer tok-bob"})
        assert ok.status_code == 200
        assert (await c.get("/healthz")).status_code == 200
