"""`Client`: the same API without `await`, for scripts and notebooks.

It drives one `AsyncClient` on a private event loop in a daemon thread, so
there is one implementation of every call, and it works inside programs that
already run a loop (Jupyter) as well as in plain scripts.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Iterator
from datetime import date, datetime
from typing import Any, TypeVar
from uuid import UUID

import httpx

from prophoto.aio import AsyncClient, Source, Step
from prophoto.culling import KEEP, Flag
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

T = TypeVar("T")


class Client:
    """Blocking twin of `AsyncClient`: same methods, same models, same exceptions."""

    def __init__(self, url: str | None = None, token: str = "", *, timeout: float = 30.0,
                 transport: httpx.AsyncBaseTransport | None = None, max_connections: int = 16,
                 user_agent: str = "prophoto-client") -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="prophoto-client",
                                        daemon=True)
        self._thread.start()
        self.aio = AsyncClient(url, token, timeout=timeout, transport=transport,
                               max_connections=max_connections, user_agent=user_agent)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        if self._loop.is_closed():
            return
        self._run(self.aio.aclose())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result()
        except BaseException:  # Ctrl-C in the caller stops the call in the loop too
            future.cancel()
            raise

    def _iterate(self, items: AsyncIterator[T]) -> Iterator[T]:
        async def step() -> tuple[bool, T | None]:
            try:
                return True, await anext(items)
            except StopAsyncIteration:
                return False, None

        try:
            while True:
                more, item = self._run(step())
                if not more:
                    return
                yield item  # type: ignore[misc]
        finally:
            aclose = getattr(items, "aclose", None)
            if aclose is not None and not self._loop.is_closed():
                self._run(aclose())

    def upload(self, source: Source, *, filename: str | None = None, sha256: str | None = None,
               on_bytes: Callable[[int], None] | None = None, keep_copy: bool = False,
               bulk: bool = False) -> Upload:
        return self._run(self.aio.upload(source, filename=filename, sha256=sha256, on_bytes=on_bytes,
                                         keep_copy=keep_copy, bulk=bulk))

    def proxy(self, uuid: UUID | str) -> Proxy:
        return self._run(self.aio.proxy(uuid))

    def proxies_page(self, *, status: str | None = None, flag: str | None = None,
                     min_rating: int | None = None, limit: int = 50, cursor: str | None = None) -> ProxyPage:
        return self._run(self.aio.proxies_page(status=status, flag=flag, min_rating=min_rating,
                                               limit=limit, cursor=cursor))

    def proxies(self, *, status: str | None = None, flag: str | None = None, min_rating: int | None = None,
                page_size: int = 100) -> Iterator[Proxy]:
        return self._iterate(self.aio.proxies(status=status, flag=flag, min_rating=min_rating,
                                              page_size=page_size))

    def cull(self, uuid: UUID | str, *, flag: Flag | None = KEEP, rating: int | None = KEEP) -> Proxy:
        return self._run(self.aio.cull(uuid, flag=flag, rating=rating))

    def delete(self, uuid: UUID | str) -> None:
        self._run(self.aio.delete(uuid))

    def preview(self, uuid: UUID | str) -> bytes:
        return self._run(self.aio.preview(uuid))

    def thumbnail(self, uuid: UUID | str) -> bytes:
        return self._run(self.aio.thumbnail(uuid))

    def rendition(self, uuid: UUID | str, name: str) -> bytes:
        return self._run(self.aio.rendition(uuid, name))

    def events(self, uuid: UUID | str) -> Iterator[StatusEvent]:
        return self._iterate(self.aio.events(uuid))

    def wait(self, uuid: UUID | str, *, step: Step = "preview", timeout: float = 300.0) -> StatusEvent:
        return self._run(self.aio.wait(uuid, step=step, timeout=timeout))

    def prioritize(self, uuid: UUID | str) -> Prioritized:
        """Render this pending photo's preview first; see `AsyncClient.prioritize`."""
        return self._run(self.aio.prioritize(uuid))

    def rerender(self, user_id: str | None = None) -> RerenderRun:
        """Operators: render every proxy's preview again (or one user's); see `AsyncClient.rerender`."""
        return self._run(self.aio.rerender(user_id))

    def rerender_run(self, run_id: int) -> RerenderRun:
        return self._run(self.aio.rerender_run(run_id))

    def retry(self, uuid: UUID | str) -> Retry:
        return self._run(self.aio.retry(uuid))

    def enhance(self, uuid: UUID | str, *, target_width: int | None = None,
                factor: float | None = None) -> Enhancement:
        return self._run(self.aio.enhance(uuid, target_width=target_width, factor=factor))

    def ingest(self, uuids: Iterable[UUID | str], *, tags: Iterable[str] = (),
               association: dict[str, Any] | None = None) -> Ingest:
        return self._run(self.aio.ingest(uuids, tags=tags, association=association))

    def images_page(self, *, taken_from: datetime | None = None, taken_to: datetime | None = None,
                    camera: str | None = None, tag: str | None = None, day: date | None = None,
                    limit: int = 50, cursor: int | None = None) -> ImagePage:
        return self._run(self.aio.images_page(taken_from=taken_from, taken_to=taken_to, camera=camera,
                                              tag=tag, day=day, limit=limit, cursor=cursor))

    def images(self, *, taken_from: datetime | None = None, taken_to: datetime | None = None,
               camera: str | None = None, tag: str | None = None, day: date | None = None,
               page_size: int = 100) -> Iterator[Image]:
        return self._iterate(self.aio.images(taken_from=taken_from, taken_to=taken_to, camera=camera,
                                             tag=tag, day=day, page_size=page_size))

    def image(self, image_id: int) -> Image:
        return self._run(self.aio.image(image_id))

    def original(self, image_id: int) -> bytes:
        return self._run(self.aio.original(image_id))

    def image_preview(self, image_id: int) -> bytes:
        return self._run(self.aio.image_preview(image_id))

    def image_thumbnail(self, image_id: int) -> bytes:
        return self._run(self.aio.image_thumbnail(image_id))

    def image_rendition(self, image_id: int, name: str) -> bytes:
        return self._run(self.aio.image_rendition(image_id, name))

    def delete_image(self, image_id: int) -> None:
        self._run(self.aio.delete_image(image_id))

    def failed(self, queue: str | None = None, tag: str | None = None) -> list[ParkedJob]:
        return self._run(self.aio.failed(queue, tag))

    def replay(self, uuids: Iterable[UUID | str] | None = None, queue: str | None = None,
               tag: str | None = None) -> int:
        return self._run(self.aio.replay(uuids, queue, tag))
