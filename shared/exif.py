"""Metadata: one persistent ExifTool per process, a Pillow fallback, normalizers.

ExifTool runs with `-stay_open` (pyexiftool), started lazily and reused for
every file. Each call has a timeout: a hung ExifTool is killed (which also
unblocks the reading thread) and started again on the next call. Paths are
passed as absolute arguments through the args pipe, never through a shell;
a path with a line break is refused, because the pipe is line-based.

All values read from files are untrusted: `summarize` and `normalize` strip
control characters, cap lengths and never raise.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import re
import secrets
import select
import shutil
import subprocess
import time
import unicodedata
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import exiftool

log = logging.getLogger(__name__)

EMBEDDED_TAGS = ("PreviewImage", "JpgFromRaw", "ThumbnailImage", "OtherImage")
_LENGTH_TAGS = {
    "PreviewImage": ("PreviewImageLength",),
    "JpgFromRaw": ("JpgFromRawLength",),
    "ThumbnailImage": ("ThumbnailLength",),
    "OtherImage": ("OtherImageLength",),
}
_TAG_RE = re.compile(r"^[A-Za-z0-9_:-]+$")
_BINARY_RE = re.compile(r"\(Binary data (\d+) bytes")
MAX_TEXT = 200


class ExifToolError(Exception):
    pass


class EmbeddedTooLarge(ExifToolError):
    def __init__(self, tag: str, size: int, limit: int) -> None:
        super().__init__(f"embedded {tag} is {size} bytes, over the {limit}-byte limit")
        self.tag, self.size, self.limit = tag, size, limit


def _checked_path(path: Path) -> str:
    text = str(Path(path).resolve())
    if "\n" in text or "\r" in text:
        raise ExifToolError("a path with a line break cannot be passed to ExifTool")
    return text


class _TimedExifTool(exiftool.ExifTool):  # type: ignore[misc]
    """pyexiftool's process management with our own I/O that honours a deadline.

    pyexiftool's reader loops forever once ExifTool's pipe reaches EOF, so a
    hung or killed ExifTool cannot be timed out through it. This `execute`
    speaks the same `-stay_open` protocol, reads stdout and stderr together
    with `select` (a chatty stderr cannot fill its pipe and deadlock us), and
    gives up at the deadline or at EOF.
    """

    deadline_s: float = 30.0

    def execute(self, *params: str | bytes, raw_bytes: bool = False) -> str | bytes:
        if not self.running:
            raise ExifToolError("ExifTool is not running")
        seq = secrets.randbelow(900_000) + 100_000
        ready = f"{{ready{seq}}}".encode()
        post = f"post{seq}".encode()
        args = [p if isinstance(p, bytes) else p.encode("utf-8") for p in params]
        args += [b"-echo4", b"=${status}=" + post, f"-execute{seq}".encode()]
        proc = self._process
        try:
            proc.stdin.write(b"\n".join(args) + b"\n")
            proc.stdin.flush()
        except OSError as exc:
            raise ExifToolError(f"ExifTool's input is closed: {exc}") from exc
        out, err = self._collect(proc, ready, post)
        stdout = out.rstrip()[: -len(ready)].rstrip(b"\r\n")
        stderr = err.rstrip()[: -len(post)]
        self._last_status = 0
        if stderr.endswith(b"="):
            head, _, status = stderr[:-1].rpartition(b"=")
            self._last_stderr = head.decode("utf-8", "replace")
            try:
                self._last_status = int(status)
            except ValueError:
                pass
        self._last_stdout = stdout if raw_bytes else stdout.decode("utf-8", "replace")
        return self._last_stdout

    def _collect(self, proc: Any, ready: bytes, post: bytes) -> tuple[bytes, bytes]:
        deadline = time.monotonic() + self.deadline_s
        fds = {proc.stdout.fileno(): bytearray(), proc.stderr.fileno(): bytearray()}
        ends = {proc.stdout.fileno(): ready, proc.stderr.fileno(): post}
        pending = set(fds)
        while pending:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ExifToolError(f"ExifTool timed out after {self.deadline_s:g} s")
            readable, _, _ = select.select(list(pending), [], [], left)
            for fd in readable:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise ExifToolError("ExifTool exited unexpectedly")
                fds[fd] += chunk
                if fds[fd].rstrip().endswith(ends[fd]):
                    pending.discard(fd)
        return bytes(fds[proc.stdout.fileno()]), bytes(fds[proc.stderr.fileno()])


class ExifTool:
    """Synchronous, one persistent process; not thread-safe (callers serialise)."""

    def __init__(self, binary: str = "exiftool", timeout: float = 30.0) -> None:
        self.binary = binary
        self.timeout = timeout
        self._tool: exiftool.ExifTool | None = None

    @property
    def available(self) -> bool:
        return shutil.which(self.binary) is not None

    def _ensure(self) -> exiftool.ExifTool:
        if self._tool is None or not self._tool.running:
            if not self.available:
                raise ExifToolError(f"ExifTool not found ({self.binary!r})")
            tool = _TimedExifTool(executable=self.binary,
                                  common_args=["-n", "-charset", "filename=utf8"])
            tool.deadline_s = self.timeout
            self._tool = tool
            try:
                tool.run()
            except Exception as exc:
                self._kill()
                raise ExifToolError(f"ExifTool did not start: {exc}") from exc
        return self._tool

    def _kill(self) -> None:
        tool = self._tool
        self._tool = None
        proc = getattr(tool, "_process", None)
        if proc is not None:
            try:
                proc.kill()
                proc.wait(timeout=5)  # reap it: no zombies
            except (OSError, subprocess.SubprocessError):
                pass
            tool._running = False  # type: ignore[union-attr]  # pyexiftool must not talk to it again

    def _execute(self, *params: str, raw: bool = False) -> str | bytes:
        try:
            tool = self._ensure()  # start-up is under the same deadline (it asks for the version)
            return tool.execute(*params, raw_bytes=raw)  # type: ignore[no-any-return]
        except ExifToolError as exc:
            self._kill()  # a timed-out or broken process is never reused
            if "timed out" in str(exc):
                raise ExifToolError(f"{exc}; killed, a new one starts on the next call") from exc
            raise
        except Exception as exc:
            self._kill()
            raise ExifToolError(f"ExifTool failed: {exc}") from exc

    def read(self, path: Path, fast: bool = True) -> dict[str, Any]:
        import json

        args = ["-j", "-struct"] + (["-fast2"] if fast else []) + [_checked_path(path)]
        out = self._execute(*args)
        try:
            data = json.loads(out) if out else []
        except ValueError as exc:
            raise ExifToolError(f"ExifTool gave unreadable output: {exc}") from exc
        if not data or not isinstance(data[0], dict):
            raise ExifToolError("ExifTool returned no metadata")
        result: dict[str, Any] = data[0]
        return result

    def extract_binary(self, path: Path, tag: str, max_bytes: int | None = None) -> bytes | None:
        if not _TAG_RE.match(tag):
            raise ValueError(f"invalid tag name {tag!r}")
        out = self._execute("-b", f"-{tag}", _checked_path(path), raw=True)
        data = out.encode() if isinstance(out, str) else (out or b"")
        if not data:
            return None
        if max_bytes is not None and len(data) > max_bytes:
            raise EmbeddedTooLarge(tag, len(data), max_bytes)
        return data

    def close(self) -> None:
        tool = self._tool
        self._tool = None
        if tool is not None and tool.running:
            try:
                tool.terminate(timeout=5)
            except Exception:
                self._tool = tool
                self._kill()


class AsyncExifTool:
    """The event loop's view: calls run in a thread, one at a time; Pillow as fallback."""

    def __init__(self, binary: str = "exiftool", timeout: float = 30.0) -> None:
        self._tool = ExifTool(binary, timeout)
        self._lock = asyncio.Lock()

    @property
    def available(self) -> bool:
        return self._tool.available

    async def read(self, path: Path, fast: bool = True) -> dict[str, Any]:
        try:
            async with self._lock:
                meta = await asyncio.to_thread(self._tool.read, path, fast)
            meta["_reader"] = "exiftool"
            return meta
        except ExifToolError as exc:
            log.warning("ExifTool failed (%s); falling back to Pillow", exc)
        meta = await asyncio.to_thread(read_with_pillow, path)
        meta["_reader"] = "pillow"
        return meta

    async def extract_binary(self, path: Path, tag: str, max_bytes: int | None = None) -> bytes | None:
        try:
            async with self._lock:
                return await asyncio.to_thread(self._tool.extract_binary, path, tag, max_bytes)
        except EmbeddedTooLarge:
            raise
        except ExifToolError:
            if tag != "ThumbnailImage":
                raise
        data = await asyncio.to_thread(pillow_thumbnail, path)
        if data is not None and max_bytes is not None and len(data) > max_bytes:
            raise EmbeddedTooLarge(tag, len(data), max_bytes)
        return data

    async def close(self) -> None:
        async with self._lock:
            await asyncio.to_thread(self._tool.close)


# ---- Pillow fallback -------------------------------------------------------------

_PIL_NAMES = {
    0x010F: "Make", 0x0110: "Model", 0x0112: "Orientation", 0x0131: "Software",
    0x0132: "ModifyDate", 0x9003: "DateTimeOriginal", 0x9004: "CreateDate",
    0x9011: "OffsetTimeOriginal", 0x9010: "OffsetTime", 0x829A: "ExposureTime",
    0x829D: "FNumber", 0x8827: "ISO", 0x920A: "FocalLength", 0xA434: "LensModel",
    0xA002: "ExifImageWidth", 0xA003: "ExifImageHeight",
}


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    try:
        f = float(value)
    except (TypeError, ValueError):
        return value
    if isinstance(value, int):
        return value
    return f if math.isfinite(f) else None


def _dms(values: Any, ref: Any) -> float | None:
    try:
        d, m, s = (float(v) for v in values)
    except (TypeError, ValueError):
        return None
    sign = -1 if str(ref).upper() in ("S", "W") else 1
    value = sign * (d + m / 60 + s / 3600)
    return value if math.isfinite(value) else None


def read_with_pillow(path: Path) -> dict[str, Any]:
    """The fallback reader: the keys that matter, named as ExifTool's `-n` output."""
    from PIL import Image

    meta: dict[str, Any] = {}
    try:
        with Image.open(path) as im:
            meta["ImageWidth"], meta["ImageHeight"] = im.size
            meta["FileType"] = (im.format or "").upper()
            exif = im.getexif()
            for tag, name in _PIL_NAMES.items():
                if tag in exif:
                    meta[name] = _plain(exif[tag])
            try:
                sub = exif.get_ifd(0x8769)
            except Exception:
                sub = {}
            for tag, name in _PIL_NAMES.items():
                if tag in sub:
                    meta[name] = _plain(sub[tag])
            try:
                gps = exif.get_ifd(0x8825)
            except Exception:
                gps = {}
            if gps:
                lat = _dms(gps.get(2), gps.get(1))
                lon = _dms(gps.get(4), gps.get(3))
                if lat is not None and lon is not None:
                    meta["GPSLatitude"], meta["GPSLongitude"] = lat, lon
    except Exception as exc:  # a broken file gives what could be read
        meta["_error"] = str(exc)[:200]
    if "DateTimeOriginal" in meta and isinstance(meta["DateTimeOriginal"], str):
        meta["DateTimeOriginal"] = meta["DateTimeOriginal"].strip("\x00 ")
    return meta


def pillow_thumbnail(path: Path) -> bytes | None:
    """The EXIF IFD1 thumbnail of a JPEG, without ExifTool (Pillow finds the EXIF block)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            raw = im.info.get("exif", b"")
    except Exception:
        return None
    return _ifd1_jpeg(raw[6:] if raw[:6] == b"Exif\x00\x00" else raw)


def _ifd1_jpeg(tiff: bytes) -> bytes | None:
    """JPEGInterchangeFormat/Length of IFD1 in a TIFF-structured EXIF block."""
    import struct

    try:
        endian = {b"II": "<", b"MM": ">"}[tiff[:2]]
        ifd0 = struct.unpack_from(endian + "I", tiff, 4)[0]
        count = struct.unpack_from(endian + "H", tiff, ifd0)[0]
        ifd1 = struct.unpack_from(endian + "I", tiff, ifd0 + 2 + 12 * count)[0]
        if not ifd1:
            return None
        entries: dict[int, int] = {}
        for i in range(struct.unpack_from(endian + "H", tiff, ifd1)[0]):
            tag, _, _, value = struct.unpack_from(endian + "HHII", tiff, ifd1 + 2 + 12 * i)
            entries[tag] = value
        start, length = entries.get(0x0201), entries.get(0x0202)
        if not start or not length:
            return None
        data = tiff[start:start + length]
    except (KeyError, struct.error, IndexError):
        return None
    return data if data[:2] == b"\xff\xd8" else None


# ---- normalizing untrusted values -------------------------------------------------

def clean_text(value: Any, limit: int = MAX_TEXT) -> str | None:
    if value is None:
        return None
    text = unicodedata.normalize("NFC", str(value))
    text = "".join(c for c in text if unicodedata.category(c)[0] != "C")
    text = " ".join(text.split())[:limit]
    return text or None


def _num(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        value = value.strip()
        if "/" in value:
            a, _, b = value.partition("/")
            try:
                return float(a) / float(b)
            except (ValueError, ZeroDivisionError):
                return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _int(value: Any) -> int | None:
    f = _num(value)
    return int(f) if f is not None and 0 <= f < 1e9 else None


_DATE_RE = re.compile(
    r"^(\d{4})[:\-](\d{2})[:\-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?\s*(Z|[+-]\d{2}:?\d{2})?"
)


def _offset(text: Any) -> timezone | None:
    if not isinstance(text, str):
        return None
    m = re.match(r"^\s*(Z|([+-])(\d{2}):?(\d{2}))\s*$", text)
    if not m:
        return None
    if m.group(1) == "Z":
        return UTC
    minutes = int(m.group(3)) * 60 + int(m.group(4))
    if minutes > 14 * 60:
        return None
    return timezone(timedelta(minutes=minutes if m.group(2) == "+" else -minutes))


def parse_exif_date(value: Any, offset: Any = None) -> datetime | None:
    if not isinstance(value, str):
        return None
    m = _DATE_RE.match(value.strip())
    if not m:
        return None
    try:
        year, month, day, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
        dt = datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None
    if dt.year < 1826:  # the first photograph; zeroed dates are "unknown"
        return None
    tz = _offset(m.group(7)) if m.group(7) else _offset(offset)
    return dt.replace(tzinfo=tz) if tz else dt


def taken_at(meta: dict[str, Any]) -> datetime | None:
    """DateTimeOriginal, then CreateDate; with the EXIF offset when it is known."""
    for tag, off in (("DateTimeOriginal", "OffsetTimeOriginal"), ("CreateDate", "OffsetTimeDigitized"),
                     ("SubSecDateTimeOriginal", None)):
        dt = parse_exif_date(meta.get(tag), meta.get(off) if off else None) if tag in meta else None
        if dt is not None:
            if dt.tzinfo is None and off and meta.get("OffsetTime"):
                tz = _offset(meta.get("OffsetTime"))
                dt = dt.replace(tzinfo=tz) if tz else dt
            return dt
    return None


def camera_name(make: Any, model: Any) -> str | None:
    """Make and model without repeating the make: ("Canon", "Canon EOS R5") -> "Canon EOS R5"."""
    mk, md = clean_text(make, 64), clean_text(model, 64)
    if not mk and not md:
        return None
    if not mk:
        return md
    if not md:
        return mk
    first = mk.split()[0].lower()
    if md.lower().startswith(mk.lower()) or md.lower().startswith(first):
        return md
    return f"{mk} {md}"


def dimensions(meta: dict[str, Any]) -> tuple[int | None, int | None]:
    """Pixel size: ExifTool's composite ImageSize first (for RAWs ImageWidth may be a thumbnail's)."""
    size = meta.get("ImageSize")
    if isinstance(size, str) and re.match(r"^\d+[x ]\d+$", size.strip()):
        a, b = re.split("[x ]", size.strip())
        if int(a) and int(b):
            return int(a), int(b)
    for w, h in (("ImageWidth", "ImageHeight"), ("ExifImageWidth", "ExifImageHeight"),
                 ("RawImageFullWidth", "RawImageFullHeight")):
        width, height = _int(meta.get(w)), _int(meta.get(h))
        if width and height:
            return width, height
    size = meta.get("ImageSize")
    if isinstance(size, str) and re.match(r"^\d+[x ]\d+$", size):
        a, b = re.split("[x ]", size)
        return int(a), int(b)
    return None, None


def gps(meta: dict[str, Any]) -> dict[str, float] | None:
    lat, lon = _num(meta.get("GPSLatitude")), _num(meta.get("GPSLongitude"))
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    if lat == 0 and lon == 0:
        return None
    ref_lat, ref_lon = str(meta.get("GPSLatitudeRef", "")), str(meta.get("GPSLongitudeRef", ""))
    if lat > 0 and ref_lat.upper().startswith("S"):
        lat = -lat
    if lon > 0 and ref_lon.upper().startswith("W"):
        lon = -lon
    out = {"latitude": round(lat, 7), "longitude": round(lon, 7)}
    alt = _num(meta.get("GPSAltitude"))
    if alt is not None and abs(alt) < 100_000:
        below = str(meta.get("GPSAltitudeRef")) in ("1", "Below Sea Level")
        out["altitude"] = round(-alt if below else alt, 2)
    return out


def _orientation(meta: dict[str, Any]) -> int | None:
    value = _int(meta.get("Orientation"))
    return value if value is not None and 1 <= value <= 8 else None


def summarize(meta: dict[str, Any]) -> dict[str, Any]:
    """The upload answer's metadata summary."""
    width, height = dimensions(meta)
    when = taken_at(meta)
    return {
        "camera_make": clean_text(meta.get("Make"), 64),
        "camera_model": clean_text(meta.get("Model"), 64),
        "lens": clean_text(meta.get("LensModel") or meta.get("Lens") or meta.get("LensID"), 100),
        "width": width,
        "height": height,
        "taken_at": when.isoformat() if when else None,
        "orientation": _orientation(meta),
        "has_gps": gps(meta) is not None,
    }


def _exposure_display(seconds: float | None) -> str | None:
    if seconds is None or seconds <= 0:
        return None
    if seconds >= 1:
        return f"{seconds:g}s"
    return f"1/{round(1 / seconds)}"


def keywords(meta: dict[str, Any]) -> list[str]:
    found: list[str] = []
    for tag in ("Keywords", "Subject", "HierarchicalSubject"):
        value = meta.get(tag)
        items = value if isinstance(value, list) else [value] if value is not None else []
        for item in items:
            text = clean_text(item, 100)
            if text and text not in found:
                found.append(text)
    return found[:100]


def normalize(meta: dict[str, Any]) -> dict[str, Any]:
    """Full normalized metadata for permanent Image records."""
    width, height = dimensions(meta)
    when = taken_at(meta)
    exposure = _num(meta.get("ExposureTime"))
    if exposure is not None and not (0 < exposure < 100_000):
        exposure = None
    f_number = _num(meta.get("FNumber"))
    iso = _int(meta.get("ISO"))
    focal = _num(meta.get("FocalLength"))
    return {
        "camera_make": clean_text(meta.get("Make"), 64),
        "camera_model": clean_text(meta.get("Model"), 64),
        "camera": camera_name(meta.get("Make"), meta.get("Model")),
        "lens": clean_text(meta.get("LensModel") or meta.get("Lens") or meta.get("LensID"), 100),
        "exposure_time": exposure,
        "exposure_display": _exposure_display(exposure),
        "f_number": round(f_number, 2) if f_number and 0 < f_number < 1000 else None,
        "iso": iso if iso and iso < 10_000_000 else None,
        "focal_length_mm": round(focal, 2) if focal and 0 < focal < 100_000 else None,
        "taken_at": when.isoformat() if when else None,
        "taken_at_tz": when.strftime("%z") if when and when.tzinfo else None,
        "gps": gps(meta),
        "width": width,
        "height": height,
        "orientation": _orientation(meta),
        "keywords": keywords(meta),
        "software": clean_text(meta.get("Software"), 100),
        "file_type": clean_text(meta.get("FileType"), 20),
    }


def embedded_previews(meta: dict[str, Any]) -> list[tuple[str, int]]:
    """The embedded images the metadata says exist, with their byte lengths, in try order."""
    found: list[tuple[str, int]] = []
    for tag in EMBEDDED_TAGS:
        length: int | None = None
        value = meta.get(tag)
        if isinstance(value, str):
            m = _BINARY_RE.search(value)
            if m:
                length = int(m.group(1))
        if length is None:
            for ltag in _LENGTH_TAGS[tag]:
                length = _int(meta.get(ltag))
                if length:
                    break
        if length:
            found.append((tag, length))
    return found
