"""`python -m services.preview`: a preview worker (metrics on PROPHOTO_PREVIEW_METRICS_PORT)."""

from __future__ import annotations

import ctypes
import ctypes.util
import os

from services.preview.preview import worker
from shared.settings import get_settings
from shared.worker import run_worker

M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8


def tune_malloc(arenas: int = 2, mmap_threshold: int = 256 * 1024) -> None:
    """Keep the worker's RSS near what it uses.

    glibc gives every decoding thread its own arena; two are enough. And a
    fixed mmap threshold: by default glibc raises it after each large free,
    so the next image's multi-megabyte buffers come from the heap and stay
    in the RSS after the job; mapped, they go back to the system when freed
    (a 45 MP JPEG's peak drops by about 5 MB, `make bench`).
    """
    name = ctypes.util.find_library("c")
    if name:
        try:
            libc = ctypes.CDLL(name)
            libc.mallopt(M_ARENA_MAX, arenas)
            libc.mallopt(M_MMAP_THRESHOLD, mmap_threshold)
        except (OSError, AttributeError):
            pass


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
