"""Local filesystem store: the embedded default (`file://./var/store`)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

from shared.storage.base import CHUNK, InvalidKey, ObjectInfo, ObjectNotFound, ObjectStore, validate_key

# a key naming a directory, or passing through a file, names no object
_MISSING = (FileNotFoundError, IsADirectoryError, NotADirectoryError)


class FileStore(ObjectStore):
    def __init__(self, root: Path, url: str | None = None) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.url = url or f"file://{self.root}"
        self.disk = "file"
        self._staging = self.root / ".staging"
        self._staging.mkdir(exist_ok=True)

    def _path(self, key: str) -> Path:
        validate_key(key)
        if key.split("/", 1)[0] == ".staging":
            raise InvalidKey("keys under .staging are reserved")
        path = (self.root / key).resolve()
        if self.root not in path.parents:
            raise InvalidKey(f"key {key!r} leaves the store")
        return path

    def staging_file(self) -> Path:
        """A fresh file on the store's own filesystem, so `put_file(move=True)` is a rename."""
        fd, name = tempfile.mkstemp(dir=self._staging, prefix="up-")
        os.close(fd)
        return Path(name)

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    async def sweep_staging(self, older_than_s: float) -> int:
        def sweep() -> int:
            cutoff = time.time() - older_than_s
            removed = 0
            for path in self._staging.iterdir():
                with contextlib.suppress(FileNotFoundError):
                    if path.stat().st_mtime < cutoff:
                        path.unlink()
                        removed += 1
            return removed

        return await asyncio.to_thread(sweep)

    def _temp_file(self) -> tuple[int, str]:
        # Temp files live in .staging, never beside the object: any name there
        # could also be a valid key, and the listing would have to guess.
        return tempfile.mkstemp(dir=self._staging, prefix="tmp-")

    def _install(self, src: Path, dst: Path, move: bool) -> None:
        dst.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = self._temp_file()
        os.close(fd)
        try:
            if move:
                try:
                    os.replace(src, tmp)
                except OSError:  # another filesystem
                    shutil.copyfile(src, tmp)
            else:
                shutil.copyfile(src, tmp)
            os.replace(tmp, dst)  # readers never see a half-written object
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    async def put_file(self, key: str, path: Path, content_type: str | None = None,
                       move: bool = False) -> ObjectInfo:
        dst = self._path(key)
        await asyncio.to_thread(self._install, Path(path), dst, move)
        return ObjectInfo(key, dst.stat().st_size)

    async def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> ObjectInfo:
        dst = self._path(key)

        def write() -> None:
            dst.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = self._temp_file()
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                os.replace(tmp, dst)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise

        await asyncio.to_thread(write)
        return ObjectInfo(key, len(data))

    async def get_bytes(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except _MISSING as exc:
            raise ObjectNotFound(key) from exc

    async def iter_chunks(self, key: str, chunk_size: int = CHUNK) -> AsyncIterator[bytes]:
        path = self._path(key)
        try:
            fh = await asyncio.to_thread(open, path, "rb")
        except _MISSING as exc:
            raise ObjectNotFound(key) from exc
        try:
            while chunk := await asyncio.to_thread(fh.read, chunk_size):
                yield chunk
        finally:
            fh.close()

    async def download(self, key: str, path: Path) -> ObjectInfo:
        src = self._path(key)
        try:
            await asyncio.to_thread(shutil.copyfile, src, path)
        except _MISSING as exc:
            raise ObjectNotFound(key) from exc
        size = (await asyncio.to_thread(Path(path).stat)).st_size
        return ObjectInfo(key, size)

    async def stat(self, key: str) -> ObjectInfo | None:
        path = self._path(key)
        try:
            st = await asyncio.to_thread(path.stat)
        except _MISSING:
            return None
        return ObjectInfo(key, st.st_size) if path.is_file() else None

    async def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            await asyncio.to_thread(path.unlink, missing_ok=True)
        except _MISSING:  # a "directory" key names no object
            pass

    async def list(self, prefix: str = "") -> list[str]:
        def walk() -> list[str]:
            keys = []
            for dirpath, dirnames, filenames in os.walk(self.root):
                if dirpath == str(self.root):
                    dirnames[:] = [d for d in dirnames if d != ".staging"]
                for name in filenames:
                    rel = Path(dirpath, name).relative_to(self.root).as_posix()
                    if rel.startswith(prefix):
                        keys.append(rel)
            return sorted(keys)

        return await asyncio.to_thread(walk)

    async def copy_from(self, source: ObjectStore, source_key: str, key: str) -> ObjectInfo:
        local = source.local_path(source_key)
        if local is not None:
            if not local.is_file():
                raise ObjectNotFound(source_key)
            return await self.put_file(key, local, move=False)
        return await super().copy_from(source, source_key, key)

    async def ping(self) -> bool:
        return await asyncio.to_thread(os.access, self.root, os.W_OK)
