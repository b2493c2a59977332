"""The floor and the old driver: the same two outputs made without the pipeline.

- pyvips: shrink-on-load to a 2048 px preview (q85), then a 400x400 centre
  crop from it (q80), in-process;
- Pillow: draft mode (DCT scaling) then resize, the same outputs;
- ImageMagick `convert`: the original system's preferred driver, one process
  per output, as it ran there.
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

PREVIEW = 2048
THUMB = 400


def pyvips_outputs(path: Path) -> tuple[bytes, bytes]:
    import pyvips

    preview = pyvips.Image.thumbnail(str(path), PREVIEW, height=PREVIEW, size="down").copy_memory()
    preview_jpeg = preview.jpegsave_buffer(Q=85, strip=True)
    thumb = preview.thumbnail_image(THUMB, height=THUMB, crop="centre")
    return preview_jpeg, thumb.jpegsave_buffer(Q=80, strip=True)


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
        }
    finally:
        pyvips.concurrency_set(previous)
    result["floor_per_s"] = max(result["pyvips_per_s"], result["pillow_per_s"])
    if with_imagemagick and imagemagick_available():
        result["imagemagick_per_s"] = images_per_second(imagemagick_outputs, files)
    return result
