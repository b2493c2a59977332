"""Object storage: one interface, two real backends (filesystem and S3)."""

from shared.storage.base import InvalidKey, ObjectInfo, ObjectNotFound, ObjectStore, validate_key
from shared.storage.factory import open_store, open_stores

__all__ = ["InvalidKey", "ObjectInfo", "ObjectNotFound", "ObjectStore", "open_store", "open_stores",
           "validate_key"]
