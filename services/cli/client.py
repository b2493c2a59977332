"""The HTTP side of the CLI: one async client, and every failure as one line.

Whatever goes wrong (nothing listening, a bad token, a problem+json answer,
a proxy that speaks HTML) becomes a `CliError` whose message is the single
line a person reads; the command layer prints it and exits 1.
"""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

DEFAULT_URL = "http://127.0.0.1:8080"

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
            "(`prophoto dev`, or set --url / PROPHOTO_URL)"
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
    """Thin wrapper over httpx.AsyncClient speaking the /v1 API."""

    def __init__(self, target: Target, *, max_connections: int = 16) -> None:
        self.target = target
        self.http = httpx.AsyncClient(
            base_url=target.url.rstrip("/"),
            headers={"Authorization": f"Bearer {target.token}", "User-Agent": "prophoto-cli"},
            timeout=httpx.Timeout(target.timeout, connect=min(target.timeout, 10.0)),
            limits=httpx.Limits(max_connections=max_connections),
            transport=TRANSPORT,
        )

    async def __aenter__(self) -> Api:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.http.aclose()

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

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise CliError(transport_line(exc, self.target.url)) from exc
        if response.status_code >= 400:
            raise self.fail(response)
        return response

    async def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self.request(method, path, **kwargs)
        try:
            return response.json()
        except ValueError as exc:
            raise CliError(f"{method} {path}: the server did not answer JSON") from exc

    async def get_proxy(self, uuid: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.json("GET", f"/v1/proxies/{uuid}")
        return result

    async def list_proxies(
        self, status: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": limit}
        if status:
            params["status"] = status
        if cursor:
            params["cursor"] = cursor
        result: dict[str, Any] = await self.json("GET", "/v1/proxies", params=params)
        return result

    async def all_proxies(self, status: str | None = None, page: int = 500) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            body = await self.list_proxies(status, page, cursor)
            items.extend(body.get("items", []))
            cursor = body.get("next_cursor")
            if not cursor:
                return items

    async def ingest(self, uuids: list[str]) -> list[dict[str, Any]]:
        body = await self.json("POST", "/v1/ingest", json={"uuids": uuids})
        results: list[dict[str, Any]] = body.get("results", [])
        return results

    async def failed(self, queue: str | None = None) -> list[dict[str, Any]]:
        params = {"queue": queue} if queue else None
        body = await self.json("GET", "/v1/failed", params=params)
        items: list[dict[str, Any]] = body.get("items", [])
        return items

    async def replay(self, uuids: list[str] | None, queue: str | None) -> int:
        payload: dict[str, Any] = {}
        if uuids:
            payload["uuids"] = uuids
        if queue:
            payload["queue"] = queue
        body = await self.json("POST", "/v1/failed/replay", json=payload)
        return int(body.get("replayed", 0))

    @asynccontextmanager
    async def events(self, uuid: str) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        """Open the SSE stream of one proxy; yields an iterator of decoded events."""
        timeout = httpx.Timeout(None, connect=10.0)
        try:
            async with self.http.stream(
                "GET",
                f"/v1/proxies/{uuid}/events",
                timeout=timeout,
                headers={"Accept": "text/event-stream"},
            ) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise self.fail(response)
                yield sse_events(response.aiter_lines())
        except httpx.TransportError as exc:
            raise CliError(transport_line(exc, self.target.url)) from exc


async def sse_events(lines: AsyncIterator[str]) -> AsyncIterator[dict[str, Any]]:
    """Decode `data:` lines (joined per event) into JSON objects; skip comments."""
    data: list[str] = []
    async for line in lines:
        if line == "":
            if data:
                decoded = _decode("\n".join(data))
                data = []
                if decoded is not None:
                    yield decoded
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        if name == "data":
            data.append(value[1:] if value.startswith(" ") else value)
    if data:
        decoded = _decode("\n".join(data))
        if decoded is not None:
            yield decoded


def _decode(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, Mapping) else None  # type: ignore[return-value]
