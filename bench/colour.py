"""Colour management's cost: `python -m bench.colour [--quick]` (part of `make bench`).

- sRGB inputs (the bench's 24 and 45 MP camera-like JPEGs, untagged): what
  the colour work costs a render that needs no conversion, i.e. reading the
  source's colour space from the header (`colour.of_image`) and looking for
  HDR (`hdr.detect`), against the worker's whole render of the same file,
  timed in the same process; target: at most 5%.
- tagged inputs, reported (no target): the same 24 MP pixels as a Display P3
  JPEG (ICC), an Adobe RGB JPEG said only in EXIF (InteropIndex R03), a CMYK
  JPEG and a 16-bit ProPhoto RGB TIFF (12 MP), each rendered in the sRGB and
  the Display P3 setting, against the untagged JPEG's render (the TIFF against
  an untagged 8-bit TIFF of the same pixels).
Renders are the worker's (`services.preview.render.render`), in-process,
interleaved, median of rounds. Prints a table, saves JSON under bench/results/.
"""

from __future__ import annotations

import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.common import CACHE, Target, check_targets, main_of, photo, save

TARGET_SRGB_OVERHEAD = 0.05
COLORD = Path("/usr/share/color/icc/colord")


def variants(source: Path) -> dict[str, Path]:
    """Tagged copies of the bench photo, made once and cached."""
    import pyvips

    out: dict[str, Path] = {}
    image = pyvips.Image.new_from_file(str(source))
    specs = {"p3.jpg": "p3", "adobe-exif.jpg": None, "cmyk.jpg": "cmyk"}
    for name, profile in specs.items():
        path = out[name] = CACHE / f"colour-{source.stem}-{name}"
        if path.exists():
            continue
        if profile == "cmyk":
            image.icc_transform("cmyk", input_profile="srgb").jpegsave(str(path), Q=92)
        elif profile == "p3":
            image.jpegsave(str(path), Q=92, strip=True, profile="p3")
        else:
            image.jpegsave(str(path), Q=92, strip=True)
            subprocess.run(["exiftool", "-q", "-overwrite_original", "-n", "-ColorSpace=65535",
                            "-InteropIndex=R03", str(path)], check=True, capture_output=True)
    half = image.resize(0.7071)
    for name, profile in (("prophoto16.tiff", str(COLORD / "ProPhotoRGB.icc")), ("plain8.tiff", None)):
        path = out[name] = CACHE / f"colour-{source.stem}-{name}"
        if path.exists():
            continue
        if profile is None:
            half.tiffsave(str(path), strip=True)
        else:
            half.icc_transform(profile, input_profile="srgb", depth=16).tiffsave(str(path))
    return out


def _median_ms(fn: Any, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def measure(rounds: int) -> dict[str, Any]:
    import pyvips

    from services.preview.render import render
    from shared.imaging import Limits, colour, hdr, setup_render_process

    setup_render_process()
    files = [photo(24, name="24mp"), photo(45, name="45mp")]
    srgb: dict[str, dict[str, float]] = {}
    for path in files:
        def detect(path: Path = path) -> None:
            colour.of_image(pyvips.Image.new_from_file(str(path), access="sequential"))
            hdr.detect(path)

        whole = _median_ms(lambda path=path: render(path, False, Limits()), rounds)
        work = _median_ms(detect, rounds * 4)
        srgb[path.name] = {"render_ms": whole, "colour_work_ms": work, "overhead": work / whole}
    tagged: dict[str, dict[str, float]] = {}
    made = variants(files[0])
    for name, path in made.items():
        if name == "plain8.tiff":
            continue
        base = made["plain8.tiff"] if name.endswith(".tiff") else files[0]
        row = {"untagged_ms": _median_ms(lambda base=base: render(base, False, Limits()), rounds)}
        for gamut in ("srgb", "display-p3"):
            row[f"{gamut}_ms"] = _median_ms(
                lambda path=path, gamut=gamut: render(path, False, Limits(gamut=gamut)), rounds)
            row[f"{gamut}_ratio"] = row[f"{gamut}_ms"] / row["untagged_ms"]
        tagged[name] = row
    return {"srgb": srgb, "tagged": tagged,
            "srgb_overhead": max(r["overhead"] for r in srgb.values())}


def run(quick: bool = False) -> dict[str, Any]:
    result = measure(2 if quick else 7)
    result["missed"] = check_targets([Target("colour work on sRGB inputs / their render",
                                             result["srgb_overhead"], "<", TARGET_SRGB_OVERHEAD)])
    report(result)
    print(f"saved {save('colour', result)}")
    return result


def report(r: dict[str, Any]) -> None:
    for name, row in r["srgb"].items():
        print(f"{'sRGB ' + name:<44}render {row['render_ms']:7.1f} ms  colour work {row['colour_work_ms']:5.2f} ms"
              f"  ({row['overhead'] * 100:.2f}%, target <= {TARGET_SRGB_OVERHEAD * 100:.0f}%)")
    for name, row in r["tagged"].items():
        print(f"{'tagged ' + name:<44}untagged {row['untagged_ms']:7.1f} ms  sRGB {row['srgb_ms']:7.1f} ms"
              f" ({row['srgb_ratio']:.2f}x)  P3 {row['display-p3_ms']:7.1f} ms ({row['display-p3_ratio']:.2f}x)")


if __name__ == "__main__":
    main_of(run, __doc__, "fewer runs (smoke run)")
