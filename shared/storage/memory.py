"""An object store in a dict: the fast fake for unit tests of the job functions.

It is an `ObjectStore` (mypy checks every method against the interface) and
`tests/integration/test_storage_contract.py` runs the same contract on it as
on the file store and S3, so it cannot drift from them.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

from shared.storage.base import CHUNK, ObjectInfo, ObjectNotFound, ObjectStore, validate_key


class MemoryStore(ObjectStore):
    def __init__(self, disk: str = "memory") -> None:
        self.disk, self.url = disk, f"{disk}://"
        #: every object by key (a test may read or plant objects here)
        self.objects: dict[str, bytes] = {}

    async def put_file(self, key: str, path: Path, content_type: str | None = None,
                       move: bool = False) -> ObjectInfo:
        info = await self.put_bytes(key, await asyncio.to_thread(path.read_bytes), content_type)
        if move:
            await asyncio.to_thread(path.unlink, missing_ok=True)
        return info

    async def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> ObjectInfo:
        self.objects[validate_key(key)] = bytes(data)
        return ObjectInfo(key, len(data))

    async def get_bytes(self, key: str) -> bytes:
        try:
            return self.objects[validate_key(key)]
        except KeyError:
            raise ObjectNotFound(key) from None

    def iter_chunks(self, key: str, chunk_size: int = CHUNK) -> AsyncIterator[bytes]:
        return _chunks(self.objects, validate_key(key), chunk_size)

    async def download(self, key: str, path: Path) -> ObjectInfo:
        data = await self.get_bytes(key)
        await asyncio.to_thread(_write, path, data)
        return ObjectInfo(key, len(data))

    async def stat(self, key: str) -> ObjectInfo | None:
        data = self.objects.get(validate_key(key))
        return None if data is None else ObjectInfo(key, len(data))

    async def delete(self, key: str) -> None:
        self.objects.pop(validate_key(key), None)

    async def list(self, prefix: str = "") -> list[str]:
        return sorted(k for k in self.objects if k.startswith(prefix))

    async def ping(self) -> bool:
        return True


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    part.write_bytes(data)
    shutil.move(part, path)


async def _chunks(objects: dict[str, bytes], key: str, size: int) -> AsyncIterator[bytes]:
    data = objects.get(key)
    if data is None:  # before the first chunk, as the other stores
        raise ObjectNotFound(key)
    for start in range(0, len(data), size):
        yield data[start:start + size]
