"""A stored JPEG as an answer: a presigned redirect where the store has one (S3), else its bytes."""

from __future__ import annotations

from fastapi.responses import RedirectResponse, Response

from shared.http.problems import ProblemError
from shared.storage import ObjectNotFound, ObjectStore


async def stored_jpeg(store: ObjectStore, key: str, presign_s: int, max_age_s: int) -> Response:
    url = await store.presigned_get(key, presign_s)
    if url:
        return RedirectResponse(url, status_code=307)
    try:
        data = await store.get_bytes(key)
    except (ObjectNotFound, FileNotFoundError) as exc:
        raise ProblemError(404, "Not found", "the image is not in the store") from exc
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": f"private, max-age={max_age_s}"})
