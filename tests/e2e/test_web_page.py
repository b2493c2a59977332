"""The web page at `/` in headless Chromium (Playwright): sign in, drop photos, see
progress and previews arrive, lose the network mid-upload and resume, see a
refused file's reason (without a retry that cannot help), pick and confirm two photos
and see their kept Images.

Screenshots of each state go to the test's folder; with
PROPHOTO_UPDATE_SCREENSHOTS=1 they replace the ones in docs/screenshots/
(shown in the README).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from shared.settings import Settings
from tests.conftest import REPO, make_settings
from tests.fixtures.proxies import wait_until
from tests.fixtures.upload import UploadServer
from tests.integration.test_tus import padded_jpeg

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
PHOTOS = ("Canon_40D.jpg", "Nikon_D70.jpg")


def shots(tmp_path: Path) -> Path:
    if os.environ.get("PROPHOTO_UPDATE_SCREENSHOTS") == "1":
        folder = REPO / "docs" / "screenshots"
    else:
        folder = tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


DROP_JS = """([selector, files]) => {
    const transfer = new DataTransfer();
    for (const [name, type, b64] of files) {
        const raw = atob(b64);
        const bytes = new Uint8Array(raw.length);
        for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
        transfer.items.add(new File([bytes], name, { type }));
    }
    const target = document.querySelector(selector);
    for (const type of ["dragenter", "dragover", "drop"]) {
        target.dispatchEvent(new DragEvent(type, { dataTransfer: transfer, bubbles: true, cancelable: true }));
    }
}"""


async def kept_images(stack: UploadServer, page: Any, count: int) -> list[dict[str, Any]]:
    """The user's `count` Images, once the finalize worker has made them (the API, not the page:
    what the page shows is asserted after); on a time-out, what became of the confirmed photos."""
    async def made() -> list[dict[str, Any]] | None:
        async with stack.client() as c:
            items: list[dict[str, Any]] = (await c.get("/v1/images")).json()["items"]
        return items if len(items) == count else None

    try:
        return await wait_until(made, 120, f"{count} kept Images")  # type: ignore[no-any-return]
    except AssertionError:
        async with stack.client() as c:
            rows = (await c.get("/v1/proxies", params={"limit": 50})).json()["items"]
        print("proxies:", [(r["original_name"], r["preview_status"], r["ingest_status"], r["problem"])
                           for r in rows])
        print("the page said:", await page.text_content("#toast"), await page.get_attribute("#toast", "title"))
        raise


def as_drop(name: str, data: bytes, mime: str = "image/jpeg") -> list[str]:
    return [name, mime, base64.b64encode(data).decode()]


async def test_a_photographer_signs_in_drops_photos_survives_a_network_cut_and_confirms_two(
        stack: UploadServer, corpus: Path, tmp_path: Path):
    playwright_api = pytest.importorskip("playwright.async_api")
    if not os.path.exists(CHROMIUM):  # noqa: ASYNC240 - once, before the browser starts
        pytest.skip(f"Debian's chromium is not installed at {CHROMIUM} (scripts/system-deps.sh installs it)")
    folder = shots(tmp_path)
    big = padded_jpeg(11 * 1024 * 1024)
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = await browser.new_context(viewport={"width": 1100, "height": 760})
        page = await context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        response = await page.goto(stack.url + "/")
        assert response is not None and "script-src 'self'" in response.headers["content-security-policy"]
        await page.screenshot(path=str(folder / "1-sign-in.png"))

        await page.fill("#token", "wrong")
        await page.click("#signin button")
        await page.wait_for_selector("#signin-error:has-text('Invalid token')")
        await page.fill("#token", "tok-alice")
        await page.click("#signin button")
        await page.wait_for_selector("#cull-view:not([hidden])")
        assert "tok-alice" not in page.url

        # cut the network during the big file's second chunk, then bring it back
        patches: dict[str, list[int]] = {}
        heads: list[str] = []
        cut = {"done": False}

        async def on_tus(route, request):  # type: ignore[no-untyped-def]
            if request.method == "HEAD":
                heads.append(request.url)
            if request.method == "PATCH":
                sizes = patches.setdefault(request.url, [])
                size = len(request.post_data_buffer or b"")
                if size >= 5 * 1024 * 1024 and sizes and not cut["done"]:
                    cut["done"] = True
                    await context.set_offline(True)
                    await route.abort("internetdisconnected")
                    return
                sizes.append(size)
            await route.continue_()

        await page.route("**/v1/tus/**", on_tus)
        photos = [as_drop(n, (corpus / "jpeg" / n).read_bytes()) for n in PHOTOS]
        await page.evaluate(DROP_JS, ["#drop", [*photos, as_drop("big-shoot.jpg", big),
                                                as_drop("notes.pdf", b"%PDF-1.7\n" + b"x" * 4000,
                                                        "application/pdf")]])
        item = ".cell[data-name='{}']"
        await page.wait_for_selector(item.format("big-shoot.jpg") + "[data-status='waiting for the network']",
                                     timeout=30_000)
        await page.screenshot(path=str(folder / "2-offline-mid-upload.png"))
        await context.set_offline(False)

        try:
            for name in PHOTOS:
                # the EXIF thumbnail first (a data: URL from the upload answer), then the real one
                await page.wait_for_selector(item.format(name) + "[data-thumb]", timeout=30_000)
                await page.wait_for_selector(
                    item.format(name) + "[data-status='ready'][data-thumb='thumb']", timeout=120_000)
        except Exception:
            async with stack.client() as c:
                print("proxies:", [(x["original_name"], x["preview_status"], x["preview_error"]) for x in
                                   (await c.get("/v1/proxies")).json()["items"]], errors)
            raise
        # refused for good: said in plain words, the server's reason on hover, no retry offered
        refused = item.format("notes.pdf")
        await page.wait_for_selector(refused + "[data-status='upload failed']")
        assert "not a photo" in (await page.text_content(refused + " .status") or "")
        assert "Unsupported media type" in (await page.get_attribute(refused + " .status", "title") or "")
        await page.wait_for_selector(item.format("big-shoot.jpg") + "[data-status='ready']", timeout=120_000)
        await page.screenshot(path=str(folder / "3-previews-and-a-refused-file.png"))

        for name in PHOTOS:  # pick them with the keyboard
            await page.click(item.format(name))
            await page.keyboard.press("p")
            await page.wait_for_selector(item.format(name) + "[data-flag='pick']")
        await page.click("#confirm")
        images = await kept_images(stack, page, 2)

        # the kept view: its first listing answers late, Apply is clicked again meanwhile; the
        # late answer must neither empty the list nor add its page twice
        late = {"first": True}

        async def slow_first_listing(route, request):  # type: ignore[no-untyped-def]
            if late.pop("first", False):
                await asyncio.sleep(1.0)
            await route.continue_()

        await page.route("**/v1/images?*", slow_first_listing)
        await page.click("#tab-kept")
        await page.click("#k-apply")
        await page.wait_for_selector("#kept[aria-busy='false'] .kept-card:nth-child(2)", timeout=30_000)
        await page.wait_for_timeout(1500)  # the late first answer has come and gone
        paths = await page.eval_on_selector_all("#kept .kept-card .path", "cells => cells.map(c => c.textContent)")
        assert sorted(paths) == sorted(i["path"] for i in images), paths
        await page.screenshot(path=str(folder / "4-images.png"), full_page=True)
        await browser.close()

    assert cut["done"], "the network was cut during the big file's second chunk"
    big_url = next(url for url, sizes in patches.items() if sum(sizes) == len(big))
    assert big_url in heads, "after the cut the client asked the server for its offset"
    # resumed, not restarted: the big file's bytes went through exactly once after the cut
    assert patches[big_url] == [5 * 1024 * 1024, 5 * 1024 * 1024, len(big) - 10 * 1024 * 1024]
    assert all(p.startswith("shoots/") for p in paths), paths
    assert not [e for e in errors if "Failed to load resource" not in e and "ERR_INTERNET_DISCONNECTED" not in e]
    async with stack.client() as c:
        proxies = (await c.get("/v1/proxies", params={"limit": 50})).json()["items"]
    big_sha = hashlib.sha256(big).hexdigest()
    assert [x["sha256"] for x in proxies if x["original_name"] == "big-shoot.jpg"] == [big_sha]


@pytest.fixture
def settings(tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    """The tests' usual settings, with the quota settings a test passes (indirect)."""
    return make_settings(tmp_path, **getattr(request, "param", {}))


@pytest.mark.parametrize("settings,refused,words", [
    ({"quota_unconfirmed_proxies": 1}, "upload failed",
     "You have 1 unconfirmed photo, the most your account allows: confirm or delete some, then try again."),
    ({"quota_uploads_per_minute": 1}, "waiting for the quota",
     "You sent more photos this minute than your account allows (1): the rest follow in "),
], indirect=["settings"], ids=["unconfirmed-proxies", "uploads-per-minute"])
async def test_an_upload_past_a_quota_says_which_one_and_what_helps_on_its_cell_and_aloud(
        upload_server: UploadServer, corpus: Path, refused: str, words: str):
    playwright_api = pytest.importorskip("playwright.async_api")
    if not os.path.exists(CHROMIUM):  # noqa: ASYNC240 - once, before the browser starts
        pytest.skip(f"Debian's chromium is not installed at {CHROMIUM} (scripts/system-deps.sh installs it)")
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = await browser.new_page()
        await page.goto(upload_server.url + "/")
        await page.fill("#token", "tok-alice")
        await page.click("#signin button")
        await page.wait_for_selector("#cull-view:not([hidden])")
        first, second = (as_drop(n, (corpus / "jpeg" / n).read_bytes()) for n in PHOTOS)
        await page.evaluate(DROP_JS, ["#drop", [first]])
        await page.wait_for_selector(f".cell[data-name='{PHOTOS[0]}'][data-status='pending']", timeout=30_000)
        await page.evaluate(DROP_JS, ["#drop", [second]])
        cell = f".cell[data-name='{PHOTOS[1]}']"
        await page.wait_for_selector(f"{cell}[data-status='{refused}']", timeout=30_000)  # at once: no retries
        said = await page.text_content(f"{cell} .status") or ""
        technical = await page.get_attribute(f"{cell} .status", "title") or ""
        aloud = await page.text_content("#toast") or ""
        await browser.close()
    assert said.startswith(words), said
    assert said.endswith(" (R tries again)") if refused == "upload failed" else said.endswith(" s."), said
    assert aloud.startswith(words), aloud  # the live region: screen readers hear it too
    assert ("unconfirmed proxies: at most 1" if refused == "upload failed"
            else "uploads per minute: at most 1 per 60 s") in technical, technical  # on hover
