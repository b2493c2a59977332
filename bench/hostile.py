"""Hostile-input benchmark: `python -m bench.hostile [--quick]` (part of `make bench`).

In one run, on the real services:
- the render process's cost: the same 24 and 45 MP JPEGs rendered in-process
  (the preview path before the backstop) and through a worker's render
  process on one event loop, as a worker calls it, interleaved and each side
  first in every other round; the ratio is the median of the per-image
  ratios; target: the render process keeps >= 97% of the in-process
  throughput;
- the worst peak RSS of a preview worker and of an enhance worker (each
  with its render process) across the hostile corpus
  (`tests/fixtures/hostile.py`, made for the budget the stack runs with);
  target: the growth over the processes at rest stays under the budget;
- small-upload latency while another client uploads TIFFs carrying 30 MB of
  embedded data, with one ExifTool process and with the default pool;
  target: p99 < 150 ms with the default pool.
Prints a table and saves JSON under bench/results/; exits non-zero when a
target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from bench.client import TOKEN, LeanClient, post_photo
from bench.common import (
    command_line,
    fetch_value,
    free_port,
    percentiles,
    photo,
    save,
    unique_copy,
    upload_stack,
    wait_http,
)
from bench.rss import PeakRss

BUDGET_MB = 128
TARGETS = {"render_process_vs_in_process": 0.97, "upload_p99_ms": 150.0}


# ---- the render process against in-process rendering ------------------------------

def render_cost(files: list[Path], rounds: int) -> dict[str, float]:
    from services.preview.render import render
    from shared.imaging import Limits, setup_render_process
    from shared.settings import Settings
    from shared.worker import render_process

    setup_render_process()  # the in-process side gets the same libvips and malloc set-up
    limits = Limits()
    renderer = render_process.for_settings(Settings())
    renderer.start()

    async def child(path: Path) -> None:
        outcome = await renderer.call(render, path, False, limits)
        assert outcome.rendered is not None, outcome.error

    def local(path: Path) -> None:
        outcome = render(path, False, limits)
        assert outcome.rendered is not None, outcome.error

    spent = {"in_process": 0.0, "render_process": 0.0}
    paired: list[float] = []  # in-process time / render-process time, per image, same round
    done = 0
    # one event loop for every call, as a worker has: a new loop per call (asyncio.run) adds a
    # few ms to each round trip that carries a preview back, which a worker never pays
    loop = asyncio.new_event_loop()
    try:
        sides: list[tuple[str, Callable[[Path], object]]] = [
            ("in_process", local), ("render_process", lambda path: loop.run_until_complete(child(path)))]
        for n in range(rounds):
            for path in files:  # interleaved, so both sides see the same machine load
                took = {}
                for side, render_one in sides if n % 2 == 0 else sides[::-1]:  # and each goes first as often
                    started = time.perf_counter()
                    render_one(path)
                    took[side] = time.perf_counter() - started
                    spent[side] += took[side]
                paired.append(took["in_process"] / took["render_process"])
                done += 1
    finally:
        loop.close()
        renderer.close()
    per_s = {k: done / v for k, v in spent.items()}
    # the median of the paired ratios: one image slowed by another process's burst moves a
    # ratio of sums by several percent, the median not
    return {"images": done, "in_process_per_s": per_s["in_process"],
            "render_process_per_s": per_s["render_process"],
            "ratio_of_sums": per_s["render_process"] / per_s["in_process"],
            "ratio": statistics.median(paired)}


# ---- peak RSS across the hostile corpus ---------------------------------------------

def hostile_corpus() -> dict[str, bytes]:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from shared.imaging import budget
    from tests.fixtures import hostile

    side = 1000  # the largest progressive 4:4:4 JPEG (in 100 px steps) the budget holds
    while budget.estimate(hostile.progressive_jpeg(side + 100, side + 100)).mb < BUDGET_MB:
        side += 100
    return {
        "progressive JPEG just under the budget": hostile.real_progressive_jpeg(side, side),
        "progressive JPEG over the budget": hostile.real_progressive_jpeg(side + 600, side + 600),
        "580 bytes claiming 121 MP": hostile.progressive_jpeg(11000, 11000),
        "interlaced PNG claiming 8000x8000": hostile.interlaced_png(8000, 8000),
        "TIFF strip claiming 9000x9000": hostile.multipage_tiff(9000, 9000),
        "GIF claiming 9000x9000": hostile.animated_gif(9000, 9000),
        "PNG of 60x40000": hostile.tall_png(60, 40000),
        "TIFF with 30 MB embedded": hostile.tiff_with_embedded_data(30),
    }


async def _upload(client: httpx.AsyncClient, data: bytes, name: str) -> str:
    r = await client.post("/v1/uploads", content=data,
                          headers={"Content-Type": "application/octet-stream", "X-Filename": name})
    if r.status_code not in (200, 201):
        raise RuntimeError(f"upload answered {r.status_code}: {r.text[:200]}")
    return str(r.json()["uuid"])


async def _settle(db_url: str, uuids: list[str], column: str, timeout: float) -> None:
    import asyncpg

    conn = await asyncpg.connect(db_url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            waiting = await conn.fetchval(
                f"SELECT count(*) FROM proxy_images WHERE uuid = ANY($1::uuid[])"
                f" AND {column} NOT IN ('ready', 'failed')", uuids)
            if not waiting:
                return
            await asyncio.sleep(0.2)
    finally:
        await conn.close()
    raise RuntimeError(f"{column} did not settle in {timeout} s")


def peak_rss(quick: bool) -> dict[str, Any]:
    corpus = hostile_corpus()
    with upload_stack("hostile", PROPHOTO_JOB_MEMORY_MB=str(BUDGET_MB)) as up:
        env, url = up.env, up.url
        ports = {"preview": free_port(), "enhance": free_port()}
        preview = up.stack.start("preview", {"PROPHOTO_PREVIEW_METRICS_PORT": str(ports["preview"])})
        enhance = up.stack.start("enhance", {"PROPHOTO_ENHANCE_METRICS_PORT": str(ports["enhance"])})
        for port in ports.values():
            wait_http(f"http://127.0.0.1:{port}/healthz", timeout=60)
        time.sleep(5)  # the render processes start beside the workers

        async def go() -> None:
            async with httpx.AsyncClient(base_url=url, headers=TOKEN, timeout=120) as client:
                uuids = [await _upload(client, data, f"h{i}") for i, data in enumerate(corpus.values())]
                await _settle(env["PROPHOTO_DATABASE_URL"], uuids, "preview_status", 300)
                # enhance every ready one to the widest it may get (the API refuses what cannot fit)
                asked = []
                for uuid in uuids:
                    r = await client.post(f"/v1/proxies/{uuid}/enhance", json={"factor": 2.0})
                    if r.status_code == 202:
                        asked.append(uuid)
                if asked:
                    await _settle(env["PROPHOTO_DATABASE_URL"], asked, "enhancement_status", 300)

        # each worker with its render process, from at rest to its peak
        with PeakRss(preview.pid, children=True) as in_preview, PeakRss(enhance.pid, children=True) as in_enhance:
            asyncio.run(go())
        result: dict[str, Any] = {
            name: {"rest_mb": r.before_mb, "peak_mb": r.peak_mb, "growth_mb": r.growth_mb}
            for name, r in (("preview", in_preview), ("enhance", in_enhance))}
        result["restarted"] = [name for name, p in (("preview", preview), ("enhance", enhance))
                               if p.poll() is not None]
    result["budget_mb"] = BUDGET_MB
    return result


# ---- small uploads beside huge embedded data ----------------------------------------

def loaded_uploads(pool: int, samples: int) -> dict[str, Any]:
    small = photo(1, name="1mp").read_bytes()
    with upload_stack("exif", PROPHOTO_EXIFTOOL_POOL=str(pool)) as up:
        env, url = up.env, up.url

        async def go() -> list[float]:
            client = LeanClient(url, TOKEN)
            times = []
            try:
                for _ in range(samples):
                    started = time.perf_counter()
                    await post_photo(client, unique_copy(small), "small.jpg")
                    times.append(time.perf_counter() - started)
                    await asyncio.sleep(0.05)
            finally:
                await client.close()
            return times

        # the other client is another process, as it would be: its own event loop
        # does not delay this one's requests
        flood = subprocess.Popen([sys.executable, "-m", "bench.hostile", "--flood", url],
                                 cwd=Path(__file__).resolve().parent.parent)
        try:
            time.sleep(2.0)
            if flood.poll() is not None:
                raise RuntimeError("the flooding client exited")
            times = asyncio.run(go())
        finally:
            flood.terminate()
            flood.wait()
        heavy = asyncio.run(_count_heavy(env["PROPHOTO_DATABASE_URL"]))
    return {"pool": pool, "heavy_uploads": heavy,
            "upload_ms": {k: (v * 1000 if k != "n" else v) for k, v in percentiles(times).items()}}


async def _count_heavy(db_url: str) -> int:
    """How many 30 MB-embedded files the other client got in (the flood was real)."""
    return int(await fetch_value(db_url, "SELECT count(*) FROM proxy_images WHERE size > 20000000"))


def run(quick: bool = False) -> dict[str, Any]:
    files = [photo(24, name="24mp"), photo(45, name="45mp")]
    result: dict[str, Any] = {"render": render_cost(files, 1 if quick else 6)}
    result["rss"] = peak_rss(quick)
    result["uploads"] = [loaded_uploads(pool, 10 if quick else 60) for pool in ((3,) if quick else (1, 3))]
    result["targets"] = TARGETS
    missed = check(result)
    result["missed"] = missed
    report(result)
    print(f"saved {save('hostile', result)}")
    return result


def check(r: dict[str, Any]) -> list[str]:
    missed = []
    if r["render"]["ratio"] < TARGETS["render_process_vs_in_process"]:
        missed.append("render process throughput")
    for name in ("preview", "enhance"):
        if r["rss"][name]["growth_mb"] >= r["rss"]["budget_mb"]:
            missed.append(f"{name} peak RSS growth")
    if r["rss"]["restarted"]:
        missed.append("a worker exited")
    if r["uploads"][-1]["upload_ms"]["p99"] >= TARGETS["upload_p99_ms"]:
        missed.append("small-upload p99")
    return missed


def report(r: dict[str, Any]) -> None:
    def row(name: str, value: str, target: str = "") -> None:
        print(f"{name:<52}{value:>18}  {target}")

    c = r["render"]
    row("in-process render (img/s)", f"{c['in_process_per_s']:.2f}")
    row("render process (img/s)", f"{c['render_process_per_s']:.2f}")
    row("render process / in-process", f"{c['ratio']:.3f}", ">= 0.97")
    for name in ("preview", "enhance"):
        m = r["rss"][name]
        row(f"{name} worker + render process peak RSS (MB)", f"{m['peak_mb']:.0f} ({m['rest_mb']:.0f} at rest)")
        row(f"{name} peak growth over rest (MB)", f"{m['growth_mb']:.0f}", f"< {r['rss']['budget_mb']} (budget)")
    for u in r["uploads"]:
        ms = u["upload_ms"]
        row(f"small upload p50/p95/p99, pool {u['pool']}, {u['heavy_uploads']} 30 MB-embedded beside (ms)",
            f"{ms['p50']:.0f}/{ms['p95']:.0f}/{ms['p99']:.0f}", "p99 < 150" if u is r["uploads"][-1] else "")
    print("missed: " + (", ".join(r["missed"]) or "none"))


def flood(url: str, clients: int = 2) -> None:
    """The other client: uploads TIFFs with 30 MB of embedded data, back to back, until killed."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.fixtures import hostile

    heavy = hostile.tiff_with_embedded_data(30)

    async def go() -> None:
        async with httpx.AsyncClient(base_url=url, headers=TOKEN, timeout=300) as big:
            async def one() -> None:
                while True:
                    await _upload(big, unique_copy(heavy), "heavy.tif")

            await asyncio.gather(*(one() for _ in range(clients)))

    asyncio.run(go())


def main() -> None:
    parser = command_line(__doc__, "a few images only (smoke run)")
    parser.add_argument("--flood", metavar="URL", help=argparse.SUPPRESS)  # the flooding client
    args = parser.parse_args()
    if args.flood:
        flood(args.flood)
        return
    quick = args.quick
    result = run(quick=quick)
    if result["missed"] and not quick:  # a smoke run checks that it runs, not the figures
        sys.exit(1)


if __name__ == "__main__":
    main()
