"""Partial objects on S3: one multipart upload per resumable upload.

State kept by the caller between requests:
`{"mpu": <S3 upload id>, "parts": [[number, etag], ...], "tail": <key or null>}`.
Bytes that do not fill a 5 MiB part wait in the tail object; the next request
reads it back (at most one part) and sends it in front of its own bytes. A
part uploaded by a request that is then rolled back is never listed, and its
number is reused (S3 replaces a part uploaded again under the same number).

minio has no public multipart calls; its `_create_multipart_upload`,
`_upload_part`, `_complete_multipart_upload` and `_abort_multipart_upload`
are the S3 operations themselves (minio 7.2).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid as uuidlib
from pathlib import Path
from typing import Any

from minio.datatypes import Part
from minio.error import InvalidResponseError, S3Error

from shared import keys
from shared.storage.base import ObjectNotFound
from shared.storage.partial import PART_BYTES, Append, PartialStore, partial_key
from shared.storage.s3 import S3Store


class _S3Append(Append):
    def __init__(self, owner: S3Partials, upload_id: str, state: dict[str, Any],
                 tail: bytes) -> None:
        self.owner = owner
        self.upload_id = upload_id
        self.state = state
        self.parts: list[list[Any]] = [list(p) for p in state.get("parts", [])]
        self.buffer = bytearray(tail)
        self.obsolete: str | None = None

    async def write(self, chunk: bytes) -> None:
        self.buffer += chunk
        while len(self.buffer) >= PART_BYTES:
            data = bytes(self.buffer[:PART_BYTES])
            del self.buffer[:PART_BYTES]
            await self._upload_part(data)

    async def _upload_part(self, data: bytes) -> None:
        number = len(self.parts) + 1
        etag = await self.owner.store._run(
            self.owner.store._client._upload_part, self.owner.store.bucket,
            self.owner.name(self.upload_id), data, None, self.state["mpu"], number)
        self.parts.append([number, etag])

    async def commit(self, final: bool) -> dict[str, Any]:
        old_tail = self.state.get("tail")
        new_tail = None
        if final:
            if self.buffer or not self.parts:  # the last part may be short (or empty)
                await self._upload_part(bytes(self.buffer))
        elif self.buffer:
            new_tail = keys.partial_tail_key(self.upload_id, uuidlib.uuid4().hex[:8])
            await self.owner.store.put_bytes(new_tail, bytes(self.buffer))
        self.buffer = bytearray()
        # the old tail stays until the caller has recorded the new state (`committed`): a crash
        # before that leaves the recorded state whole, and the new tail an orphan to sweep
        self.obsolete = old_tail if old_tail and old_tail != new_tail else None
        return {"mpu": self.state["mpu"], "parts": self.parts, "tail": new_tail}

    async def committed(self) -> None:
        if self.obsolete:
            await self.owner.store.delete(self.obsolete)  # if this fails, the sweeper removes it

    async def rollback(self) -> None:
        self.buffer = bytearray()


class S3Partials(PartialStore):
    def __init__(self, store: S3Store) -> None:
        self.store = store

    def name(self, upload_id: str) -> str:
        return self.store._name(partial_key(upload_id))

    async def begin(self, upload_id: str) -> dict[str, Any]:
        mpu = await self.store._run(self.store._client._create_multipart_upload, self.store.bucket,
                                    self.name(upload_id), {"Content-Type": "application/octet-stream"})
        return {"mpu": mpu, "parts": [], "tail": None}

    async def append(self, upload_id: str, state: dict[str, Any], offset: int) -> Append:
        tail = b""
        if state.get("tail"):
            try:
                tail = await self.store.get_bytes(state["tail"])
            except ObjectNotFound:
                raise RuntimeError(f"tail object of upload {upload_id} is missing") from None
        return _S3Append(self, upload_id, state, tail)

    async def assemble(self, upload_id: str, state: dict[str, Any], spool_dir: Path) -> Path:
        name = self.name(upload_id)
        parts = [Part(int(n), etag) for n, etag in state["parts"]]
        try:
            await self.store._run(self.store._client._complete_multipart_upload, self.store.bucket,
                                  name, state["mpu"], parts)
        except (S3Error, InvalidResponseError) as exc:
            # completed before a crash (S3 says NoSuchUpload; some servers fail otherwise): the
            # whole object is there unless acceptance consumed it too
            if await self.store.stat(partial_key(upload_id)) is None:
                if isinstance(exc, S3Error) and exc.code == "NoSuchUpload":
                    raise ObjectNotFound(partial_key(upload_id)) from exc
                raise
        fd, tmp = tempfile.mkstemp(dir=spool_dir, prefix="tus-")
        os.close(fd)
        try:
            await self.store.download(partial_key(upload_id), Path(tmp))
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return Path(tmp)  # the completed object stays until the outcome is recorded (`finished`)

    async def finished(self, upload_id: str) -> None:
        await self.store.delete(partial_key(upload_id))

    def named(self, upload_id: str, state: dict[str, Any]) -> set[str]:
        tail = state.get("tail")
        return {partial_key(upload_id), *([tail] if tail else [])}

    async def discard(self, upload_id: str, state: dict[str, Any]) -> None:
        if state.get("tail"):
            await self.store.delete(state["tail"])
        if state.get("mpu"):
            try:
                await self.store._run(self.store._client._abort_multipart_upload, self.store.bucket,
                                      self.name(upload_id), state["mpu"])
            except S3Error as exc:
                if exc.code != "NoSuchUpload":
                    raise
        await self.store.delete(partial_key(upload_id))
