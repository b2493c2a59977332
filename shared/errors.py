"""Domain errors: what a work function says when it refuses, with no HTTP in it.

Work functions (accept an upload, queue an ingest, request an enhancement,
retry a failure) raise these; the HTTP services map each kind to one status
in one place (`shared.http.problems`), so a rule and its answer are written
once. `title` is short and stable, `detail` says what to do, `extra` carries
machine-readable fields (a limit, the current status).
"""

from __future__ import annotations

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


class RateLimited(DomainError):
    """The caller used up a quota or rate; `retry_after_s` says when to try again."""

    title = "Too many requests"

    def __init__(self, detail: str, *, quota: str, retry_after_s: float, **extra: Any) -> None:
        super().__init__(detail, quota=quota, retry_after=max(1, round(retry_after_s)), **extra)
        self.quota = quota
