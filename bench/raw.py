"""The RAW embedded-preview path: how long a RAW takes from file to both outputs.

For every RAW in the corpus, in-process and warm (one persistent ExifTool, as
in a worker): the full metadata read, the embedded-preview choice and
extraction, and the scaling to the 2048 px preview and the 400x400
thumbnail, i.e. `shared.imaging.render_raw` exactly as the preview worker
calls it. The baseline in the same run is the same two outputs made by pyvips
from a JPEG of the same pixel size as the chosen embedded preview (what the
path would cost if the preview were already a file). Target: under 100 ms.

`python -m bench.raw [--quick]`
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import CORPUS, main_of, percentiles, save

TARGET_MS = 100.0


def corpus_raws() -> list[Path]:
    from shared.filetype import HEAD_BYTES, detect

    out = []
    for path in sorted((CORPUS / "raw").glob("*")):
        if path.is_file():
            ftype = detect(path.read_bytes()[:HEAD_BYTES])
            if ftype is not None and ftype.is_raw:
                out.append(path)
    return out


def _time_render(path: Path, tool: Any, limits: Any) -> tuple[float, Any]:
    from shared import imaging

    started = time.perf_counter()
    meta = tool.read(path, mode="full")
    rendered = imaging.render_raw(
        path, meta, lambda tag: tool.extract_binary(path, tag, limits.max_embedded_bytes), limits,
        lambda declared: tool.extract_all(path, declared))
    return (time.perf_counter() - started) * 1000, rendered


def _baseline_ms(width: int, height: int, repeats: int) -> float:
    """pyvips making both outputs from a JPEG file of the embedded preview's size."""
    import pyvips

    from bench.floor import pyvips_outputs

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "embedded.jpg"
        pyvips.Image.gaussnoise(width, height).cast("uchar").bandjoin([
            pyvips.Image.gaussnoise(width, height).cast("uchar")] * 2).jpegsave(str(path), Q=90)
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            pyvips_outputs(path)
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def run(quick: bool = False) -> dict[str, Any]:
    from shared import imaging
    from shared.exif import ExifTool
    from shared.settings import Settings

    imaging.configure_vips()
    settings = Settings()
    limits = imaging.Limits.from_settings(settings)
    tool = ExifTool(settings.exiftool_binary, settings.exiftool_timeout)
    repeats = 2 if quick else 7
    rows: list[dict[str, Any]] = []
    try:
        for path in corpus_raws():
            try:
                _time_render(path, tool, limits)  # warm: the first call also starts ExifTool
            except imaging.ImagingError as exc:
                rows.append({"file": path.name, "error": exc.reason})
                continue
            times, rendered = [], None
            for _ in range(repeats):
                ms, rendered = _time_render(path, tool, limits)
                times.append(ms)
            assert rendered is not None
            embedded = rendered.method.startswith("embedded:")
            rows.append({
                "file": path.name, "method": rendered.method, "embedded": embedded,
                "preview": f"{rendered.width}x{rendered.height}", "degraded": rendered.degraded,
                "ms": percentiles(times),
                "baseline_ms": _baseline_ms(rendered.width, rendered.height, repeats) if embedded else None,
            })
    finally:
        tool.close()
    embedded_p50 = [r["ms"]["p50"] for r in rows if r.get("embedded")]
    result = {
        "files": rows, "repeats": repeats, "target_ms": TARGET_MS,
        "embedded_worst_p50_ms": max(embedded_p50) if embedded_p50 else None,
        "embedded_median_p50_ms": statistics.median(embedded_p50) if embedded_p50 else None,
    }
    worst = result["embedded_worst_p50_ms"]
    result["missed"] = ([f"RAW embedded path worst p50 {worst:.1f} ms, target < {TARGET_MS:.0f} ms"]
                        if worst is not None and worst >= TARGET_MS else [])
    report(result)
    print(f"saved {save('raw', result)}")
    return result


def report(r: dict[str, Any]) -> None:
    print(f"\nRAW preview path (in-process, warm ExifTool, median of {r['repeats']} runs; target "
          f"< {TARGET_MS:.0f} ms on the embedded path)")
    print(f"{'file':<58} {'method':<22} {'preview':>10} {'p50 ms':>8} {'base ms':>8} {'ratio':>6}")
    for row in r["files"]:
        if "error" in row:
            print(f"{row['file'][:58]:<58} failed: {row['error']}")
            continue
        base = row["baseline_ms"]
        ratio = f"{row['ms']['p50'] / base:.2f}" if base else "-"
        print(f"{row['file'][:58]:<58} {row['method']:<22} {row['preview']:>10} {row['ms']['p50']:>8.1f} "
              f"{(f'{base:.1f}' if base else '-'):>8} {ratio:>6}")
    if r["embedded_worst_p50_ms"] is not None:
        met = "met" if r["embedded_worst_p50_ms"] < TARGET_MS else "MISSED"
        print(f"embedded path: worst file p50 {r['embedded_worst_p50_ms']:.1f} ms, "
              f"median {r['embedded_median_p50_ms']:.1f} ms (target < {TARGET_MS:.0f} ms: {met})")


if __name__ == "__main__":
    main_of(run, __doc__, "two runs per file")
