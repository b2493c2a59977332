"""What an ExifTool read asks for: read modes, the numeric tags, the MWG reconciliation.

ExifTool prints every tag converted for people ("Rotate 90 CW", "1/200",
"Canon EF 24-105mm f/4L IS II USM") unless told otherwise. A global `-n`
turned every tag numeric, which made lens names into LensType ids; instead
the tags that code computes with are asked for one by one with `TAG#`
(numeric), before `-all`: ExifTool keeps the first request of a name, so
those come out as numbers and everything else stays print-converted.

`-use MWG` loads ExifTool's Metadata Working Group composites, which
reconcile EXIF, IPTC and XMP under the plain names (Description, Creator,
Copyright, Keywords, City, State, Country, Location, DateTimeOriginal,
CreateDate, Rating): EXIF first for the strings it has, IPTC only when the
IPTC digest says it was changed after the XMP, XMP otherwise.
"""

from __future__ import annotations

from enum import StrEnum


class ReadMode(StrEnum):
    """How far ExifTool reads a file (per step, by setting)."""

    #: every tag, also those after the image data (trailers, MakerNotes previews)
    FULL = "full"
    #: `-fast`: stops before the image data of JPEGs; trailers (MPF gain maps) are not read
    FAST = "fast"
    #: `-fast2`: `-fast`, and MakerNotes are not decoded either
    FAST2 = "fast2"


#: tags whose value code computes with: asked for as numbers (`TAG#`)
NUMERIC_TAGS = (
    "Orientation", "GPSLatitude", "GPSLongitude", "GPSAltitude", "ExposureTime", "FNumber",
    "FocalLength", "FocalLengthIn35mmFormat", "ISO", "Rating", "RatingPercent", "ImageWidth",
    "ImageHeight", "ExifImageWidth", "ExifImageHeight", "ThumbnailOffset", "ThumbnailLength",
    "PreviewImageLength", "JpgFromRawLength", "OtherImageLength", "BitDepthLuma",
)

_MODE_FLAGS = {ReadMode.FULL: (), ReadMode.FAST: ("-fast",), ReadMode.FAST2: ("-fast2",)}


def read_args(mode: ReadMode) -> list[str]:
    """The arguments of one metadata read (the path follows them)."""
    return ["-j", "-struct", "-use", "MWG", *_MODE_FLAGS[ReadMode(mode)],
            *(f"-{tag}#" for tag in NUMERIC_TAGS), "-all"]
