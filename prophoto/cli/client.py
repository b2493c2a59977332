"""The HTTP side of the CLI: the public client (`prophoto.AsyncClient`), and every
failure as one line.

Whatever goes wrong (nothing listening, a bad token, a problem+json answer,
a proxy that speaks HTML) becomes a `CliError` whose message is the single
line a person reads; the command layer prints it and exits 1.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from prophoto import ApiError, AsyncClient, ConnectionFailed
from prophoto.aio import DEFAULT_URL, URL_ENV

__all__ = ["DEFAULT_URL", "URL_ENV"]
T = TypeVar("T")

#: tests put an `httpx.MockTransport` here to stand in for the server
TRANSPORT: httpx.AsyncBaseTransport | None = None


class CliError(Exception):
    """A failure the user can act on; str(error) is the whole message."""


@dataclass(frozen=True)
class Target:
    url: str
    token: str
    timeout: float = 30.0
    token_is_default: bool = False


def problem_line(response: httpx.Response) -> str:
    """`404 Not found: no proxy ...` from a problem+json body, or the best we can do."""
    status = response.status_code
    try:
        body = response.json()
    except (ValueError, httpx.ResponseNotRead):
        body = None
    if isinstance(body, dict) and ("title" in body or "detail" in body):
        title = body.get("title") or response.reason_phrase
        detail = body.get("detail")
        line = f"{status} {title}" + (f": {detail}" if detail else "")
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            first = errors[0]
            loc = ".".join(str(p) for p in first.get("loc", []))
            line += f" ({loc}: {first.get('msg', '')})"
        return line
    if isinstance(body, dict) and "detail" in body:  # FastAPI's default shape
        return f"{status} {response.reason_phrase}: {body['detail']}"
    return f"{status} {response.reason_phrase or 'error'}"


def transport_line(exc: httpx.TransportError, url: str) -> str:
    if isinstance(exc, httpx.ConnectError):
        return (
            f"cannot connect to {url} ({_reason(exc)}): is the upload service running? "
            f"(`prophoto dev`, or set --url / {URL_ENV})"
        )
    if isinstance(exc, httpx.TimeoutException):
        return f"{url} did not answer in time ({type(exc).__name__})"
    return f"request to {url} failed: {_reason(exc)}"


def _reason(exc: BaseException) -> str:
    seen: BaseException | None = exc
    while seen is not None:  # the useful cause sits at the bottom of httpx's chain
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if isinstance(seen, socket.gaierror):
            return f"unknown host: {seen.strerror}"
        seen = seen.__cause__ or seen.__context__
    text = str(exc).strip()
    return text or type(exc).__name__


class Api:
    """The CLI's view of the API: the public client's calls, failures as `CliError`, answers as
    plain dicts for the tables."""

    def __init__(self, target: Target, *, max_connections: int = 16) -> None:
        self.target = target
        self.client = AsyncClient(target.url, target.token, timeout=target.timeout, transport=TRANSPORT,
                                  max_connections=max_connections, user_agent="prophoto-cli")
        self.http = self.client.http

    async def __aenter__(self) -> Api:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.client.aclose()

    def fail(self, response: httpx.Response) -> CliError:
        line = problem_line(response)
        if response.status_code == 401:
            hint = (
                "no token given, the development token was tried; "
                if self.target.token_is_default
                else ""
            )
            line += f" ({hint}set --token or PROPHOTO_TOKEN)"
        return CliError(line)

    @asynccontextmanager
    async def one_line(self) -> AsyncIterator[None]:
        """Turn the client's exceptions into the CLI's one-line `CliError`."""
        try:
            yield
        except ApiError as exc:
            raise self.fail(exc.response) from None
        except ConnectionFailed as exc:
            raise CliError(transport_line(exc.cause, self.target.url)) from None

    async def call(self, awaitable: Awaitable[T]) -> T:
        async with self.one_line():
            return await awaitable

    async def get_proxy(self, uuid: str) -> dict[str, Any]:
        return (await self.call(self.client.proxy(uuid))).model_dump(mode="json")

    async def list_proxies(
        self, status: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> dict[str, Any]:
        page = await self.call(self.client.proxies_page(status=status, limit=limit, cursor=cursor))
        return page.model_dump(mode="json")

    async def all_proxies(self, status: str | None = None, page: int = 500) -> list[dict[str, Any]]:
        async with self.one_line():
            return [p.model_dump(mode="json")
                    async for p in self.client.proxies(status=status, page_size=page)]

    async def ingest(self, uuids: list[str], tags: list[str] | None = None) -> list[dict[str, Any]]:
        answer = await self.call(self.client.ingest(uuids, tags=tags or ()))
        return [r.model_dump(mode="json") for r in answer.results]

    async def cull(self, uuid: str, change: dict[str, Any]) -> dict[str, Any]:
        return (await self.call(self.client.cull(uuid, **change))).model_dump(mode="json")

    async def wait_kept(self, uuid: str, timeout: float) -> tuple[str, str | None]:
        """Until the proxy is an Image: ("ingested", its path) or ("failed", the reason)."""
        event = await self.call(self.client.wait(uuid, step="ingest", timeout=timeout))
        if event.status == "ingested" and event.image_id:
            return "ingested", (await self.call(self.client.image(event.image_id))).path
        return event.status, event.error

    async def failed(self, queue: str | None = None, tag: str | None = None) -> list[dict[str, Any]]:
        return [p.model_dump(mode="json") for p in await self.call(self.client.failed(queue, tag))]

    async def replay(self, uuids: list[str] | None, queue: str | None, tag: str | None = None) -> int:
        return await self.call(self.client.replay(uuids, queue, tag))

    async def reindex(self, user_id: str | None) -> int:
        return await self.call(self.client.reindex(user_id))
