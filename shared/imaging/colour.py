"""The colour space an image was made in, and its conversion to what previews hold.

`detect(icc, exif_colour_space, interop_index, bands, interpretation)` says
what the source is: its embedded ICC profile first; else EXIF ColorSpace 2,
or uncalibrated (65535) with InteropIndex `R03`, means Adobe RGB (the DCF way
cameras signal it without a profile); else sRGB (grey for one band, the
built-in CMYK profile for CMYK). Profiles are named by their colorants and
tone curve (`shared.imaging.icc`), not by their description, so an sRGB
profile is recognised whoever wrote it and needs no conversion.

`convert(image, source, gamut)` turns decoded (already shrunk) pixels into
the output: 8-bit sRGB, or Display P3 when the gamut setting is P3 and the
source holds colours outside sRGB (`Colour.wide`). LittleCMS does it
(libvips `icc_transform`, relative colorimetric, as browsers convert).
sRGB sources and untagged files are returned as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any

import pyvips

from shared.imaging import icc
from shared.imaging.model import ColourNote


class Gamut(StrEnum):
    """What previews may hold (setting `PROPHOTO_PREVIEW_GAMUT`)."""

    SRGB = "srgb"
    DISPLAY_P3 = "display-p3"


class Space(StrEnum):
    """A source's colour space, as the API names it."""

    SRGB = "srgb"
    DISPLAY_P3 = "display-p3"
    ADOBE_RGB = "adobe-rgb"
    PROPHOTO_RGB = "prophoto-rgb"
    REC2020 = "rec2020"
    OTHER_RGB = "rgb"
    CMYK = "cmyk"
    GREY = "grey"
    LAB = "lab"
    UNKNOWN = "unknown"


class Evidence(StrEnum):
    ICC = "icc"  # an embedded profile
    EXIF = "exif"  # EXIF ColorSpace / InteropIndex
    ASSUMED = "assumed"  # nothing said: sRGB (or the default CMYK profile)


#: libvips' built-in profiles: what each gamut's output is converted to (and tagged with)
BUILTIN = {Gamut.SRGB: "srgb", Gamut.DISPLAY_P3: "p3"}
INTENT = "relative"

_KNOWN = {
    Space.SRGB: icc.d50_colorants(((0.64, 0.33), (0.30, 0.60), (0.15, 0.06))),
    Space.DISPLAY_P3: icc.d50_colorants(((0.680, 0.320), (0.265, 0.690), (0.150, 0.060))),
    Space.ADOBE_RGB: icc.d50_colorants(((0.64, 0.33), (0.21, 0.71), (0.15, 0.06))),
    Space.PROPHOTO_RGB: icc.d50_colorants(((0.7347, 0.2653), (0.1596, 0.8404), (0.0366, 0.0001)),
                                          (0.3457, 0.3585)),
    Space.REC2020: icc.d50_colorants(((0.708, 0.292), (0.170, 0.797), (0.131, 0.046))),
}
_SRGB_CURVE = tuple(icc.parametric(3, list(icc.SRGB_CURVE), x) for x in icc.SAMPLES)


@dataclass(frozen=True)
class Colour:
    """What an image's pixels mean, and the profile to convert them from (None: sRGB as they are)."""

    space: Space
    evidence: Evidence
    profile: bytes | None = None
    description: str | None = None

    @property
    def needs_conversion(self) -> bool:
        return self.profile is not None

    @property
    def wide(self) -> bool:
        """The source holds colours sRGB cannot show (so Display P3 output is worth it)."""
        return self.profile is not None and _wider_than_srgb(self.profile)


SRGB = Colour(Space.SRGB, Evidence.ASSUMED)


def detect(profile: bytes | None, exif_colour_space: int | None = None, interop: str | None = None,
           bands: int = 3, interpretation: str = "srgb") -> Colour:
    """The source's colour space from its profile, else its EXIF, else an assumption."""
    if profile:
        found = _from_profile(bytes(profile))
        if found is not None:
            return found
    if interpretation == "cmyk":
        return Colour(Space.CMYK, Evidence.ASSUMED, None, "libvips' default CMYK profile")
    if bands in (1, 2) or interpretation in ("b-w", "grey16"):
        return Colour(Space.GREY, Evidence.ASSUMED)
    if exif_colour_space == 2 or (exif_colour_space == 65535 and (interop or "").strip() == "R03"):
        return Colour(Space.ADOBE_RGB, Evidence.EXIF, icc.adobe_rgb(), "Adobe RGB (1998), from EXIF")
    return SRGB


def _from_profile(data: bytes) -> Colour | None:
    try:
        parsed = icc.Profile.parse(data)
    except (icc.ProfileError, ValueError, IndexError):
        return None  # unreadable: the pixels are shown as they are
    space = name(parsed)
    if space is Space.SRGB:
        return Colour(space, Evidence.ICC, None, parsed.description)  # nothing to convert
    return Colour(space, Evidence.ICC, data, parsed.description)


def name(profile: icc.Profile) -> Space:
    """A profile named by what it does: its colorants and curve, or its colour space."""
    if profile.colour_space == "CMYK":
        return Space.CMYK
    if profile.colour_space == "GRAY":
        return Space.GREY
    if profile.colour_space == "Lab":
        return Space.LAB
    if profile.colour_space != "RGB":
        return Space.UNKNOWN
    if profile.colorants is None:  # a LUT profile: its description is all there is
        return Space.SRGB if profile.description.startswith("sRGB") else Space.OTHER_RGB
    for space, colorants in _KNOWN.items():
        if all(abs(a - b) < 0.01 for got, want in zip(profile.colorants, colorants, strict=True)
               for a, b in zip(got, want, strict=True)):
            if space is Space.SRGB and not _srgb_curve(profile):
                return Space.OTHER_RGB  # sRGB primaries, another curve (linear, Rec. 709): convert
            return space
    return Space.OTHER_RGB


def _srgb_curve(profile: icc.Profile) -> bool:
    return profile.curve is not None and all(
        abs(a - b) < 0.01 for a, b in zip(profile.curve, _SRGB_CURVE, strict=True))


def output_gamut(source: Colour, gamut: Gamut) -> Gamut:
    """Display P3 only when asked for and the source is wider than sRGB."""
    if gamut is Gamut.DISPLAY_P3 and source.space not in (Space.GREY, Space.SRGB) and source.wide:
        return Gamut.DISPLAY_P3
    return Gamut.SRGB


def convert(image: pyvips.Image, source: Colour, target: Gamut) -> pyvips.Image:
    """`image` (decoded as the source holds it, any depth) in the `target` gamut, 8-bit.

    A profile LittleCMS refuses leaves the pixels as they are: what a viewer
    without colour management would show, rather than no preview.
    """
    if source.profile is None and source.space is not Space.CMYK:
        return image
    tagged = image.copy()
    if source.profile is not None:
        tagged.set_type(pyvips.GValue.blob_type, "icc-profile-data", source.profile)
    try:
        # an untagged CMYK file: libvips' built-in CMYK profile is the best guess there is
        return tagged.icc_transform(BUILTIN[target], embedded=source.profile is not None, intent=INTENT,
                                    depth=8, input_profile="cmyk")
    except pyvips.Error:
        return image


def of_image(image: pyvips.Image) -> Colour:
    """`detect` from what libvips read of a file's header (profile, parsed EXIF, bands)."""
    fields = set(image.get_fields())
    profile = image.get("icc-profile-data") if "icc-profile-data" in fields else None
    space = _exif_value(image, fields, "exif-ifd2-ColorSpace")
    interop = _exif_value(image, fields, "exif-ifd4-InteroperabilityIndex")
    return detect(profile, int(space) if space and space.isdigit() else None, interop, image.bands,
                  image.interpretation)


def _exif_value(image: pyvips.Image, fields: set[str], name: str) -> str | None:
    """The value of a field libvips parsed from EXIF ("65535 (Uncalibrated, Short, ...)")."""
    if name not in fields:
        return None
    text = str(image.get(name))
    return text.split(" ", 1)[0] if text else None


def of_pillow(opened: Any) -> Colour:
    """`detect` from what Pillow read of a file: its profile and EXIF (ColorSpace, InteropIndex)."""
    exif = opened.getexif()
    space = exif.get_ifd(0x8769).get(0xA001)
    interop = exif.get_ifd(0xA005).get(0x0001)
    return detect(opened.info.get("icc_profile"), space if isinstance(space, int) else None,
                  interop if isinstance(interop, str) else None, len(opened.getbands()),
                  "cmyk" if opened.mode == "CMYK" else "srgb")


def note(source: Colour, output: Gamut) -> ColourNote:
    return ColourNote(source.space.value, source.evidence.value, source.description, output.value)


def prepare(image: pyvips.Image, source: Colour, gamut: Gamut | str) -> tuple[pyvips.Image, ColourNote]:
    """`convert` to the output the setting and the source call for, and what was done."""
    target = output_gamut(source, Gamut(gamut))
    return convert(image, source, target), note(source, target)


@lru_cache(maxsize=1)
def p3_profile() -> bytes:
    """libvips' built-in Display P3 profile (736 bytes): what P3 previews carry."""
    probe = pyvips.Image.black(1, 1, bands=3).icc_transform("p3", input_profile="srgb")
    return bytes(probe.get("icc-profile-data"))


_KEEP = {"width", "height", "bands", "format", "coding", "interpretation", "xoffset", "yoffset", "xres",
         "yres", "filename"}


def encode_jpeg(image: pyvips.Image, quality: int, gamut: Gamut | str) -> bytes:
    """JPEG without metadata; a Display P3 image carries the P3 profile and nothing else."""
    if Gamut(gamut) is Gamut.SRGB:
        return bytes(image.jpegsave_buffer(Q=quality, strip=True))
    bare = image.copy()
    for field in image.get_fields():
        if field not in _KEEP:
            bare.remove(field)
    bare.set_type(pyvips.GValue.blob_type, "icc-profile-data", p3_profile())
    return bytes(bare.jpegsave_buffer(Q=quality, strip=False))


@lru_cache(maxsize=64)
def _wider_than_srgb(profile: bytes) -> bool:
    """Whether saturated colours of the profile's space fall outside sRGB (LittleCMS decides:
    each probe colour's Lab against the Lab of its sRGB conversion, clipped)."""
    try:
        parsed = icc.Profile.parse(profile)
    except (icc.ProfileError, ValueError, IndexError):
        return False
    bands = {"RGB": 3, "CMYK": 4}.get(parsed.colour_space)
    if bands is None:
        return False
    probes = _probes(bands)
    image = pyvips.Image.new_from_memory(probes, len(probes) // bands, 1, bands, "uchar")
    image = image.copy(interpretation="cmyk" if bands == 4 else "srgb")
    image.set_type(pyvips.GValue.blob_type, "icc-profile-data", profile)
    try:
        lab = image.icc_import(embedded=True, intent=INTENT)
        srgb = image.icc_transform("srgb", embedded=True, intent=INTENT, depth=16)
        back = srgb.icc_import(input_profile="srgb", intent=INTENT)
        distance = float(lab.dE76(back).max())
    except pyvips.Error:
        return False
    return distance > 3.0


def _probes(bands: int) -> bytes:
    """The primaries and secondaries at full and three-quarter strength."""
    out = bytearray()
    for level in (255, 192):
        for mask in (1, 2, 4, 3, 5, 6):
            out += bytes(level if mask & (1 << i) else 0 for i in range(3))
            if bands == 4:
                out.append(0)
    return bytes(out)
