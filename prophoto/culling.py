"""The culling calls of `AsyncClient`: flag and rate a proxy, a kept Image's preview,
thumbnail and deletion. (A mixin: `request` is the client's one way to the server.)"""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

import httpx

from prophoto.models import Proxy

Flag = Literal["pick", "reject"]
#: "leave it as it is" (None means clear)
KEEP: Any = object()


class CullingCalls:
    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        raise NotImplementedError

    async def cull(self, uuid: UUID | str, *, flag: Flag | None = KEEP, rating: int | None = KEEP) -> Proxy:
        """Pick, reject (or with None unflag) and rate (0-5, None clears) a proxy; a field
        not given keeps its value. The rating becomes the Image's when it is ingested."""
        change = {name: value for name, value in (("flag", flag), ("rating", rating)) if value is not KEEP}
        response = await self.request("PATCH", f"/v1/proxies/{uuid}", json=change)
        return Proxy.model_validate(response.json())

    async def image_preview(self, image_id: int) -> bytes:
        """A kept Image's preview (NotFound when its preview had failed)."""
        return (await self.request("GET", f"/v1/images/{image_id}/preview", follow_redirects=True)).content

    async def image_thumbnail(self, image_id: int) -> bytes:
        return (await self.request("GET", f"/v1/images/{image_id}/thumbnail", follow_redirects=True)).content

    async def image_rendition(self, image_id: int, name: str) -> bytes:
        """Any rendition the Image's `renditions` lists, by name (NotFound for one it lacks)."""
        path = f"/v1/images/{image_id}/renditions/{name}"
        return (await self.request("GET", path, follow_redirects=True)).content

    async def delete_image(self, image_id: int) -> None:
        """Delete a kept Image: its original, preview, thumbnail and record (done again: no error)."""
        await self.request("DELETE", f"/v1/images/{image_id}")
