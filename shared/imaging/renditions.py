"""The renditions every photo gets, as data: one `Spec` each, listed in `SPECS`.

The first spec is the preview: a render decodes the original once, to fit the
preview's box, and cuts every other rendition from that preview (a crop: the
centre at the box's aspect ratio, scaled to exactly the box; a fit: shrunk to
fit the box, never enlarged). So no other box may be larger than the preview's.

A new size is one entry here. Then the preview worker renders it, the
storage key comes from its name (`shared.keys.rendition_key`), and the
`renditions` column of the proxy (and later the Image) records it. The API
lists it (`renditions` in a proxy's or Image's view, served at
`.../renditions/{name}`), finalize keeps it beside the original, and every
clean-up path removes it. The preview and the thumbnail keep their own
fields, URLs and events on the wire. Operators may resize those two
(`PROPHOTO_PREVIEW_MAX_DIMENSION`, `PROPHOTO_THUMBNAIL_*`; `configured`).
No libvips here: the API and the settings read it too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

NAME = re.compile(r"[a-z][a-z0-9-]{0,30}")
#: what a rendition's format is written as (only JPEG today), and its media type
MEDIA_TYPES = {"jpeg": "image/jpeg"}


@dataclass(frozen=True)
class Spec:
    """One rendition: its name (in keys, the database and the API), its box, whether it is
    cropped to fill the box (else fitted inside it), and its encoding."""

    name: str
    width: int
    height: int
    crop: bool = False
    quality: int = 85
    format: str = "jpeg"

    @property
    def long_edge(self) -> int:
        return max(self.width, self.height)

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.format]

    def size_for(self, width: int, height: int) -> tuple[int, int]:
        """The size this rendition has when cut from a `width` x `height` preview."""
        if self.crop:
            return self.width, self.height
        scale = min(1.0, self.width / max(width, 1), self.height / max(height, 1))
        return max(1, round(width * scale)), max(1, round(height * scale))


PREVIEW = Spec("preview", 2048, 2048, crop=False, quality=85)
THUMBNAIL = Spec("thumbnail", 400, 400, crop=True, quality=80)
#: every rendition, the preview first (read at call time: a test may list one more)
SPECS: tuple[Spec, ...] = (PREVIEW, THUMBNAIL)


def check(specs: tuple[Spec, ...]) -> tuple[Spec, ...]:
    """`specs` if they can be rendered: the preview first, a thumbnail, names unique and plain,
    formats known, every box inside the preview's; else ValueError."""
    names = [s.name for s in specs]
    if not specs or names[0] != PREVIEW.name or THUMBNAIL.name not in names:
        raise ValueError("the renditions start with the preview and include the thumbnail")
    if len(set(names)) != len(names) or not all(NAME.fullmatch(n) for n in names):
        raise ValueError(f"rendition names must be unique, lower-case words: {names}")
    first = specs[0]
    for s in specs:
        if s.format not in MEDIA_TYPES or not 1 <= s.quality <= 100 or min(s.width, s.height) < 1:
            raise ValueError(f"rendition {s.name}: unknown format or quality or size out of range")
        if s is not first and (s.width > first.width or s.height > first.height):
            raise ValueError(f"rendition {s.name} is larger than the preview it is cut from")
    return specs


def configured(settings: Any = None) -> tuple[Spec, ...]:
    """`SPECS` with the operator's sizes and qualities of the preview and thumbnail, where set."""
    specs = SPECS
    if settings is not None:
        edge = settings.preview_max_dimension
        specs = replaced(specs, PREVIEW.name, width=edge, height=edge, quality=settings.preview_quality)
        specs = replaced(specs, THUMBNAIL.name, width=settings.thumbnail_width,
                         height=settings.thumbnail_height, quality=settings.thumbnail_quality)
    return check(specs)


def replaced(specs: tuple[Spec, ...], name: str, **changes: Any) -> tuple[Spec, ...]:
    """`specs` with the named one changed; a change given as None keeps the spec's own value."""
    given = {k: v for k, v in changes.items() if v is not None}
    return tuple(replace(s, **given) if s.name == name else s for s in specs)


def with_preview_edge(edge: int) -> tuple[Spec, ...]:
    """`SPECS` with a smaller (or larger) preview box; the others shrink to fit in it."""
    return tuple(replace(s, width=edge, height=edge) if s.name == PREVIEW.name
                 else replace(s, width=min(s.width, edge), height=min(s.height, edge)) for s in SPECS)


def named(specs: tuple[Spec, ...], name: str) -> Spec:
    for s in specs:
        if s.name == name:
            return s
    raise KeyError(name)
