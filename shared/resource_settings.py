"""Each resource's own settings, cut from the one `Settings` (`settings.broker`, `settings.database`,
`settings.stores`).

The environment stays flat (`PROPHOTO_DATABASE_URL`, `PROPHOTO_TEMP_STORE`,
`PROPHOTO_S3_ENDPOINT`...): deployments and tests spell those names. What an
adapter receives is only its part, a small frozen object, so an adapter's
signature says what it reads and a test builds just that. Imaging limits
have theirs in `shared.imaging.Limits`, ExifTool takes its binary, timeout
and pool size.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class BrokerSettings:
    """How to reach RabbitMQ (one node, or a comma-separated list of a cluster's) and how long
    a publish may wait for its confirm."""

    url: str
    publish_timeout_s: float
    #: the AMQP heartbeat every connection asks for (shared/broker/connections.py)
    heartbeat_s: int = 10


@dataclass(frozen=True)
class DatabaseSettings:
    """The PostgreSQL database every service shares."""

    url: str


@dataclass(frozen=True)
class S3Settings:
    """The S3 endpoint `s3://` stores live on, and how long a presigned link lasts."""

    endpoint: str | None
    access_key: str | None
    secret_key: str | None
    region: str
    presign_seconds: int


@dataclass(frozen=True)
class StoreSettings:
    """The temporary and final stores, by URL (`file://...` or `s3://bucket/prefix`)."""

    temp: str
    final: str
    s3: S3Settings

    @property
    def shared(self) -> bool:
        """Temporary and final objects live in one store (opened once)."""
        return self.temp == self.final


@dataclass(frozen=True)
class ConnectionLimits:
    """What one HTTP connection may cost before the application sees a request
    (shared/http/server.py; `PROPHOTO_HTTP_*`, listed in docs/operations.md)."""

    max_header_bytes: int = 32 * 1024
    max_headers: int = 100
    header_timeout_s: float = 10.0
    idle_timeout_s: int = 15
    body_window_s: float = 20.0
    body_min_bytes: int = 1024
    max_connections: int | None = 2000


@dataclass(frozen=True)
class QuotaSettings:
    """What one user may ask of one upload service process (`PROPHOTO_QUOTA_*`, shared/quotas.py)."""

    uploads_per_minute: int = 600
    bytes_per_day: int = 100 * 1024**3
    unconfirmed_proxies: int = 10_000
    sse_streams: int = 20
    parked_scans_per_minute: int = 30
    parked_scans_concurrent: int = 2


def cut(kind: type[T], source: Any, prefix: str) -> T:
    """A resource's settings from the flat fields `<prefix><field>` of `source` (one per field)."""
    return kind(**{f.name: getattr(source, prefix + f.name) for f in fields(kind)})  # type: ignore[arg-type]
