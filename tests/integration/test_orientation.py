"""Previews come out upright: pixel content against a reference, not only the dimensions.

The corpus's Landscape_N / Portrait_N sets are one picture stored eight ways,
each with the EXIF orientation that makes it upright, so after orientation
every member must show the same pixels as member 1. A mirrored orientation
(2, 4, 5, 7) gives the same dimensions as its unmirrored twin; only the
pixels tell them apart. The iPhone HEIC carries its rotation twice (the HEIF
`irot` box and EXIF orientation 6): turned once it is portrait, turned twice
it would be landscape again; Pillow with pillow-heif is the independent
reference for its pixels.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shared import imaging

pytestmark = pytest.mark.integration
LIMITS = imaging.Limits()
#: pillow-heif applies the HEIF transforms (irot/imir) as the format says, and nothing else
REFERENCE = """
import io, sys
import pillow_heif
from PIL import Image
pillow_heif.register_heif_opener()
with Image.open(sys.argv[1]) as im:
    out = io.BytesIO()
    im.convert("RGB").save(out, "JPEG", quality=90)
sys.stdout.buffer.write(out.getvalue())
"""


def pixels(data: bytes, size: tuple[int, int] | None = None) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        im = im.convert("L")
        if size is not None and im.size != size:
            im = im.resize(size, Image.Resampling.BILINEAR)
        return np.asarray(im, dtype=np.float32)


def difference(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.abs(a - b).mean())


@pytest.mark.parametrize("name", ["Landscape", "Portrait"])
def test_all_eight_exif_orientations_render_the_same_upright_picture(corpus: Path, name: str):
    imaging.configure_vips()
    rendered = {n: imaging.render_standard(corpus / "orientation" / f"{name}_{n}.jpg", LIMITS)
                for n in range(1, 9)}
    reference = pixels(rendered[1].preview)
    landscape = name == "Landscape"
    for n, r in rendered.items():
        assert (r.width > r.height) == landscape, (n, r.width, r.height)
        assert difference(pixels(r.preview), reference) < 6, n  # JPEG noise only
        thumb = pixels(r.thumbnail)
        assert thumb.shape == (400, 400)
        assert difference(thumb, pixels(rendered[1].thumbnail)) < 6, n
    # the check can fail: the same picture mirrored is far from upright
    assert difference(reference[:, ::-1], reference) > 20
    assert difference(reference[::-1, :], reference) > 20


def test_a_heic_with_a_rotation_box_and_exif_orientation_6_is_turned_once(corpus: Path):
    path = corpus / "other" / "iphone_13_pro_max.HEIC"
    if not path.exists():
        pytest.skip(f"{path.name} is not in this corpus")
    imaging.configure_vips()
    r = imaging.render_standard(path, LIMITS)
    assert r.height > r.width, (r.width, r.height)  # stored 4032x3024 landscape: upright is portrait
    assert max(r.width, r.height) == 2048
    # the reference decoder runs in its own process: pillow-heif bundles another libheif,
    # which crashes in a process where libvips has loaded the system's (shared/imaging/standard.py)
    reference_jpeg = subprocess.run([sys.executable, "-c", REFERENCE, str(path)], capture_output=True,
                                    check=True, timeout=120).stdout
    ours = pixels(r.preview)
    reference = pixels(reference_jpeg, size=(r.width, r.height))
    assert difference(ours, reference) < 8
    assert difference(np.rot90(ours, 2).copy(), reference) > 15  # upside down would be caught
