"""Camera RAWs: embedded JPEGs chosen by `choose_embedded`, turned by the RAW's own
orientation, then scaled like any image; LibRaw (rawpy) when none is usable."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyvips

from shared.imaging import budget, colour
from shared.imaging.colour import Evidence, Gamut
from shared.imaging.model import (
    Attempt,
    ColourNote,
    ImagingError,
    Limits,
    OutOfMemory,
    Rendered,
    check_pixels,
)
from shared.imaging.vips import finish, first_line, header_pixels, to_srgb_8bit

EMBEDDED_ORDER = ("PreviewImage", "JpgFromRaw", "ThumbnailImage")
#: LibRaw's output colour space per gamut (filled on first use: rawpy is imported lazily)
_LIBRAW_SPACE: dict[Gamut, Any] = {}
SRGB_GAMMA = (2.4, 12.92)  # the sRGB curve's power and toe slope, as LibRaw takes them
LAST_RESORT_EDGE = 160  # smaller embedded images are icons, not previews

_ORIENT = {
    2: lambda i: i.fliphor(),
    3: lambda i: i.rot180(),
    4: lambda i: i.flipver(),
    5: lambda i: i.rot90().fliphor(),
    6: lambda i: i.rot90(),
    7: lambda i: i.rot270().fliphor(),
    8: lambda i: i.rot270(),
}


@dataclass
class Embedded:
    tag: str
    data: bytes
    width: int
    height: int

    @property
    def long_edge(self) -> int:
        return max(self.width, self.height)


def probe_embedded(tag: str, data: bytes | None) -> Embedded | None:
    if not data or data[:2] != b"\xff\xd8":
        return None
    try:
        width, height = header_pixels(data)
    except pyvips.Error:
        return None
    return Embedded(tag, data, width, height)


def needed_edge(raw_long_edge: int | None, limits: Limits) -> int:
    return min(limits.preview_max, raw_long_edge) if raw_long_edge else limits.preview_max


def choose_embedded(candidates: list[Embedded], raw_long_edge: int | None, limits: Limits
                    ) -> tuple[Embedded | None, str | None, dict[str, str]]:
    """The first embedded image (in the original order) large enough for the preview;
    else the largest over the minimum edge, marked degraded. Also why each was passed over."""
    need = needed_edge(raw_long_edge, limits)
    skipped: dict[str, str] = {}
    usable: list[Embedded] = []
    for tag in EMBEDDED_ORDER:
        for c in candidates:
            if c.tag != tag:
                continue
            if tag == "ThumbnailImage" and c.long_edge <= limits.min_embedded_edge:
                skipped[tag] = f"{c.width}x{c.height} is not over {limits.min_embedded_edge} px"
                continue
            if c.long_edge >= need:
                return c, None, skipped
            if c.long_edge > limits.min_embedded_edge:
                usable.append(c)
            skipped[tag] = f"{c.width}x{c.height} is smaller than the {need} px preview"
    if usable:
        best = max(usable, key=lambda c: c.long_edge)
        skipped.pop(best.tag, None)
        return best, f"embedded preview smaller than requested ({best.long_edge} px < {need} px)", skipped
    return None, None, skipped


def render_embedded(chosen: Embedded, orientation: int | None, limits: Limits,
                    degraded: str | None = None, attempts: list[Attempt] | None = None,
                    raw_colour: colour.Colour = colour.SRGB) -> Rendered:
    """An embedded JPEG as the preview. Its colour space is its own profile's or EXIF's, else the
    RAW's (`raw_colour`: a camera set to Adobe RGB says so in the RAW's EXIF, not in the JPEG)."""
    attempts = attempts if attempts is not None else []
    started = time.perf_counter()
    method = f"embedded:{chosen.tag}"
    try:
        check_pixels(chosen.width, chosen.height, limits)
        try:
            budget.check(chosen.data, limits.memory_budget, limits.preview_max)
        except ImagingError as exc:
            attempts.append(Attempt("preview_extraction", method, False, exc.reason,
                                    (time.perf_counter() - started) * 1000))
            raise
        except budget.HeaderError as exc:
            raise pyvips.Error(f"no JPEG frame header: {exc}") from exc
        image = pyvips.Image.thumbnail_buffer(chosen.data, limits.preview_max, height=limits.preview_max,
                                              size="down", no_rotate=orientation is not None,
                                              fail_on="error")
        if orientation in _ORIENT:
            image = _ORIENT[orientation](image)
        source = colour.of_image(image)
        image, note = colour.prepare(image, raw_colour if source.evidence is Evidence.ASSUMED else source,
                                     limits.gamut)
        image = to_srgb_8bit(image).copy_memory()
    except pyvips.Error as exc:
        reason = f"embedded {chosen.tag} is not a decodable JPEG: {first_line(exc)}"
        attempts.append(Attempt("preview_extraction", method, False, reason,
                                (time.perf_counter() - started) * 1000))
        raise ImagingError(reason) from exc
    rendered = finish(image, limits, method, attempts, degraded, note)
    cuts = len(limits.renditions) - 1  # the attempts `finish` added, after the preview's
    attempts.insert(len(attempts) - cuts, Attempt("preview_extraction", method, True, degraded,
                                               (time.perf_counter() - started) * 1000,
                                               len(rendered.preview)))
    return rendered


def render_libraw(path: Path, limits: Limits, attempts: list[Attempt] | None = None) -> Rendered:
    """Decode the RAW itself (half size is plenty for a 2048 px preview).

    LibRaw converts from the camera's colours to the output gamut itself:
    sRGB, or Display P3 in the P3 setting (a sensor's gamut is wider than
    sRGB), both with the sRGB tone curve rather than LibRaw's default BT.709 one.
    """
    import rawpy

    _LIBRAW_SPACE.setdefault(Gamut.SRGB, rawpy.ColorSpace.sRGB)
    _LIBRAW_SPACE.setdefault(Gamut.DISPLAY_P3, rawpy.ColorSpace.P3D65)
    target = Gamut(limits.gamut)
    attempts = attempts if attempts is not None else []
    started = time.perf_counter()
    try:
        with rawpy.RawPy() as raw:
            raw.open_file(str(path))  # the header only: the sensor data is read by unpack()
            check_pixels(raw.sizes.raw_width, raw.sizes.raw_height, limits)
            budget.require(budget.libraw_estimate(raw.sizes.raw_width, raw.sizes.raw_height),
                           limits.memory_budget)
            raw.unpack()
            rgb = raw.postprocess(half_size=True, use_camera_wb=True, output_bps=8, no_auto_bright=False,
                                  output_color=_LIBRAW_SPACE[target], gamma=SRGB_GAMMA)
        height, width = rgb.shape[:2]
        image = pyvips.Image.new_from_memory(rgb.tobytes(), width, height, 3, "uchar")
        image = image.thumbnail_image(limits.preview_max, height=limits.preview_max, size="down")
        image = image.copy_memory()
    except ImagingError as exc:
        attempts.append(Attempt("preview_extraction", "raw:libraw", False, exc.reason,
                                (time.perf_counter() - started) * 1000))
        raise
    except Exception as exc:
        reason = f"LibRaw could not decode the RAW: {type(exc).__name__}: {str(exc)[:200]}"
        attempts.append(Attempt("preview_extraction", "raw:libraw", False, reason,
                                (time.perf_counter() - started) * 1000))
        ran_out = isinstance(exc, (rawpy.LibRawUnsufficientMemoryError, rawpy.LibRawMemPoolOverflowError))
        raise (OutOfMemory if ran_out else ImagingError)(reason) from exc
    note = ColourNote(colour.Space.OTHER_RGB.value, "libraw", "camera colour matrix", target.value)
    rendered = finish(image, limits, "raw:libraw", attempts, colour=note)
    cuts = len(limits.renditions) - 1
    attempts.insert(len(attempts) - cuts, Attempt("preview_extraction", "raw:libraw", True, None,
                                               (time.perf_counter() - started) * 1000,
                                               len(rendered.preview)))
    return rendered


def render_raw(path: Path, meta: dict[str, Any], extract: Callable[[str], bytes | None],
               limits: Limits,
               extract_all: Callable[[list[tuple[str, int]]], dict[str, bytes] | None] | None = None,
               ) -> Rendered:
    """A camera RAW: embedded previews in the original order, then LibRaw.

    `extract(tag)` returns the embedded blob (raising when it is over the size
    limit); `meta` is the RAW's metadata (ExifTool `-n` names). With
    `extract_all`, every listed image within the limit comes in one call
    (split by the declared lengths; None falls back to `extract` per tag).
    """
    from shared.exif import ExifToolError, dimensions, embedded_previews

    attempts: list[Attempt] = []
    candidates: list[Embedded] = []
    listed = [(tag, length) for tag, length in embedded_previews(meta) if tag in EMBEDDED_ORDER]
    present = [tag for tag, _ in listed]
    wanted = [(tag, length) for tag, length in listed if 0 < length <= limits.max_embedded_bytes]
    together: dict[str, bytes] | None = None
    if extract_all is not None and len(wanted) > 1:
        try:
            together = extract_all(wanted)
        except ExifToolError:
            together = None
    for tag, length in listed:
        started = time.perf_counter()
        if length > limits.max_embedded_bytes:  # judged from the metadata: nothing is extracted
            attempts.append(Attempt("preview_extraction", f"embedded:{tag}", False,
                                    f"embedded {tag} is {length} bytes, over the"
                                    f" {limits.max_embedded_bytes}-byte limit", 0.0))
            continue
        try:
            blob = together[tag] if together is not None and tag in together else extract(tag)
            found = probe_embedded(tag, blob)
        except ExifToolError as exc:
            attempts.append(Attempt("preview_extraction", f"embedded:{tag}", False, str(exc)[:300],
                                    (time.perf_counter() - started) * 1000))
            continue
        if found is None:
            attempts.append(Attempt("preview_extraction", f"embedded:{tag}", False,
                                    "no decodable JPEG in the tag", (time.perf_counter() - started) * 1000))
            continue
        candidates.append(found)
    width, height = dimensions(meta)
    raw_long = max(width, height) if width and height else None
    chosen, degraded, skipped = choose_embedded(candidates, raw_long, limits)
    for tag, why in skipped.items():
        attempts.append(Attempt("preview_extraction", f"embedded:{tag}", False, why, 0.0))
    orientation = meta.get("Orientation")
    orientation = orientation if isinstance(orientation, int) and 1 <= orientation <= 8 else None
    space, interop = meta.get("ColorSpace"), meta.get("InteropIndex")
    raw_colour = colour.detect(None, space if isinstance(space, int) else None,
                               interop if isinstance(interop, str) else None)
    if chosen is not None:
        try:
            return render_embedded(chosen, orientation, limits, degraded, attempts, raw_colour)
        except ImagingError:
            pass
    if not present:
        attempts.append(Attempt("preview_extraction", "embedded:none", False,
                                "the RAW has no embedded preview", 0.0))
    try:
        return render_libraw(path, limits, attempts)
    except ImagingError as exc:
        last = max((c for c in candidates if c.long_edge >= LAST_RESORT_EDGE), key=lambda c: c.long_edge,
                   default=None)
        if last is not None and last is not chosen:
            # better a small picture than none: recorded as degraded
            note = f"only a {last.long_edge} px embedded preview; {exc.reason}"
            try:
                return render_embedded(last, orientation, limits, note[:300], attempts, raw_colour)
            except ImagingError:
                pass
        error = ImagingError(f"no usable image data: no usable embedded preview and {exc.reason}")
        error.attempts = attempts
        raise error from exc
