"""What the client raises: one base class, one subclass per answer a caller handles differently.

Every error the API answers is an RFC 9457 problem+json body; `ApiError.problem`
carries it whole (`type`, `title`, `status`, `detail` and extras such as
`limit` or `errors`), so nothing the server said is lost.
"""

from __future__ import annotations

from typing import Any

import httpx


class ProphotoError(Exception):
    """Base class of everything this client raises."""


class ConnectionFailed(ProphotoError):
    """No answer: nothing listening, DNS, TLS, or the connection dropped."""

    def __init__(self, url: str, cause: httpx.TransportError) -> None:
        super().__init__(f"{type(cause).__name__} talking to {url}: {cause or 'no details'}")
        self.url = url
        self.cause = cause


class WaitTimeout(ProphotoError):
    """`wait()` saw no final status within its time limit."""

    def __init__(self, uuid: str, step: str, timeout: float, last: str | None) -> None:
        super().__init__(f"no final {step} status for {uuid} after {timeout:.0f} s"
                         + (f" (last seen: {last})" if last else ""))
        self.uuid = uuid
        self.step = step
        self.timeout = timeout
        self.last_status = last


class ApiError(ProphotoError):
    """The server answered 4xx or 5xx; `problem` is its problem+json body."""

    def __init__(self, response: httpx.Response, problem: dict[str, Any]) -> None:
        self.response = response
        self.problem = problem
        self.status: int = response.status_code
        self.title: str = str(problem.get("title") or response.reason_phrase or "error")
        self.detail: str | None = problem.get("detail")
        super().__init__(f"{self.status} {self.title}" + (f": {self.detail}" if self.detail else ""))


class BadRequest(ApiError):
    """400: a malformed value the schema could not catch (cursor, checksum header)."""


class Unauthorized(ApiError):
    """401: no token, or a token the service does not know."""


class Forbidden(ApiError):
    """403: the token is known but may not do this."""


class NotFound(ApiError):
    """404: no such proxy or image for this user (another user's is also 404)."""


class Conflict(ApiError):
    """409: the resource is not in a state that allows this (preview not ready, being ingested...)."""


class PayloadTooLarge(ApiError):
    """413: the upload is over the service's limit (`problem['limit']` in bytes)."""


class UnsupportedMediaType(ApiError):
    """415: not an image type the pipeline reads, or no usable Content-Type."""


class InvalidRequest(ApiError):
    """422: the request does not match the API (`problem['errors']` lists where)."""


class ServiceUnavailable(ApiError):
    """503: a dependency (database, broker) is down; `retry_after` seconds when the server said."""

    @property
    def retry_after(self) -> float | None:
        try:
            return float(self.response.headers["retry-after"])
        except (KeyError, ValueError):
            return None


class ServerError(ApiError):
    """Any other 5xx."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound, 409: Conflict,
    413: PayloadTooLarge, 415: UnsupportedMediaType, 422: InvalidRequest, 503: ServiceUnavailable,
}


def error_for(response: httpx.Response) -> ApiError:
    """The typed exception for a 4xx/5xx answer whose body has been read."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):  # a proxy or gateway answering HTML: keep its status line
        body = {"type": "about:blank", "title": response.reason_phrase, "status": response.status_code}
    cls = _BY_STATUS.get(response.status_code)
    if cls is None:
        cls = ServerError if response.status_code >= 500 else ApiError
    return cls(response, body)
