"""`python -m services.finalize`: a finalize worker (metrics on PROPHOTO_FINALIZE_METRICS_PORT)."""

from __future__ import annotations

import sys

from pydantic import ValidationError

from services.finalize.finalize import worker
from shared.settings import get_settings
from shared.worker.harness import run_worker


def main() -> None:
    try:
        settings = get_settings()  # validates PROPHOTO_SCHEMA_PATTERN
    except ValidationError as exc:
        sys.exit(f"finalize: refusing to start: {exc}")
    run_worker(worker(settings), settings, settings.finalize_metrics_port)


if __name__ == "__main__":
    main()
