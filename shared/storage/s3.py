"""S3 store (`s3://<bucket>[/<prefix>]`) on the synchronous `minio` client.

Every client call runs in a worker thread so the event loop never blocks on
the network; the client itself is thread-safe and shares one connection pool.
"""

from __future__ import annotations

import asyncio
import io
import os
import tempfile
import threading
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

import certifi
import urllib3
from minio import Minio
from minio.commonconfig import CopySource
from minio.error import S3Error

from shared.storage.base import CHUNK, ObjectInfo, ObjectNotFound, ObjectStore, validate_key

T = TypeVar("T")

_MISSING_CODES = frozenset({"NoSuchKey", "NoSuchObject", "NoSuchBucket", "ResourceNotFound"})
_BUCKET_RACE_CODES = frozenset({"BucketAlreadyOwnedByYou", "BucketAlreadyExists"})
_DEFAULT_TYPE = "application/octet-stream"


def _is_missing(exc: S3Error) -> bool:
    return exc.code in _MISSING_CODES


class S3Store(ObjectStore):
    def __init__(self, endpoint: str, access_key: str, secret_key: str, bucket: str,
                 prefix: str = "", region: str | None = "us-east-1") -> None:
        parsed = urlparse(endpoint if "://" in endpoint else f"http://{endpoint}")
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"S3 endpoint {endpoint!r} must look like http(s)://host[:port]")
        if parsed.path not in ("", "/"):
            raise ValueError(f"S3 endpoint {endpoint!r} must not have a path")
        if not bucket:
            raise ValueError("an s3:// store needs a bucket")
        self.endpoint = f"{parsed.scheme}://{parsed.netloc.lower()}"
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        if self.prefix:
            validate_key(self.prefix)
        self.access_key = access_key
        self.disk = f"s3:{bucket}"
        self.url = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        # Our own pool, so close() can release it; the client would otherwise
        # keep sockets open until garbage collection.
        self._http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=10, read=300),
            maxsize=16,
            cert_reqs="CERT_REQUIRED",
            ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
            retries=urllib3.Retry(total=5, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
        )
        self._client = Minio(
            parsed.netloc,
            access_key=access_key or None,
            secret_key=secret_key or None,
            secure=parsed.scheme == "https",
            region=region or None,  # a known region saves a GetBucketLocation round trip
            http_client=self._http,
        )
        self._bucket_ready = False
        self._bucket_lock = threading.Lock()

    # -- helpers -------------------------------------------------------------

    def _name(self, key: str) -> str:
        validate_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _ensure_bucket(self) -> None:
        if self._bucket_ready:
            return
        with self._bucket_lock:
            if self._bucket_ready:
                return
            if not self._client.bucket_exists(self.bucket):
                try:
                    self._client.make_bucket(self.bucket)
                except S3Error as exc:  # another process made it first
                    if exc.code not in _BUCKET_RACE_CODES:
                        raise
            self._bucket_ready = True

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        def call() -> T:
            self._ensure_bucket()
            return fn(*args, **kwargs)

        return await asyncio.to_thread(call)

    # -- ObjectStore -----------------------------------------------------------

    async def put_file(self, key: str, path: Path, content_type: str | None = None,
                       move: bool = False) -> ObjectInfo:
        name = self._name(key)
        size = (await asyncio.to_thread(os.stat, path)).st_size
        # fput_object streams the file in parts (multipart above 5 MiB): memory stays bounded
        await self._run(self._client.fput_object, self.bucket, name, str(path),
                        content_type=content_type or _DEFAULT_TYPE)
        if move:  # same contract as FileStore: the caller handed the file over
            await asyncio.to_thread(Path(path).unlink, missing_ok=True)
        return ObjectInfo(key, size)

    async def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> ObjectInfo:
        name = self._name(key)
        await self._run(self._client.put_object, self.bucket, name, io.BytesIO(data), len(data),
                        content_type=content_type or _DEFAULT_TYPE)
        return ObjectInfo(key, len(data))

    async def get_bytes(self, key: str) -> bytes:
        name = self._name(key)

        def read() -> bytes:
            resp = self._client.get_object(self.bucket, name)
            try:
                return resp.read()
            finally:
                resp.close()
                resp.release_conn()

        try:
            return await self._run(read)
        except S3Error as exc:
            if _is_missing(exc):
                raise ObjectNotFound(key) from exc
            raise

    async def iter_chunks(self, key: str, chunk_size: int = CHUNK) -> AsyncIterator[bytes]:
        name = self._name(key)
        try:
            resp = await self._run(self._client.get_object, self.bucket, name)
        except S3Error as exc:
            if _is_missing(exc):
                raise ObjectNotFound(key) from exc
            raise
        try:
            while chunk := await asyncio.to_thread(resp.read, chunk_size):
                yield chunk
        finally:
            resp.close()
            resp.release_conn()

    async def download(self, key: str, path: Path) -> ObjectInfo:
        name = self._name(key)
        dst = Path(path)

        def fetch() -> int:
            # not fget_object: it deletes the destination before renaming and leaves
            # its part file behind on failure; a sibling temp + os.replace does neither
            resp = self._client.get_object(self.bucket, name)
            try:
                dst.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.", suffix=".part")
                try:
                    size = 0
                    with os.fdopen(fd, "wb") as fh:
                        for chunk in resp.stream(CHUNK):
                            size += fh.write(chunk)
                    os.replace(tmp, dst)
                except BaseException:
                    Path(tmp).unlink(missing_ok=True)
                    raise
                return size
            finally:
                resp.close()
                resp.release_conn()

        try:
            size = await self._run(fetch)
        except S3Error as exc:
            if _is_missing(exc):
                raise ObjectNotFound(key) from exc
            raise
        return ObjectInfo(key, size)

    async def stat(self, key: str) -> ObjectInfo | None:
        name = self._name(key)
        try:
            obj = await self._run(self._client.stat_object, self.bucket, name)
        except S3Error as exc:
            if _is_missing(exc):
                return None
            raise
        return ObjectInfo(key, int(obj.size or 0))

    async def delete(self, key: str) -> None:
        name = self._name(key)
        try:
            await self._run(self._client.remove_object, self.bucket, name)
        except S3Error as exc:
            if not _is_missing(exc):
                raise

    async def list(self, prefix: str = "") -> list[str]:
        base = f"{self.prefix}/" if self.prefix else ""

        def walk() -> list[str]:
            objects = self._client.list_objects(self.bucket, prefix=base + prefix, recursive=True)
            return sorted(o.object_name[len(base):] for o in objects if o.object_name and not o.is_dir)

        return await self._run(walk)

    async def ping(self) -> bool:
        # a real round trip every time: the bucket flag alone would say yes forever
        try:
            return await self._run(self._client.bucket_exists, self.bucket)
        except Exception:
            return False

    async def presigned_get(self, key: str, expires_s: int = 900) -> str | None:
        name = self._name(key)
        return await self._run(self._client.presigned_get_object, self.bucket, name,
                               expires=timedelta(seconds=expires_s))

    def same_service(self, other: ObjectStore) -> bool:
        """True when `other` lives on the same endpoint under the same credentials,
        so the server can copy between the two without the bytes passing through us."""
        return (isinstance(other, S3Store) and other.endpoint == self.endpoint
                and other.access_key == self.access_key)

    async def copy_from(self, source: ObjectStore, source_key: str, key: str) -> ObjectInfo:
        name = self._name(key)
        if isinstance(source, S3Store) and self.same_service(source):
            src_name = source._name(source_key)
            try:
                # CopyObject: the bytes never leave the server (the client switches to
                # a multipart UploadPartCopy by itself above 5 GiB)
                await self._run(self._client.copy_object, self.bucket, name,
                                CopySource(source.bucket, src_name))
            except S3Error as exc:
                if _is_missing(exc):
                    raise ObjectNotFound(source_key) from exc
                raise
            info = await self.stat(key)
            if info is None:  # pragma: no cover - the server said it copied
                raise ObjectNotFound(key)
            return info
        local = source.local_path(source_key)
        if local is not None:  # a local file: upload it as is, no temp copy
            if not await asyncio.to_thread(local.is_file):
                raise ObjectNotFound(source_key)
            return await self.put_file(key, local, move=False)
        return await super().copy_from(source, source_key, key)

    async def close(self) -> None:
        self._http.clear()
