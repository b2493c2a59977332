"""The IETF resumable-upload draft on the tus resources (interop versions 6-8, no 104)."""

from __future__ import annotations

import asyncio
import hashlib

import httpx
import pytest

from tests.integration.test_tus import padded_jpeg, proxies_with

pytestmark = pytest.mark.integration

D = {"Upload-Draft-Interop-Version": "8"}
APPEND = D | {"Content-Type": "application/partial-upload"}
TYPES = "https://iana.org/assignments/http-problem-types#"


async def careful_creation(c: httpx.AsyncClient, length: int, name: str = "draft.jpg") -> str:
    r = await c.post("/v1/tus/", headers=D | {
        "Upload-Complete": "?0", "Upload-Length": str(length),
        "Content-Disposition": f"inline; filename=\"{name}\""})
    assert r.status_code == 201, r.text
    assert r.headers["Upload-Complete"] == "?0" and r.headers["Upload-Offset"] == "0"
    assert "max-size=" in r.headers["Upload-Limit"] and "max-age=" in r.headers["Upload-Limit"]
    return r.headers["Location"]


async def test_discovery_announces_partial_upload_appends_and_the_limits(upload_server):
    async with upload_server.client(token=None) as c:
        r = await c.options("/v1/tus/")
    assert r.headers["Accept-Patch"] == "application/partial-upload"
    assert f"max-size={upload_server.settings.max_upload_bytes}" in r.headers["Upload-Limit"]


async def test_careful_creation_offset_retrieval_and_appends_become_one_proxy(upload_server, pool):
    data = padded_jpeg(400_000)
    sha = hashlib.sha256(data).hexdigest()
    async with upload_server.client() as c:
        url = await careful_creation(c, len(data))
        head = await c.head(url, headers=D)
        assert head.status_code == 204 and head.headers["Cache-Control"] == "no-store"
        assert (head.headers["Upload-Offset"], head.headers["Upload-Complete"]) == ("0", "?0")
        assert head.headers["Upload-Length"] == str(len(data))
        r = await c.patch(url, content=data[:150_000], headers=APPEND | {
            "Upload-Offset": "0", "Upload-Complete": "?0"})
        assert r.status_code == 204 and r.headers["Upload-Offset"] == "150000"
        assert (await c.head(url, headers=D)).headers["Upload-Offset"] == "150000"
        r = await c.patch(url, content=data[150_000:], headers=APPEND | {
            "Upload-Offset": "150000", "Upload-Complete": "?1"})
        assert r.status_code == 201, r.text
        assert r.headers["Upload-Complete"] == "?1"
        answer = r.json()
        assert answer["sha256"] == sha and answer["original_name"] == "draft.jpg"
        done = await c.head(url, headers=D)
        assert (done.headers["Upload-Complete"], done.headers["Upload-Offset"]) == ("?1", str(len(data)))
    assert await proxies_with(pool, upload_server.settings.tokens()["tok-alice"], sha) == 1


async def test_a_creation_with_the_whole_file_answers_like_the_direct_upload(upload_server):
    data = padded_jpeg(120_000)
    headers = D | {"Upload-Complete": "?1", "Content-Type": "image/jpeg"}
    async with upload_server.client() as c:
        first = await c.post("/v1/tus/", content=data, headers=headers)
        again = await c.post("/v1/tus/", content=data, headers=headers)
    assert first.status_code == 201 and first.headers["Upload-Complete"] == "?1"
    assert first.headers["Location"].startswith("/v1/tus/")
    assert first.json()["format"] == "jpeg" and not first.json()["duplicate"]
    assert again.status_code == 200 and again.json()["duplicate"]
    assert again.json()["uuid"] == first.json()["uuid"]


async def test_an_append_at_the_wrong_offset_is_409_with_the_offset_to_resume_from(upload_server):
    data = padded_jpeg(200_000)
    async with upload_server.client() as c:
        url = await careful_creation(c, len(data))
        await c.patch(url, content=data[:1000], headers=APPEND | {"Upload-Offset": "0", "Upload-Complete": "?0"})
        r = await c.patch(url, content=data[5000:6000], headers=APPEND | {
            "Upload-Offset": "5000", "Upload-Complete": "?0"})
        assert (await c.head(url, headers=D)).headers["Upload-Offset"] == "1000"
    assert r.status_code == 409 and r.headers["Upload-Offset"] == "1000"
    problem = r.json()
    assert problem["type"] == TYPES + "mismatching-upload-offset"
    assert (problem["expected-offset"], problem["provided-offset"]) == (1000, 5000)


async def test_reaching_the_length_without_upload_complete_waits_for_the_request_that_says_so(upload_server):
    data = padded_jpeg(90_000)
    async with upload_server.client() as c:
        url = await careful_creation(c, len(data))
        r = await c.patch(url, content=data, headers=APPEND | {"Upload-Offset": "0", "Upload-Complete": "?0"})
        assert r.status_code == 204 and r.headers["Upload-Complete"] == "?0"
        assert (await c.get(f"{url}/proxy")).status_code == 409  # not complete yet
        r = await c.patch(url, content=b"", headers=APPEND | {
            "Upload-Offset": str(len(data)), "Upload-Complete": "?1"})
    assert r.status_code == 201 and r.headers["Upload-Complete"] == "?1"


async def test_appending_to_a_completed_upload_is_refused_without_touching_it(upload_server):
    data = padded_jpeg(80_000)
    async with upload_server.client() as c:
        r = await c.post("/v1/tus/", content=data, headers=D | {"Upload-Complete": "?1"})
        url = r.headers["Location"]
        empty = await c.patch(url, content=b"", headers=APPEND | {
            "Upload-Offset": str(len(data)), "Upload-Complete": "?1"})
        more = await c.patch(url, content=b"x", headers=APPEND | {
            "Upload-Offset": str(len(data)), "Upload-Complete": "?1"})
        head = await c.head(url, headers=D)
    assert empty.status_code == 400 and empty.json()["type"] == TYPES + "completed-upload"
    assert more.status_code == 400 and more.json()["type"] == TYPES + "inconsistent-upload-length"
    assert head.headers["Upload-Offset"] == str(len(data))


async def test_inconsistent_lengths_are_400_before_any_byte_is_stored(upload_server):
    data = padded_jpeg(50_000)
    async with upload_server.client() as c:
        r = await c.post("/v1/tus/", content=data, headers=D | {
            "Upload-Complete": "?1", "Upload-Length": str(len(data) + 1)})
        assert r.status_code == 400 and r.json()["type"] == TYPES + "inconsistent-upload-length"
        url = await careful_creation(c, len(data))
        short = await c.patch(url, content=data[:100], headers=APPEND | {
            "Upload-Offset": "0", "Upload-Complete": "?1"})
        assert short.status_code == 400 and short.json()["type"] == TYPES + "inconsistent-upload-length"
        assert (await c.head(url, headers=D)).headers["Upload-Offset"] == "0"
        unknown = await c.post("/v1/tus/", headers=D | {"Upload-Complete": "?0"})
        assert unknown.status_code == 400 and unknown.json()["title"] == "Upload length required"


async def test_bad_draft_requests_are_refused_with_problems(upload_server):
    async with upload_server.client() as c:
        url = await careful_creation(c, 1000)
        wrong_type = await c.patch(url, content=b"x", headers=D | {
            "Content-Type": "application/offset+octet-stream", "Upload-Offset": "0", "Upload-Complete": "?0"})
        no_complete = await c.patch(url, content=b"x", headers=APPEND | {"Upload-Offset": "0"})
        bad_bool = await c.patch(url, content=b"x", headers=APPEND | {"Upload-Offset": "0", "Upload-Complete": "1"})
        old = await c.head(url, headers={"Upload-Draft-Interop-Version": "3"})
    assert wrong_type.status_code == 415
    assert no_complete.status_code == 400 and bad_bool.status_code == 400
    assert old.status_code == 400


async def test_a_completed_file_that_is_not_a_photo_is_415_marked_complete(upload_server):
    async with upload_server.client() as c:
        r = await c.post("/v1/tus/", content=b"%PDF-1.4 not a photo" * 50, headers=D | {"Upload-Complete": "?1"})
    assert r.status_code == 415
    assert r.headers["Upload-Complete"] == "?1" and r.headers["content-type"] == "application/problem+json"


async def test_cancellation_removes_the_upload_and_another_user_cannot_see_it(upload_server):
    async with upload_server.client() as c:
        url = await careful_creation(c, 5000)
    async with upload_server.client(token="tok-bob") as bob:
        assert (await bob.head(url, headers=D)).status_code == 404
        assert (await bob.delete(url, headers=D)).status_code == 404
    async with upload_server.client() as c:
        assert (await c.delete(url, headers=D)).status_code == 204
        assert (await c.head(url, headers=D)).status_code == 404


async def test_an_append_cut_mid_body_keeps_what_arrived_and_resumes_from_the_offset(upload_server, pool):
    from urllib.parse import urlsplit

    from tests.integration.test_tus_clients import CuttingProxy

    data = padded_jpeg(3_000_000)
    sha = hashlib.sha256(data).hexdigest()
    async with upload_server.client() as c:
        url = await careful_creation(c, len(data), "cut.jpg")
    port = urlsplit(upload_server.url).port
    assert port is not None
    async with CuttingProxy(port, cut_after=len(data) // 2) as proxy:
        headers = {"Authorization": "Bearer tok-alice"} | APPEND | {"Upload-Offset": "0", "Upload-Complete": "?1"}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{proxy.port}", timeout=30) as cut:
            with pytest.raises(httpx.TransportError):
                await cut.patch(url, content=data, headers=headers)
    async with upload_server.client() as c:
        for _ in range(50):  # the server notices the cut, records what arrived, then answers HEAD
            head = await c.head(url, headers=D)
            if head.status_code == 204 and int(head.headers["Upload-Offset"]) > 0:
                break
            await asyncio.sleep(0.1)
        kept = int(head.headers["Upload-Offset"])
        assert 0 < kept <= len(data) // 2 and head.headers["Upload-Complete"] == "?0"
        r = await c.patch(url, content=data[kept:], headers=APPEND | {
            "Upload-Offset": str(kept), "Upload-Complete": "?1"})
    assert r.status_code == 201, r.text
    assert r.json()["sha256"] == sha
    assert await proxies_with(pool, upload_server.settings.tokens()["tok-alice"], sha) == 1
