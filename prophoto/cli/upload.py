"""`prophoto upload`: hash, stream, report; optionally follow previews to the end.

The public client hashes each file first so its `X-Content-SHA256` lets the
server answer a duplicate before the body is read, then streams it as the raw
body (the fast path: no multipart encoding, no buffering). Rejections are
outcomes, not exceptions: one bad file never stops the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from prophoto import ApiError, ConnectionFailed, WaitTimeout
from prophoto.aio import filename_header
from prophoto.cli.client import Api, CliError, problem_line, transport_line
from prophoto.cli.resume import RESUMABLE_BYTES, upload_resumable

__all__ = ["Outcome", "collect", "filename_header", "follow", "follow_all", "upload_all"]


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


async def upload_one(api: Api, outcome: Outcome, on_bytes: Callable[[int], None], bulk: bool = False) -> None:
    sent = 0

    def count(n: int) -> None:
        nonlocal sent
        sent += n
        on_bytes(n)

    try:
        if outcome.size >= RESUMABLE_BYTES:  # big files go through tus and resume where they stopped
            answer = await upload_resumable(api.http, outcome.path, count)
        else:
            answer = await api.client.upload(outcome.path, on_bytes=count, bulk=bulk)
    except ConnectionFailed as exc:
        outcome.result, outcome.reason = "error", transport_line(exc.cause, api.target.url)
        return
    except ApiError as exc:
        # a bad token or a server failure is an error; anything else refuses this file only
        rejected = exc.status != 401 and exc.status < 500
        outcome.result = "rejected" if rejected else "error"
        outcome.reason = problem_line(exc.response)
        return
    except OSError as exc:
        outcome.result, outcome.reason = "error", f"cannot read the file: {exc.strerror or exc}"
        return
    finally:
        if outcome.size > sent:  # a duplicate answered before the body was read
            on_bytes(outcome.size - sent)
    outcome.result = "duplicate" if answer.duplicate else "created"
    outcome.uuid = str(answer.uuid)
    outcome.status = answer.status
    if answer.duplicate:
        outcome.reason = "same bytes as an earlier upload"


async def upload_all(
    api: Api,
    outcomes: list[Outcome],
    concurrency: int,
    on_bytes: Callable[[int], None],
    on_file: Callable[[Outcome], None],
    bulk: bool = False,
) -> None:
    queue: asyncio.Queue[Outcome] = asyncio.Queue()
    for outcome in outcomes:
        queue.put_nowait(outcome)

    async def worker() -> None:
        while not queue.empty():
            outcome = queue.get_nowait()
            await upload_one(api, outcome, on_bytes, bulk)
            on_file(outcome)

    await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, len(outcomes))))))


async def follow(api: Api, uuid: str, within_s: float) -> tuple[str, str | None]:
    """Wait for the preview of `uuid` to be ready or failed, over the SSE stream."""
    try:
        event = await api.call(api.client.wait(uuid, timeout=within_s))
    except WaitTimeout:
        return "timeout", f"no final preview status after {within_s:.0f} s"
    return event.status, event.error


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
