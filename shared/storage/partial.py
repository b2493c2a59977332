"""Partial objects: bytes of an unfinished upload, appended request by request.

A resumable upload arrives in pieces over many requests and must survive a
restart of the service, so its bytes live in the temp store, not in memory:

- file store: one file under `ingest-temp/tus/<id>`, written at the recorded
  offset (anything past it, left by a request that died before its offset was
  recorded, is cut off first);
- S3: an S3 multipart upload. Parts must be at least 5 MiB except the last,
  and a request may bring less, so bytes that do not fill a part wait in a
  small "tail" object (at most one part long) that the next request prepends.

Each backend keeps what it needs between requests in a JSON-able `state`
dict that the caller stores with its offset. An `Append` is committed (new
state) or rolled back (old state still valid); only after the caller records
the new state do the new bytes count, and only then does `committed` remove
what the old state named and the new one does not (an S3 tail). A crash at
any point leaves the recorded state whole: objects no state names are
orphans, which `orphans` finds for the sweeper.
"""

from __future__ import annotations

import abc
import asyncio
import os
from pathlib import Path
from typing import Any

from shared import keys
from shared.storage.base import ObjectStore, validate_key
from shared.storage.writeback import start_writeback

PART_BYTES = 5 * 1024 * 1024  # S3's smallest part (except the last)
WRITEBACK_BYTES = 1024 * 1024


def partial_key(upload_id: str) -> str:
    return validate_key(keys.partial_key(upload_id))


class Append(abc.ABC):
    """One request's bytes, added at the recorded offset."""

    @abc.abstractmethod
    async def write(self, chunk: bytes) -> None: ...

    @abc.abstractmethod
    async def commit(self, final: bool) -> dict[str, Any]:
        """Make the bytes durable; returns the new state. `final`: nothing more will come."""

    @abc.abstractmethod
    async def rollback(self) -> None:
        """Forget this request's bytes; the old state stays valid."""

    async def committed(self) -> None:  # noqa: B027 - most backends replace nothing
        """The caller recorded the state `commit` returned: remove what only the old one named."""


class PartialStore(abc.ABC):
    @abc.abstractmethod
    async def begin(self, upload_id: str) -> dict[str, Any]:
        """Start an empty partial object; returns its state."""

    @abc.abstractmethod
    async def append(self, upload_id: str, state: dict[str, Any], offset: int) -> Append: ...

    @abc.abstractmethod
    async def assemble(self, upload_id: str, state: dict[str, Any], spool_dir: Path) -> Path:
        """The complete bytes as a local file the caller then owns (and may move)."""

    @abc.abstractmethod
    async def discard(self, upload_id: str, state: dict[str, Any]) -> None:
        """Remove whatever the partial object holds; safe to repeat."""

    async def finished(self, upload_id: str) -> None:  # noqa: B027 - a file store has nothing left
        """The outcome of the assembled upload is recorded: remove what `assemble` left in the
        store (kept until then so that a crash during acceptance can assemble again)."""

    def named(self, upload_id: str, state: dict[str, Any]) -> set[str]:
        """The store keys `state` needs (the rest under the upload's prefix are orphans)."""
        return {partial_key(upload_id)}

    @staticmethod
    async def listed(store: ObjectStore) -> dict[str, list[str]]:
        """Every partial-upload object in `store` (the temp store), by upload id."""
        found: dict[str, list[str]] = {}
        for key in await store.list(keys.partial_key("")):
            upload_id = key.rsplit("/", 1)[1].split(".tail-", 1)[0]
            found.setdefault(upload_id, []).append(key)
        return found


# -- file store -----------------------------------------------------------------


class _FileAppend(Append):
    """Writes go to the page cache as they arrive; every `WRITEBACK_BYTES` the kernel is
    asked to start writing them out (`sync_file_range`, no waiting), so the `fdatasync`
    of `commit` finds little left to do instead of a whole request's bytes."""

    def __init__(self, path: Path, offset: int) -> None:
        self.path = path
        self.offset = offset
        self._fh = open(path, "r+b", buffering=0)  # no buffer: what is written is in the file
        self._fh.truncate(offset)  # bytes past the recorded offset were never acknowledged
        self._fh.seek(offset)
        self._end = offset
        self._flushed = offset
        self._writeback: asyncio.Future[None] | None = None

    async def write(self, chunk: bytes) -> None:
        self._fh.write(chunk)  # page cache: as the direct upload's spool does
        self._end += len(chunk)
        if self._end - self._flushed >= WRITEBACK_BYTES and (
                self._writeback is None or self._writeback.done()):
            start, self._flushed = self._flushed, self._end
            self._writeback = asyncio.get_running_loop().run_in_executor(
                None, start_writeback, self._fh.fileno(), start, self._end - start)

    async def commit(self, final: bool) -> dict[str, Any]:
        if self._writeback is not None:
            await self._writeback
        if not final:  # the offset about to be recorded must survive a power cut
            await asyncio.to_thread(os.fdatasync, self._fh.fileno())  # the size is data here too
        # the last bytes go straight into acceptance, which stores the file as a direct
        # upload's spool is stored: by rename, without a sync of its own
        self._fh.close()
        return {}

    async def rollback(self) -> None:
        if self._writeback is not None:
            await asyncio.wait([self._writeback])
        self._fh.truncate(self.offset)
        self._fh.close()


class FilePartials(PartialStore):
    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    def _path(self, upload_id: str) -> Path:
        path = self.store.local_path(partial_key(upload_id))
        assert path is not None
        return path

    async def begin(self, upload_id: str) -> dict[str, Any]:
        path = self._path(upload_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        return {}

    async def append(self, upload_id: str, state: dict[str, Any], offset: int) -> Append:
        return _FileAppend(self._path(upload_id), offset)

    async def assemble(self, upload_id: str, state: dict[str, Any], spool_dir: Path) -> Path:
        return self._path(upload_id)  # already whole, on the store's filesystem: a move is a rename

    async def discard(self, upload_id: str, state: dict[str, Any]) -> None:
        self._path(upload_id).unlink(missing_ok=True)


def open_partials(store: ObjectStore) -> PartialStore:
    from shared.storage.s3 import S3Store

    if isinstance(store, S3Store):
        from shared.storage.s3_partial import S3Partials

        return S3Partials(store)
    if store.local_path(keys.partial_key("probe")) is not None:
        return FilePartials(store)
    raise ValueError(f"no partial-object support for {store.url}")
