"""`python -m services.tracing`: trace collector, API and debug page on PROPHOTO_TRACING_PORT
(8081), its /metrics on PROPHOTO_TRACING_METRICS_PORT (9105) bound to PROPHOTO_METRICS_HOST."""

from __future__ import annotations

import sys

import uvicorn

from services.tracing.app import create_app
from shared.http.metrics_listener import serve_metrics
from shared.http.server import server_config
from shared.logs import setup_logging
from shared.settings import DEV_TOKEN, get_settings


def main() -> None:
    settings = get_settings()
    setup_logging(settings.log_level, "tracing")
    try:
        app = create_app(settings)
        stop_metrics = serve_metrics(app.state.metrics_registry, settings.metrics_host,
                                     settings.tracing_metrics_port, "PROPHOTO_TRACING_METRICS_PORT")
    except ValueError as exc:
        print(f"tracing service refuses to start: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    if DEV_TOKEN in settings.operator_tokens():
        print(f"debug page: http://127.0.0.1:{settings.tracing_port}/admin/ingest-traces"
              f"  (sign in with {DEV_TOKEN})", flush=True)
    try:
        uvicorn.Server(server_config(app, settings.tracing_host, settings.tracing_port,
                                     settings.connection_limits)).run()
    finally:
        stop_metrics()


if __name__ == "__main__":
    main()
