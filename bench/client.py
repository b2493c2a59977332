"""Timing uploads as a browser or curl sends them: `LeanClient`, and the one upload every benchmark makes."""

from __future__ import annotations

import asyncio
from typing import Any

#: the benchmarks' user (`bench.common.bench_env` gives its token to the upload service)
TOKEN = {"Authorization": "Bearer bench-token"}


async def post_photo(client: LeanClient, body: bytes, name: str) -> bytes:
    """`POST /v1/uploads` of the raw bytes named `name`; the answer's body (RuntimeError unless 201)."""
    status, answer = await client.post("/v1/uploads", body,
                                       {"Content-Type": "application/octet-stream", "X-Filename": name})
    if status != 201:
        raise RuntimeError(f"upload answered {status}: {answer[:200]!r}")
    return answer


class LeanClient:
    """A minimal HTTP/1.1 keep-alive client for timing uploads.

    httpx spends about 25 ms of its own CPU sending a 10 MB body (measured on a
    server that only drains the body: 44 ms p50 through httpx, 18 ms through a
    plain socket, 19 ms with curl), which would be charged to the server. This
    sends the head and the body with one write each and reads a
    Content-Length answer, like curl or a browser.
    """

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.headers = headers
        self._conn: tuple[Any, Any] | None = None

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        status, _, answer = await self.request("POST", path, body, headers)
        return status, answer

    async def request(self, method: str, path: str, body: bytes | memoryview,
                      headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        """Any method; the answer's status, headers (lower-case names) and body."""
        for attempt in (1, 2):  # a keep-alive connection the server closed is opened again once
            if self._conn is None:
                self._conn = await asyncio.open_connection(self.host, self.port)
            reader, writer = self._conn
            head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}",
                    f"Content-Length: {len(body)}"]
            head += [f"{k}: {v}" for k, v in (self.headers | headers).items()]
            try:
                writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
                writer.write(body)
                await writer.drain()
                status_line = await reader.readline()
                if not status_line:
                    raise ConnectionResetError("closed")
            except (ConnectionError, OSError):
                await self.close()
                if attempt == 2:
                    raise
                continue
            status = int(status_line.split()[1])
            answer_headers: dict[str, str] = {}
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                answer_headers[name.strip().lower()] = value.strip()
            answer = await reader.readexactly(int(answer_headers.get("content-length", 0)))
            if answer_headers.get("connection", "").lower() == "close":
                await self.close()
            return status, answer_headers, answer
        raise AssertionError("unreachable")

    async def close(self) -> None:
        if self._conn is not None:
            self._conn[1].close()
            self._conn = None
