"""The culling page in headless Chromium (Playwright, Debian's chromium) against the real
upload service, preview and finalize workers, PostgreSQL and RabbitMQ.

A photographer drops 60 corpus files (RAW, HEIC, a damaged JPEG, a file that is not a
photo), culls with the keyboard alone, confirms the picks, reloads and finds the
unconfirmed ones, browses, opens, downloads and deletes a kept Image, and uploads a kept
photo again. Then: 3,000 proxies scroll at 50 fps or better, the loupe shows the next
(prefetched) photo within 100 ms of the arrow key, and axe-core finds no serious violation.

Screenshots of each step go to the test's folder; with PROPHOTO_UPDATE_SCREENSHOTS=1 they
replace the ones in docs/screenshots/ (shown in the README).
"""

from __future__ import annotations

import hashlib
import io
import os
import uuid as uuidlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from shared import keys
from shared.settings import Settings
from tests.conftest import REPO
from tests.e2e.test_web_page import CHROMIUM, shots
from tests.fixtures.proxies import *  # noqa: F403
from tests.fixtures.proxies import wait_until
from tests.fixtures.upload import UploadServer

pytestmark = pytest.mark.e2e

AXE = REPO / "tests" / "e2e" / "vendor" / "axe-core-4.14.1" / "axe.min.js"
RAW_AND_HEIC = ("raw/canon-r6.cr3", "raw/Canon-R6-pruned.CR3", "raw/stubs/CanonRaw.cr2",
                "other/Stonehenge.heic", "other/spring_1440x960.heic",
                "raw/nikon_z_9_high_efficiency_compressed_dx_cropped_max_overexposed.dng")


def shoot(corpus: Path, folder: Path) -> list[Path]:
    """60 files: the 52 smallest camera JPEGs, RAW and HEIC, a damaged JPEG, a PDF."""
    jpegs = sorted((corpus / "jpeg").iterdir(), key=lambda p: p.stat().st_size)[:52]
    files = [*jpegs, *(corpus / name for name in RAW_AND_HEIC)]
    whole = (corpus / "jpeg" / "Canon_40D.jpg").read_bytes()
    damaged = folder / "damaged.jpg"
    damaged.write_bytes(whole[: len(whole) * 2 // 5])  # the image data ends early
    notes = folder / "notes.pdf"
    notes.write_bytes(b"%PDF-1.7\n" + b"not a photo " * 300)
    return [*files, damaged, notes]


async def browser_page(p: Any, *, bypass_csp: bool = False) -> tuple[Any, Any, list[str]]:
    browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
    context = await browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=bypass_csp,
                                        accept_downloads=True)
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("dialog", lambda d: d.accept())
    return browser, page, errors


async def sign_in(page: Any, url: str, token: str = "tok-alice") -> None:
    await page.goto(url + "/")
    await page.fill("#token", token)
    await page.press("#token", "Enter")
    await page.wait_for_selector("#cull-view:not([hidden])")


async def proxies(stack: UploadServer) -> list[dict[str, Any]]:
    async with stack.client() as c:
        return list((await c.get("/v1/proxies", params={"limit": 500})).json()["items"])


async def settled(stack: UploadServer, count: int) -> list[dict[str, Any]] | None:
    rows = await proxies(stack)
    done = [r for r in rows if r["preview_status"] in ("ready", "failed")]
    return rows if len(rows) >= count and len(done) == len(rows) else None


async def focused(page: Any) -> dict[str, str]:
    """The focused cell's data, once the grid has drawn the last key (it draws on the next frame)."""
    await page.evaluate("() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")
    return dict(await page.eval_on_selector(".cell.focused", "e => ({...e.dataset})"))


def require_browser() -> Any:
    playwright_api = pytest.importorskip("playwright.async_api")
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"Debian's chromium is not installed at {CHROMIUM} (scripts/system-deps.sh installs it)")
    return playwright_api


async def test_a_shoot_is_dropped_culled_by_keyboard_confirmed_and_its_kept_images_browsed(
        stack: UploadServer, corpus: Path, tmp_path: Path):
    playwright_api = require_browser()
    folder = shots(tmp_path)
    files = shoot(corpus, tmp_path)
    assert len(files) == 60
    async with playwright_api.async_playwright() as p:
        browser, page, errors = await browser_page(p)
        response = await page.goto(stack.url + "/")
        assert response is not None and "script-src 'self'" in response.headers["content-security-policy"]
        await sign_in(page, stack.url)
        assert "tok-alice" not in page.url
        assert await page.evaluate("() => localStorage.length") == 0

        await page.set_input_files("#files", [str(f) for f in files])
        await page.wait_for_selector(".cell[data-status='uploading'], .cell[data-thumb='exif']", timeout=30_000)
        await page.screenshot(path=str(folder / "5-contact-sheet-uploading.png"))
        rows = await wait_until(lambda: settled(stack, 59), 240, "59 previews ready or failed")
        by_name = {r["original_name"]: r for r in rows}
        assert "notes.pdf" not in by_name  # refused at upload: never a proxy
        assert by_name["damaged.jpg"]["preview_status"] == "failed"
        assert "damaged" in by_name["damaged.jpg"]["problem"]["message"]
        assert by_name["damaged.jpg"]["problem"]["retryable"] is False
        assert by_name["Stonehenge.heic"]["preview_status"] == "ready"
        assert by_name["canon-r6.cr3"]["preview_status"] == "ready"
        # the page caught up: the refused file and the damaged one explained (the failed ones only)
        await page.select_option("#f-status", "failed")
        await page.wait_for_selector(".cell[data-name='notes.pdf'][data-status='upload failed']", timeout=30_000)
        assert "not a photo" in (await page.text_content(".cell[data-name='notes.pdf'] .status") or "")
        damaged = ".cell[data-name='damaged.jpg']"
        await page.wait_for_selector(damaged + "[data-status='failed']", timeout=30_000)
        assert "damaged" in (await page.text_content(damaged + " .status") or "")
        # the technical reason on hover
        assert await page.get_attribute(damaged + " .status", "title") == by_name["damaged.jpg"]["preview_error"]
        await page.screenshot(path=str(folder / "6-failed-explained.png"))
        await page.select_option("#f-status", "ready")
        await page.wait_for_selector(".cell:not([hidden])[data-status='ready']:not([data-thumb='thumb'])",
                                     state="detached", timeout=30_000)
        await page.screenshot(path=str(folder / "7-contact-sheet.png"))

        # ---- cull with the keyboard alone ----
        await page.focus("#grid")
        await page.keyboard.press("Home")
        first = (await focused(page))["name"]
        await page.keyboard.press("p")
        await page.keyboard.press("5")
        await page.keyboard.press("ArrowRight")
        second = (await focused(page))["name"]
        await page.keyboard.press("x")
        await page.keyboard.press("ArrowRight")
        third = (await focused(page))["name"]
        await page.keyboard.press("3")
        await page.keyboard.press("Enter")  # the loupe
        await page.wait_for_selector("#loupe:not([hidden]) .pane[data-shown='preview']", timeout=30_000)
        await page.keyboard.press("ArrowRight")
        await page.wait_for_selector("#loupe .pane[data-shown='preview']", timeout=30_000)
        fourth = await page.get_attribute("#loupe .pane", "data-name")
        await page.keyboard.press("p")
        await page.keyboard.press("4")
        await page.wait_for_selector("#loupe-info:has-text('★★★★')")
        info = await page.text_content("#loupe-info") or ""
        assert "★★★★" in info and "Camera" in info and "Exposure" in info
        await page.screenshot(path=str(folder / "8-loupe.png"))
        await page.keyboard.press("Escape")
        await page.wait_for_selector("#loupe[hidden]", state="attached")
        await page.keyboard.press("ArrowRight")
        await page.keyboard.press("u")  # nothing to unflag: harmless
        await page.keyboard.press(" ")
        await page.keyboard.press("ArrowLeft")
        await page.keyboard.press(" ")
        await page.keyboard.press("c")  # compare the two marked
        await page.wait_for_selector("#loupe[data-count='2'] .pane:nth-child(2)[data-shown='preview']",
                                     timeout=30_000)
        await page.screenshot(path=str(folder / "9-compare.png"))
        await page.keyboard.press("Escape")

        async def culled() -> dict[str, tuple[Any, Any]] | None:
            got = {r["original_name"]: (r["flag"], r["rating"]) for r in await proxies(stack)}
            want = {first: ("pick", 5), second: ("reject", None), third: (None, 3), fourth: ("pick", 4)}
            if all(got[k] == v for k, v in want.items()):
                return got
            print("culled so far:", {k: got[k] for k in want})
            return None

        await wait_until(culled, 15, "the flags and ratings on the server")

        # a bulk action never takes a failed preview: the damaged photo gets three stars too,
        # then "Pick all shown" among the three stars and up picks every one but the damaged
        await page.select_option("#f-status", "failed")
        await page.focus("#grid")
        await page.keyboard.press("End")
        while (await focused(page))["name"] != "damaged.jpg":
            await page.keyboard.press("ArrowLeft")
        await page.keyboard.press("3")
        await page.select_option("#f-status", "")
        await page.select_option("#f-rating", "3")
        await page.wait_for_selector(damaged)
        await page.click("#pick-ready")

        async def three_stars_picked() -> list[dict[str, Any]] | None:
            rows = [r for r in await proxies(stack) if (r["rating"] or 0) >= 3]
            ready = [r for r in rows if r["preview_status"] == "ready"]
            return rows if len(rows) == 4 and all(r["flag"] == "pick" for r in ready) else None

        rated = await wait_until(three_stars_picked, 15, "the ready three-star photos picked")
        assert [(r["flag"], r["rating"]) for r in rated if r["original_name"] == "damaged.jpg"] == [(None, 3)]
        await page.select_option("#f-rating", "0")
        picked = {r["original_name"] for r in await proxies(stack) if r["flag"] == "pick"}
        await page.fill("#tags", "e2e-shoot, keeper")
        await page.screenshot(path=str(folder / "10-picks-before-confirm.png"))
        await page.click("#confirm")

        async def kept() -> list[dict[str, Any]] | None:
            async with stack.client() as c:
                items = (await c.get("/v1/images", params={"limit": 200})).json()["items"]
            return items if len(items) == len(picked) else None

        images = await wait_until(kept, 120, "the picks kept as Images")
        assert {i["original_name"] for i in images} == picked  # exactly the picks
        assert all(i["tags"][:2] == ["e2e-shoot", "keeper"] for i in images)
        assert {i["original_name"]: i["rating"] for i in images}.get(first) == 5
        assert not {r["original_name"] for r in await proxies(stack)} & picked

        # ---- a reload keeps the tab signed in and lists the unconfirmed photos from the server ----
        await page.reload()
        await page.wait_for_selector("#cull-view:not([hidden]) .cell", timeout=30_000)
        assert await page.is_hidden("#signin-view")
        unconfirmed = len(await proxies(stack))
        assert await page.get_attribute(".cell", "aria-setsize") == str(unconfirmed)
        await page.screenshot(path=str(folder / "11-after-reload.png"))

        # ---- kept Images: browse, open, download, delete ----
        await page.click("#tab-kept")
        await page.wait_for_selector(f"#kept .kept-card:nth-child({len(images)}) img[src]", timeout=30_000)
        await page.screenshot(path=str(folder / "12-kept-images.png"))
        victim = images[-1]
        await page.click(f"#kept .kept-card[data-id='{victim['id']}'] button")
        await page.wait_for_selector("#loupe:not([hidden]) .pane[data-shown='preview']", timeout=30_000)
        await page.screenshot(path=str(folder / "13-kept-image-open.png"))
        async with page.expect_download() as download_info:
            await page.click("#download")
        download = await download_info.value
        saved = tmp_path / "download.bin"
        await download.save_as(saved)
        assert hashlib.sha256(saved.read_bytes()).hexdigest() == victim["sha256"]
        await page.click("#delete")  # the confirmation is accepted
        await page.wait_for_selector(f"#kept .kept-card[data-id='{victim['id']}']", state="detached")
        async with stack.client() as c:
            assert (await c.get(f"/v1/images/{victim['id']}")).status_code == 404

        # ---- the same photo again: the page says where it is kept ----
        again = next(i for i in images if i["id"] != victim["id"])
        source = next(f for f in files if f.name == again["original_name"])
        await page.click("#tab-cull")
        await page.select_option("#f-flag", "")
        await page.set_input_files("#files", [str(source)])
        notice = f".cell[data-status='kept'][data-name='{source.name}'] .status"
        await page.wait_for_selector(notice, timeout=60_000)
        assert await page.text_content(notice) == f"already kept as {again['path']}"
        await page.wait_for_selector(".cell:not([hidden])[data-status='ready']:not([data-thumb='thumb'])",
                                     state="detached", timeout=30_000)  # the sheet's thumbnails, for the picture
        await page.screenshot(path=str(folder / "14-already-kept.png"))
        await browser.close()
    assert not [e for e in errors if "Failed to load resource" not in e], errors


async def many_proxies(pool: Any, store: Any, user: str, count: int) -> None:
    """`count` ready proxies sharing one stored preview and thumbnail (rows as the preview
    worker leaves them), for the scrolling and loupe timings."""
    shared_keys = {}
    for n, (name, width) in enumerate((("preview", 2048), ("thumb", 400))):
        im = Image.new("RGB", (width, width * 2 // 3), (40 + n * 60, 90, 160))
        out = io.BytesIO()
        im.save(out, "JPEG", quality=85)
        key = f"ingest-temp/{name}s/bulk-{uuidlib.uuid4()}.jpg"
        await store.put_bytes(key, out.getvalue(), "image/jpeg")
        shared_keys[name] = key
    now = datetime.now(UTC)
    rows = []
    for i in range(count):
        uuid = uuidlib.uuid4()
        rows.append((uuid, user, f"IMG_{i:04d}.jpg", "jpg", "image/jpeg", "jpeg", 1000 + i,
                     hashlib.sha256(f"{user}-{i}".encode()).hexdigest(), keys.original_key(uuid, "jpg"),
                     {"Make": "Canon", "Model": "Canon EOS R5"}, "ready", shared_keys["preview"],
                     shared_keys["thumb"], 2048, 1365, now))
    await pool.executemany(
        """INSERT INTO proxy_images (uuid, user_id, original_name, ext, mime, format, size, sha256, temp_key,
               metadata, preview_status, preview_path, thumbnail_path, preview_width, preview_height, uploaded_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)""", rows)


SCROLL_JS = """async ([seconds, pixels]) => {
    const grid = document.getElementById("grid");
    const frames = [];
    const long = [];
    const observer = new PerformanceObserver((list) => long.push(...list.getEntries()));
    observer.observe({ type: "longtask", buffered: false });
    const start = performance.now();
    await new Promise((done) => {
        const step = (now) => {
            frames.push(now);
            grid.scrollTop += pixels;
            if (now - start < seconds * 1000) requestAnimationFrame(step); else done();
        };
        requestAnimationFrame(step);
    });
    observer.disconnect();
    const span = frames[frames.length - 1] - frames[0];
    return { fps: (frames.length - 1) * 1000 / span, frames: frames.length, scrolled: grid.scrollTop,
             longTasks: long.length, longest: Math.max(0, ...long.map((e) => e.duration)) };
}"""


async def test_three_thousand_photos_scroll_smoothly_the_loupe_is_quick_and_axe_finds_nothing_serious(
        settings: Settings, pool: Any, temp_store: Any, upload_server: UploadServer, tmp_path: Path):
    playwright_api = require_browser()
    await many_proxies(pool, temp_store, f"alice-{settings.exchange}", 3000)
    async with playwright_api.async_playwright() as p:
        browser, page, errors = await browser_page(p, bypass_csp=True)  # axe is injected
        await sign_in(page, upload_server.url)
        await page.wait_for_selector(".cell[aria-setsize='3000'][data-thumb='thumb']", timeout=60_000)
        await page.evaluate(SCROLL_JS, [0.5, 60])  # warm: thumbnails and layout once
        await page.evaluate("() => { document.getElementById('grid').scrollTop = 0; }")
        # 60 px a frame: about a screen every quarter second, a fast flick through the shoot
        scroll = await page.evaluate(SCROLL_JS, [3, 60])
        # the same browser's frame rate doing nothing, in the same minute: on a shared machine
        # under load even an idle page drops frames, and the grid is judged against that
        idle = await page.evaluate(SCROLL_JS, [1.5, 0])
        print("grid scroll with 3000 proxies:", scroll, "idle page:", idle)
        assert scroll["frames"] > 60 and scroll["scrolled"] >= 60 * (scroll["frames"] - 2), scroll
        assert scroll["fps"] >= min(50, 0.85 * idle["fps"]), (scroll, idle)

        await page.focus("#grid")
        await page.keyboard.press("Home")
        await page.keyboard.press("Enter")
        await page.wait_for_selector("#loupe:not([hidden]) .pane[data-shown='preview']", timeout=30_000)
        timings = []
        for _ in range(5):
            await page.wait_for_selector("#loupe[data-ahead='ready']")  # the next one fetched and decoded
            await page.evaluate("() => performance.clearMeasures('loupe-next')")
            await page.keyboard.press("ArrowRight")
            await page.wait_for_selector("#loupe .pane[data-shown='preview']")
            await page.wait_for_timeout(100)
            timings.append(await page.evaluate(
                "() => performance.getEntriesByName('loupe-next').map((e) => e.duration)[0] ?? null"))
        print("loupe next-photo ms:", timings)
        assert None not in timings, timings
        # the median of five: one press landing while the shared machine's other work holds the
        # renderer says nothing about the page
        assert sorted(timings)[2] <= 100, timings

        serious = await axe_serious(page)  # the loupe open
        await page.keyboard.press("Escape")
        serious += await axe_serious(page)  # the contact sheet
        await page.click("#tab-kept")
        await page.wait_for_selector("#kept li")
        serious += await axe_serious(page)
        await page.click("#signout")
        await page.wait_for_selector("#signin-view:not([hidden])")
        serious += await axe_serious(page)
        await browser.close()
    assert not serious, serious
    assert not [e for e in errors if "Failed to load resource" not in e], errors


async def axe_serious(page: Any) -> list[str]:
    if not await page.evaluate("() => typeof axe !== 'undefined'"):
        await page.add_script_tag(path=str(AXE))
    result = await page.evaluate("async () => (await axe.run(document)).violations.map("
                                 "v => [v.impact, v.id, v.nodes.length, v.nodes[0].target.join(' ')])")
    return [" ".join(map(str, v)) for v in result if v[0] in ("serious", "critical")]
