"""Settings for every service, read from `PROPHOTO_*` environment variables.

Defaults are the original system's (8 MB embedded-preview cap, retry 10/30/60 s;
renditions: `shared/imaging/renditions.py`). Build them with
`get_settings()` at start-up, never at import time. An adapter gets only its
resource's part (`settings.database`, `settings.stores`; see
`shared/resource_settings.py`).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared import resource_settings as resources
from shared import tokens as secrets
from shared.exif.tags import ReadMode
from shared.limits import LimitSettings

DEV_TOKEN = "dev-token"  # noqa: S105 - only accepted when env=development


class RetryPolicy(BaseSettings):
    """How often one kind of job is tried and how long it waits in between."""

    model_config = SettingsConfigDict(extra="forbid")

    attempts: int
    backoff_s: list[float]
    timeout_s: float
    window_s: float | None = None  # total retry window from the first attempt

    @model_validator(mode="after")
    def _enough_delays(self) -> RetryPolicy:
        if self.attempts < 1:
            raise ValueError("attempts must be >= 1")
        if len(self.backoff_s) < self.attempts - 1:
            raise ValueError("backoff_s needs one delay per retry (attempts - 1)")
        return self


class Settings(LimitSettings):
    """Every `PROPHOTO_*` variable; the limits on a connection, a user and an unfinished upload
    are inherited from `shared/limits.py`."""

    model_config = SettingsConfigDict(env_prefix="PROPHOTO_", env_nested_delimiter="__", extra="ignore")

    #: production unless told otherwise: `make run`/`prophoto dev` set development, tests set test
    env: Literal["development", "test", "production"] = "production"
    log_level: str = "INFO"

    # resources
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    #: AMQP heartbeat (s) of every connection: the broker drops a half-open one within ~2x this
    amqp_heartbeat_s: int = Field(default=10, ge=0)
    database_url: str = "postgresql://postgres@127.0.0.1:5432/prophoto"
    temp_store: str = "file://./var/store"
    final_store: str = "file://./var/store"
    s3_endpoint: str | None = None  # e.g. http://127.0.0.1:9000
    s3_access_key: str | None = None
    s3_secret_key: str | None = None
    s3_region: str = "us-east-1"
    s3_presign_seconds: int = 900

    # imaging; the preview's and thumbnail's size and quality: `shared.imaging.renditions`' unless set
    preview_max_dimension: int | None = None
    #: previews, thumbnails and enhances in sRGB, or Display P3 (tagged) for sources wider than
    #: sRGB; sRGB sources stay untagged sRGB either way (docs/preview.md, "Colour")
    preview_gamut: Literal["srgb", "display-p3"] = "srgb"
    preview_quality: int | None = None
    max_preview_size: int = 8 * 1024 * 1024
    thumbnail_width: int | None = None
    thumbnail_height: int | None = None
    thumbnail_quality: int | None = None
    raw_min_embedded_edge: int = 800
    max_upload_bytes: int = 500 * 1024 * 1024
    max_pixels: int = 150_000_000
    #: memory one imaging job may use, estimated from headers before decoding (docs/preview.md)
    job_memory_mb: int = Field(default=512, ge=16)
    #: the render process's hard cap beyond its size at rest, as a multiple of the budget
    render_cap_factor: float = Field(default=1.5, ge=0)
    enhance_max_width: int = 4096
    enhance_default_factor: float = 1.25

    # metadata
    exiftool_binary: str = "exiftool"
    exiftool_timeout: float = 30.0
    #: ExifTool processes per upload service: a slow file holds one, the others keep answering
    exiftool_pool: int = Field(default=3, ge=1, le=32)
    #: how far each step's metadata read goes: full | fast | fast2 (shared/exif/tags.py)
    exiftool_upload_mode: ReadMode = ReadMode.FAST2
    exiftool_finalize_mode: ReadMode = ReadMode.FULL
    #: libvips threads per worker process; 0 = libvips' default (one per core)
    vips_concurrency: int = Field(default=1, ge=0, le=64)
    #: the preview worker's CPU priority (nice 0-19): a preview backlog is background work, an
    #: upload's answer and an enhance are interactive (docs/lanes.md)
    preview_nice: int = Field(default=10, ge=0, le=19)

    # finalize
    schema_pattern: str = "shoots/{year}/{month}/{camera}"

    # broker: queue names and the retry table
    exchange: str = "prophoto"
    queue_preview: str = "ingest-preview"
    queue_finalize: str = "ingest"
    queue_enhance: str = "ingest-enhance"
    queue_traces: str = "ingest-traces"
    delivery_limit: int = 5
    prefetch: int = 1
    # preview lanes (docs/lanes.md): users are spread over this
    # many queues per lane (bounded state; a worker takes one job from each in turn)
    preview_interactive_shards: int = Field(default=4, ge=1, le=64)
    preview_bulk_shards: int = Field(default=8, ge=1, le=64)
    #: a user's uploads beyond this many in the last minute go to the bulk lane without a flag
    bulk_after_uploads_per_minute: int = Field(default=50, ge=1)
    #: a user's photos asked for first (prioritize) and not yet rendered, at most
    prioritize_max_pending: int = Field(default=200, ge=1)
    #: rows a re-render run queues per transaction (the run resumes from its cursor)
    rerender_batch: int = Field(default=200, ge=1, le=10_000)
    preview_retry: RetryPolicy = Field(
        default_factory=lambda: RetryPolicy(attempts=3, backoff_s=[10, 30, 60], timeout_s=300)
    )
    finalize_retry: RetryPolicy = Field(
        default_factory=lambda: RetryPolicy(
            attempts=3, backoff_s=[10, 30, 60], timeout_s=1800, window_s=1800
        )
    )
    enhance_retry: RetryPolicy = Field(
        default_factory=lambda: RetryPolicy(attempts=2, backoff_s=[5, 15], timeout_s=300)
    )
    traces_retry: RetryPolicy = Field(
        default_factory=lambda: RetryPolicy(attempts=3, backoff_s=[5, 30], timeout_s=60)
    )
    #: members of each new quorum queue; None = 3 when PROPHOTO_AMQP_URL names 3+ nodes,
    #: else the broker's default (every cluster node)
    quorum_initial_group_size: int | None = Field(default=None, ge=1)
    publish_timeout_s: float = 10.0
    outbox_poll_s: float = 1.0
    #: published outbox rows are deleted after this long (the table stays bounded)
    outbox_retention_s: float = 300.0
    #: a row the broker refused waits base * 2^attempts (jittered, capped) before its next try
    outbox_backoff_base_s: float = 0.5
    outbox_backoff_max_s: float = 10.0
    #: the upload service is unready once its relay has failed this long without one confirm
    outbox_unready_after_s: float = 30.0

    # http
    api_tokens: str = ""  # "token=user_id,token2=user2": users
    admin_tokens: str = ""  # "token=operator_id,..." or bare tokens: operators (debug page, all users)
    # every listener's bind address: loopback unless a deployment says otherwise (0.0.0.0 in a container)
    upload_host: str = "127.0.0.1"
    upload_port: int = 8080
    tracing_host: str = "127.0.0.1"
    tracing_port: int = 8081
    #: the metrics listeners: the workers' /metrics and /healthz, and the upload and tracing
    #: services' /metrics (never on their API port: shared/http/metrics_listener.py)
    metrics_host: str = "127.0.0.1"
    public_url: str = ""  # base URL used in links; empty = relative links
    #: comma-separated peer addresses whose X-Forwarded-Proto is believed (a TLS-terminating proxy)
    trusted_proxies: str = ""

    # metrics ports: the workers', and the HTTP services' (apart from their API ports)
    preview_metrics_port: int = 9101
    finalize_metrics_port: int = 9102
    enhance_metrics_port: int = 9103
    upload_metrics_port: int = 9104
    tracing_metrics_port: int = 9105

    # tracing
    trace_retention_days: int = 30
    trace_batch_size: int = 200
    trace_batch_wait_s: float = 0.5
    stalled_after_s: float = 30.0
    queue_poll_s: float = 5.0  # how often the tracing service refreshes its queue gauges
    heartbeat_s: float = 5.0  # how often each worker announces itself on the events exchange
    #: a worker whose consumer connection has had no answer from the broker this long (a
    #: half-open connection: the broker's deliveries to it vanish) reads stalled
    broker_silent_after_s: float = 15.0
    rabbitmq_management_url: str = ""  # e.g. http://user:pass@rabbitmq:15672; optional
    #: the nodes' rabbitmq_prometheus endpoints, comma-separated (http://rabbitmq:15692); optional:
    #: unacked counts per queue, so a consumer that holds messages and reports none is seen
    rabbitmq_prometheus_url: str = ""

    @field_validator("schema_pattern")
    @classmethod
    def _pattern_not_absolute(cls, v: str) -> str:
        if v.startswith("/") or ".." in v.split("/"):
            raise ValueError("PROPHOTO_SCHEMA_PATTERN must be a relative key prefix without '..'")
        from shared.naming import validate_pattern  # unknown tokens refuse every service's start

        return validate_pattern(v)

    def tokens(self) -> dict[str, str]:
        """User token -> user id. In development an empty list means the dev token.

        Production refuses (ValueError naming the variable) no tokens, the dev
        token, a repository placeholder, or a token shorter than 32 characters.
        """
        pairs = secrets.parse_token_list("PROPHOTO_API_TOKENS", self.api_tokens)
        if not pairs and self.env == "development":
            pairs[DEV_TOKEN] = "dev"
        if self.env == "production":
            if not pairs:
                raise ValueError(f"PROPHOTO_API_TOKENS must be set in production; {secrets.HOW_TO_MAKE}"
                                 " and set PROPHOTO_API_TOKENS=<token>=<user id>")
            self._refuse_weak("PROPHOTO_API_TOKENS", pairs)
        self._dev_token_only_here("PROPHOTO_API_TOKENS", pairs)
        return pairs

    def operator_tokens(self) -> dict[str, str]:
        """Operator token -> operator id (PROPHOTO_ADMIN_TOKENS; may be empty)."""
        pairs = secrets.parse_token_list("PROPHOTO_ADMIN_TOKENS", self.admin_tokens, bare_user="operator")
        if not pairs and not self.api_tokens.strip() and self.env == "development":
            pairs[DEV_TOKEN] = "dev"  # one person on a laptop: the dev token also opens the page
        if self.env == "production":
            self._refuse_weak("PROPHOTO_ADMIN_TOKENS", pairs)
        self._dev_token_only_here("PROPHOTO_ADMIN_TOKENS", pairs)
        return pairs

    def refuse_placeholder_secrets(self) -> None:
        """In production, ValueError (naming the variable) for a broker, database or S3 password
        that is a repository placeholder or a product's default. Every service calls it at start."""
        found = [("PROPHOTO_AMQP_URL", secrets.url_password(u)) for u in self.amqp_url.split(",")]
        found += [("PROPHOTO_DATABASE_URL", secrets.url_password(self.database_url)),
                  ("PROPHOTO_S3_SECRET_KEY", self.s3_secret_key)]
        if self.env == "production":
            secrets.refuse_placeholder_passwords(found)

    def _dev_token_only_here(self, variable: str, pairs: dict[str, str]) -> None:
        if DEV_TOKEN in pairs:
            hosts = {"PROPHOTO_UPLOAD_HOST": self.upload_host, "PROPHOTO_TRACING_HOST": self.tracing_host}
            secrets.dev_token_only_on_loopback(variable, self.env, hosts)

    @staticmethod
    def _refuse_weak(variable: str, pairs: dict[str, str]) -> None:
        for token, user in pairs.items():
            why = secrets.refused_secret(token)
            if why is not None:
                raise ValueError(f"{variable}: the token for {user!r} is refused in production "
                                 f"because {why}; {secrets.HOW_TO_MAKE}")

    @property
    def broker(self) -> resources.BrokerSettings:
        return resources.BrokerSettings(self.amqp_url, self.publish_timeout_s, self.amqp_heartbeat_s)

    @property
    def database(self) -> resources.DatabaseSettings:
        return resources.DatabaseSettings(self.database_url)

    @property
    def stores(self) -> resources.StoreSettings:
        s3 = resources.S3Settings(self.s3_endpoint, self.s3_access_key, self.s3_secret_key, self.s3_region,
                        self.s3_presign_seconds)
        return resources.StoreSettings(self.temp_store, self.final_store, s3)

    def trusted_proxy_hosts(self) -> set[str]:
        return {h.strip() for h in self.trusted_proxies.split(",") if h.strip()}

    def retry_policy(self, queue: str) -> RetryPolicy:
        by_queue = {
            self.queue_preview: self.preview_retry,
            self.queue_preview_bulk: self.preview_retry,
            self.queue_preview_on_demand: self.preview_retry,
            self.queue_finalize: self.finalize_retry,
            self.queue_enhance: self.enhance_retry,
            self.queue_traces: self.traces_retry,
        }
        return by_queue[queue]

    def quorum_group_size(self) -> int | None:
        if self.quorum_initial_group_size is not None:
            return self.quorum_initial_group_size
        nodes = [u for u in self.amqp_url.split(",") if u.strip()]
        return 3 if len(nodes) >= 3 else None

    @property
    def queue_preview_bulk(self) -> str:
        """The bulk lane's own queue (its retries and replays come back to it)."""
        return f"{self.queue_preview}.bulk"

    @property
    def queue_preview_on_demand(self) -> str:
        """The front of the interactive lane: photos somebody asked for (prioritize)."""
        return f"{self.queue_preview}.on-demand"

    def work_queues(self) -> list[str]:
        """Every queue with its own retry waits and parking queue (a lane's shards share its)."""
        return [self.queue_preview_on_demand, self.queue_preview, self.queue_preview_bulk,
                self.queue_finalize, self.queue_enhance, self.queue_traces]


@lru_cache
def get_settings() -> Settings:
    return Settings()
