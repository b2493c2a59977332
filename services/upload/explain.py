"""A failure's technical reason in words a photographer understands, and whether trying
again can help.

The reasons are stored as text by the workers (`preview_error`, `metadata_error`); this
is the one place that reads them, to put a plain sentence in front. The technical reason
is always kept beside it (the page shows it on hover, the trace keeps it whole).
"""

from __future__ import annotations

import re

from pydantic import BaseModel


class Explained(BaseModel):
    """What the page and the CLI show for a failure."""

    message: str
    technical: str
    retryable: bool


#: (what the reason says, the plain sentence, whether a retry can help); the first match wins
RULES: tuple[tuple[re.Pattern[str], str, bool], ...] = tuple((re.compile(p, re.I), m, r) for p, m, r in (
    (r"truncat|premature end|ends? early|end of (file|data|stream)|out of data|input/output error"
     r"|ioerror|short read|unexpected end|corrupt|damaged|invalid (jpeg|huffman|data)|bad (huffman|data)"
     r"|decod\w* error|missing .*(scan|frame)",
     "This file is damaged: the image data ends early or cannot be read.", False),
    (r"no usable embedded preview|libraw|no (embedded )?(preview|image) (found|data)|without a preview",
     "This RAW file carries no picture we can show: no usable preview inside, and its raw data "
     "cannot be read.", False),
    (r"not a (known|supported)|unsupported|no renderer could read|not a jpeg|no readable image header"
     r"|cannot identify|unknown (file )?format|is not an image",
     "This file is not a photo we can read.", False),
    (r"budget|too (large|many pixels)|pixel limit|dimensions",
     "This photo is too large to preview.", False),
    (r"timed? ?out|deadline",
     "Making the preview took too long; trying again may work.", True),
    (r"crash|killed|signal|died|exited",
     "The preview maker stopped unexpectedly; trying again may work.", True),
    (r"missing|is gone|not in the store|no such (file|object|key)",
     "The uploaded file is no longer stored: upload it again.", False),
    (r"connect|unreachable|refused|broker|database|temporar|unavailable|busy",
     "The service was busy or unreachable; trying again may work.", True),
))
FALLBACK = "Something went wrong making the preview; trying again may work."


def explain(reason: str | None) -> Explained | None:
    """The plain sentence for a stored failure reason (None when there is no failure)."""
    if not reason:
        return None
    for pattern, message, retryable in RULES:
        if pattern.search(reason):
            return Explained(message=message, technical=reason, retryable=retryable)
    return Explained(message=FALLBACK, technical=reason, retryable=True)
