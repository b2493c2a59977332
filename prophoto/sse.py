"""A Server-Sent Events decoder (the subset the API sends: `event`, `data`, comments)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Message:
    event: str
    data: str


async def messages(lines: AsyncIterator[str]) -> AsyncIterator[Message]:
    """Join `data:` lines up to each blank line; comments (`: keep-alive`) are skipped."""
    event, data = "message", list[str]()
    async for line in lines:
        if line == "":
            if data:
                yield Message(event, "\n".join(data))
            event, data = "message", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
    if data:
        yield Message(event, "\n".join(data))
