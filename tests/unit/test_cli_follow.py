"""`--wait`: the SSE parser and following a preview to its final status."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.cli import client
from services.cli.client import Api, Target, sse_events
from services.cli.upload import follow


async def _lines(*lines: str) -> AsyncIterator[str]:
    for line in lines:
        yield line


async def _collect(lines: AsyncIterator[str]) -> list[dict[str, Any]]:
    return [event async for event in sse_events(lines)]


async def test_sse_events_joins_data_lines_and_skips_comments_and_junk() -> None:
    events = await _collect(_lines(
        ": keep-alive", "",
        'data: {"status": "processing",', 'data: "uuid": "u"}', "",
        "event: status", 'data: {"status": "ready"}', "",
        "data: not json", "",
        'data:{"status":"failed"}',
    ))
    assert events == [{"status": "processing", "uuid": "u"}, {"status": "ready"},
                      {"status": "failed"}]


def _server(monkeypatch: pytest.MonkeyPatch, current: str, stream: list[dict[str, Any]]) -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/events"):
            body = "".join(f"data: {json.dumps(e)}\n\n" for e in stream)
            return httpx.Response(200, text=body, headers={"content-type": "text/event-stream"})
        return httpx.Response(200, json={"uuid": "u", "preview_status": current,
                                         "preview_error": None})

    monkeypatch.setattr(client, "TRANSPORT", httpx.MockTransport(handle))


async def test_follow_returns_at_the_first_final_preview_event(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _server(monkeypatch, "pending", [
        {"uuid": "u", "field": "preview", "status": "processing"},
        {"uuid": "u", "field": "enhancement", "status": "failed", "error": "not mine"},
        {"uuid": "u", "field": "preview", "status": "failed", "error": "truncated JPEG"},
    ])
    async with Api(Target("http://test", "tok")) as api:
        assert await follow(api, "u", 5) == ("failed", "truncated JPEG")


async def test_follow_does_not_wait_for_an_event_when_the_preview_is_already_ready(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _server(monkeypatch, "ready", [])
    async with Api(Target("http://test", "tok")) as api:
        assert await follow(api, "u", 5) == ("ready", None)


async def test_follow_gives_up_after_its_time_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    _server(monkeypatch, "processing", [{"uuid": "u", "field": "preview", "status": "processing"}])
    async with Api(Target("http://test", "tok")) as api:
        status, reason = await follow(api, "u", 1.5)
    assert status == "timeout" and "after 2 s" in (reason or "")
