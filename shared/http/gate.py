"""The second line of limits, before FastAPI reads a byte of the body: who is calling, and how big.

`RequestGate` wraps the application. For every request under `/v1/` (the APIs)
it looks up the caller first: without a known token (or, where the app takes
them, a session cookie) the answer is a 401 problem and the body is never
read. Then the body's size: a route `streamed` names (an upload, a sidecar) may
send up to the limit it returns, read by the route as it goes; every other route
at most `small_limit`, checked against Content-Length before reading and, for a body
without one (chunked), read here up to that limit before the route sees it. A
refusal says `Connection: close`, so the rest of an oversized body is not
read either. The caller found here is handed to the route's dependency
(`shared.http.auth.current_principal`), which does not look it up again.

Other paths (health, documentation, the pages) keep the small body limit and
decide for themselves whether they need a caller.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.http.auth import STATE_KEY, authenticate_headers
from shared.http.problems import ProblemError

API_PREFIX = "/v1/"


@dataclass(frozen=True)
class BodyLimits:
    """Per-route body caps (PROPHOTO_HTTP_MAX_BODY_BYTES, and each streaming route's own)."""

    small_limit: int
    #: (method, path) -> the route's own limit when it reads its body as it arrives, else None
    streamed: Callable[[str, str], int | None] = lambda method, path: None


class RequestGate:
    """Authentication, then the body cap, before the application runs (see the module doc)."""

    def __init__(self, app: ASGIApp, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        headers = _headers(scope)
        length_text = headers.get("content-length")
        has_body = bool(length_text and length_text != "0") or "transfer-encoding" in headers
        try:
            if path.startswith(API_PREFIX) and method != "OPTIONS":
                state = scope.setdefault("state", {})
                state[STATE_KEY] = await authenticate_headers(scope["app"], headers,
                                                              scope.get("query_string", b""))
            streamed = self.limits.streamed(method, path)
            limit = self.limits.small_limit if streamed is None else streamed
            length = _length(length_text)
            if length is not None and length > limit:
                raise ProblemError(413, "Request body too large",
                                   f"this route takes at most {limit} bytes", limit=limit)
            if has_body and length is None and streamed is None:
                receive = await _buffered(receive, limit)
        except ProblemError as problem:
            await _answer(send, problem, close=has_body)
            return
        await self.app(scope, receive, send)


def _headers(scope: Scope) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in scope["headers"]:
        key = name.decode("latin-1")
        if key in out:  # a repeated field joins, as RFC 9110 reads it
            out[key] += "," + value.decode("latin-1")
        else:
            out[key] = value.decode("latin-1")
    return out


def _length(text: str | None) -> int | None:
    if text is None:
        return None
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise ProblemError(400, "Invalid Content-Length", "Content-Length is a decimal byte count")
    return int(text)


async def _buffered(receive: Receive, limit: int) -> Receive:
    """Read a body without a length up to `limit` bytes, and replay it to the application."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise ProblemError(413, "Request body too large",
                               f"this route takes at most {limit} bytes", limit=limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    replay: list[Message] = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

    async def again() -> Message:
        return replay.pop() if replay else await receive()

    return again


async def _answer(send: Send, problem: ProblemError, *, close: bool) -> None:
    body = {"type": "about:blank", "title": problem.title, "status": problem.status}
    if problem.detail:
        body["detail"] = problem.detail
    encoded = json.dumps(body | problem.extra).encode()
    headers = [(b"content-type", b"application/problem+json"),
               (b"content-length", str(len(encoded)).encode())]
    if problem.status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    if close:  # the unread body stays unread: the connection ends with this answer
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": problem.status, "headers": headers})
    await send({"type": "http.response.body", "body": encoded})
