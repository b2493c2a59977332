"""Logging out of the debug page ends the session server-side: a copy of the cookie (another
browser, a stolen one) is refused afterwards, by the page and by the API."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from shared.db import sessions
from shared.http.auth import COOKIE, Principal, TokenBook

pytestmark = pytest.mark.integration


async def test_a_copied_session_cookie_is_refused_after_logout(tracing_server: Any) -> None:
    async with httpx.AsyncClient(base_url=tracing_server.url) as browser:
        r = await browser.post("/admin/login", data={"token": "tok-oscar", "next": "/admin/ingest-traces"})
        assert r.status_code == 303
        cookie = browser.cookies[COOKIE]
        copied = {COOKIE: cookie}
        async with httpx.AsyncClient(base_url=tracing_server.url, cookies=copied) as thief:
            assert (await thief.get("/v1/traces")).status_code == 200
            assert (await thief.get("/admin/ingest-traces")).status_code == 200
            assert (await browser.post("/admin/logout")).status_code == 303
            assert (await thief.get("/v1/traces")).status_code == 401
            assert (await thief.get("/admin/ingest-traces")).status_code == 401  # the sign-in page


async def test_every_session_has_its_own_id_and_revoking_one_leaves_the_others(pool: Any) -> None:
    book = TokenBook({"t" * 40: "ann"})
    first, second = (book.session(book.issue_session(Principal("ann"))) for _ in range(2))
    assert first is not None and second is not None and first.session != second.session
    assert first.session and second.session
    await sessions.revoke(pool, first.session, first.expires)
    await sessions.revoke(pool, first.session, first.expires)  # twice is once
    assert await sessions.is_revoked(pool, first.session)
    assert not await sessions.is_revoked(pool, second.session)
