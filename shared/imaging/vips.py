"""libvips set-up and the steps every renderer shares: header probe, 8-bit RGB, encode and thumbnail."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("VIPS_WARNING", "0")
import pyvips

from shared.imaging.model import Attempt, ColourNote, Limits, Rendered
from shared.imaging.renditions import THUMBNAIL, Spec


def configure_vips(concurrency: int = 1) -> None:
    """Process-wide libvips set-up for workers; raises if the loader block does not hold.

    `concurrency` is libvips' thread count per image (0: libvips' default, one
    per core). Workers run one image at a time and scale by processes, so one
    thread each keeps one worker on one core: two workers on two cores make
    1.9x one worker's throughput, where two default-threaded workers fight
    over the cores and make 1.45x (`make bench`, docs/preview.md).
    """
    pyvips.block_untrusted_set(True)
    # libvips 8.14 marks its JPEG XL loader untrusted (libjxl was new then). JXL uploads need it, and
    # libjxl is the format's reference decoder with Debian security support; only the loader is let
    # through, the saver and every other untrusted operation stay blocked (docs/preview.md, "JPEG XL").
    pyvips.operation_block_set("VipsForeignLoadJxl", False)
    pyvips.cache_set_max(0)  # every job is a different file: caching only costs memory
    if concurrency > 0:
        pyvips.concurrency_set(concurrency)
    if not untrusted_loaders_blocked():
        raise RuntimeError("libvips did not block its untrusted loaders")


M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8


def tune_malloc(arenas: int = 2, mmap_threshold: int | None = 256 * 1024) -> None:
    """Keep a process's RSS near what it uses.

    glibc gives every decoding thread its own arena; two are enough. And,
    unless `mmap_threshold` is None, a fixed mmap threshold: by default glibc
    raises it after each large free, so the next image's multi-megabyte
    buffers come from the heap and stay in the RSS after the job; mapped,
    they go back to the system when freed (a 45 MP JPEG's peak drops by about
    5 MB, `make bench`), at the price of faulting them in again next time.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if name:
        try:
            libc = ctypes.CDLL(name)
            libc.mallopt(M_ARENA_MAX, arenas)
            if mmap_threshold is not None:
                libc.mallopt(M_MMAP_THRESHOLD, mmap_threshold)
        except (OSError, AttributeError):
            pass


def setup_render_process() -> None:
    """Set-up of a render process (`shared.worker.render_process`) before its address space is capped.

    Two malloc arenas, libvips configured from `PROPHOTO_VIPS_CONCURRENCY`,
    and one small render made, so libvips' threads and their malloc arenas
    exist before the child measures its size at rest. glibc keeps its
    dynamic mmap threshold here, as in the in-process floor: the buffers of
    one preview (decode, resize, encode: about 40 MB for a 24 MP JPEG) are
    reused by the next instead of being unmapped and faulted in again, which
    cost 20-25 ms of system time per preview (`bench.pipeline`, docs/preview.md).
    The held memory counts against the process's address-space cap.
    """
    from shared.settings import get_settings

    tune_malloc(mmap_threshold=None)
    configure_vips(get_settings().vips_concurrency)
    tiny = pyvips.Image.black(64, 64, bands=3).jpegsave_buffer()
    pyvips.Image.thumbnail_buffer(tiny, 32).jpegsave_buffer()
    import rawpy  # noqa: F401  # mapped now rather than after the cap


def untrusted_loaders_blocked() -> bool:
    """Probe the block: libvips marks its CSV loader untrusted, so it must refuse."""
    try:
        pyvips.Image.csvload_source(pyvips.Source.new_from_memory(b"1 2\n3 4\n"))
    except pyvips.Error as exc:
        return "blocked" in str(exc)
    return False


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = fn()
    return result, (time.perf_counter() - started) * 1000


def to_srgb_8bit(image: pyvips.Image) -> pyvips.Image:
    """Flattened, three-band, 8-bit RGB: what every JPEG we write holds. Colour management
    (`shared.imaging.colour`) comes first; this only changes the encoding of what is left (an
    untagged 16-bit or grey image is taken as sRGB)."""
    if image.hasalpha():
        image = image.flatten(background=[255] * (image.bands - 1))
    if image.interpretation not in ("srgb",) or image.format != "uchar":
        try:
            image = image.colourspace("srgb")
        except pyvips.Error:
            pass
    if image.bands == 1:
        image = image.bandjoin([image, image])
    elif image.bands > 3:
        image = image.extract_band(0, n=3)
    if image.format != "uchar":
        image = image.cast("uchar")
    return image


def cmyk_thumbnail(path: str, width: int, height: int,
                   convert: Callable[[pyvips.Image], pyvips.Image]) -> pyvips.Image:
    """A CMYK image shrunk to fit `width` x `height` (never enlarged), upright, then `convert`ed.

    libvips' `thumbnail` converts CMYK itself on the way, and its result is
    off by about 1.7 CIEDE2000 from LittleCMS's conversion of the same file
    (`tests/integration/test_colour.py`); so CMYK is loaded here (JPEGs with
    shrink-on-load), resized, and converted at the output's size (a CMYK
    transform is a LUT, several times an RGB matrix's cost per pixel).
    """
    head = pyvips.Image.new_from_file(path, access="sequential")
    scale = min(1.0, width / head.width, height / head.height)
    if str(head.get("vips-loader")).startswith("jpegload"):
        shrink = 1
        while shrink < 8 and scale * shrink * 2 <= 1:
            shrink *= 2
        image = pyvips.Image.new_from_file(path, access="sequential", shrink=shrink, fail_on="error")
    else:
        image = pyvips.Image.new_from_file(path, access="sequential", fail_on="error")
    image = image.autorot()
    fit = min(1.0, width / image.width, height / image.height)
    return convert(image.resize(fit, kernel="lanczos3") if fit < 1 else image)


def header_pixels(source: str | bytes) -> tuple[int, int]:
    if isinstance(source, bytes):
        head = pyvips.Image.new_from_buffer(source, "", access="sequential")
    else:
        head = pyvips.Image.new_from_file(source, access="sequential")
    return head.width, head.height


def first_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return "; ".join(lines[:3])[:300]


def cover_crop(image: pyvips.Image, width: int, height: int) -> pyvips.Image:
    """The centre of `image` at the aspect ratio of `width` x `height`, scaled to that size.

    Cropping before scaling keeps the work at the output's size whatever the
    input's aspect ratio (scaling a 3 px wide strip up first would not).
    """
    crop_w = max(1, min(image.width, round(image.height * width / height)))
    crop_h = max(1, min(image.height, round(image.width * height / width)))
    centre = image.crop((image.width - crop_w) // 2, (image.height - crop_h) // 2, crop_w, crop_h)
    return shrink_upright(centre, width, height)


#: how to turn `rot90(image)` upright for each EXIF orientation (what `autorot` would do to `image`)
_FROM_TURNED = {1: ("rot270", None), 2: ("rot270", "fliphor"), 3: ("rot90", None), 4: ("rot90", "fliphor"),
                5: (None, "fliphor"), 6: (None, None), 7: (None, "flipver"), 8: ("rot180", None)}


def oriented(image: pyvips.Image, orientation: int) -> pyvips.Image:
    """`image` turned upright for its EXIF `orientation` (1-8; anything else leaves it as it is)."""
    if orientation not in range(2, 9):
        return image
    image = image.copy()
    image.set_type(pyvips.GValue.gint_type, "orientation", orientation)
    return image.autorot()


def shrink_upright(image: pyvips.Image, width: int, height: int, orientation: int = 1) -> pyvips.Image:
    """`image` resized (Lanczos3) to exactly `width` x `height`, then turned for its EXIF orientation.

    Both passes of a shrink run vertically: libvips 8.14 vectorises its
    vertical reducer but not its horizontal one, so reduce the rows, turn the
    image a quarter, reduce the rows again and turn it upright: 25-30 ms of
    CPU instead of 55-60 for a 2250x1500 -> 2048x1365 preview (docs/preview.md).
    The quarter turn is folded into the one the orientation needs. An
    enlargement, or a shrink by 4 or more (where `resize` box-shrinks first),
    is left to `resize`.
    """
    if not (width <= image.width < 4 * width and height <= image.height < 4 * height):
        return oriented(image.resize(width / image.width, vscale=height / image.height), orientation)
    if height != image.height:
        image = image.reducev(image.height / height, kernel="lanczos3")
    if width == image.width:
        return oriented(image, orientation)
    turned = image.rot90().reducev(image.width / width, kernel="lanczos3")
    rotate, flip = _FROM_TURNED.get(orientation, _FROM_TURNED[1])
    if rotate is not None:
        turned = getattr(turned, rotate)()
    if flip is not None:
        turned = getattr(turned, flip)()
    return turned


def finish(preview: pyvips.Image, limits: Limits, method: str, attempts: list[Attempt],
           degraded: str | None = None, colour: ColourNote | None = None) -> Rendered:
    """Encode the preview (colour-managed already: `colour` says to what), cut every other
    rendition of `limits.renditions` from it and encode those; in Display P3, all carry its profile.
    Each cut is one attempt (the thumbnail's is `from-preview`, another's `from-preview:<name>`)."""
    from shared.imaging.colour import encode_jpeg

    gamut = colour.output if colour is not None else "srgb"
    preview = to_srgb_8bit(preview).copy_memory()
    first, *others = limits.renditions
    made = {first.name: encode_jpeg(preview, first.quality, gamut)}
    sizes = {first.name: (preview.width, preview.height)}
    for spec in others:
        size = spec.size_for(preview.width, preview.height)

        def cut(spec: Spec = spec, size: tuple[int, int] = size) -> bytes:
            # a fit is a plain resize: the turn in `shrink_upright` pays only for shrinks by less
            # than 2 (measured: 2048 -> 1024 px took 45 ms that way, 25 ms with `resize`)
            image = cover_crop(preview, *size) if spec.crop else preview.resize(
                size[0] / preview.width, vscale=size[1] / preview.height)
            return encode_jpeg(image, spec.quality, gamut)

        made[spec.name], ms = timed(cut)
        sizes[spec.name] = size
        how = "from-preview" if spec.name == THUMBNAIL.name else f"from-preview:{spec.name}"
        attempts.append(Attempt("thumbnail_generation", how, True, None, ms, len(made[spec.name]), *size))
    return Rendered(made, sizes, method, degraded, attempts, colour)
