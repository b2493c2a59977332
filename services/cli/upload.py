"""`prophoto upload`: hash, stream, report; optionally follow previews to the end.

Each file is hashed first so its `X-Content-SHA256` lets the server answer a
duplicate before the body is read, then streamed as the raw body (the fast
path: no multipart encoding, no buffering). Rejections are outcomes, not
exceptions: one bad file never stops the others.
"""

from __future__ import annotations

import asyncio
import hashlib
import mimetypes
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from services.cli.client import Api, CliError, problem_line, transport_line

CHUNK = 1024 * 1024
TERMINAL = {"ready", "failed"}


@dataclass
class Outcome:
    path: Path
    size: int
    result: str = "pending"  # created | duplicate | rejected | error
    uuid: str | None = None
    status: str | None = None
    reason: str | None = None

    @property
    def uploaded(self) -> bool:
        return self.result in ("created", "duplicate")


def collect(paths: Iterable[Path], recursive: bool) -> list[Path]:
    """Files named, plus files under folders when recursive; hidden files skipped."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            if not recursive:
                raise CliError(f"{path} is a folder: add --recursive to upload what is inside")
            found.extend(
                p
                for p in sorted(path.rglob("*"))
                if p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        elif path.is_file():
            found.append(path)
        elif path.exists():
            raise CliError(f"{path} is not a regular file")
        else:
            raise CliError(f"{path}: no such file or folder")
    return list(dict.fromkeys(found))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def filename_header(name: str) -> str:
    """Plain ASCII as is; anything else as RFC 8187 `UTF-8''percent-encoded`."""
    if name.isascii() and name.isprintable():
        return name
    return "UTF-8''" + quote(name, safe="")


def content_type(path: Path) -> str:
    # the server detects the type from the bytes; this is only a courtesy
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed if guessed and guessed.startswith("image/") else "application/octet-stream"


async def _body(path: Path, on_bytes: Callable[[int], None]) -> AsyncIterator[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            on_bytes(len(chunk))
            yield chunk


async def upload_one(api: Api, outcome: Outcome, on_bytes: Callable[[int], None]) -> None:
    sent = 0

    def count(n: int) -> None:
        nonlocal sent
        sent += n
        on_bytes(n)

    try:
        digest = await asyncio.to_thread(sha256_of, outcome.path)
        headers = {
            "Content-Type": content_type(outcome.path),
            "Content-Length": str(outcome.size),
            "X-Filename": filename_header(outcome.path.name),
            "X-Content-SHA256": digest,
        }
        response = await api.http.post(
            "/v1/uploads", content=_body(outcome.path, count), headers=headers
        )
    except httpx.TransportError as exc:
        outcome.result, outcome.reason = "error", transport_line(exc, api.target.url)
        return
    except OSError as exc:
        outcome.result, outcome.reason = "error", f"cannot read the file: {exc.strerror or exc}"
        return
    finally:
        if outcome.size > sent:  # a duplicate answered before the body was read
            on_bytes(outcome.size - sent)
    record(outcome, response)


def record(outcome: Outcome, response: httpx.Response) -> None:
    if response.status_code in (200, 201):
        body: dict[str, Any] = response.json()
        outcome.result = (
            "duplicate" if body.get("duplicate") or response.status_code == 200 else "created"
        )
        outcome.uuid = str(body.get("uuid"))
        outcome.status = body.get("status")
        if outcome.result == "duplicate":
            outcome.reason = "same bytes as an earlier upload"
    elif response.status_code == 401:
        outcome.result, outcome.reason = "error", problem_line(response)
    elif response.status_code < 500:
        outcome.result, outcome.reason = "rejected", problem_line(response)
    else:
        outcome.result, outcome.reason = "error", problem_line(response)


async def upload_all(
    api: Api,
    outcomes: list[Outcome],
    concurrency: int,
    on_bytes: Callable[[int], None],
    on_file: Callable[[Outcome], None],
) -> None:
    queue: asyncio.Queue[Outcome] = asyncio.Queue()
    for outcome in outcomes:
        queue.put_nowait(outcome)

    async def worker() -> None:
        while not queue.empty():
            outcome = queue.get_nowait()
            await upload_one(api, outcome, on_bytes)
            on_file(outcome)

    await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, len(outcomes))))))


async def follow(api: Api, uuid: str, within_s: float) -> tuple[str, str | None]:
    """Wait for the preview of `uuid` to be ready or failed, over the SSE stream.

    The stream is opened first and the current state read second, so a status
    change between the upload answer and the subscription cannot be missed.
    """
    deadline = time.monotonic() + within_s
    try:
        async with asyncio.timeout(within_s):
            while True:
                async with api.events(uuid) as events:
                    current = await api.get_proxy(uuid)
                    if current.get("preview_status") in TERMINAL:
                        return current["preview_status"], current.get("preview_error")
                    async for event in events:
                        if event.get("field", "preview") != "preview":
                            continue
                        if event.get("status") in TERMINAL:
                            return str(event["status"]), event.get("error")
                # the server closed the stream (restart, proxy timeout): look again
                if time.monotonic() + 1 > deadline:
                    break
                await asyncio.sleep(1)
    except TimeoutError:
        pass
    return "timeout", f"no final preview status after {within_s:.0f} s"


async def follow_all(
    api: Api,
    outcomes: list[Outcome],
    within_s: float,
    concurrency: int,
    on_done: Callable[[Outcome], None],
) -> None:
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(outcome: Outcome) -> None:
        assert outcome.uuid is not None
        async with gate:
            try:
                status, error = await follow(api, outcome.uuid, within_s)
            except CliError as exc:
                status, error = "unknown", str(exc)
        outcome.status = status
        if status != "ready" and error:
            outcome.reason = error
        on_done(outcome)

    await asyncio.gather(*(one(o) for o in outcomes if o.uuid))
