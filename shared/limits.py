"""What one connection, one user and one unfinished upload may cost, as settings.

These are the flat `PROPHOTO_HTTP_*`, `PROPHOTO_QUOTA_*` and `PROPHOTO_TUS_*`
variables (listed in docs/operations.md). `Settings` inherits them; what an
adapter receives is its cut (`settings.connection_limits`,
`settings.quotas`, see `shared/resource_settings.py`).
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared import resource_settings as resources


class LimitSettings(BaseSettings):
    """The limits part of `Settings`: every field here is one of its fields."""

    model_config = SettingsConfigDict(env_prefix="PROPHOTO_", env_nested_delimiter="__", extra="ignore")

    # connection and body limits, applied before any work (shared/http/server.py, shared/http/gate.py)
    http_max_header_bytes: int = Field(default=32 * 1024, ge=1024)
    http_max_headers: int = Field(default=100, ge=10)
    http_header_timeout_s: float = Field(default=10.0, gt=0)
    http_idle_timeout_s: int = Field(default=15, ge=1)
    http_body_window_s: float = Field(default=20.0, gt=0)
    http_body_min_bytes: int = Field(default=1024, ge=0)
    http_max_connections: int = Field(default=2000, ge=10)
    #: every route that does not stream an upload (JSON bodies, forms)
    http_max_body_bytes: int = Field(default=256 * 1024, ge=1024)

    # per-user quotas and rates, per process (shared/quotas.py): past one, 429 with Retry-After
    proxy_expiry_days: float = Field(default=30, gt=0)  # unconfirmed proxies: services/upload/janitor.py
    janitor_every_s: float = Field(default=300, gt=0)
    quota_uploads_per_minute: int = Field(default=600, ge=1)
    quota_bytes_per_day: int = Field(default=100 * 1024**3, ge=1)
    quota_unconfirmed_proxies: int = Field(default=10_000, ge=1)
    quota_sse_streams: int = Field(default=20, ge=1)
    quota_parked_scans_per_minute: int = Field(default=30, ge=1)
    quota_parked_scans_concurrent: int = Field(default=2, ge=1)

    # resumable (tus) uploads: caps on one user's unfinished uploads, their lifetime
    tus_max_incomplete: int = Field(default=20, ge=1)
    tus_max_incomplete_bytes: int = Field(default=20 * 1024**3, ge=1)
    tus_expiry_s: float = Field(default=24 * 3600, gt=0)
    tus_sweep_s: float = Field(default=60, gt=0)
    tus_max_rows: int = Field(default=5000, ge=1)
    tus_outcome_keep_s: float = Field(default=600, gt=0)
    #: Upload-Metadata (tus) or the draft's filename, as received
    tus_max_metadata_bytes: int = Field(default=4096, ge=256)
    #: a request's hold on an upload; renewed while its body arrives, so only a crash lets it lapse
    tus_lease_s: float = Field(default=30, ge=1)

    @property
    def connection_limits(self) -> resources.ConnectionLimits:
        return resources.cut(resources.ConnectionLimits, self, "http_")

    @property
    def quotas(self) -> resources.QuotaSettings:
        return resources.cut(resources.QuotaSettings, self, "quota_")
