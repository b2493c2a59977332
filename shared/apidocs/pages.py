"""`/docs` (Swagger UI) and `/redoc` served from installed assets: no request leaves the host.

The JavaScript and CSS come from the `fastapi-offline` package (Swagger UI 5 and
ReDoc 2 bundles); our pages load them, and Swagger UI's settings, from
`/docs/assets/` only, with no inline script, so the pages run under a CSP
without `'unsafe-inline'` scripts. Both bundles set inline styles (React style
props, ReDoc's styled-components), hence `style-src 'unsafe-inline'` on these
pages only; ReDoc's search runs in a blob: worker. ReDoc's sidebar always
shows its vendor's logo from a CDN: the policy refuses it before any request
is made, and ReDoc hides the broken image.
"""

from __future__ import annotations

import html
from importlib import resources
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, HTMLResponse
from starlette.exceptions import HTTPException

ASSETS = "/docs/assets"
DOCS_CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
            "worker-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
_VENDOR = Path(str(resources.files("fastapi_offline") / "static"))
_OWN = Path(__file__).parent / "static"
FILES: dict[str, tuple[Path, str]] = {
    "swagger-ui-bundle.js": (_VENDOR / "swagger-ui-bundle.js", "text/javascript"),
    "swagger-ui.css": (_VENDOR / "swagger-ui.css", "text/css"),
    "redoc.standalone.js": (_VENDOR / "redoc.standalone.js", "text/javascript"),
    "favicon.png": (_VENDOR / "favicon.png", "image/png"),
    "swagger-init.js": (_OWN / "swagger-init.js", "text/javascript"),
}

SWAGGER = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} - API reference</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="{assets}/favicon.png"><link rel="stylesheet" href="{assets}/swagger-ui.css">
</head><body><div id="swagger-ui" data-openapi-url="{openapi}"></div>
<script src="{assets}/swagger-ui-bundle.js"></script><script src="{assets}/swagger-init.js"></script>
</body></html>"""

REDOC = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} - ReDoc</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="{assets}/favicon.png"></head>
<body><redoc spec-url="{openapi}"></redoc><script src="{assets}/redoc.standalone.js"></script>
</body></html>"""


def docs_router(app: FastAPI) -> APIRouter:
    """The two reference pages and their assets, for `app`'s OpenAPI document."""
    router = APIRouter(include_in_schema=False)
    headers = {"Content-Security-Policy": DOCS_CSP, "Cache-Control": "no-cache",
               "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"}

    def page(template: str) -> HTMLResponse:
        text = template.format(title=html.escape(app.title), assets=ASSETS,
                               openapi=html.escape(app.openapi_url or "/openapi.json"))
        return HTMLResponse(text, headers=headers)

    @router.get("/docs")
    async def swagger_ui() -> HTMLResponse:
        return page(SWAGGER)

    @router.get("/redoc")
    async def redoc() -> HTMLResponse:
        return page(REDOC)

    @router.get(ASSETS + "/{name}")
    async def asset(name: str) -> FileResponse:
        if name not in FILES:
            raise HTTPException(404, "Not Found")
        path, media_type = FILES[name]
        return FileResponse(path, media_type=media_type, headers={
            "Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"})

    return router
