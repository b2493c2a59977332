"""`python -m services.tracing`: trace collector, API and debug page on PROPHOTO_TRACING_PORT."""

from __future__ import annotations

import sys

import uvicorn

from services.tracing.app import create_app
from shared.logs import setup_logging
from shared.settings import DEV_TOKEN, get_settings


def main() -> None:
    settings = get_settings()
    setup_logging(settings.log_level, "tracing")
    try:
        app = create_app(settings)
    except ValueError as exc:
        print(f"tracing service refuses to start: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    if DEV_TOKEN in settings.operator_tokens():
        print(f"debug page: http://127.0.0.1:{settings.tracing_port}/admin/ingest-traces"
              f"  (sign in with {DEV_TOKEN})", flush=True)
    uvicorn.run(app, host=settings.tracing_host, port=settings.tracing_port,
                log_level="warning", access_log=False,
                proxy_headers=False)  # shared.http decides whom to believe (PROPHOTO_TRUSTED_PROXIES)


if __name__ == "__main__":
    main()
