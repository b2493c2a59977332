"""`AsyncClient`: the upload API over httpx, every answer typed, every error an exception.

    async with AsyncClient("http://127.0.0.1:8080", "dev-token") as api:
        upload = await api.upload("IMG_0001.CR3")
        await api.wait(upload.uuid)               # over SSE, until ready or failed
        jpeg = await api.preview(upload.uuid)
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import mimetypes
import os
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote
from uuid import UUID

import httpx

from prophoto import sse
from prophoto.culling import CullingCalls
from prophoto.errors import ConnectionFailed, NotFound, ServiceUnavailable, WaitTimeout, error_for
from prophoto.models import (
    Enhancement,
    Image,
    ImagePage,
    Ingest,
    ParkedJob,
    Prioritized,
    Proxy,
    ProxyPage,
    RerenderRun,
    Retry,
    StatusEvent,
    Upload,
)

DEFAULT_URL = "http://127.0.0.1:8080"
#: the one setting naming the server, for this client, the blocking one and the `prophoto` CLI
URL_ENV = "PROPHOTO_URL"


def server_url() -> str:
    """$PROPHOTO_URL, else the local development server."""
    return os.environ.get(URL_ENV) or DEFAULT_URL
CHUNK = 1024 * 1024
Step = Literal["preview", "enhancement", "ingest"]
#: the statuses after which a step does not move again
FINAL: dict[str, frozenset[str]] = {
    "preview": frozenset({"ready", "failed"}),
    "enhancement": frozenset({"ready", "failed"}),
    "ingest": frozenset({"ingested", "failed"}),
}
#: the server sends a comment every 15 s on a quiet stream; four missed ones mean it is gone
STREAM_READ_TIMEOUT = 60.0
Source = str | os.PathLike[str] | bytes


class AsyncClient(CullingCalls):
    """One connection pool to the upload service; close it (or use `async with`)."""

    def __init__(self, url: str | None = None, token: str = "", *, timeout: float = 30.0,
                 transport: httpx.AsyncBaseTransport | None = None, max_connections: int = 16,
                 user_agent: str = "prophoto-client") -> None:
        self.url = (url or server_url()).rstrip("/")
        self.http = httpx.AsyncClient(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token}", "User-Agent": user_agent},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            limits=httpx.Limits(max_connections=max_connections),
            transport=transport,
        )

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.http.aclose()

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Any API call; 4xx/5xx raise the matching `ApiError`, no answer `ConnectionFailed`."""
        try:
            response = await self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ConnectionFailed(self.url, exc) from exc
        if response.status_code >= 400:
            raise error_for(response)
        return response

    # ---- uploads and proxies ----------------------------------------------------------

    async def upload(self, source: Source, *, filename: str | None = None, sha256: str | None = None,
                     on_bytes: Callable[[int], None] | None = None, keep_copy: bool = False,
                     bulk: bool = False) -> Upload:
        """Send a file (path) or bytes as the raw body. Its SHA-256 goes first, so bytes the
        server already has are answered (`duplicate`, or `kept_image` for a kept photo unless
        `keep_copy`) before the body is read. `bulk` puts its preview on the bulk lane (a large
        batch, an import): behind interactive work."""
        if isinstance(source, bytes | bytearray | memoryview):
            data = bytes(source)
            size, digest = len(data), sha256 or hashlib.sha256(data).hexdigest()
            body: AsyncIterator[bytes] = _chunks_of(data, on_bytes)
        else:
            path = Path(source)
            filename = filename or path.name
            size, digest = await asyncio.to_thread(_size_and_digest, path, sha256)
            body = _chunks_from(path, on_bytes)
        headers = {"Content-Type": content_type(filename), "Content-Length": str(size),
                   "X-Content-SHA256": digest}
        if filename:
            headers["X-Filename"] = filename_header(filename)
        params = _params(keep_copy="true" if keep_copy else None, bulk="true" if bulk else None)
        response = await self.request("POST", "/v1/uploads", content=body, headers=headers, params=params)
        return Upload.model_validate(response.json())

    async def proxy(self, uuid: UUID | str) -> Proxy:
        return Proxy.model_validate((await self.request("GET", f"/v1/proxies/{uuid}")).json())

    async def proxies_page(self, *, status: str | None = None, flag: str | None = None,
                           min_rating: int | None = None, limit: int = 50,
                           cursor: str | None = None) -> ProxyPage:
        """A page of your proxies; `flag` is pick, reject or none (unflagged)."""
        params = _params(status=status, flag=flag, min_rating=min_rating, limit=limit, cursor=cursor)
        return ProxyPage.model_validate((await self.request("GET", "/v1/proxies", params=params)).json())

    async def proxies(self, *, status: str | None = None, flag: str | None = None,
                      min_rating: int | None = None, page_size: int = 100) -> AsyncGenerator[Proxy, None]:
        """Every proxy of yours (newest first), fetched a page at a time."""
        cursor: str | None = None
        while True:
            page = await self.proxies_page(status=status, flag=flag, min_rating=min_rating,
                                           limit=page_size, cursor=cursor)
            for item in page.items:
                yield item
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    async def delete(self, uuid: UUID | str) -> None:
        await self.request("DELETE", f"/v1/proxies/{uuid}")

    async def preview(self, uuid: UUID | str) -> bytes:
        """The preview JPEG (409 `Conflict` while it is not ready)."""
        return await self._bytes(f"/v1/proxies/{uuid}/preview")

    async def thumbnail(self, uuid: UUID | str) -> bytes:
        return await self._bytes(f"/v1/proxies/{uuid}/thumbnail")

    async def rendition(self, uuid: UUID | str, name: str) -> bytes:
        """Any rendition the proxy's `renditions` lists, by name (`NotFound` for one it lacks)."""
        return await self._bytes(f"/v1/proxies/{uuid}/renditions/{name}")

    async def events(self, uuid: UUID | str) -> AsyncGenerator[StatusEvent, None]:
        """The proxy's SSE stream: its current state first, then each change, until nothing
        is under way. Close it early with `contextlib.aclosing`."""
        timeout = httpx.Timeout(STREAM_READ_TIMEOUT, connect=10.0)
        try:
            async with self.http.stream("GET", f"/v1/proxies/{uuid}/events", timeout=timeout,
                                        headers={"Accept": "text/event-stream"}) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise error_for(response)
                async for message in sse.messages(response.aiter_lines()):
                    if message.event == "status":
                        yield StatusEvent.model_validate_json(message.data)
        except httpx.TransportError as exc:
            raise ConnectionFailed(self.url, exc) from exc

    async def wait(self, uuid: UUID | str, *, step: Step = "preview",
                   timeout: float = 300.0) -> StatusEvent:
        """The final event of `step` (preview/enhancement: ready or failed; ingest: ingested
        or failed), or `WaitTimeout`. A 503, or a dropped connection once the stream has
        answered, is waited out within `timeout`. An ingested proxy is gone from the API: when the
        stream answers 404 while waiting for an ingest that `ingest()` queued, the answer is
        an `ingested` event without `image_id`."""
        last: str | None = None
        answered = False
        pause = 1.0
        try:
            async with asyncio.timeout(timeout):
                while True:
                    try:
                        async with contextlib.aclosing(self.events(uuid)) as stream:
                            async for event in stream:
                                answered = True
                                if event.field != step:
                                    continue
                                last = event.status
                                if event.status in FINAL[step]:
                                    return event
                    except ServiceUnavailable as exc:  # a dependency is down: ask again later
                        pause = exc.retry_after or 1.0
                    except ConnectionFailed:
                        if not answered:  # never reached the service: the caller should know now
                            raise
                        pause = 1.0  # the service restarted under a stream: follow it again
                    await asyncio.sleep(pause)  # closed with the step still moving: look again
                    pause = 1.0
        except TimeoutError:
            raise WaitTimeout(str(uuid), step, timeout, last) from None
        except NotFound:
            if step != "ingest":
                raise
            # a queued proxy cannot be deleted and a failed ingest keeps it: gone means ingested
            return StatusEvent(uuid=UUID(str(uuid)), field="ingest", status="ingested")

    async def prioritize(self, uuid: UUID | str) -> Prioritized:
        """Render this pending photo's preview first (call it for the photos on screen).

        Once per photo: a repeat, or a photo already rendering, ready or failed, queues
        nothing (`queued` is false).
        """
        response = await self.request("POST", f"/v1/proxies/{uuid}/prioritize")
        return Prioritized.model_validate(response.json())

    async def rerender(self, user_id: str | None = None) -> RerenderRun:
        """Operators: render every proxy's preview again (or one user's), on the bulk lane."""
        body = {} if user_id is None else {"user_id": user_id}
        return RerenderRun.model_validate((await self.request("POST", "/v1/rerender", json=body)).json())

    async def rerender_run(self, run_id: int) -> RerenderRun:
        """Operators: how far a re-render run got."""
        return RerenderRun.model_validate((await self.request("GET", f"/v1/rerender/{run_id}")).json())

    async def retry(self, uuid: UUID | str) -> Retry:
        """Send a failed preview or ingest back to its queue."""
        return Retry.model_validate((await self.request("POST", f"/v1/proxies/{uuid}/retry")).json())

    async def enhance(self, uuid: UUID | str, *, target_width: int | None = None,
                      factor: float | None = None) -> Enhancement:
        """Ask for a wider, sharper preview (default: 1.25x the current width)."""
        payload = _params(target_width=target_width, factor=factor)
        response = await self.request("POST", f"/v1/proxies/{uuid}/enhance",
                                      json=payload if payload else None)
        return Enhancement.model_validate(response.json())

    # ---- confirming, images, parked jobs -------------------------------------------------

    async def ingest(self, uuids: Iterable[UUID | str], *, tags: Iterable[str] = (),
                     association: dict[str, Any] | None = None) -> Ingest:
        """Confirm proxies: each is queued to become an Image, or refused with a reason."""
        payload = {"uuids": [str(u) for u in uuids], "tags": list(tags),
                   "association": association or {}}
        return Ingest.model_validate((await self.request("POST", "/v1/ingest", json=payload)).json())

    async def images_page(self, *, taken_from: datetime | None = None, taken_to: datetime | None = None,
                          camera: str | None = None, tag: str | None = None, day: date | None = None,
                          limit: int = 50, cursor: int | None = None) -> ImagePage:
        params = _params(taken_from=taken_from.isoformat() if taken_from else None,
                         taken_to=taken_to.isoformat() if taken_to else None,
                         camera=camera, tag=tag, day=day.isoformat() if day else None,
                         limit=limit, cursor=cursor)
        return ImagePage.model_validate((await self.request("GET", "/v1/images", params=params)).json())

    async def images(self, *, taken_from: datetime | None = None, taken_to: datetime | None = None,
                     camera: str | None = None, tag: str | None = None, day: date | None = None,
                     page_size: int = 100) -> AsyncGenerator[Image, None]:
        """Every image matching the filters (newest first), fetched a page at a time."""
        cursor: int | None = None
        while True:
            page = await self.images_page(taken_from=taken_from, taken_to=taken_to, camera=camera,
                                          tag=tag, day=day, limit=page_size, cursor=cursor)
            for item in page.items:
                yield item
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def image(self, image_id: int) -> Image:
        return Image.model_validate((await self.request("GET", f"/v1/images/{image_id}")).json())

    async def original(self, image_id: int) -> bytes:
        """The original's bytes (following the store's presigned redirect, if any)."""
        return await self._bytes(f"/v1/images/{image_id}/original")

    async def failed(self, queue: str | None = None, tag: str | None = None) -> list[ParkedJob]:
        """Your parked jobs: `queue` is preview, finalize/ingest or enhance (default: all);
        `tag` is `ingest`, `proxy:<uuid>` or `user:<id>` (default: any)."""
        body = (await self.request("GET", "/v1/failed", params=_params(queue=queue, tag=tag))).json()
        return [ParkedJob.model_validate(item) for item in body["items"]]

    async def replay(self, uuids: Iterable[UUID | str] | None = None, queue: str | None = None,
                     tag: str | None = None) -> int:
        """Send parked jobs back (all of yours by default; only those with `tag` when given);
        answers how many went back."""
        payload = _params(uuids=[str(u) for u in uuids] if uuids else None, queue=queue, tag=tag)
        return int((await self.request("POST", "/v1/failed/replay", json=payload)).json()["replayed"])

    async def reindex(self, user_id: str | None = None) -> int:
        """Operators: re-read the originals of every Image (or one user's); answers how many were queued."""
        payload = _params(user_id=user_id)
        return int((await self.request("POST", "/v1/reindex", json=payload)).json()["queued"])

    async def _bytes(self, path: str) -> bytes:
        return (await self.request("GET", path, follow_redirects=True)).content


def _params(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _size_and_digest(path: Path, known: str | None) -> tuple[int, str]:
    return path.stat().st_size, known or sha256_of(path)


def filename_header(name: str) -> str:
    """Plain ASCII as is; anything else as RFC 8187 `UTF-8''percent-encoded`."""
    if name.isascii() and name.isprintable():
        return name
    return "UTF-8''" + quote(name, safe="")


def content_type(name: str | None) -> str:
    # the server detects the type from the bytes; this is only a courtesy
    guessed, _ = mimetypes.guess_type(name or "")
    return guessed if guessed and guessed.startswith("image/") else "application/octet-stream"


async def _chunks_from(path: Path, on_bytes: Callable[[int], None] | None) -> AsyncIterator[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            if on_bytes:
                on_bytes(len(chunk))
            yield chunk


async def _chunks_of(data: bytes, on_bytes: Callable[[int], None] | None) -> AsyncIterator[bytes]:
    for start in range(0, len(data), CHUNK):
        chunk = data[start:start + CHUNK]
        if on_bytes:
            on_bytes(len(chunk))
        yield chunk
