"""The imaging vocabulary: limits, results, attempts and the one error type (no libvips here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.imaging import renditions
from shared.imaging.renditions import Spec


class ImagingError(Exception):
    """An image could not be rendered; `permanent` when retrying cannot help (bad data, limits)."""

    def __init__(self, reason: str, permanent: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        #: the methods tried before giving up, when the renderer recorded them
        self.attempts: list[Attempt] = []


class Refusal(ImagingError):
    """Refused from the header, before decoding (pixel count, memory budget): permanent, and no
    other method may try the same image."""


class TooManyPixels(Refusal):
    """The image has more pixels than `Limits.max_pixels`."""

    def __init__(self, width: int, height: int, max_pixels: int) -> None:
        super().__init__(f"too many pixels: {width}x{height} is {width * height / 1e6:.0f} MP, "
                         f"the limit is {max_pixels / 1e6:.0f} MP")
        self.width, self.height, self.max_pixels = width, height, max_pixels

    def __reduce__(self) -> tuple[object, ...]:  # crosses the render process's pipe intact
        return (type(self), (self.width, self.height, self.max_pixels), self.__dict__)


class OutOfMemory(ImagingError, MemoryError):
    """A decoder's own allocator gave up (LibRaw's): being a `MemoryError`, it retires the render
    process that raised it (`shared.worker.render_child`)."""


@dataclass(frozen=True)
class Limits:
    #: what a render makes (`shared.imaging.renditions`): the preview first, the others cut from it
    renditions: tuple[Spec, ...] = field(default_factory=lambda: renditions.SPECS)
    max_pixels: int = 150_000_000
    max_embedded_bytes: int = 8 * 1024 * 1024
    min_embedded_edge: int = 800
    #: bytes one job may hold while decoding, judged from headers (`shared.imaging.budget`)
    memory_budget: int = 512 * 1024 * 1024
    #: what outputs may hold: "srgb", or "display-p3" for sources wider than sRGB (`colour.Gamut`)
    gamut: str = "srgb"

    @property
    def preview(self) -> Spec:
        return self.renditions[0]

    @property
    def preview_max(self) -> int:
        """The preview's long edge: what every render path decodes for."""
        return self.renditions[0].long_edge

    @property
    def preview_quality(self) -> int:
        return self.renditions[0].quality

    @property
    def thumbnail(self) -> Spec:
        """The thumbnail's spec (the degraded thumbnail is made to it)."""
        return renditions.named(self.renditions, renditions.THUMBNAIL.name)

    @classmethod
    def from_settings(cls, s: Any) -> Limits:
        return cls(renditions.configured(s), s.max_pixels, s.max_preview_size, s.raw_min_embedded_edge,
                   s.job_memory_mb * 1024 * 1024, s.preview_gamut)


@dataclass
class Attempt:
    step: str  # preview_extraction | thumbnail_generation
    method: str
    success: bool
    reason: str | None
    duration_ms: float
    result_size: int | None = None
    width: int | None = None  # of the image the attempt made (the thumbnail)
    height: int | None = None


@dataclass(frozen=True)
class ColourNote:
    """What a render found and made: the source's colour space (`colour.Space`), how that was
    known (icc, exif, assumed), the profile's own description, and the output gamut."""

    source: str
    evidence: str
    profile: str | None
    output: str


@dataclass(frozen=True)
class Hdr:
    """An original that holds more than its SDR picture: a gain map (ultra-hdr, iso-21496-1,
    apple-gain-map) or an HDR transfer (pq, hlg), with its headroom in stops when stated."""

    kind: str
    headroom: float | None = None


@dataclass
class Rendered:
    #: each rendition's JPEG and size, by spec name, in the order of `Limits.renditions`
    renditions: dict[str, bytes]
    sizes: dict[str, tuple[int, int]]
    method: str
    degraded: str | None = None
    attempts: list[Attempt] = field(default_factory=list)
    colour: ColourNote | None = None
    hdr: Hdr | None = None

    @property
    def preview(self) -> bytes:
        return self.renditions[renditions.PREVIEW.name]

    @property
    def thumbnail(self) -> bytes:
        return self.renditions[renditions.THUMBNAIL.name]

    @property
    def width(self) -> int:
        """The preview's."""
        return self.sizes[renditions.PREVIEW.name][0]

    @property
    def height(self) -> int:
        return self.sizes[renditions.PREVIEW.name][1]


def refused(exc: ImagingError) -> bool:
    """A refusal decided from the header (pixel count, memory budget): no other method may try."""
    return isinstance(exc, Refusal)


def check_pixels(width: int, height: int, limits: Limits) -> None:
    if width * height > limits.max_pixels:
        raise TooManyPixels(width, height, limits.max_pixels)
