"""The upload API's routes, one module per resource; each only reads the request, calls one work
function and shapes the answer (problems are mapped in `shared.http.problems`).

The resumable endpoints under `/v1/tus` are in `services.upload.resumable` with the protocols
they speak.
"""

from fastapi import APIRouter

from services.upload.routes import (
    cull,
    enhance,
    failed,
    images,
    ingest,
    kept,
    preview,
    proxies,
    reindex,
    renditions,
    rerender,
    sidecars,
    uploads,
)

#: in the order the OpenAPI document lists them
ROUTERS: tuple[APIRouter, ...] = tuple(
    m.router for m in (uploads, sidecars, proxies, cull, failed, preview, ingest, images, kept, renditions,
                       enhance, rerender, reindex))
