"""A request's body as the resumable work reads it (`receive.Body`).

A client that goes away mid-body is not an error here: the bytes that arrived
are kept (tus and the draft resume from them), so the disconnect ends the body
early and marks it `cut` instead of failing the append.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import ClientDisconnect, Request

from services.upload.resumable.receive import Body


def request_body(request: Request) -> Body:
    """The request's body; a client that disconnects ends it early and marks it `cut`."""

    async def until_cut() -> AsyncIterator[bytes]:
        try:
            async for chunk in request.stream():
                if chunk:
                    yield chunk
        except ClientDisconnect:
            body.cut = True  # bound below, before the first chunk is asked for

    body = Body(until_cut())
    return body
