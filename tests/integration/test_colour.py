"""Colour management on every decode path, measured: CIEDE2000 against LittleCMS references.

The set (`tests/fixtures/colour_set.py`) is made from a corpus photo at test
time. Each file is rendered as the preview worker renders it, in both gamut
settings, and its preview compared with the reference conversion of the whole
file resized to the same size: mean CIEDE2000 under 1.0, 95th percentile under
2.5. In the P3 setting, sources wider than sRGB must come out tagged Display
P3 (and are compared with the P3 reference); the rest untagged sRGB.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from shared import imaging
from shared.imaging import colour, renditions
from shared.imaging.enhance import render_enhanced
from tests.conftest import CORPUS
from tests.fixtures import colour_set

pytestmark = pytest.mark.integration
MEAN, P95 = 1.0, 2.5
EDGE = 320  # the set is 480x360: every path shrinks it


@pytest.fixture(scope="module")
def colour_cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, colour_set.Case]:
    imaging.configure_vips()
    return colour_set.make(CORPUS, tmp_path_factory.mktemp("colour-set"))


def _expected(case: colour_set.Case, gamut: str) -> str:
    return "p3" if gamut == "display-p3" and case.wide else "srgb"


@pytest.mark.parametrize("gamut", ["srgb", "display-p3"])
def test_every_format_and_colour_space_is_converted_within_the_bounds(colour_cases, gamut):
    limits = imaging.Limits(renditions.with_preview_edge(EDGE), gamut=gamut)
    misses, scores = [], {}
    for name, case in colour_cases.items():
        rendered = imaging.render_standard(case.path, limits)
        out = _expected(case, gamut)
        assert rendered.colour is not None and rendered.colour.source == case.space, (name, rendered.colour)
        assert rendered.colour.output == ("display-p3" if out == "p3" else "srgb"), (name, rendered.colour)
        for jpeg in (rendered.preview, rendered.thumbnail):
            assert colour_set.tagged_p3(jpeg) == (out == "p3"), name
        ref = colour_set.reference(case, (rendered.width, rendered.height), out)
        mean, p95 = colour_set.score(rendered.preview, out, ref)
        scores[name] = (round(mean, 2), round(p95, 2), rendered.method)
        if mean >= MEAN or p95 >= P95:
            misses.append(name)
    assert len(scores) >= 18
    assert not misses, {name: scores[name] for name in misses}


def test_the_bound_can_fail_without_colour_management(colour_cases):
    """The check has teeth: the same pixels read as sRGB (no conversion) miss it."""
    for name in ("p3.png", "adobe-exif.jpg", "prophoto16.tiff"):
        case = colour_cases[name]
        rendered = imaging.render_standard(case.path, imaging.Limits(renditions.with_preview_edge(EDGE)))
        untagged = colour_set.reference(
            colour_set.Case(name, case.path, "srgb", "srgb", False), (rendered.width, rendered.height), "srgb")
        mean, _ = colour_set.score(rendered.preview, "srgb", untagged)
        assert mean > 2.0, (name, mean)


@pytest.mark.parametrize("gamut", ["srgb", "display-p3"])
def test_an_embedded_raw_preview_takes_the_raws_exif_colour_space(colour_cases, gamut):
    case = colour_cases["adobe-exif.jpg"]
    import pyvips

    bare = pyvips.Image.new_from_file(str(case.path)).jpegsave_buffer(Q=95, strip=True)  # no EXIF, no ICC
    embedded = imaging.probe_embedded("PreviewImage", bytes(bare))
    assert embedded is not None
    limits = imaging.Limits(renditions.with_preview_edge(EDGE), gamut=gamut)
    adobe = colour.detect(None, 65535, "R03")
    rendered = imaging.render_embedded(embedded, None, limits, raw_colour=adobe)
    out = _expected(case, gamut)
    assert rendered.colour is not None and rendered.colour.source == "adobe-rgb"
    mean, p95 = colour_set.score(rendered.preview, out,
                                 colour_set.reference(case, (rendered.width, rendered.height), out))
    assert mean < MEAN and p95 < P95, (mean, p95)


@pytest.mark.parametrize("name", ["p3.png", "prophoto16.tiff", "cmyk.jpg", "adobe-exif.jpg"])
def test_enhanced_previews_are_colour_managed(colour_cases, name):
    case = colour_cases[name]
    for gamut in ("srgb", "display-p3"):
        result, _ = render_enhanced(case.path, 320, True, imaging.Limits(gamut=gamut))
        out = _expected(case, gamut)
        assert colour_set.tagged_p3(result.jpeg) == (out == "p3")
        mean, p95 = colour_set.score(result.jpeg, out,
                                     colour_set.reference(case, (result.width, result.height), out))
        assert mean < MEAN and p95 < P95, (gamut, mean, p95)


def test_the_degraded_thumbnail_takes_the_originals_colour_space(colour_cases, tmp_path: Path):
    case = colour_cases["adobe-exif.jpg"]
    import pyvips

    small = pyvips.Image.new_from_file(str(case.path)).jpegsave_buffer(Q=95, strip=True)
    # the whole picture: no crop to follow
    limits = imaging.Limits(renditions.replaced(renditions.SPECS, "thumbnail", width=480, height=360))
    thumb = imaging.thumbnail_from_jpeg(bytes(small), limits, case.path)
    mean, p95 = colour_set.score(thumb, "srgb", colour_set.reference(case, (480, 360), "srgb"))
    assert mean < MEAN and p95 < P95, (mean, p95)
    plain = imaging.thumbnail_from_jpeg(bytes(small), limits)  # nothing says Adobe RGB: taken as sRGB
    assert colour_set.score(plain, "srgb", colour_set.reference(case, (480, 360), "srgb"))[0] > 2.0


def test_jpeg_xl_decodes_are_estimated_and_held_to_the_budget(colour_cases):
    from shared.imaging import budget

    path = colour_cases["p3-lossless.jxl"].path
    estimate = budget.estimate(path)
    assert estimate.detail.startswith("JPEG XL 480x360") and estimate.nbytes >= 480 * 360 * 3 * 4
    with pytest.raises(imaging.ImagingError, match=r"needs ~\d+ MB, the budget is 1 MB \(JPEG XL 480x360"):
        imaging.render_standard(path, imaging.Limits(memory_budget=1024 * 1024))


def test_libraw_decodes_in_display_p3_agree_with_its_srgb_decodes():
    """LibRaw converts from the camera itself: its P3 output, read through the P3 profile, is its sRGB
    output where sRGB can show it (the RAW holds few colours outside sRGB)."""
    import pyvips

    path = CORPUS / "raw/Nikon_uncompressed.nef"
    srgb = imaging.render_libraw(path, imaging.Limits(renditions.with_preview_edge(EDGE)))
    p3 = imaging.render_libraw(path, imaging.Limits(renditions.with_preview_edge(EDGE), gamut="display-p3"))
    assert p3.colour is not None and p3.colour.output == "display-p3" and colour_set.tagged_p3(p3.preview)
    assert srgb.colour is not None and srgb.colour.output == "srgb" and not colour_set.tagged_p3(srgb.preview)
    as_srgb = pyvips.Image.new_from_buffer(p3.preview, "").icc_transform("srgb", embedded=True,
                                                                           intent="relative")
    mean, _ = colour_set.score(srgb.preview, "srgb", as_srgb)
    assert mean < 1.5, mean


@pytest.mark.parametrize("transfer", ["pq", "hlg"])
def test_a_pq_or_hlg_avif_gets_an_sdr_rendition_that_looks_like_the_photo(transfer, tmp_path: Path):
    """Made from an SDR photo with its white at the HDR reference white: the SDR rendition must come
    back to the photo (what is above the tone curve's knee is rolled off a little); read as coded,
    the same file is the flat, washed-out picture a non-HDR decoder shows."""
    import pyvips

    path, original = colour_set.hdr_avif(CORPUS, tmp_path, transfer)
    limits = imaging.Limits(renditions.with_preview_edge(480))  # the original's size: nothing resized
    rendered = imaging.render_standard(path, limits)
    assert rendered.hdr == imaging.Hdr(transfer) and rendered.colour is not None
    assert (rendered.colour.source, rendered.colour.evidence, rendered.colour.output) == ("rec2020", "cicp", "srgb")
    mean, p95 = colour_set.score(rendered.preview, "srgb", original)
    assert mean < 1.5 and p95 < 3.5, (mean, p95)
    coded = pyvips.Image.new_from_file(str(path))
    flat = (coded.extract_band(0, n=3) / 257).cast("uchar").copy(interpretation="srgb").jpegsave_buffer(Q=95)
    assert colour_set.score(bytes(flat), "srgb", original)[0] > 10
