"""The event loop's view of ExifTool: a small pool of processes, Pillow as the fallback.

One slow or huge read must not make every other upload wait: each call takes
an idle process from the pool (or waits for one), so with a pool of n, n - 1
slow reads still leave a process for everyone else. Reads are bounded by
`shared.exif.process` (deadline, output limit), so a process is never held
for long. Embedded images are extracted only when the metadata says they fit
(`extract_declared`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from shared.exif.fallback import pillow_thumbnail, read_with_pillow
from shared.exif.process import EmbeddedTooLarge, ExifTool, ExifToolError
from shared.exif.tags import ReadMode
from shared.exif.values import embedded_previews

log = logging.getLogger(__name__)
DEFAULT_POOL = 3


class AsyncExifTool:
    """Calls run in threads, each on a process of its own from the pool."""

    def __init__(self, binary: str = "exiftool", timeout: float = 30.0, size: int = DEFAULT_POOL) -> None:
        self._tools = [ExifTool(binary, timeout) for _ in range(max(1, size))]
        self._idle: asyncio.Queue[ExifTool] = asyncio.Queue()
        for tool in self._tools:
            self._idle.put_nowait(tool)

    @property
    def available(self) -> bool:
        return self._tools[0].available

    @property
    def size(self) -> int:
        return len(self._tools)

    @asynccontextmanager
    async def _tool(self) -> AsyncIterator[ExifTool]:
        tool = await self._idle.get()
        try:
            yield tool
        finally:
            self._idle.put_nowait(tool)

    async def read(self, path: Path, mode: ReadMode = ReadMode.FAST2) -> dict[str, Any]:
        """The metadata; `_reader` says who read it: `exiftool-<mode>` or `pillow` (the fallback)."""
        try:
            async with self._tool() as tool:
                meta = await asyncio.to_thread(tool.read, path, mode)
            meta["_reader"] = f"exiftool-{ReadMode(mode)}"
            return meta
        except ExifToolError as exc:
            log.warning("ExifTool failed (%s); falling back to Pillow", exc)
        meta = await asyncio.to_thread(read_with_pillow, path)
        meta["_reader"] = "pillow"
        return meta

    async def extract_binary(self, path: Path, tag: str, max_bytes: int | None = None) -> bytes | None:
        try:
            async with self._tool() as tool:
                return await asyncio.to_thread(tool.extract_binary, path, tag, max_bytes)
        except EmbeddedTooLarge:
            raise
        except ExifToolError:
            if tag != "ThumbnailImage":
                raise
        data = await asyncio.to_thread(pillow_thumbnail, path)
        if data is not None and max_bytes is not None and len(data) > max_bytes:
            raise EmbeddedTooLarge(tag, len(data), max_bytes)
        return data

    async def extract_declared(self, path: Path, meta: dict[str, Any], tag: str,
                               max_bytes: int) -> bytes | None:
        """`tag` if the metadata says it exists and its declared length fits in `max_bytes`.

        Nothing is extracted for an image the metadata does not list (one
        ExifTool call saved) or declares too large (`EmbeddedTooLarge` before
        a byte is read); the read itself is capped too, for a length that lied.
        """
        declared = dict(embedded_previews(meta)).get(tag)
        if declared is None and str(meta.get("_reader", "")).startswith("exiftool"):
            return None
        if declared is not None and declared > max_bytes:
            raise EmbeddedTooLarge(tag, declared, max_bytes)
        return await self.extract_binary(path, tag, max_bytes)

    async def close(self) -> None:
        for _ in self._tools:  # wait for every process to be idle
            await self._idle.get()
        for tool in self._tools:
            await asyncio.to_thread(tool.close)
            self._idle.put_nowait(tool)  # closed processes start again if used
