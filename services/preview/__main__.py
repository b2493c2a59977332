"""`python -m services.preview`: a preview worker (metrics on PROPHOTO_PREVIEW_METRICS_PORT)."""

from __future__ import annotations

import os

from services.preview.preview import worker
from shared.imaging import tune_malloc
from shared.settings import get_settings
from shared.worker.harness import run_worker


def lower_priority(nice: int) -> int:
    """Run at `nice` (never raising a priority the process was started with); returns the level.

    Previews are background work: with the workers at nice 10 the scheduler
    gives an upload's answer (nice 0) the core it needs at once, while the
    workers still get every cycle nobody interactive wants (`make bench`:
    the 10 MB upload under load).
    """
    current = os.getpriority(os.PRIO_PROCESS, 0)
    if nice > current:
        os.nice(nice - current)
    return os.getpriority(os.PRIO_PROCESS, 0)


def main() -> None:
    tune_malloc()
    settings = get_settings()
    lower_priority(settings.preview_nice)
    run_worker(worker(settings), settings, settings.preview_metrics_port)


if __name__ == "__main__":
    main()
