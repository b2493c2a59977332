"""`python -m services.enhance`: an enhance worker (metrics on PROPHOTO_ENHANCE_METRICS_PORT)."""

from __future__ import annotations

from services.enhance.enhance import worker
from shared.settings import get_settings
from shared.worker.harness import run_worker


def main() -> None:
    settings = get_settings()
    run_worker(worker(settings), settings, settings.enhance_metrics_port)


if __name__ == "__main__":
    main()
