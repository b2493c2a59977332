"""When a photo was taken: the instant, the wall-clock time and where its zone came from.

The wall-clock time (with sub-seconds, so burst frames keep their order) is
the first readable of DateTimeOriginal, CreateDate (both ExifTool's MWG
composites: EXIF with SubSecTime and OffsetTime, else IPTC, else XMP) and
QuickTime's CreationDate. Its zone, in this order:

1. `offset`: written in the date itself, or OffsetTimeOriginal (OffsetTimeDigitized
   for CreateDate), else OffsetTime;
2. `gps_time`: GPSDateTime (UTC) against the wall clock, rounded to the
   quarter hour; used only when the two agree within `GPS_CLOCK_SLACK`
   (a stale fix from minutes or hours before would give a wrong zone);
3. `gps_position`: the zone at the GPS position (`shared.exif.zones`), its
   offset at that wall-clock time (daylight saving included);
4. `unknown`: the wall-clock time alone; there is no instant, and nothing
   pretends the time was UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any

from shared.exif.zones import offset_in, zone_at

GPS_CLOCK_SLACK = timedelta(minutes=3)
MAX_OFFSET = timedelta(hours=14)
_QUARTER = timedelta(minutes=15)
_DATE_RE = re.compile(
    r"^(\d{4})[:\-](\d{2})[:\-](\d{2})[ T](\d{2}):(\d{2})(?::(\d{2}))?(?:[.,](\d{1,9}))?\s*"
    r"(Z|[+-]\d{2}:?\d{2})?")
_OFFSET_RE = re.compile(r"^\s*(?:(Z)|([+-])(\d{2}):?(\d{2}))\s*$")
#: (date tag, sub-second tag, offset tags) in the order they are tried
_SOURCES = (
    ("DateTimeOriginal", "SubSecTimeOriginal", ("OffsetTimeOriginal", "OffsetTime")),
    ("CreateDate", "SubSecTimeDigitized", ("OffsetTimeDigitized", "OffsetTime")),
    ("CreationDate", None, ()),
)


class ZoneSource(StrEnum):
    OFFSET = "offset"
    GPS_TIME = "gps_time"
    GPS_POSITION = "gps_position"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class CaptureTime:
    """A capture time: `local` is naive wall-clock time; `offset` is None when the zone is unknown."""

    local: datetime
    offset: timedelta | None
    source: ZoneSource
    zone: str | None = None
    tag: str | None = None

    @property
    def instant(self) -> datetime | None:
        """The aware instant, expressed in its own offset; None when the zone is unknown."""
        return None if self.offset is None else self.local.replace(tzinfo=timezone(self.offset))

    def fields(self) -> dict[str, Any]:
        """The normalized fields (`taken_at` is the instant; `taken_at_local` the wall clock)."""
        instant = self.instant
        return {
            "taken_at": instant.isoformat() if instant else None,
            "taken_at_local": self.local.isoformat(),
            "taken_at_offset": format_offset(self.offset),
            "taken_at_zone": self.zone,
            "taken_at_zone_source": self.source.value,
        }


def format_offset(offset: timedelta | None) -> str | None:
    if offset is None:
        return None
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def parse_offset(text: Any) -> timedelta | None:
    """"+09:00", "-0330", "Z" -> the offset; anything else (or beyond ±14 h) -> None."""
    if not isinstance(text, str):
        return None
    m = _OFFSET_RE.match(text)
    if not m:
        return None
    if m.group(1):
        return timedelta(0)
    value = timedelta(hours=int(m.group(3)), minutes=int(m.group(4)))
    value = value if m.group(2) == "+" else -value
    return value if abs(value) <= MAX_OFFSET else None


def parse_date(value: Any) -> tuple[datetime, timedelta | None] | None:
    """An EXIF/XMP/QuickTime date string -> (naive wall clock with microseconds, its own offset)."""
    if not isinstance(value, str):
        return None
    m = _DATE_RE.match(value.strip())
    if not m:
        return None
    year, month, day, hour, minute = (int(m.group(i)) for i in range(1, 6))
    fraction = (m.group(7) or "").ljust(6, "0")[:6]
    try:
        local = datetime(year, month, day, hour, minute, int(m.group(6) or 0), int(fraction or 0))
    except ValueError:
        return None
    if local.year < 1826:  # the first photograph; zeroed dates mean "unknown"
        return None
    return local, parse_offset(m.group(8)) if m.group(8) else None


def _with_subseconds(local: datetime, subsec: Any) -> datetime:
    digits = re.sub(r"\D", "", str(subsec or ""))[:6]
    if local.microsecond or not digits:
        return local
    return local.replace(microsecond=int(digits.ljust(6, "0")))


def _from_gps_time(meta: dict[str, Any], local: datetime) -> timedelta | None:
    parsed = parse_date(meta.get("GPSDateTime"))
    if parsed is None or parsed[1] is None:
        return None
    utc = parsed[0] - parsed[1]
    difference = local - utc
    rounded = _QUARTER * round(difference / _QUARTER)
    if abs(difference - rounded) > GPS_CLOCK_SLACK or abs(rounded) > MAX_OFFSET:
        return None
    return rounded


def capture_time(meta: dict[str, Any], position: tuple[float, float] | None) -> CaptureTime | None:
    """The capture time of `meta` (ExifTool names); `position` is the photo's (lat, lon) if known."""
    for tag, subsec_tag, offset_tags in _SOURCES:
        parsed = parse_date(meta.get(tag))
        if parsed is None:
            continue
        local, offset = parsed
        if subsec_tag:
            local = _with_subseconds(local, meta.get(subsec_tag))
        for offset_tag in offset_tags:
            offset = offset if offset is not None else parse_offset(meta.get(offset_tag))
        if offset is not None:
            return CaptureTime(local, offset, ZoneSource.OFFSET, tag=tag)
        from_gps = _from_gps_time(meta, local)
        if from_gps is not None:
            return CaptureTime(local, from_gps, ZoneSource.GPS_TIME, tag=tag)
        zone = zone_at(*position) if position else None
        zone_offset = offset_in(zone, local) if zone else None
        if zone and zone_offset is not None:
            return CaptureTime(local, zone_offset, ZoneSource.GPS_POSITION, zone=zone, tag=tag)
        return CaptureTime(local, None, ZoneSource.UNKNOWN, tag=tag)
    return None


def utc_instant(capture: CaptureTime | None) -> datetime | None:
    """The instant in UTC (for a timestamptz column), or None."""
    instant = capture.instant if capture else None
    return instant.astimezone(UTC) if instant else None
