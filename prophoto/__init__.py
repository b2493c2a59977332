"""The typed Python client of the prophoto-ingest upload API (see docs/client.md).

    from prophoto import Client
    with Client("http://127.0.0.1:8080", "dev-token") as api:
        upload = api.upload("IMG_0001.jpg")
"""

from prophoto.aio import AsyncClient
from prophoto.errors import (
    ApiError,
    BadRequest,
    Conflict,
    ConnectionFailed,
    Forbidden,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    ProphotoError,
    ServerError,
    ServiceUnavailable,
    Unauthorized,
    UnsupportedMediaType,
    WaitTimeout,
)
from prophoto.models import (
    Colour,
    Enhancement,
    Explained,
    Image,
    ImagePage,
    Ingest,
    IngestResult,
    KeptImage,
    ParkedJob,
    Prioritized,
    Proxy,
    ProxyPage,
    Rendition,
    RerenderRun,
    Retry,
    StatusEvent,
    Thumbnail,
    Upload,
)
from prophoto.sync import Client

__all__ = [
    "ApiError",
    "AsyncClient",
    "BadRequest",
    "Client",
    "Colour",
    "Conflict",
    "ConnectionFailed",
    "Enhancement",
    "Explained",
    "Forbidden",
    "Image",
    "ImagePage",
    "Ingest",
    "IngestResult",
    "InvalidRequest",
    "KeptImage",
    "NotFound",
    "ParkedJob",
    "PayloadTooLarge",
    "Prioritized",
    "ProphotoError",
    "Proxy",
    "ProxyPage",
    "Rendition",
    "RerenderRun",
    "Retry",
    "ServerError",
    "ServiceUnavailable",
    "StatusEvent",
    "Thumbnail",
    "Unauthorized",
    "UnsupportedMediaType",
    "Upload",
    "WaitTimeout",
]
