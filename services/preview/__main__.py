"""`python -m services.preview`: a preview worker (metrics on PROPHOTO_PREVIEW_METRICS_PORT)."""

from __future__ import annotations

from services.preview.handlers import spec
from shared.settings import get_settings
from shared.worker import run_worker


def main() -> None:
    settings = get_settings()
    run_worker(spec(settings), settings, settings.preview_metrics_port)


if __name__ == "__main__":
    main()
