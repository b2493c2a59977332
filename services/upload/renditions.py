"""Every rendition of a proxy or an Image in the API (`shared.imaging.renditions`): the
`renditions` object of their views, and the key a rendition's route serves."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from shared.db.renditions import recorded
from shared.errors import NotFound


class RenditionView(BaseModel):
    """One rendition: where to fetch it, and its size (null where it was not recorded)."""

    url: str
    width: int | None = None
    height: int | None = None


def renditions_view(row: Any, base: str) -> dict[str, RenditionView]:
    """The row's renditions by name, each served at `<base>/renditions/<name>`."""
    return {name: RenditionView(url=f"{base}/renditions/{name}", width=made.get("width"),
                                height=made.get("height"))
            for name, made in recorded(row).items() if made.get("key")}


def key_of(row: Any, name: str, owner: str) -> str:
    """The object of the row's rendition `name`; NotFound when it has none of that name."""
    key = recorded(row).get(name, {}).get("key")
    if not key:
        raise NotFound(f"{owner} has no rendition {name!r} (not made yet, failed, or not in the list)",
                       title="No such rendition")
    return str(key)
