"""The states a proxy and a resumable upload walk through; the CHECK constraints in
migrations/0001 (proxies) and 0004 (`tus_uploads`) allow exactly these."""

from __future__ import annotations

from enum import StrEnum


class ProxyStatus(StrEnum):
    """`preview_status` and `enhancement_status` (the latter NULL until one is asked for)."""

    PENDING = "pending"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


class IngestStatus(StrEnum):
    """`ingest_status`: NULL until the owner confirms; the proxy row is deleted once ingested."""

    QUEUED = "queued"
    PROCESSING = "processing"
    FAILED = "failed"


class TusState(StrEnum):
    """`tus_uploads.state`: receiving bytes, then the outcome of the acceptance, kept until expiry."""

    RECEIVING = "receiving"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


#: announced when the Image is made; never stored (the proxy row is deleted then)
INGESTED = "ingested"
#: a job for the proxy is waiting or running
IN_FLIGHT = (ProxyStatus.PENDING, ProxyStatus.PROCESSING)
INGESTING = (IngestStatus.QUEUED, IngestStatus.PROCESSING)
