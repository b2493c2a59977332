"""Domain errors: what a work function says when it refuses, with no HTTP in it.

Work functions (accept an upload, queue an ingest, request an enhancement,
retry a failure) raise these; the HTTP services map each kind to one status
in one place (`shared.http.problems`), so a rule and its answer are written
once. `title` is short and stable, `detail` says what to do, `extra` carries
machine-readable fields (a limit, the current status). `record` and `revive`
turn an error into JSON data and back, for a refusal that must be answered
again later (a finished resumable upload keeps the one that refused it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class DomainError(Exception):
    title = "Refused"

    def __init__(self, detail: str | None = None, *, title: str | None = None, **extra: Any) -> None:
        super().__init__(detail or title or self.title)
        self.detail = detail
        if title is not None:
            self.title = title
        self.extra = extra


class NotFound(DomainError):
    """The thing does not exist, or is not the caller's."""

    title = "Not found"


class Conflict(DomainError):
    """The thing is not in a state that allows this (yet, or any more)."""

    title = "Conflict"


class Invalid(DomainError):
    """The request itself is malformed: the caller must change it."""

    title = "Invalid request"


class Refused(DomainError):
    """A well-formed request a rule refuses (a limit, a width)."""

    title = "Refused"


class TooLarge(DomainError):
    """More bytes than the limit allows."""

    title = "Upload too large"


class Unsupported(DomainError):
    """Bytes or a content type we do not take."""

    title = "Unsupported media type"


class Gone(DomainError):
    """The thing existed and is no longer there (it expired, its bytes were lost)."""

    title = "Gone"


class Busy(DomainError):
    """Another request holds the thing right now; the same request may succeed shortly."""

    title = "Busy"


class ChecksumMismatch(DomainError):
    """The bytes are not the ones the caller's checksum describes; none of them were kept."""

    title = "Checksum mismatch"


class OverQuota(DomainError):
    """The caller already holds what a cap allows (unfinished uploads, their bytes)."""

    title = "Over quota"


class RateLimited(OverQuota):
    """A per-user quota or rate is used up (shared/quotas.py); `retry_after` (seconds) says when
    to try again."""

    title = "Too many requests"

    def __init__(self, detail: str | None = None, *, title: str | None = None, quota: str = "",
                 retry_after_s: float = 60.0, **extra: Any) -> None:
        extra.setdefault("retry_after", max(1, round(retry_after_s)))
        super().__init__(detail, title=title, quota=quota, **extra)
        self.quota = quota


def record(exc: DomainError) -> dict[str, Any]:
    """The error as JSON data: its kind (the nearest class of this module), title, detail, extra."""
    kind = next(k for k in type(exc).__mro__ if k.__module__ == __name__)
    return {"kind": kind.__name__, "title": exc.title, "detail": exc.detail} | exc.extra


def revive(data: Mapping[str, Any]) -> DomainError:
    """The error `record` stored, of the same kind (an unknown kind revives as `DomainError`)."""
    fields = dict(data)
    kind = _KINDS.get(str(fields.pop("kind", "")), DomainError)
    detail = fields.pop("detail", None)
    title = fields.pop("title", None)
    return kind(None if detail is None else str(detail), title=None if title is None else str(title),
                **fields)


#: every kind of this module by name (what `record` writes and `revive` reads)
_KINDS: dict[str, type[DomainError]] = {
    name: value for name, value in list(globals().items())
    if isinstance(value, type) and issubclass(value, DomainError)}
