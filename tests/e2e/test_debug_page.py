"""The debug page in real headless Chromium: upload a photo, find its traces, see queue health."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.broker.publisher import AmqpPublisher, publish_trace
from shared.broker.topology import Topology
from shared.db import parked as parked_rows
from shared.http.auth import COOKIE
from shared.messages import TraceEvent
from shared.worker.park import Delivery, park
from tests.fixtures.tracing import *  # noqa: F403

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
HOSTILE = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">'

needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed at /usr/bin/chromium")


async def publish_attempts(settings, topology, photo: uuid.UUID) -> None:
    """What the preview worker reports for this photo: one failure, then success."""
    publisher = AmqpPublisher(settings.broker, Topology(settings))
    await publisher.connect(declare=False)
    common = dict(uuid=photo, user_id="alice", service="preview")
    try:
        for event in (
            TraceEvent(trace_type="preview_extraction", method="embedded_jpeg", success=True,
                       duration_ms=41.5, result_size=52_000, **common),
            TraceEvent(trace_type="thumbnail_generation", method="vips_thumbnail", success=False,
                       reason=HOSTILE, duration_ms=7.0, **common),
            TraceEvent(trace_type="thumbnail_generation", method="vips_thumbnail", success=True,
                       duration_ms=12.25, result_size=9_000, attempt=2, **common),
        ):
            await publish_trace(publisher, topology, event)
    finally:
        await publisher.close()


async def a_photo(server, corpus_dir: Path | None) -> uuid.UUID:
    """Upload a real photo (a fresh uuid when the corpus is absent)."""
    if corpus_dir is None:
        return uuid.uuid4()
    photo_file = corpus_dir / "jpeg" / "32-lens_data.jpeg"
    async with server.client() as client:
        r = await client.post("/v1/uploads", files={
            "file": (photo_file.name, photo_file.read_bytes(), "image/jpeg")})
    assert r.status_code == 201, r.text
    return uuid.UUID(r.json()["uuid"])


async def wait_for_ready(server, queue: str) -> None:
    async with httpx.AsyncClient(base_url=server.url, headers=server.headers) as c:
        for _ in range(100):
            body = (await c.get("/v1/queue-status")).json()
            if body["queues"][queue]["broker"]["ready"]:
                return
            await asyncio.sleep(0.1)
    raise AssertionError(f"no job arrived on {queue}")


async def wait_for_traces(server, photo: uuid.UUID, n: int) -> None:
    async with httpx.AsyncClient(base_url=server.url, headers=server.headers) as c:
        for _ in range(100):
            body = (await c.get("/v1/traces", params={"uuid": str(photo)})).json()
            if len(body["items"]) >= n:
                return
            await asyncio.sleep(0.1)
    raise AssertionError("the traces did not arrive")


async def settled_count(server, photo: uuid.UUID) -> int:
    """How many traces the photo has once no more arrive (the upload's own come via the outbox)."""
    async with httpx.AsyncClient(base_url=server.url, headers=server.headers) as c:
        last, same = -1, 0
        for _ in range(100):
            n = len((await c.get("/v1/traces", params={"uuid": str(photo)})).json()["items"])
            same = same + 1 if n == last else 0
            if same >= 10:
                return n
            last = n
            await asyncio.sleep(0.1)
    raise AssertionError("the traces did not settle")


async def sign_in(page: Any, url: str, token: str) -> None:
    """Open `url`, and sign in with the page's POST form when it asks."""
    await page.goto(url)
    await page.fill("input[name=token]", token)
    async with page.expect_navigation():
        await page.click("form button[type=submit]")


@needs_chromium
async def test_the_debug_page_finds_an_uploaded_photos_traces_and_shows_queue_health(
    settings, topology, tracing_server, tmp_path, pool, upload_server
):
    from playwright.async_api import async_playwright

    from tests.conftest import CORPUS

    uploaded = (CORPUS / "MANIFEST.tsv").exists()
    photo = await a_photo(upload_server, CORPUS if uploaded else None)
    other = uuid.uuid4()
    try:
        await publish_attempts(settings, topology, photo)
        await publish_attempts(settings, topology, other)  # someone else's photo: filtered out
        await wait_for_traces(tracing_server, photo, 3)
        await wait_for_traces(tracing_server, other, 3)
        if uploaded:  # the outbox relay hands the GeneratePreview job to the broker shortly
            await wait_for_ready(tracing_server, settings.queue_preview)
        # the three published attempts, plus the upload's own metadata and thumbnail traces
        await wait_for_traces(tracing_server, photo, 3 + (2 if uploaded else 0))
        expected = await settled_count(tracing_server, photo)
        assert expected >= 3 + (2 if uploaded else 0), expected
        base = tracing_server.url

        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                desktop = await browser.new_context(viewport={"width": 1280, "height": 900})
                page = await desktop.new_page()
                dialogs: list[str] = []
                page.on("dialog", lambda d: dialogs.append(d.message))

                await sign_in(page, f"{base}/admin/ingest-traces", "tok-oscar")
                assert "token" not in page.url  # a POST form: the token is never in a URL
                cookies = [c for c in await page.context.cookies() if c["name"] == COOKIE]
                assert [(c["httpOnly"], c["sameSite"]) for c in cookies] == [(True, "Strict")]
                assert "tok-oscar" not in cookies[0]["value"]  # a signed session, not the token

                health = page.locator("#health .queue")
                assert await health.count() == 7  # six work queues (three preview lanes) and the outbox
                outbox = page.locator("#health #outbox")
                assert (await outbox.get_attribute("class") or "").split()[1] in (
                    "status-idle", "status-processing")
                preview = page.locator(f'#health .queue[data-queue="{settings.queue_preview}"]')
                # with an upload, its GeneratePreview job waits: no preview worker runs here
                assert await preview.get_attribute("class") in (
                    ("queue status-pending", "queue status-stalled") if uploaded
                    else ("queue status-unknown",))
                traces_card = page.locator(f'#health .queue[data-queue="{settings.queue_traces}"]')
                assert "status-idle" in (await traces_card.get_attribute("class") or "")
                assert "RabbitMQ" in await page.locator("#broker").inner_text()
                await page.wait_for_function(
                    "document.getElementById('refreshed').textContent.startsWith('refreshed ')")

                # without a reload: a parked failure turns its card amber with the count, and
                # a new photo's traces appear in the table and the stats
                total = int(await page.locator("#stat-total").inner_text())
                later = uuid.uuid4()
                await publish_attempts(settings, topology, later)
                await wait_for_traces(tracing_server, later, 3)
                parker = AmqpPublisher(settings.broker, Topology(settings))
                await parker.connect(declare=False)  # parked as a worker parks: message, then row
                assert await park(parker, topology, settings.queue_finalize, Delivery(b"{}"),
                                  "failed after 3 attempts", "boom",
                                  lambda job: parked_rows.record(pool, job))
                await parker.close()
                finalize = f'#health .queue[data-queue="{settings.queue_finalize}"]'
                await page.locator(f"{finalize}.has-parked").wait_for(timeout=15000)
                assert "1 parked" in (await page.locator(f"{finalize} .qstatus").inner_text()).lower()
                await page.locator(f'#traces tr[data-uuid="{later}"]').first.wait_for(timeout=15000)
                assert int(await page.locator("#stat-total").inner_text()) >= total + 3

                await page.fill("#f-uuid", str(photo))
                await page.click("#f-apply")
                await page.wait_for_load_state()
                rows = page.locator("#traces tbody tr")
                assert await rows.count() == expected
                shown = {await rows.nth(i).get_attribute("data-uuid") for i in range(expected)}
                assert shown == {str(photo)}
                table = await page.locator("#traces").inner_text()
                assert "vips_thumbnail" in table and "embedded_jpeg" in table
                assert HOSTILE in table  # shown as text, never run
                assert await page.evaluate("window.pwned === undefined") and not dialogs

                await page.select_option("#f-type", "preview_extraction")
                await page.click("#f-apply")
                await page.wait_for_load_state()
                assert await rows.count() == 1
                copy = rows.first.locator("button.copy")
                await copy.click()
                await page.wait_for_function(
                    "document.querySelector('#traces button.copy').textContent === 'copied'")
                await page.screenshot(path=str(tmp_path / "debug-page.png"), full_page=True)

                await page.click("#timeline-link")
                await page.wait_for_load_state()
                steps = page.locator("ol.steps li")
                assert await steps.count() == expected
                assert any(["attempt 2" in await steps.nth(i).inner_text() for i in range(expected)])
                assert await page.locator("#timeline-uuid").inner_text() == str(photo)

                phone = await (await browser.new_context(
                    viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                )).new_page()
                await sign_in(phone, f"{base}/admin/ingest-traces?uuid={photo}", "tok-oscar")
                assert await phone.locator("#traces tbody tr").count() == expected
                overflow = await phone.evaluate(
                    "document.documentElement.scrollWidth - document.documentElement.clientWidth")
                assert overflow <= 1, "the page scrolls sideways on a phone"
                await phone.screenshot(path=str(tmp_path / "debug-page-phone.png"), full_page=True)

                stranger = await (await browser.new_context()).new_page()
                answer = await stranger.goto(f"{base}/admin/ingest-traces")
                assert answer is not None and answer.status == 401
                assert await stranger.locator("input[name=token]").count() == 1
                in_url = await stranger.goto(f"{base}/admin/ingest-traces?token=tok-oscar")
                assert in_url is not None and in_url.status == 400  # never from a query string
                await sign_in(stranger, f"{base}/admin/ingest-traces", "nope")
                assert await stranger.locator(".errors").inner_text() == "That token is not known."
                await sign_in(stranger, f"{base}/admin/ingest-traces", "tok-alice")
                assert "operator token" in await stranger.locator(".errors").inner_text()
                assert not [c for c in await stranger.context.cookies() if c["name"] == COOKIE]
            finally:
                await browser.close()
    finally:
        await pool.execute("DELETE FROM ingest_traces WHERE uuid = ANY($1::uuid[])", [photo, other])
