"""What the preview worker's render process runs: metadata for RAWs, then the preview and thumbnail.

Runs in the child process of `shared.worker.render_process` (never in the worker
itself), so nothing here may need the event loop, the broker or the
database. The RAW path keeps one ExifTool per render process.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from shared import imaging
from shared.exif import ExifTool, ExifToolError, ReadMode

_exiftool: ExifTool | None = None


@dataclass
class Outcome:
    rendered: imaging.Rendered | None
    error: imaging.ImagingError | None
    attempts: list[imaging.Attempt]


def _tool(binary: str, timeout: float) -> ExifTool:
    global _exiftool
    if _exiftool is None or _exiftool.binary != binary:
        _exiftool = ExifTool(binary, timeout)
    return _exiftool


def render(path: Path, is_raw: bool, limits: imaging.Limits, exif_binary: str = "exiftool",
           exif_timeout: float = 30.0) -> Outcome:
    attempts: list[imaging.Attempt] = []
    try:
        if is_raw:
            tool = _tool(exif_binary, exif_timeout)
            started = time.perf_counter()
            try:
                meta = tool.read(path, ReadMode.FULL)  # MakerNotes hold some RAWs' previews
                attempts.append(imaging.Attempt("metadata_extraction", "exiftool-full", True, None,
                                                (time.perf_counter() - started) * 1000))
            except ExifToolError as exc:
                attempts.append(imaging.Attempt("metadata_extraction", "exiftool-full", False, str(exc),
                                                (time.perf_counter() - started) * 1000))
                meta = {}

            def extract(tag: str) -> bytes | None:
                return tool.extract_binary(path, tag, limits.max_embedded_bytes)

            def extract_all(declared: list[tuple[str, int]]) -> dict[str, bytes] | None:
                return tool.extract_all(path, declared)

            rendered = imaging.render_raw(path, meta, extract, limits, extract_all)
        else:
            rendered = imaging.render_standard(path, limits)
    except imaging.ImagingError as exc:
        return Outcome(None, exc, attempts + list(getattr(exc, "attempts", [])))
    return Outcome(rendered, None, attempts + rendered.attempts)


def render_or_raise(path: Path, is_raw: bool, limits: imaging.Limits) -> imaging.Rendered:
    """`render`, raising its error (for callers that want the picture or the reason)."""
    outcome = render(path, is_raw, limits)
    if outcome.rendered is None:
        assert outcome.error is not None
        raise outcome.error
    return outcome.rendered
