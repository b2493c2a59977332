"""Build a store from its URL: `file://<path>` or `s3://<bucket>[/<prefix>]`."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from shared.settings import Settings
from shared.storage.base import ObjectStore


def open_store(url: str, settings: Settings) -> ObjectStore:
    parsed = urlparse(url)
    if parsed.scheme == "file":
        raw = url[len("file://"):]
        from shared.storage.fs import FileStore

        return FileStore(Path(raw), url)
    if parsed.scheme == "s3":
        from shared.storage.s3 import S3Store

        if not settings.s3_endpoint:
            raise ValueError(f"{url}: PROPHOTO_S3_ENDPOINT is required for s3:// stores")
        return S3Store(
            endpoint=settings.s3_endpoint,
            access_key=settings.s3_access_key or "",
            secret_key=settings.s3_secret_key or "",
            bucket=parsed.netloc,
            prefix=parsed.path.strip("/"),
            region=settings.s3_region,
        )
    raise ValueError(f"unsupported store URL {url!r}: use file://PATH or s3://BUCKET[/PREFIX]")
