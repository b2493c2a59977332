"""The time zone at a GPS position, offline (timezonefinder's packaged boundary data).

The finder loads its data once per process (about 0.2 s, a few MB) on first
use and is then read-only, so one instance serves every thread.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_lock = threading.Lock()


@lru_cache(maxsize=1)
def _finder() -> Any:
    from timezonefinder import TimezoneFinder

    return TimezoneFinder()


def zone_at(latitude: float, longitude: float) -> str | None:
    """The IANA zone name at a position (ocean cells give `Etc/GMT±n`), or None."""
    with _lock:  # the first call builds the finder; lookups after it are cheap
        finder = _finder()
    try:
        name = finder.timezone_at(lat=latitude, lng=longitude)
    except (ValueError, TypeError):
        return None
    return str(name) if name else None


def offset_in(zone: str, local: datetime) -> timedelta | None:
    """The zone's UTC offset at that wall-clock time (the earlier one when it is ambiguous)."""
    try:
        return ZoneInfo(zone).utcoffset(local.replace(tzinfo=None, fold=0))
    except (ZoneInfoNotFoundError, ValueError):
        return None
