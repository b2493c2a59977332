"""Streaming request bodies to a spool file while hashing and counting.

The whole file is never held in memory: chunks go straight to a file on the
store's own filesystem (so storing it is a rename), the sha256 and size are
updated as they pass, and the first 64 KiB are kept for type detection.
Reading stops at the first byte past the size limit.
"""

from __future__ import annotations

import hashlib
import os
import unicodedata
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from python_multipart.multipart import MultipartParser, parse_options_header

from services.upload.batches import ThreadBatches
from shared import errors
from shared.filetype import HEAD_BYTES

MAX_NAME = 200
#: multipart framing and small fields a body may carry beside the file
FRAMING_ALLOWANCE = 64 * 1024
MAX_PART_HEADER = 8 * 1024


class IntakeError(errors.Invalid):
    """A request body we will not take; `title` and `detail` say why."""

    title = "Malformed upload body"


class TooLarge(errors.TooLarge):
    title = "Upload too large"

    def __init__(self, limit: int, what: str = "the file") -> None:
        super().__init__(f"{what} passed the limit of {limit} bytes (PROPHOTO_MAX_UPLOAD_BYTES)",
                         limit=limit)
        self.limit = limit


class MalformedMultipart(IntakeError):
    title = "Malformed multipart body"


class MissingFile(IntakeError):
    title = "Missing file field"


@dataclass
class Spool:
    """A body on its way to disk: counted and head-kept on the event loop, hashed and
    written in a thread (`batches.ThreadBatches`), so other requests keep their latency
    while big bodies stream in.

    `write` counts, keeps the head for type detection and gathers the chunk;
    `drain` hands a full batch to the thread; `finish` writes what is left.
    """

    path: Path
    limit: int
    size: int = 0
    head: bytearray = field(default_factory=bytearray)
    _hash: hashlib._Hash = field(default_factory=hashlib.sha256)

    def __post_init__(self) -> None:
        self._fh = open(self.path, "wb")
        self._batches = ThreadBatches(self._store)

    def write(self, chunk: bytes | memoryview) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            raise TooLarge(self.limit)
        if len(self.head) < HEAD_BYTES:
            self.head += chunk[: HEAD_BYTES - len(self.head)]
        self._batches.add(chunk)

    def _store(self, batch: list[bytes | memoryview]) -> None:
        for chunk in batch:
            self._hash.update(chunk)
        self._fh.writelines(batch)

    async def drain(self) -> None:
        await self._batches.drain()

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    async def finish(self) -> None:
        await self._batches.finish()
        self._fh.close()

    def discard(self) -> None:
        self._batches.when_idle(self._close_and_unlink)  # a write may still run: closing is left to it

    def _close_and_unlink(self) -> None:
        self._fh.close()
        self.path.unlink(missing_ok=True)


def clean_filename(raw: str | None) -> str:
    """A display name safe to store: no directories, controls or leading dots/dashes.

    The name never becomes a storage key by itself (keys are server-chosen);
    the finalize step sanitizes it again for the final path.
    """
    name = unicodedata.normalize("NFC", raw or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C")
    name = name.strip().lstrip(".-").strip()
    if len(name) > MAX_NAME:
        _, dot, ext = name.rpartition(".")
        keep = ext if dot and len(ext) <= 10 else ""
        name = name[: MAX_NAME - len(keep) - 1] + ("." + keep if keep else "")
    return name or "upload"


async def read_raw(stream: AsyncIterator[bytes], spool: Spool) -> None:
    async for chunk in stream:
        if chunk:
            spool.write(chunk)
            await spool.drain()


@dataclass
class _PartState:
    headers: dict[str, bytes] = field(default_factory=dict)
    field_name: bytes = b""
    field_value: bytes = b""
    is_file: bool = False
    filename: str | None = None
    found: bool = False


async def read_multipart(
    stream: AsyncIterator[bytes], content_type: str, spool: Spool
) -> str | None:
    """Stream the `file` part of a multipart body into the spool; returns its filename.

    Other parts are ignored (bounded), and every byte of the body counts toward
    `spool.limit + FRAMING_ALLOWANCE`. Raises `MissingFile` when there is no
    `file` part.
    """
    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise MalformedMultipart("the Content-Type has no boundary")
    st = _PartState()
    other_bytes = 0

    def on_part_begin() -> None:
        st.headers = {}
        st.is_file = False

    def on_header_field(data: bytes, start: int, end: int) -> None:
        st.field_name += data[start:end]
        if len(st.field_name) > MAX_PART_HEADER:
            raise MalformedMultipart("a part header is too long")

    def on_header_value(data: bytes, start: int, end: int) -> None:
        st.field_value += data[start:end]
        if len(st.field_value) > MAX_PART_HEADER:
            raise MalformedMultipart("a part header is too long")

    def on_header_end() -> None:
        st.headers[st.field_name.decode("latin-1").lower()] = st.field_value
        st.field_name = b""
        st.field_value = b""

    def on_headers_finished() -> None:
        _, disp = parse_options_header(st.headers.get("content-disposition", b""))
        name = disp.get(b"name", b"").decode("utf-8", "replace")
        if name == "file" and not st.found:
            st.is_file = True
            st.found = True
            raw = disp.get(b"filename*") or disp.get(b"filename") or b""
            st.filename = raw.decode("utf-8", "replace")

    def on_part_data(data: bytes, start: int, end: int) -> None:
        nonlocal other_bytes
        if st.is_file:
            # a view keeps an immutable chunk alive until the writer thread is done with it
            spool.write(memoryview(data)[start:end] if isinstance(data, bytes) else bytes(data[start:end]))
        else:
            other_bytes += end - start
            if other_bytes > FRAMING_ALLOWANCE:
                raise MalformedMultipart("unexpected large non-file part")

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
        },
    )
    body_limit = spool.limit + FRAMING_ALLOWANCE
    received = 0
    try:
        async for chunk in stream:
            received += len(chunk)
            if received > body_limit:  # preamble, epilogue, extra parts: every byte counts
                raise TooLarge(spool.limit, "the request body")
            if chunk:
                parser.write(chunk)
                await spool.drain()
        parser.finalize()
    except errors.DomainError:
        raise
    except Exception as exc:  # the parser's own errors
        raise MalformedMultipart(str(exc)[:200]) from exc
    if not st.found:
        raise MissingFile("send the photo in a multipart field named 'file'")
    return st.filename


def spool_path(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    return directory / f"up-{os.urandom(8).hex()}"
