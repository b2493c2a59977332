"""Job tags: what every command carries in its `tags` header, and filters by them.

Producers write `ingest,proxy:{uuid},user:{id}` on every command
(`ProxyCommand.tags`); parked copies keep the header. Operators see the tags
on the debug page and in the workers' log lines, and filter traces and
parked jobs by one: `ingest` (every job of the pipeline), `proxy:<uuid>` (one
photo's), `user:<id>` (one user's).
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

INGEST = "ingest"
HEADER = "tags"


def parse(header: object) -> list[str]:
    """The tags of a `tags` header ("a,b,c"); none when it is missing or not text."""
    if isinstance(header, bytes):
        header = header.decode(errors="replace")
    if not isinstance(header, str):
        return []
    return [t.strip() for t in header.split(",") if t.strip()]


def of_job(uuid: object | None, user_id: str | None) -> list[str]:
    """The tags a proxy's job carries (for rows that store the uuid and user, not the header)."""
    tags = [INGEST]
    if uuid:
        tags.append(f"proxy:{uuid}")
    if user_id:
        tags.append(f"user:{user_id}")
    return tags


@dataclass(frozen=True)
class TagFilter:
    """One tag as constraints: `ingest` matches every job; `proxy:` a uuid; `user:` a user."""

    tag: str
    uuid: UUID | None = None
    user: str | None = None

    def matches(self, tags: list[str]) -> bool:
        return self.tag in tags


def parse_filter(tag: str) -> TagFilter:
    """`ValueError` (with the reason) for anything but `ingest`, `proxy:<uuid>`, `user:<id>`."""
    tag = tag.strip()
    if tag == INGEST:
        return TagFilter(tag)
    kind, _, value = tag.partition(":")
    if kind == "proxy":
        try:
            return TagFilter(f"proxy:{UUID(value)}", uuid=UUID(value))
        except ValueError:
            raise ValueError("a proxy tag is proxy:<uuid>") from None
    if kind == "user" and value:
        return TagFilter(tag, user=value)
    raise ValueError("a tag is ingest, proxy:<uuid> or user:<id>")
