"""`python -m services.upload`: the HTTP API on PROPHOTO_UPLOAD_PORT (8080)."""

from __future__ import annotations

import sys

import uvicorn

from services.upload.app import create_app
from shared.logs import setup_logging
from shared.settings import DEV_TOKEN, get_settings


def main() -> None:
    # The answer to an upload is interactive: when a thread (ExifTool's pipe, a spool
    # write) needs the GIL back while the event loop is busy with big bodies, it waits
    # for the switch interval, 5 ms by default, several times per request.
    sys.setswitchinterval(0.0005)
    settings = get_settings()
    setup_logging(settings.log_level, "upload")
    try:
        app = create_app(settings)
    except ValueError as exc:
        print(f"upload service refuses to start: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    if DEV_TOKEN in settings.tokens():
        print(f"development token: {DEV_TOKEN}  (Authorization: Bearer {DEV_TOKEN})", flush=True)
    uvicorn.run(app, host=settings.upload_host, port=settings.upload_port, log_level="warning",
                access_log=False, proxy_headers=False)  # no forwarded header is believed by default


if __name__ == "__main__":
    main()
