"""What an app developer meets first, against a live `prophoto dev`: the client example of
docs/client.md, run as written, and the API reference pages in Chromium with every request
to anything but 127.0.0.1 refused."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import uuid as uuidlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from PIL import Image

from tests.fixtures.cli_stack import *  # noqa: F403 - the dev_stack fixture
from tests.fixtures.cli_stack import DevStack
from tests.fixtures.workers import wait_answering

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
REPO = Path(__file__).resolve().parents[2]
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def client_example() -> str:
    text = (REPO / "docs" / "client.md").read_text()
    return re.search(r"## Ten lines\n\n```python\n(.*?)```", text, re.S).group(1)  # type: ignore[union-attr]


def unique_jpeg(path: Path) -> Path:
    seed = uuidlib.uuid4().bytes
    image = Image.frombytes("RGB", (64, 48), (seed * 600)[: 64 * 48 * 3]).resize((800, 600))
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=90)
    path.write_bytes(buf.getvalue())
    return path


def test_the_client_example_in_the_docs_runs_against_the_live_stack(
    dev_stack: DevStack, tmp_path: Path
) -> None:
    code = client_example()
    assert len([line for line in code.splitlines() if line.strip()]) <= 10
    assert code in (REPO / "README.md").read_text()  # the README shows the same ten lines
    code = code.replace("http://127.0.0.1:8080", dev_stack.url).replace('"dev-token"', '"tok-alice"')
    unique_jpeg(tmp_path / "IMG_0001.jpg")
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         timeout=180)
    assert run.returncode == 0, run.stderr + dev_stack.output()[-3000:]
    first, *images = run.stdout.splitlines()
    assert re.fullmatch(rf"{UUID} ready 800", first), run.stdout
    assert images and all(re.fullmatch(r"\d+ \S+\.jpg", line) for line in images), run.stdout
    with Image.open(tmp_path / "preview.jpg") as preview:
        assert preview.format == "JPEG" and preview.size == (800, 600)


# ---- the reference pages in a browser with no way out ------------------------------------

CHROMIUM = "/usr/bin/chromium"
#: ReDoc's sidebar always renders the vendor's logo from its CDN; the pages' CSP refuses it
#: before any request is made, and ReDoc hides the broken image
REDOC_LOGO = "Loading the image 'https://cdn.redoc.ly/redoc/logo-mini.svg' violates"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (make system-deps installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


@dataclass
class Visit:
    page: Any
    left_the_host: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@contextmanager
def offline_page(browser: Any) -> Iterator[Visit]:
    """A page whose every request to anything but 127.0.0.1 is refused (and recorded)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    visit = Visit(context.new_page())

    def only_local(route: Any) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            visit.left_the_host.append(route.request.url)
            route.abort()

    context.route("**/*", only_local)
    visit.page.on("console", lambda m: m.type == "error" and not m.text.startswith(REDOC_LOGO)
                  and visit.errors.append(m.text))
    visit.page.on("pageerror", lambda e: visit.errors.append(str(e)))
    try:
        yield visit
    finally:
        context.close()


def test_swagger_ui_lists_every_operation_and_tries_get_proxies_with_a_token_offline(
    dev_stack: DevStack, browser: Any, tmp_path: Path
) -> None:
    with offline_page(browser) as visit:
        page = visit.page
        page.goto(f"{dev_stack.url}/docs")
        page.wait_for_selector(".opblock-summary-path", timeout=20_000)
        paths = set(page.locator(".opblock-summary-path").all_inner_texts())
        assert {"/v1/uploads", "/v1/proxies", "/v1/proxies/{uuid}/events", "/v1/ingest",
                "/v1/images"} <= {p.replace("\u200b", "") for p in paths}

        page.click("button.authorize")
        page.fill(".modal-ux input", "tok-alice")
        page.click(".modal-ux button.authorize")
        page.click(".modal-ux button.btn-done")
        operation = page.locator(".opblock-get:has(.opblock-summary-path[data-path='/v1/proxies'])")
        operation.locator(".opblock-summary").click()
        operation.locator("button.try-out__btn").click()
        operation.locator("button.execute").click()
        status = operation.locator(".live-responses-table .response .response-col_status").first
        status.wait_for(timeout=20_000)
        assert status.inner_text().strip() == "200"
        assert '"items"' in operation.locator(".live-responses-table .microlight").first.inner_text()
        assert "Bearer tok-alice" in operation.locator(".curl-command").inner_text()
        page.screenshot(path=str(tmp_path / "docs.png"))
    assert not visit.left_the_host, visit.left_the_host
    assert not visit.errors, visit.errors


def tracing_url(stack: DevStack) -> str:
    """The tracing service's base URL, once it answers (it starts after the upload service)."""
    url = f"http://127.0.0.1:{stack.settings.tracing_port}"
    try:
        wait_answering(stack.proc, f"{url}/healthz", 200, "prophoto dev", timeout=90, interval=0.5)
    except RuntimeError as exc:
        raise AssertionError(f"{exc}:\n{stack.output()[-3000:]}") from None
    return url


def test_redoc_lists_every_operation_offline_on_both_services(dev_stack: DevStack, browser: Any) -> None:
    tracing = tracing_url(dev_stack)
    for base, expected in ((dev_stack.url, "/v1/proxies/{uuid}/enhance"), (tracing, "/v1/queue-status")):
        with offline_page(browser) as visit:
            visit.page.goto(f"{base}/redoc")
            visit.page.wait_for_selector("[data-section-id^='operation/']", timeout=20_000)
            assert expected in visit.page.content()
        assert not visit.left_the_host, (base, visit.left_the_host)
        assert not visit.errors, (base, visit.errors)


def test_the_tracing_service_serves_the_same_offline_swagger_page(dev_stack: DevStack) -> None:
    tracing = tracing_url(dev_stack)
    page = httpx.get(f"{tracing}/docs")
    assert page.status_code == 200 and "script-src" not in page.headers["content-security-policy"]
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert "/openapi.json" in page.text and len(assets) == 4
    for asset in assets:
        assert asset.startswith("/docs/assets/") and httpx.get(tracing + asset).status_code == 200
    operations = httpx.get(f"{tracing}/openapi.json").json()["paths"]
    assert {"/v1/traces", "/v1/traces/stats", "/v1/traces/{uuid}", "/v1/queue-status"} <= set(operations)
