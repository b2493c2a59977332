"""`python -m services.preview`: a preview worker (metrics on PROPHOTO_PREVIEW_METRICS_PORT)."""

from __future__ import annotations

import ctypes
import ctypes.util

from services.preview.handlers import spec
from shared.settings import get_settings
from shared.worker import run_worker

M_ARENA_MAX = -8


def limit_malloc_arenas(arenas: int = 2) -> None:
    """glibc gives every decoding thread its own arena; a few keep RSS bounded."""
    name = ctypes.util.find_library("c")
    if name:
        try:
            ctypes.CDLL(name).mallopt(M_ARENA_MAX, arenas)
        except (OSError, AttributeError):
            pass


def main() -> None:
    limit_malloc_arenas()
    settings = get_settings()
    run_worker(spec(settings), settings, settings.preview_metrics_port)


if __name__ == "__main__":
    main()
