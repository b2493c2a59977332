"""XMP sidecars (`IMG_1234.xmp` beside `IMG_1234.CR3`): checked before anything reads them.

A sidecar is XML that a person's editor wrote; we take it only when it is
small, well-formed, has no DTD (so no entity expansion or external entity can
be smuggled in) and holds an `rdf:RDF` packet. ExifTool then reads it like
any file (`shared.exif.normalize` gives its fields precedence).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from shared.errors import Invalid, TooLarge

MAX_SIDECAR_BYTES = 2 * 1024 * 1024
_RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}RDF"
_DTD = re.compile(rb"<!(DOCTYPE|ENTITY)", re.IGNORECASE)
_XMP_HEAD = re.compile(rb"^\s*(<\?xpacket|<\?xml|<x:xmpmeta|<rdf:RDF)")


class SidecarInvalid(Invalid):
    """The bytes are not an XMP sidecar we can read; the original is untouched."""

    title = "Malformed XMP sidecar"


def looks_like_xmp(head: bytes) -> bool:
    """Whether the first bytes start an XMP packet (for refusing one sent as a photo)."""
    return bool(_XMP_HEAD.match(head.lstrip(b"\xef\xbb\xbf")[:256]))


def check_sidecar(data: bytes) -> None:
    """Raise `SidecarInvalid` (or `TooLarge`) unless `data` is a readable XMP packet."""
    if len(data) > MAX_SIDECAR_BYTES:
        raise TooLarge(f"an XMP sidecar may be {MAX_SIDECAR_BYTES} bytes; this one is {len(data)}",
                       limit=MAX_SIDECAR_BYTES)
    if not data.strip():
        raise SidecarInvalid("the sidecar is empty")
    if _DTD.search(data):
        raise SidecarInvalid("a DTD or entity declaration is not allowed in an XMP sidecar")
    try:
        root = ET.fromstring(data)  # noqa: S314 - no DTD (checked above), bounded size
    except ET.ParseError as exc:
        raise SidecarInvalid(f"not well-formed XML: {exc}") from None
    if root.tag != _RDF and root.find(f".//{_RDF}") is None:
        raise SidecarInvalid("no rdf:RDF packet: this is XML, but not XMP")


def base_name(name: str) -> str:
    """What pairs a sidecar with its original: the file name without its last extension, lower-cased."""
    stem = name.replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, _ = stem.rpartition(".")
    return (stem if dot else name).strip().lower()
