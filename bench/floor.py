"""The floor and the old driver: the same two outputs made without the pipeline.

- pyvips: shrink-on-load to a 2048 px preview (q85), then a 400x400 centre
  crop from it (q80), in-process;
- Pillow: draft mode (DCT scaling) then resize, the same outputs;
- ImageMagick `convert`: the original system's preferred driver, one process
  per output, as it ran there;
- the scaled-decode floor: libjpeg-turbo's M/8 scaled decode to the smallest
  size that covers the preview, Lanczos3 to the exact size, the same two
  encodes, with each binding compared (`bindings`): simplejpeg (chosen, its
  wheel carries libjpeg-turbo 3) and PyTurboJPEG (Debian's libturbojpeg 2.1).
The floor is the faster of pyvips and Pillow, with libvips on as many threads
as a preview worker gives it (`PROPHOTO_VIPS_CONCURRENCY`, 1 by default: one
worker per core), so the pipeline is compared with the same engine doing the
same work; `measure(..., vips_threads=0)` gives the all-cores figure.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from shared.imaging.renditions import PREVIEW as _PREVIEW
from shared.imaging.renditions import THUMBNAIL as _THUMBNAIL

PREVIEW = _PREVIEW.long_edge  # the floors make what the workers make
THUMB = _THUMBNAIL.width


def pyvips_outputs(path: Path) -> tuple[bytes, bytes]:
    import pyvips

    preview = pyvips.Image.thumbnail(str(path), PREVIEW, height=PREVIEW, size="down").copy_memory()
    preview_jpeg = preview.jpegsave_buffer(Q=85, strip=True)
    thumb = preview.thumbnail_image(THUMB, height=THUMB, crop="centre")
    return preview_jpeg, thumb.jpegsave_buffer(Q=80, strip=True)


def _fit(width: int, height: int) -> tuple[int, int]:
    scale = min(1.0, PREVIEW / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _from_scaled(pixels, target: tuple[int, int]) -> tuple[bytes, bytes]:  # type: ignore[no-untyped-def]
    import pyvips

    h, w = pixels.shape[:2]
    image = pyvips.Image.new_from_memory(pixels.data, w, h, pixels.shape[2], "uchar")
    if (w, h) != target:
        image = image.resize(target[0] / w, vscale=target[1] / h, kernel="lanczos3")
    preview = image.copy_memory()
    thumb = preview.thumbnail_image(THUMB, height=THUMB, crop="centre")
    return preview.jpegsave_buffer(Q=85, strip=True), thumb.jpegsave_buffer(Q=80, strip=True)


def simplejpeg_outputs(path: Path) -> tuple[bytes, bytes]:
    """The scaled-decode floor: simplejpeg picks the smallest M/8 covering the preview."""
    import simplejpeg

    data = path.read_bytes()
    height, width, _, _ = simplejpeg.decode_jpeg_header(data)
    target = _fit(width, height)
    pixels = simplejpeg.decode_jpeg(data, colorspace="RGB", min_width=target[0], min_height=target[1])
    return _from_scaled(pixels, target)


_turbo = None


def pyturbojpeg_outputs(path: Path) -> tuple[bytes, bytes]:
    """The same with PyTurboJPEG: the smallest of its scaling factors covering the preview."""
    global _turbo
    from turbojpeg import TJPF_RGB, TurboJPEG

    if _turbo is None:
        _turbo = TurboJPEG()
    data = path.read_bytes()
    width, height, _, _ = _turbo.decode_header(data)
    target = _fit(width, height)
    factors = sorted(_turbo.scaling_factors, key=lambda f: f[0] / f[1])
    factor = next(f for f in factors if f[0] / f[1] <= 1 and -(-width * f[0] // f[1]) >= target[0]
                  and -(-height * f[0] // f[1]) >= target[1])
    return _from_scaled(_turbo.decode(data, pixel_format=TJPF_RGB, scaling_factor=factor), target)


def bindings(files: list[Path], vips_threads: int = 1) -> dict[str, float]:
    """Images per second of the scaled-decode floor with each binding (a missing one is left out)."""
    import pyvips

    previous = pyvips.concurrency_get()
    pyvips.concurrency_set(vips_threads)
    result: dict[str, float] = {}
    try:
        for name, func in (("simplejpeg", simplejpeg_outputs), ("pyturbojpeg", pyturbojpeg_outputs)):
            try:
                result[name] = images_per_second(func, files)
            except (ImportError, OSError, RuntimeError) as exc:  # no binding or no libturbojpeg
                print(f"binding {name} not measured: {exc}")
    finally:
        pyvips.concurrency_set(previous)
    return result


def pillow_outputs(path: Path) -> tuple[bytes, bytes]:
    from PIL import Image, ImageOps

    with Image.open(path) as im:
        im.draft("RGB", (PREVIEW, PREVIEW))
        im = ImageOps.exif_transpose(im)
        im.thumbnail((PREVIEW, PREVIEW), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        im.save(out, "JPEG", quality=85)
        thumb = ImageOps.fit(im, (THUMB, THUMB), Image.Resampling.LANCZOS)
        tout = io.BytesIO()
        thumb.save(tout, "JPEG", quality=80)
    return out.getvalue(), tout.getvalue()


def imagemagick_available() -> bool:
    exe = shutil.which("convert")
    if not exe:
        return False
    try:
        out = subprocess.run([exe, "-version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return "ImageMagick" in out


def imagemagick_outputs(path: Path) -> tuple[bytes, bytes]:
    with tempfile.TemporaryDirectory() as tmp:
        preview = Path(tmp) / "p.jpg"
        thumb = Path(tmp) / "t.jpg"
        subprocess.run(["convert", str(path), "-auto-orient", "-resize", f"{PREVIEW}x{PREVIEW}>",
                        "-strip", "-quality", "85", str(preview)], check=True, timeout=300)
        subprocess.run(["convert", str(preview), "-resize", f"{THUMB}x{THUMB}^", "-gravity",
                        "center", "-extent", f"{THUMB}x{THUMB}", "-strip", "-quality", "80",
                        str(thumb)], check=True, timeout=300)
        return preview.read_bytes(), thumb.read_bytes()


def images_per_second(func, files: list[Path], rounds: int = 1) -> float:  # type: ignore[no-untyped-def]
    func(files[0])  # warm-up (library init, page cache)
    started = time.perf_counter()
    for _ in range(rounds):
        for f in files:
            func(f)
    return len(files) * rounds / (time.perf_counter() - started)


def measure(files: list[Path], with_imagemagick: bool = True, vips_threads: int = 0) -> dict[str, float]:
    """Images per second; `vips_threads` as a worker runs libvips (0: libvips' default, all cores)."""
    import os

    import pyvips

    previous = pyvips.concurrency_get()
    pyvips.concurrency_set(vips_threads if vips_threads > 0 else (os.cpu_count() or 1))
    try:
        result = {
            "vips_threads": float(pyvips.concurrency_get()),
            "pyvips_per_s": images_per_second(pyvips_outputs, files),
            "pillow_per_s": images_per_second(pillow_outputs, files),
            "scaled_per_s": images_per_second(simplejpeg_outputs, files),
        }
    finally:
        pyvips.concurrency_set(previous)
    result["floor_per_s"] = max(result["pyvips_per_s"], result["pillow_per_s"])
    if with_imagemagick and imagemagick_available():
        result["imagemagick_per_s"] = images_per_second(imagemagick_outputs, files)
    return result
