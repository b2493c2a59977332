"""Build a store from its URL: `file://<path>` or `s3://<bucket>[/<prefix>]`."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from shared.resource_settings import S3Settings, StoreSettings
from shared.storage.base import ObjectStore


def open_store(url: str, s3: S3Settings) -> ObjectStore:
    parsed = urlparse(url)
    if parsed.scheme == "file":
        raw = url[len("file://"):]
        from shared.storage.fs import FileStore

        return FileStore(Path(raw), url)
    if parsed.scheme == "s3":
        from shared.storage.s3 import S3Store

        if not s3.endpoint:
            raise ValueError(f"{url}: PROPHOTO_S3_ENDPOINT is required for s3:// stores")
        return S3Store(
            endpoint=s3.endpoint,
            access_key=s3.access_key or "",
            secret_key=s3.secret_key or "",
            bucket=parsed.netloc,
            prefix=parsed.path.strip("/"),
            region=s3.region,
        )
    raise ValueError(f"unsupported store URL {url!r}: use file://PATH or s3://BUCKET[/PREFIX]")


def open_stores(stores: StoreSettings) -> tuple[ObjectStore, ObjectStore]:
    """The temporary and the final store; one object when both URLs are the same."""
    temp = open_store(stores.temp, stores.s3)
    return temp, temp if stores.shared else open_store(stores.final, stores.s3)
