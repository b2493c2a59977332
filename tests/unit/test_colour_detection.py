"""Which colour space a source is in (`shared.imaging.colour.detect`) and the profiles we build (`icc`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.imaging import colour, icc
from shared.imaging.colour import Evidence, Space

COLORD = Path("/usr/share/color/icc/colord")


@pytest.mark.parametrize(("name", "space"), [
    ("sRGB", Space.SRGB), ("AdobeRGB1998", Space.ADOBE_RGB), ("ProPhotoRGB", Space.PROPHOTO_RGB),
    ("Rec709", Space.OTHER_RGB),  # sRGB's primaries with another curve: converted, not skipped
    ("WideGamutRGB", Space.OTHER_RGB)])
def test_profiles_are_named_by_their_colorants_and_curve(name, space):
    found = colour.detect((COLORD / f"{name}.icc").read_bytes())
    assert (found.space, found.evidence) == (space, Evidence.ICC)
    assert found.needs_conversion == (space is not Space.SRGB)


def test_the_builtin_adobe_rgb_profile_reads_back_as_adobe_rgb():
    parsed = icc.Profile.parse(icc.adobe_rgb())
    assert colour.name(parsed) is Space.ADOBE_RGB and len(icc.adobe_rgb()) < 1024
    assert colour.name(icc.Profile.parse(icc.grey_profile("g", 2.2))) is Space.GREY


@pytest.mark.parametrize(("exif_space", "interop", "space"), [
    (65535, "R03", Space.ADOBE_RGB), (2, None, Space.ADOBE_RGB), (1, "R98", Space.SRGB),
    (65535, "R98", Space.SRGB), (None, None, Space.SRGB)])
def test_without_a_profile_exif_decides(exif_space, interop, space):
    found = colour.detect(None, exif_space, interop)
    assert found.space is space
    assert found.evidence is (Evidence.EXIF if space is Space.ADOBE_RGB else Evidence.ASSUMED)


def test_a_profile_beats_exif_and_garbage_is_ignored():
    p3 = colour.detect(colour.p3_profile(), 65535, "R03")
    assert (p3.space, p3.evidence) == (Space.DISPLAY_P3, Evidence.ICC)
    assert colour.detect(b"not a profile" * 20, 65535, "R03").space is Space.ADOBE_RGB
    assert colour.detect(None, bands=1).space is Space.GREY
    assert colour.detect(None, interpretation="cmyk").space is Space.CMYK


def test_wide_sources_get_display_p3_only_when_asked():
    adobe, srgb = colour.detect(icc.adobe_rgb()), colour.detect(None)
    assert adobe.wide and not srgb.wide
    assert colour.output_gamut(adobe, colour.Gamut.DISPLAY_P3) is colour.Gamut.DISPLAY_P3
    assert colour.output_gamut(adobe, colour.Gamut.SRGB) is colour.Gamut.SRGB
    assert colour.output_gamut(srgb, colour.Gamut.DISPLAY_P3) is colour.Gamut.SRGB
    assert not colour.detect((COLORD / "Rec709.icc").read_bytes()).wide
