"""The traces API against the real database: filters, keyset pages, stats, retention, auth."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from services.tracing.retention import sweep_old_traces
from tests.fixtures.tracing import *  # noqa: F403
from tests.fixtures.tracing import TracingServer

pytestmark = pytest.mark.integration


def recent_window() -> datetime:
    """Ten minutes ago: well inside the trace retention (30 days), so no tracing service of
    another test sweeps these rows away mid-test. Rows of other tests fall in this window too:
    the tests that count rows read them as their own user (unique per test), not as operator."""
    return datetime.now(UTC) - timedelta(minutes=10)


def quiet_second() -> datetime:
    """A random second 2-20 days ago: inside the retention, and one no other test writes to,
    so an operator's totals over it are exactly ours."""
    return datetime.now(UTC).replace(microsecond=0) - timedelta(
        seconds=random.randrange(2 * 86400, 20 * 86400))


def own_user(server: TracingServer) -> tuple[str, dict[str, str]]:
    """The test's own user (make_settings makes it unique per test) and its request headers."""
    return server.settings.tokens()["tok-alice"], {"Authorization": "Bearer tok-alice"}


async def test_traces_are_filtered_by_uuid_type_method_success_and_time(tracing_server, trace_rows):
    photo, other = uuid.uuid4(), uuid.uuid4()
    start = recent_window()
    user, headers = own_user(tracing_server)
    await trace_rows(photo, trace_type="preview_extraction", method="embedded_jpeg",
                     created_at=start, user_id=user)
    await trace_rows(photo, trace_type="thumbnail_generation", method="vips_thumbnail",
                     success=False, reason="bad", created_at=start + timedelta(minutes=1),
                     user_id=user)
    await trace_rows(photo, trace_type="thumbnail_generation", method="vips_thumbnail",
                     created_at=start + timedelta(minutes=2), user_id=user)
    await trace_rows(other, trace_type="thumbnail_generation", created_at=start, user_id=user)

    async with httpx.AsyncClient(base_url=tracing_server.url, headers=headers) as c:
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
    start = recent_window()
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
    start = recent_window()
    user, headers = own_user(tracing_server)
    for i in range(1, 21):
        await trace_rows(photo, trace_type="preview_extraction", method="embedded_jpeg",
                         duration_ms=float(i), created_at=start + timedelta(seconds=i),
                         user_id=user)
    await trace_rows(photo, trace_type="thumbnail_generation", method="vips_thumbnail",
                     success=False, reason="x", duration_ms=500.0, created_at=start,
                     user_id=user)
    window = {"from": start.isoformat(), "to": (start + timedelta(minutes=5)).isoformat()}
    async with httpx.AsyncClient(base_url=tracing_server.url) as c:
        r = await c.get("/v1/traces/stats", params=window, headers=headers)
        everyone = (await c.get("/v1/traces/stats", params=window,
                                headers=tracing_server.headers)).json()
    assert r.status_code == 200, r.text
    assert everyone["total"] >= 21 and everyone["failed"] >= 1  # the operator's view has them too
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


async def test_a_user_sees_only_their_own_traces_and_an_operator_sees_everyones(
    tracing_server, trace_rows
):
    users = tracing_server.settings.tokens()
    alice, bob = users["tok-alice"], users["tok-bob"]
    mine, theirs = uuid.uuid4(), uuid.uuid4()
    start = quiet_second()
    await trace_rows(mine, user_id=alice, created_at=start)
    await trace_rows(theirs, user_id=bob, created_at=start, success=False, reason="bob's secret")
    window = {"from": start.isoformat(), "to": (start + timedelta(seconds=1)).isoformat()}

    async def as_(token: str, path: str, **params: object) -> dict:
        async with httpx.AsyncClient(base_url=tracing_server.url,
                                     headers={"Authorization": f"Bearer {token}"}) as c:
            r = await c.get(path, params=params)
        assert r.status_code == 200, r.text
        return r.json()

    assert [t["uuid"] for t in (await as_("tok-alice", "/v1/traces", **window))["items"]] == [
        str(mine)]
    assert (await as_("tok-alice", "/v1/traces", uuid=str(theirs)))["items"] == []
    assert (await as_("tok-alice", f"/v1/traces/{theirs}"))["items"] == []
    assert len((await as_("tok-alice", f"/v1/traces/{mine}"))["items"]) == 1
    assert (await as_("tok-alice", "/v1/traces/stats", **window))["total"] == 1
    assert (await as_("tok-bob", "/v1/traces/stats", **window))["failed"] == 1
    everyone = await as_("tok-oscar", "/v1/traces", **window)
    assert {t["uuid"] for t in everyone["items"]} == {str(mine), str(theirs)}
    assert (await as_("tok-oscar", "/v1/traces/stats", **window))["total"] == 2


async def test_traces_are_filtered_by_job_tag_and_carry_their_tags(tracing_server, trace_rows):
    users = tracing_server.settings.tokens()
    alice, bob = users["tok-alice"], users["tok-bob"]
    mine, also_mine, theirs = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    start = quiet_second()
    for photo, user in ((mine, alice), (also_mine, alice), (theirs, bob)):
        await trace_rows(photo, user_id=user, created_at=start)
    window = {"from": start.isoformat(), "to": (start + timedelta(seconds=1)).isoformat()}
    async with httpx.AsyncClient(base_url=tracing_server.url,
                                 headers={"Authorization": "Bearer tok-oscar"}) as c:
        async def uuids(tag: str) -> set[str]:
            r = await c.get("/v1/traces", params=window | {"tag": tag})
            assert r.status_code == 200, r.text
            return {t["uuid"] for t in r.json()["items"]}

        assert await uuids(f"user:{alice}") == {str(mine), str(also_mine)}
        assert await uuids(f"proxy:{theirs}") == {str(theirs)}
        assert await uuids("ingest") == {str(mine), str(also_mine), str(theirs)}
        item = (await c.get("/v1/traces", params=window | {"tag": f"proxy:{mine}"})).json()
        assert item["items"][0]["tags"] == ["ingest", f"proxy:{mine}", f"user:{alice}"]
        for bad in ("proxy:nope", "colour:red", "user:"):
            r = await c.get("/v1/traces", params={"tag": bad})
            assert r.status_code == 422 and r.json()["title"] == "Invalid tag", bad
        page = await c.get("/admin/ingest-traces", params=window | {"tag": f"user:{bob}"})
        assert page.status_code == 200
        assert str(theirs) in page.text and str(mine) not in page.text
        assert f'href="?tag=user%3A{bob}"' in page.text  # each row's tags link to their filter


async def test_operator_endpoints_answer_a_user_token_with_a_403_problem(tracing_server):
    async with httpx.AsyncClient(base_url=tracing_server.url) as c:
        for path in ("/v1/queue-status",):
            r = await c.get(path, headers={"Authorization": "Bearer tok-alice"})
            assert r.status_code == 403
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.json()["title"] == "Operators only"
            ok = await c.get(path, headers={"Authorization": "Bearer tok-oscar"})
            assert ok.status_code == 200
        page = await c.get("/admin/ingest-traces", headers={"Authorization": "Bearer tok-alice"})
        assert page.status_code == 403 and "operator token" in page.text


async def test_a_token_in_the_query_string_is_refused_by_both_services(
    tracing_server, upload_server
):
    async with httpx.AsyncClient(base_url=tracing_server.url) as c:
        for name in ("token", "access_token"):
            r = await c.get("/v1/traces", params={name: "tok-oscar"})
            assert r.status_code == 401 and "query string" in r.json()["title"]
        page = await c.get("/admin/ingest-traces", params={"token": "tok-oscar"})
        assert page.status_code == 400 and "set-cookie" not in page.headers
    async with upload_server.client(token=None) as c:
        r = await c.get("/v1/proxies", params={"token": "tok-alice"})
        assert r.status_code == 401 and "query string" in r.json()["title"]


async def test_the_debug_page_login_is_a_post_that_sets_a_strict_httponly_session_cookie(
    tracing_server,
):
    from shared.http.auth import COOKIE

    async with httpx.AsyncClient(base_url=tracing_server.url) as c:
        async def login(token: str, **headers: str) -> httpx.Response:
            return await c.post("/admin/login", data={"token": token,
                                                      "next": "/admin/ingest-traces?type=x"},
                                headers=headers)

        r = await login("tok-oscar")
        assert r.status_code == 303 and r.headers["location"] == "/admin/ingest-traces?type=x"
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
        assert "tok-oscar" not in cookie
        session = r.cookies[COOKIE]
        c.cookies.clear()
        assert "Secure" not in (await login("tok-oscar", **{"X-Forwarded-Proto": "https"})
                                ).headers["set-cookie"]  # from a proxy nobody trusts
        tracing_server.settings.trusted_proxies = "127.0.0.1"
        assert "Secure" in (await login("tok-oscar", **{"X-Forwarded-Proto": "https"})
                            ).headers["set-cookie"]
        c.cookies.clear()
        assert (await login("tok-alice")).status_code == 403  # a user token opens no session
        assert (await login("nope")).status_code == 401
        away = await c.post("/admin/login", data={"token": "tok-oscar", "next": "//evil.example/"})
        assert away.headers["location"] == "/admin/ingest-traces"  # no open redirect
        c.cookies.clear()

        async def page_with(value: str) -> int:
            r = await c.get("/admin/ingest-traces", headers={"Cookie": f"{COOKIE}={value}"})
            return r.status_code

        assert await page_with(session) == 200
        payload, signature = session.split(".")
        assert await page_with(f"{payload}x.{signature}") == 401  # forged
        expired = tracing_server.app.state.auth.issue_session(
            tracing_server.app.state.auth.session(session), now=0)
        assert await page_with(expired) == 401
        api = await c.get("/v1/queue-status", headers={"Cookie": f"{COOKIE}={session}"})
        assert api.status_code == 200  # the page's own fetches
