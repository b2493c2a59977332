"""The JPEG fast path (scaled decode): quality held against a full decode, and its fallbacks.

Quality: every corpus JPEG the fast path takes is compared, before JPEG
encoding, with a reference made the long way: a full-size libvips decode,
EXIF orientation, the embedded ICC profile (or Adobe RGB, when EXIF says
InteropIndex R03) to sRGB, then Lanczos3 to the same size. Metric: mean SSIM on BT.601 luma with a 7x7 window (tests/fixtures/ssim.py).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import pyvips
from PIL import Image

from shared import imaging
from shared.imaging import jpeg_header, scaled
from shared.imaging.vips import oriented, shrink_upright
from tests.fixtures.ssim import luma, ssim

pytestmark = pytest.mark.integration
LIMITS = imaging.Limits()
ADOBE_RGB = "/usr/share/color/icc/colord/AdobeRGB1998.icc"


def array(image: pyvips.Image) -> np.ndarray:
    if image.bands == 1:
        image = image.bandjoin([image, image])
    data = image.extract_band(0, n=3).cast("uchar").write_to_memory()
    return np.ndarray(buffer=data, dtype=np.uint8, shape=(image.height, image.width, 3))


def reference(path: Path, width: int, height: int) -> pyvips.Image:
    image = pyvips.Image.new_from_file(str(path)).autorot()
    fields = image.get_fields()
    if "icc-profile-data" not in fields and "exif-ifd4-InteroperabilityIndex" in fields and str(
            image.get("exif-ifd4-InteroperabilityIndex")).startswith("R03"):
        # Adobe RGB said the DCF way (the corpus's Olympus PEN E-P3): the colord-data profile
        image = image.icc_transform("srgb", input_profile=ADOBE_RGB, intent="relative")
    elif "icc-profile-data" in fields:
        try:
            image = image.icc_transform("srgb", embedded=True, intent="relative")
        except pyvips.Error:
            pass
    return image.resize(width / image.width, vscale=height / image.height, kernel="lanczos3")


def corpus_jpegs(corpus: Path) -> list[Path]:
    return sorted(p for p in corpus.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))


def test_fast_path_previews_of_the_corpus_jpegs_match_a_full_decode(corpus: Path):
    imaging.configure_vips()
    scores: dict[str, float] = {}
    skipped: dict[str, str] = {}
    for path in corpus_jpegs(corpus):
        try:
            fast, _ = scaled.scaled_preview(path, LIMITS)
        except scaled.Unsuitable as exc:
            skipped[path.name] = exc.reason
            continue
        assert max(fast.width, fast.height) <= LIMITS.preview_max
        ref = reference(path, fast.width, fast.height)
        scores[path.name] = ssim(luma(array(fast)), luma(array(ref)))
    # the one skipped "JPEG" is a HEIF file with a .jpg name (the libvips path renders it)
    assert set(skipped) <= {"heic_hdlr_box.jpg"}, skipped
    assert len(scores) >= 80
    worst = min(scores, key=scores.__getitem__)
    mean = sum(scores.values()) / len(scores)
    assert mean >= 0.98, f"mean SSIM {mean:.4f}"
    assert scores[worst] >= 0.96, f"{worst}: SSIM {scores[worst]:.4f}"


def test_a_large_jpeg_is_decoded_at_an_m_over_8_scale_and_resized_to_exactly_2048(tmp_path: Path):
    path = tmp_path / "wide.jpg"
    y, x = np.mgrid[0:2000, 0:3000]
    pixels = np.stack([x % 256, y % 256, (x + y) % 256], -1).astype(np.uint8)
    Image.fromarray(pixels).save(path, quality=90)
    frame = jpeg_header.read(path.read_bytes())
    assert (frame.kind, frame.precision, frame.width, frame.height) == ("baseline", 8, 3000, 2000)
    rendered = imaging.render_standard(path, LIMITS)
    assert rendered.method == scaled.METHOD
    assert (rendered.width, rendered.height) == (2048, 1365)
    assert [(a.method, a.success) for a in rendered.attempts] == [
        (scaled.METHOD, True), ("from-preview", True)]
    with Image.open(io.BytesIO(rendered.thumbnail)) as thumb:
        assert thumb.size == (400, 400)


def test_an_embedded_display_p3_profile_is_converted_to_srgb(tmp_path: Path):
    imaging.configure_vips()
    srgb = pyvips.Image.black(256, 256).new_from_image([200, 40, 40]).cast("uchar").copy(interpretation="srgb")
    p3 = srgb.icc_transform("p3", input_profile="srgb", intent="relative")
    path = tmp_path / "p3.jpg"
    p3.jpegsave(str(path), Q=95)  # keeps the profile
    raw = array(pyvips.Image.new_from_file(str(path)))[128, 128].astype(int)
    rendered = imaging.render_standard(path, LIMITS)
    assert rendered.method == scaled.METHOD
    out = np.asarray(Image.open(io.BytesIO(rendered.preview)).convert("RGB"))[128, 128].astype(int)
    assert np.abs(out - [200, 40, 40]).max() <= 4, out
    assert np.abs(raw - [200, 40, 40]).max() > 10, raw  # the check can fail: P3 numbers differ


def test_a_grey_and_a_progressive_jpeg_take_the_fast_path(tmp_path: Path):
    y, x = np.mgrid[0:300, 0:400]
    Image.fromarray((x % 256).astype(np.uint8)).save(tmp_path / "grey.jpg", quality=90)
    Image.fromarray(np.stack([x % 256, y % 256, x * 0 + 90], -1).astype(np.uint8)).save(
        tmp_path / "progressive.jpg", quality=90, progressive=True)
    assert jpeg_header.read((tmp_path / "progressive.jpg").read_bytes()).kind == "progressive"
    for name in ("grey.jpg", "progressive.jpg"):
        rendered = imaging.render_standard(tmp_path / name, LIMITS)
        assert rendered.method == scaled.METHOD, name
        assert (rendered.width, rendered.height) == (400, 300)


def _fallback(path: Path) -> tuple[imaging.Rendered | None, list[imaging.Attempt]]:
    try:
        rendered = imaging.render_standard(path, LIMITS)
    except imaging.ImagingError as exc:
        return None, exc.attempts  # type: ignore[attr-defined]
    return rendered, rendered.attempts


def test_a_cmyk_jpeg_falls_back_to_libvips(tmp_path: Path):
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (300, 200), (0, 128, 255, 0)).save(path, quality=90)
    rendered, attempts = _fallback(path)
    assert rendered is not None and rendered.method == "source:pyvips"
    assert (attempts[0].method, attempts[0].success, attempts[0].reason) == (
        scaled.METHOD, False, "CMYK JPEG")


def test_12_bit_and_lossless_jpegs_are_left_to_the_other_decoders(tmp_path: Path):
    imagecodecs = pytest.importorskip("imagecodecs", reason="imagecodecs writes the 12-bit and lossless files")
    y, x = np.mgrid[0:200, 0:300]
    base = np.stack([x * 255 / 300, y * 255 / 200, x * 0 + 90.0], -1)
    (tmp_path / "twelve.jpg").write_bytes(imagecodecs.jpeg8_encode((base * 16).astype(np.uint16),
                                                                   bitspersample=12))
    (tmp_path / "lossless.jpg").write_bytes(imagecodecs.jpeg8_encode(base.astype(np.uint8), lossless=True))
    for name, reason in (("twelve.jpg", "12-bit JPEG"), ("lossless.jpg", "lossless JPEG")):
        rendered, attempts = _fallback(tmp_path / name)
        assert (attempts[0].method, attempts[0].success, attempts[0].reason) == (
            scaled.METHOD, False, reason), name
        assert rendered is None or rendered.method != scaled.METHOD
        assert attempts[1].method == "source:pyvips"  # libvips had its turn


def test_an_arithmetic_coded_frame_is_recognised_from_its_header():
    def header(sof: int) -> bytes:
        components = b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"  # 4:2:0
        return (b"\xff\xd8\xff\xe0\x00\x04\x00\x00" + bytes([0xFF, sof]) + b"\x00\x11\x08\x00\x10\x00\x20\x03"
                + components)

    assert jpeg_header.read(header(0xC9)).kind == "arithmetic-coded"
    assert jpeg_header.read(header(0xCA)).kind == "arithmetic-coded"
    assert jpeg_header.read(header(0xCA)).progressive
    assert jpeg_header.read(header(0xC2)).kind == "progressive"
    assert jpeg_header.read(header(0xC2)).subsampling == "4:2:0"
    with pytest.raises(jpeg_header.HeaderError):
        jpeg_header.read(b"\xff\xd8\xff\xda\x00\x02")
    with pytest.raises(scaled.Unsuitable):
        scaled.read_header(b"\xff\xd8\xff\xda\x00\x02")


def test_data_the_binding_refuses_falls_back_to_libvips_which_renders_it(tmp_path: Path):
    buf = io.BytesIO()
    y, x = np.mgrid[0:200, 0:300]
    base = np.stack([x * 255 / 300, y * 255 / 200, (x + y) * 127 / 500 + 64], -1)
    Image.fromarray(base.astype(np.uint8)).save(buf, "JPEG", quality=90)
    good = buf.getvalue()
    path = tmp_path / "extraneous.jpg"
    path.write_bytes(good[:-2] + b"\x00\x01\x02" + good[-2:])  # junk before EOI: a libjpeg warning
    rendered, attempts = _fallback(path)
    assert rendered is not None and rendered.method == "source:pyvips"
    assert attempts[0].method == scaled.METHOD and not attempts[0].success
    assert "libjpeg-turbo refused the data" in (attempts[0].reason or "")


def test_too_many_pixels_is_refused_from_the_header_without_a_fallback(tmp_path: Path):
    path = tmp_path / "big.jpg"
    Image.new("RGB", (1000, 1000), (10, 20, 30)).save(path)
    with pytest.raises(imaging.ImagingError, match="too many pixels"):
        imaging.render_standard(path, imaging.Limits(max_pixels=500_000))


def test_the_vertical_pass_shrink_matches_resize_then_autorot_for_every_orientation():
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:300, 0:450]
    smooth = np.stack([x * 255 / 450, y * 255 / 300, (x + y) * 127 / 750 + 64], -1)
    pixels = np.clip(smooth + rng.normal(0, 8, smooth.shape), 0, 255).astype(np.uint8)
    image = pyvips.Image.new_from_memory(pixels.tobytes(), 450, 300, 3, "uchar")
    for orientation in range(1, 9):
        want = oriented(image.resize(200 / 450, vscale=133 / 300, kernel="lanczos3"), orientation)
        got = shrink_upright(image, 200, 133, orientation)
        assert (got.width, got.height) == (want.width, want.height), orientation
        assert (got - want).abs().max() <= 2, orientation  # fixed-point rounding of the two reducers
    for size, target in (((2250, 1500), (2048, 1365)), ((2054, 1369), (2048, 1365)), ((1365, 1365), (400, 400)),
                         ((2048, 1365), (2048, 1365)), ((3, 3), (400, 400)), ((4000, 10), (400, 1))):
        shrunk = shrink_upright(pyvips.Image.black(*size, bands=3), *target)
        assert (shrunk.width, shrunk.height) == target, size
