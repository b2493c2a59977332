"""The `ObjectStore` interface every backend implements.

Keys are relative, `/`-separated, and validated on every call: a key can
never climb out of its store, whatever a caller passes in.
"""

from __future__ import annotations

import abc
import contextlib
import tempfile
import unicodedata
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

CHUNK = 1024 * 1024


class InvalidKey(ValueError):
    pass


class ObjectNotFound(FileNotFoundError):
    pass


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int


def validate_key(key: str) -> str:
    if not key or len(key) > 1024:
        raise InvalidKey("key must be 1..1024 characters")
    if key.startswith("/") or "\\" in key or "\x00" in key:
        raise InvalidKey(f"key {key!r} is absolute or has a backslash/NUL")
    if any(unicodedata.category(c) == "Cc" for c in key):
        raise InvalidKey(f"key {key!r} has control characters")
    parts = key.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise InvalidKey(f"key {key!r} has an empty, '.' or '..' segment")
    return key


class ObjectStore(abc.ABC):
    """A flat key -> bytes store. All methods are safe to call from the event loop."""

    #: the `disk` recorded with images ("file" or "s3:<bucket>")
    disk: str
    url: str

    @abc.abstractmethod
    async def put_file(self, key: str, path: Path, content_type: str | None = None,
                       move: bool = False) -> ObjectInfo:
        """Store a local file; with `move=True` the file may be consumed."""

    @abc.abstractmethod
    async def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> ObjectInfo:
        ...

    @abc.abstractmethod
    async def get_bytes(self, key: str) -> bytes:
        ...

    @abc.abstractmethod
    def iter_chunks(self, key: str, chunk_size: int = CHUNK) -> AsyncIterator[bytes]:
        """Stream an object's bytes; raises ObjectNotFound before the first chunk."""

    @abc.abstractmethod
    async def download(self, key: str, path: Path) -> ObjectInfo:
        ...

    @abc.abstractmethod
    async def stat(self, key: str) -> ObjectInfo | None:
        ...

    @abc.abstractmethod
    async def delete(self, key: str) -> None:
        """Remove an object; removing a missing one is not an error."""

    @abc.abstractmethod
    async def list(self, prefix: str = "") -> list[str]:
        ...

    @abc.abstractmethod
    async def ping(self) -> bool:
        ...

    async def copy_from(self, source: ObjectStore, source_key: str, key: str) -> ObjectInfo:
        """Copy an object from another store, streaming through a temp file."""
        import tempfile

        with tempfile.TemporaryDirectory(prefix="prophoto-copy-") as tmp:
            local = Path(tmp) / "object"
            await source.download(source_key, local)
            return await self.put_file(key, local, move=True)

    async def exists(self, key: str) -> bool:
        return await self.stat(key) is not None

    async def presigned_get(self, key: str, expires_s: int = 900) -> str | None:
        """A URL a client can fetch directly, or None when the store has none."""
        validate_key(key)
        return None

    def local_path(self, key: str) -> Path | None:
        """A path on this machine to read the object from, when there is one."""
        return None

    @contextlib.asynccontextmanager
    async def local_copy(self, key: str, suffix: str = "") -> AsyncIterator[Path]:
        """A file on this machine holding the object, for as long as the block runs.

        The store's own file when it has one (nothing is copied), else a
        download into a temporary directory removed afterwards. Raises
        `ObjectNotFound` before the block runs when there is no such object;
        other storage errors are the store's (transient for a job).
        """
        path = self.local_path(key)
        if path is not None:
            if not path.is_file():
                raise ObjectNotFound(key)
            yield path
            return
        with tempfile.TemporaryDirectory(prefix="prophoto-local-") as tmp:
            local = Path(tmp) / (f"object.{suffix}" if suffix else "object")
            await self.download(key, local)
            yield local

    async def sweep_staging(self, older_than_s: float) -> int:
        """Remove the store's own temporary files untouched for `older_than_s` (a killed
        upload's spool); how many went. Stores without such files have nothing to do."""
        return 0

    async def close(self) -> None:  # noqa: B027 - optional hook
        pass
