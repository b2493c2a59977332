"""`python -m services.upload`: the HTTP API on PROPHOTO_UPLOAD_PORT (8080), its /metrics on
PROPHOTO_UPLOAD_METRICS_PORT (9104) bound to PROPHOTO_METRICS_HOST."""

from __future__ import annotations

import sys

import uvicorn

from services.upload.app import create_app
from shared.http.metrics_listener import serve_metrics
from shared.http.server import server_config
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
        stop_metrics = serve_metrics(app.state.metrics_registry, settings.metrics_host,
                                     settings.upload_metrics_port, "PROPHOTO_UPLOAD_METRICS_PORT")
    except ValueError as exc:
        print(f"upload service refuses to start: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    if DEV_TOKEN in settings.tokens():
        print(f"development token: {DEV_TOKEN}  (Authorization: Bearer {DEV_TOKEN})", flush=True)
    try:
        uvicorn.Server(server_config(app, settings.upload_host, settings.upload_port,
                                     settings.connection_limits)).run()
    finally:
        stop_metrics()


if __name__ == "__main__":
    main()
