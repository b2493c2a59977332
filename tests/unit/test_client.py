"""The public client (`prophoto`) against a fake server: typed answers, typed errors, SSE, paging."""

from __future__ import annotations

import hashlib
import json
import socket
import uuid as uuidlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from prophoto import (
    AsyncClient,
    Client,
    ConnectionFailed,
    InvalidRequest,
    NotFound,
    ServerError,
    ServiceUnavailable,
    WaitTimeout,
    models,
)
from prophoto.sse import Message, messages
from shared.apidocs import operations
from tests.fixtures.api_bodies import upload_body

Handler = Callable[[httpx.Request], httpx.Response]
UID = str(uuidlib.uuid4())


def fake(handler: Handler) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        return handler(request)

    return httpx.MockTransport(record), seen


def stream(*events: dict[str, Any]) -> httpx.Response:
    body = ": keep-alive\n\n" + "".join(
        f"event: status\ndata: {json.dumps({'uuid': UID, **e})}\n\n" for e in events)
    return httpx.Response(200, text=body, headers={"content-type": "text/event-stream"})


async def _lines(*lines: str) -> AsyncIterator[str]:
    for line in lines:
        yield line


async def test_sse_messages_join_data_lines_keep_event_names_and_skip_comments() -> None:
    got = [m async for m in messages(_lines(
        ": keep-alive", "",
        "event: status", 'data: {"status": "processing",', 'data: "uuid": "u"}', "",
        'data:{"status":"failed"}'))]
    assert got == [Message("status", '{"status": "processing",\n"uuid": "u"}'),
                   Message("message", '{"status":"failed"}')]


async def test_wait_returns_the_first_final_event_of_its_step_only() -> None:
    transport, _ = fake(lambda r: stream(
        {"field": "preview", "status": "processing"},
        {"field": "enhancement", "status": "failed", "error": "not this step"},
        {"field": "preview", "status": "failed", "error": "truncated JPEG"}))
    async with AsyncClient("http://test", "tok", transport=transport) as api:
        event = await api.wait(UID, timeout=5)
    assert (event.field, event.status, event.error) == ("preview", "failed", "truncated JPEG")


async def test_wait_for_an_enhancement_skips_the_ready_preview_state_sent_first() -> None:
    transport, _ = fake(lambda r: stream(
        {"field": "preview", "status": "ready"}, {"field": "enhancement", "status": "processing"},
        {"field": "enhancement", "status": "ready", "preview_width": 2560}))
    async with AsyncClient("http://test", "tok", transport=transport) as api:
        event = await api.wait(UID, step="enhancement", timeout=5)
    assert event.status == "ready" and event.preview_width == 2560


async def test_wait_gives_up_after_its_time_limit_naming_the_last_status() -> None:
    transport, seen = fake(lambda r: stream({"field": "preview", "status": "processing"}))
    async with AsyncClient("http://test", "tok", transport=transport) as api:
        with pytest.raises(WaitTimeout) as caught:
            await api.wait(UID, timeout=1.5)
    assert caught.value.last_status == "processing" and "after 2 s" in str(caught.value)
    assert len(seen) == 2  # the closed stream was opened again once a second


async def test_wait_rides_out_a_restart_and_a_503_once_the_stream_has_answered() -> None:
    answers = iter([
        lambda: stream({"field": "preview", "status": "processing"}),
        lambda: (_ for _ in ()).throw(httpx.ConnectError("connection refused")),
        lambda: httpx.Response(503, json={"title": "Database unavailable", "status": 503},
                               headers={"retry-after": "0.1"}),
        lambda: stream({"field": "preview", "status": "ready", "preview_width": 2048}),
    ])
    transport, seen = fake(lambda r: next(answers)())
    async with AsyncClient("http://test", "tok", transport=transport) as api:
        event = await api.wait(UID, timeout=10)
    assert event.status == "ready" and len(seen) == 4


async def test_wait_on_a_service_that_never_answered_fails_at_once() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    async with AsyncClient("http://test", "tok", transport=httpx.MockTransport(refuse)) as api:
        with pytest.raises(ConnectionFailed):
            await api.wait(UID, timeout=10)


async def test_errors_are_typed_and_carry_the_problem_body() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/enhance"):
            return httpx.Response(422, json={"type": "about:blank", "title": "Too wide", "status": 422,
                                             "detail": "the widest preview this photo can get is 4000 px",
                                             "limit": 4000, "current_width": 2048},
                                  headers={"content-type": "application/problem+json"})
        if request.url.path.endswith("/retry"):
            return httpx.Response(503, json={"title": "Database unavailable", "status": 503},
                                  headers={"retry-after": "5"})
        if request.url.path.startswith("/v1/images"):
            return httpx.Response(502, text="<html>Bad Gateway</html>")
        return httpx.Response(404, json={"type": "about:blank", "title": "Not found", "status": 404,
                                         "detail": f"no proxy {UID}"})

    transport, _ = fake(handle)
    async with AsyncClient("http://test", "tok", transport=transport) as api:
        with pytest.raises(NotFound) as missing:
            await api.proxy(UID)
        with pytest.raises(InvalidRequest) as wide:
            await api.enhance(UID, target_width=9000)
        with pytest.raises(ServiceUnavailable) as down:
            await api.retry(UID)
        with pytest.raises(ServerError) as gateway:
            await api.image(7)
    assert missing.value.detail == f"no proxy {UID}" and str(missing.value).startswith("404 Not found")
    assert wide.value.problem["limit"] == 4000 and wide.value.problem["current_width"] == 2048
    assert down.value.retry_after == 5.0
    assert gateway.value.status == 502 and gateway.value.title == "Bad Gateway"


async def test_nothing_listening_is_connection_failed() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with AsyncClient(f"http://127.0.0.1:{port}", "tok") as api:
        with pytest.raises(ConnectionFailed):
            await api.proxies_page()


def images_server(request: httpx.Request) -> httpx.Response:
    cursor = int(request.url.params.get("cursor", "100"))
    ids = [i for i in range(cursor - 1, max(cursor - 3, 94), -1)]  # two per page, down to 95
    items = [{"id": i, "proxy_uuid": UID, "path": f"shoots/{i}.jpg", "original_name": f"{i}.jpg",
              "sha256": "0" * 64, "size": 1, "tags": ["wedding"], "association": {}, "metadata": {},
              "original_url": f"/v1/images/{i}/original", "created_at": "2026-11-30T10:00:00Z"}
             for i in ids]
    return httpx.Response(200, json={"items": items, "next_cursor": ids[-1] if ids[-1] > 95 else None})


async def test_images_iterates_over_every_page_with_the_filters() -> None:
    transport, seen = fake(images_server)
    async with AsyncClient("http://test", "tok", transport=transport) as api:
        ids = [image.id async for image in api.images(tag="wedding", page_size=2)]
    assert ids == [99, 98, 97, 96, 95]
    assert [r.url.params.get("cursor") for r in seen] == [None, "98", "96"]
    assert all(r.url.params["tag"] == "wedding" and r.url.params["limit"] == "2" for r in seen)


def test_the_sync_client_uploads_bytes_with_their_checksum_and_pages_images() -> None:
    data = b"\xff\xd8\xff" + b"x" * 3_000_000

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/uploads":
            return httpx.Response(201, json=upload_body(original_name=request.headers["x-filename"]))
        return images_server(request)

    transport, seen = fake(handle)
    sent: list[int] = []
    with Client("http://test", "tok", transport=transport) as api:
        answer = api.upload(data, filename="été.jpg", on_bytes=sent.append)
        ids = [image.id for image in api.images(page_size=2)]
    assert answer.original_name == "UTF-8''%C3%A9t%C3%A9.jpg" and not answer.duplicate
    upload = seen[0]
    assert upload.headers["x-content-sha256"] == hashlib.sha256(data).hexdigest()
    assert upload.headers["content-type"] == "image/jpeg" and upload.content == data
    assert upload.headers["authorization"] == "Bearer tok" and sum(sent) == len(data)
    assert ids == [99, 98, 97, 96, 95]


# ---- the client's models against the server's published document ----------------------

MODELS = {"UploadAnswer": models.Upload, "Thumbnail": models.Thumbnail, "ProxyView": models.Proxy,
          "ProxyPage": models.ProxyPage, "IngestAnswer": models.Ingest, "IngestResult": models.IngestResult,
          "ImageView": models.Image, "ImagePage": models.ImagePage, "EnhanceAnswer": models.Enhancement,
          "RetryAnswer": models.Retry, "ParkedItem": models.ParkedJob, "StatusEvent": models.StatusEvent}
CALLS = {"POST /v1/uploads": models.Upload, "GET /v1/proxies": models.ProxyPage,
         "GET /v1/proxies/{uuid}": models.Proxy, "POST /v1/ingest": models.Ingest,
         "GET /v1/images": models.ImagePage, "GET /v1/images/{image_id}": models.Image,
         "POST /v1/proxies/{uuid}/enhance": models.Enhancement, "POST /v1/proxies/{uuid}/retry": models.Retry}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    from services.upload.app import create_app
    from shared.settings import Settings

    return create_app(Settings(env="development")).openapi()


def test_the_client_models_have_the_fields_of_the_servers_schemas(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for name, model in MODELS.items():
        assert set(model.model_fields) == set(schemas[name]["properties"]), name
        required = {f for f, info in model.model_fields.items() if info.is_required()}
        assert required <= set(schemas[name].get("required", [])), name


def test_the_client_reads_every_documented_success_example(document: dict[str, Any]) -> None:
    ops = operations(document)
    read = 0
    for key, model in CALLS.items():
        for status, answer in ops[key]["responses"].items():
            if status.startswith("2"):
                for example in answer["content"]["application/json"]["examples"].values():
                    model.model_validate(example["value"])
                    read += 1
    assert read >= len(CALLS)
