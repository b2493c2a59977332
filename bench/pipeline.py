"""End-to-end benchmark: `make bench` (or `python -m bench.pipeline [--quick]`).

Starts its own stack (upload service + preview workers as child processes, on
the real RabbitMQ, PostgreSQL, file store, ExifTool and libvips) and reports,
in one run, on the same 24 MP and 45 MP JPEGs (generated once, cached):

- preview throughput with 1 and 2 workers through the real queue and store,
  and the scaling ratio;
- each worker's peak RSS;
- the floors making the same two outputs in-process: libvips one-decode
  (shrink-on-load), Pillow, the scaled decode (libjpeg-turbo M/8), each
  binding of it compared, and ImageMagick `convert`;
- the render process's cost (the issue-10 backstop): the worker's own render
  function in-process and through a render process, interleaved
  (`bench.hostile.render_cost`, the median of per-image ratios; target: the
  render process keeps >= 97%), measured after the floors so that its
  libvips set-up (operation cache off) cannot touch them;
- upload latency alone, and for 1 MB and 10 MB JPEGs while two workers keep
  both cores busy (the 10 MB one camera-like: EXIF with a 160 px thumbnail);
- an enhance of one preview (interactive, the enhance worker at normal
  priority), request to ready, alone and while two preview workers work a
  backlog (target: the loaded p50 at most 1.5x the one alone);
- upload-to-preview-ready latency;
- a backlog of small jobs draining: the rate of the first and the last thousand.
Prints a table, then every target with met/MISSED (the run returns the
missed lines: `make bench` fails on them), and saves JSON under bench/results/.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench import floor, hostile
from bench.client import TOKEN, LeanClient, post_photo
from bench.common import (
    Stack,
    Target,
    await_all,
    camera_photo,
    check_targets,
    fetch_value,
    free_port,
    main_of,
    percentiles,
    photo,
    save,
    unique_copy,
    upload_stack,
    wait_http,
)
from bench.rss import PeakRss


async def upload_all(url: str, bodies: list[tuple[str, bytes]], concurrency: int) -> list[tuple[str, float, float]]:
    """Upload every body; returns (uuid, seconds, answered_at monotonic)."""
    out: list[tuple[str, float, float]] = []
    queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
    for item in bodies:
        queue.put_nowait(item)
    clients = [LeanClient(url, TOKEN) for _ in range(concurrency)]

    async def worker(client: LeanClient) -> None:
        try:
            while not queue.empty():
                name, body = queue.get_nowait()
                started = time.perf_counter()
                answer = await post_photo(client, body, name)
                out.append((json.loads(answer)["uuid"], time.perf_counter() - started, time.monotonic()))
        finally:
            await client.close()

    await asyncio.gather(*(worker(c) for c in clients))
    return out


async def db_now(db_url: str) -> float:
    return float(await fetch_value(db_url, "SELECT extract(epoch FROM clock_timestamp())"))


async def wait_ready(db_url: str, uuids: list[str], timeout: float) -> dict[str, float]:
    """Wait until every proxy is ready; returns uuid -> when it became ready (database clock).

    The database's own `updated_at` times the transitions, so the polling
    interval does not blur the rates.
    """
    conn = await asyncpg.connect(db_url)
    try:
        await await_all(
            conn, "SELECT count(*) FILTER (WHERE preview_status = 'ready'),"
            " count(*) FILTER (WHERE preview_status = 'failed')"
            " FROM proxy_images WHERE uuid = ANY($1::uuid[])", uuids, "previews", timeout)
        rows = await conn.fetch(
            "SELECT uuid::text AS uuid, extract(epoch FROM updated_at) AS t FROM proxy_images"
            " WHERE uuid = ANY($1::uuid[])", uuids)
    finally:
        await conn.close()
    return {r["uuid"]: float(r["t"]) for r in rows}


def start_workers(stack: Stack, n: int) -> list[Any]:
    """Start n preview workers and return once all of them serve their metrics."""
    ports = [free_port() for _ in range(n)]
    procs = [stack.start("preview", {"PROPHOTO_PREVIEW_METRICS_PORT": str(p)}) for p in ports]
    for p in ports:
        wait_http(f"http://127.0.0.1:{p}/metrics", timeout=60)
    return procs


def throughput(env: dict[str, str], url: str, files: list[Path], workers: int, rounds: int) -> dict[str, Any]:
    """Queue the jobs first, then start the workers and time the drain."""
    stack = Stack(env)
    bodies = [(f.name, unique_copy(f.read_bytes())) for f in files for _ in range(rounds)]
    uploaded = asyncio.run(upload_all(url, bodies, 4))
    uuids = [u for u, _, _ in uploaded]
    procs = start_workers(stack, workers)
    started = asyncio.run(db_now(env["PROPHOTO_DATABASE_URL"]))
    with contextlib.ExitStack() as sampling:
        rss = [sampling.enter_context(PeakRss(p.pid, every_s=0.01)) for p in procs]
        seen = asyncio.run(wait_ready(env["PROPHOTO_DATABASE_URL"], uuids, timeout=900))
    # small photos (the smoke run's) can be done before `started` is read: then the drain is timed
    # from the first one done, never a negative or zero time
    elapsed = max(max(seen.values()) - min(started, min(seen.values())), 1e-6)
    stack.stop()
    return {"workers": workers, "images": len(uuids), "seconds": elapsed,
            "images_per_s": len(uuids) / elapsed, "peak_rss_mb": [r.peak_mb for r in rss]}


def drain(env: dict[str, str], uuids: list[str]) -> None:
    """Process a phase's leftover jobs with two workers, so the next phase starts on an empty queue."""
    stack = Stack(env)
    start_workers(stack, 2)
    asyncio.run(wait_ready(env["PROPHOTO_DATABASE_URL"], uuids, timeout=900))
    stack.stop()


def small_photo(i: int) -> bytes:
    from PIL import Image

    img = Image.new("RGB", (640, 480), ((i * 37) % 256, (i * 91) % 256, (i * 13) % 256))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=80)
    return buf.getvalue()


def backlog(env: dict[str, str], url: str, count: int, workers: int) -> dict[str, Any]:
    """Queue `count` small jobs, then drain them; compare the first and last thousand."""
    stack = Stack(env)
    bodies = [(f"small-{i}.jpg", unique_copy(small_photo(i))) for i in range(count)]
    uploaded = asyncio.run(upload_all(url, bodies, 8))
    uuids = [u for u, _, _ in uploaded]
    start_workers(stack, workers)
    seen = asyncio.run(wait_ready(env["PROPHOTO_DATABASE_URL"], uuids, timeout=3600))
    stack.stop()
    times = sorted(seen.values())
    chunk = min(1000, max(2, count // 5))
    first = (chunk - 1) / max(times[chunk - 1] - times[0], 1e-9)
    last = (chunk - 1) / max(times[-1] - times[-chunk], 1e-9)
    return {"jobs": count, "seconds": times[-1] - times[0], "first_chunk_per_s": first,
            "last_chunk_per_s": last, "chunk": chunk, "last_vs_first": last / first}


async def pending(db_url: str, uuids: list[str]) -> int:
    return int(await fetch_value(db_url, "SELECT count(*) FROM proxy_images WHERE uuid = ANY($1::uuid[])"
                                 " AND preview_status IN ('pending', 'processing')", uuids))


def loaded_uploads(env: dict[str, str], url: str, files: list[Path], samples: int,
                   load_rounds: int = 12) -> dict[str, Any]:
    """Upload latency (1 MB and 10 MB JPEGs) while 2 preview workers saturate the CPU.

    The backlog is large enough that both workers are still busy when the
    last sample is answered (`backlog_left` says how many jobs were still
    waiting then; 0 would mean the measurement outlasted the load).
    """
    stack = Stack(env)
    load = [(f.name, unique_copy(f.read_bytes())) for f in files for _ in range(load_rounds)]
    queued = asyncio.run(upload_all(url, load, 4))
    start_workers(stack, 2)
    time.sleep(1.0)  # both workers are into their first big images
    result: dict[str, Any] = {}
    uploaded: list[tuple[str, float, float]] = []
    for label, path in (("1mb", photo(4, 1_000_000, "1mb")), ("10mb", camera_photo(24, 10_000_000, "10mb-camera"))):
        data = path.read_bytes()
        bodies = [(f"loaded-{label}.jpg", unique_copy(data)) for _ in range(samples)]
        done = asyncio.run(upload_all(url, bodies, 1))
        uploaded += done
        result[f"upload_{label}_ms"] = {k: (v * 1000 if k != "n" else v)
                                       for k, v in percentiles([s for _, s, _ in done]).items()}
    result["backlog_left"] = asyncio.run(pending(env["PROPHOTO_DATABASE_URL"], [u for u, _, _ in queued]))
    # the phase's own jobs are done before the next phase starts timing
    asyncio.run(wait_ready(env["PROPHOTO_DATABASE_URL"], [u for u, _, _ in queued + uploaded], timeout=900))
    stack.stop()
    result["upload_ms"] = result["upload_1mb_ms"]
    return result


async def _enhance_each(url: str, db_url: str, uuids: list[str]) -> list[float]:
    """Ask for each proxy's default enhance, one at a time; seconds from the request to `ready`."""
    conn = await asyncpg.connect(db_url)
    times = []
    try:
        async with httpx.AsyncClient(base_url=url, headers=TOKEN, timeout=60) as client:
            for uuid in uuids:
                started = time.perf_counter()
                r = await client.post(f"/v1/proxies/{uuid}/enhance", json={})
                if r.status_code != 202:
                    raise RuntimeError(f"enhance answered {r.status_code}: {r.text[:200]}")
                while True:
                    status = await conn.fetchval(
                        "SELECT enhancement_status FROM proxy_images WHERE uuid = $1::uuid", uuid)
                    if status == "ready":
                        break
                    if status == "failed":
                        raise RuntimeError(f"the enhance of {uuid} failed")
                    if time.perf_counter() - started > 120:
                        raise RuntimeError(f"the enhance of {uuid} took over 120 s")
                    await asyncio.sleep(0.005)
                times.append(time.perf_counter() - started)
    finally:
        await conn.close()
    return times


def loaded_enhance(env: dict[str, str], url: str, files: list[Path], samples: int,
                   load_rounds: int = 12) -> dict[str, Any]:
    """An enhance of one preview (1.25x, from a 4 MP original), request to ready: alone, then while
    2 preview workers work a backlog of big JPEGs (the interactive work the priorities protect)."""
    db_url = env["PROPHOTO_DATABASE_URL"]
    small = photo(4, 1_000_000, "1mb").read_bytes()
    made = asyncio.run(upload_all(url, [("enhance-me.jpg", unique_copy(small)) for _ in range(2 * samples)], 1))
    uuids = [u for u, _, _ in made]
    drain(env, uuids)
    enhancer = Stack(env)
    port = free_port()
    enhancer.start("enhance", {"PROPHOTO_ENHANCE_METRICS_PORT": str(port)})
    try:
        wait_http(f"http://127.0.0.1:{port}/readyz", timeout=60)
        alone = asyncio.run(_enhance_each(url, db_url, uuids[:samples]))
        previews = Stack(env)
        load = [(f.name, unique_copy(f.read_bytes())) for f in files for _ in range(load_rounds)]
        queued = asyncio.run(upload_all(url, load, 4))
        start_workers(previews, 2)
        time.sleep(1.0)  # both workers are into their first big images
        loaded = asyncio.run(_enhance_each(url, db_url, uuids[samples:]))
        left = asyncio.run(pending(db_url, [u for u, _, _ in queued]))
        asyncio.run(wait_ready(db_url, [u for u, _, _ in queued], timeout=900))
        previews.stop()
    finally:
        enhancer.stop()
    ms = {name: {k: (v * 1000 if k != "n" else v) for k, v in percentiles(times).items()}
          for name, times in (("alone_ms", alone), ("loaded_ms", loaded))}
    return {**ms, "backlog_left": left, "loaded_vs_alone_p50": ms["loaded_ms"]["p50"] / ms["alone_ms"]["p50"]}


def upload_to_ready(env: dict[str, str], url: str, files: list[Path]) -> dict[str, Any]:
    """With 2 idle workers waiting, the time from each upload's answer to its preview."""
    stack = Stack(env)
    start_workers(stack, 2)
    latencies = []
    for f in files:
        body = unique_copy(f.read_bytes())
        sent = asyncio.run(db_now(env["PROPHOTO_DATABASE_URL"]))
        uploaded = asyncio.run(upload_all(url, [(f.name, body)], 1))
        uuid, took, _ = uploaded[0]
        ready = asyncio.run(wait_ready(env["PROPHOTO_DATABASE_URL"], [uuid], timeout=120))
        latencies.append(ready[uuid] - (sent + took))  # from the upload's answer
    stack.stop()
    return {"seconds": percentiles(latencies)}


def run(quick: bool = False) -> dict[str, Any]:
    from shared.settings import Settings

    files = [photo(24, name="24mp"), photo(45, name="45mp")]
    rounds = 1 if quick else 8
    result: dict[str, Any] = {"files": [f.name for f in files], "rounds": rounds}
    with upload_stack("pipe") as up:
        env, url = up.env, up.url
        alone = asyncio.run(upload_all(url, [("alone.jpg", unique_copy(
            photo(4, 1_000_000, "1mb").read_bytes())) for _ in range(4 if quick else 40)], 1))
        drain(env, [u for u, _, _ in alone])  # its jobs must not land in the throughput run
        result["upload_alone_ms"] = {k: (v * 1000 if k != "n" else v)
                                     for k, v in percentiles([s for _, s, _ in alone]).items()}
        result["one_worker"] = throughput(env, url, files, 1, rounds)
        result["two_workers"] = throughput(env, url, files, 2, rounds)
        # what the workers get: their environment's setting, else the default
        threads = int(env.get("PROPHOTO_VIPS_CONCURRENCY", Settings.model_fields["vips_concurrency"].default))
        result["floor"] = floor.measure(files * (1 if quick else 2), with_imagemagick=True,
                                        vips_threads=threads)
        if not quick:
            result["floor_all_cores"] = floor.measure(files * 2, with_imagemagick=False)
        result["bindings"] = floor.bindings(files[-1:] if quick else files * 2, vips_threads=threads)
        result["render_cost"] = hostile.render_cost(files, 1 if quick else 4)
        result["upload_loaded"] = loaded_uploads(env, url, files, 4 if quick else 40, 2 if quick else 12)
        result["enhance_loaded"] = loaded_enhance(env, url, files, 3 if quick else 12, 4 if quick else 30)
        result["upload_to_ready"] = upload_to_ready(env, url, files * (1 if quick else 3))
        result["backlog"] = backlog(env, url, 50 if quick else 5000, 2)
    one = result["one_worker"]["images_per_s"]
    result["ratios"] = {
        "pipeline_vs_floor": one / result["floor"]["floor_per_s"],
        "pipeline_vs_libvips_floor": one / result["floor"]["pyvips_per_s"],
        "pipeline_vs_scaled_floor": one / result["floor"]["scaled_per_s"],
        "pipeline_vs_imagemagick": (one / result["floor"]["imagemagick_per_s"]
                                    if "imagemagick_per_s" in result["floor"] else None),
        "two_vs_one_worker": result["two_workers"]["images_per_s"] / one,
        "render_process_vs_in_process": result["render_cost"]["ratio"],
        "pipeline_vs_in_process_render": one / result["render_cost"]["in_process_per_s"],
        "two_workers_vs_floor_all_cores": (result["two_workers"]["images_per_s"]
                                           / result["floor_all_cores"]["floor_per_s"]
                                           if "floor_all_cores" in result else None),
        "backlog_last_vs_first": result["backlog"]["last_vs_first"],
    }
    report(result)
    result["missed"] = check_targets(targets(result))
    print(f"saved {save('pipeline', result)}")
    return result


def targets(r: dict[str, Any]) -> list[Target]:
    ratios, loaded = r["ratios"], r["upload_loaded"]
    peaks = r["one_worker"]["peak_rss_mb"] + r["two_workers"]["peak_rss_mb"]
    out = [
        Target("pipeline / libvips one-decode floor (24 + 45 MP)", ratios["pipeline_vs_libvips_floor"], ">=", 1.3),
        Target("pipeline / scaled-decode floor", ratios["pipeline_vs_scaled_floor"], ">=", 0.9),
        Target("2 workers / 1 worker", ratios["two_vs_one_worker"], ">=", 1.8),
        Target("render process / in-process render", ratios["render_process_vs_in_process"], ">=", 0.97),
        Target("worker peak RSS, 24 + 45 MP files", max(peaks), "<", 150, " MB"),
        Target("upload 10 MB under load, p50", loaded["upload_10mb_ms"]["p50"], "<", 50, " ms"),
        Target("upload 10 MB under load, p99", loaded["upload_10mb_ms"]["p99"], "<", 150, " ms"),
        Target("upload 1 MB under load, p99", loaded["upload_1mb_ms"]["p99"], "<", 150, " ms"),
        Target("backlog: last / first jobs per second", ratios["backlog_last_vs_first"], ">=", 0.9),
        # interactive work first: an enhance asked for during a preview backlog stays about as fast
        Target("enhance under a preview backlog / alone, p50", r["enhance_loaded"]["loaded_vs_alone_p50"],
               "<=", 1.5),
    ]
    if ratios["pipeline_vs_imagemagick"] is not None:
        out.insert(2, Target("pipeline / ImageMagick convert", ratios["pipeline_vs_imagemagick"], ">=", 5))
    return out


def report(r: dict[str, Any]) -> None:
    def row(name: str, value: str, note: str = "") -> None:
        print(f"{name:<48}{value:>18}  {note}")

    fl = r["floor"]
    print(f"{'measure':<48}{'value':>18}")
    row("preview throughput, 1 worker (img/s)", f"{r['one_worker']['images_per_s']:.2f}")
    row("preview throughput, 2 workers (img/s)", f"{r['two_workers']['images_per_s']:.2f}")
    row(f"libvips one-decode floor, {fl['vips_threads']:.0f} thread (img/s)", f"{fl['pyvips_per_s']:.2f}")
    row("Pillow draft floor (img/s)", f"{fl['pillow_per_s']:.2f}")
    row("scaled-decode floor, simplejpeg (img/s)", f"{fl['scaled_per_s']:.2f}")
    for name, rate in r.get("bindings", {}).items():
        row(f"  binding comparison: {name} (img/s)", f"{rate:.2f}")
    c = r["render_cost"]
    row("worker render in-process (img/s)", f"{c['in_process_per_s']:.2f}")
    row("worker render via its render process (img/s)", f"{c['render_process_per_s']:.2f}")
    row("pipeline / in-process render", f"{r['ratios']['pipeline_vs_in_process_render']:.2f}", "no target")
    if "floor_all_cores" in r:
        f = r["floor_all_cores"]
        row(f"libvips floor on {f['vips_threads']:.0f} threads (img/s)", f"{f['pyvips_per_s']:.2f}")
    if "imagemagick_per_s" in fl:
        row("ImageMagick convert (img/s)", f"{fl['imagemagick_per_s']:.2f}")
    ratios = r["ratios"]
    if ratios["two_workers_vs_floor_all_cores"] is not None:
        row("2 workers / all-cores floor", f"{ratios['two_workers_vs_floor_all_cores']:.2f}", "no target")
    row("worker peak RSS per run (MB)", " / ".join(f"{m:.0f}" for m in
                                                    r["one_worker"]["peak_rss_mb"] + r["two_workers"]["peak_rss_mb"]))
    a, loaded = r["upload_alone_ms"], r["upload_loaded"]
    row("upload 1 MB p50/p95/p99 alone (ms)", f"{a['p50']:.0f}/{a['p95']:.0f}/{a['p99']:.0f}", "no target")
    for label in ("1mb", "10mb"):
        u = loaded[f"upload_{label}_ms"]
        row(f"upload {label[:-2]} MB p50/p95/p99 under load (ms)", f"{u['p50']:.0f}/{u['p95']:.0f}/{u['p99']:.0f}")
    row("  preview jobs still waiting after the last sample", f"{loaded['backlog_left']}", "> 0: load held")
    u = r["upload_to_ready"]["seconds"]
    e = r["enhance_loaded"]
    row("enhance p50/p99 alone (ms)", f"{e['alone_ms']['p50']:.0f}/{e['alone_ms']['p99']:.0f}", "1.25x of a 4 MP photo")
    row("enhance p50/p99 under a preview backlog (ms)",
        f"{e['loaded_ms']['p50']:.0f}/{e['loaded_ms']['p99']:.0f}")
    row("  preview jobs still waiting after the last enhance", f"{e['backlog_left']}", "> 0: load held")
    row("upload-to-ready p50/p95/p99 (s)", f"{u['p50']:.2f}/{u['p95']:.2f}/{u['p99']:.2f}", "no target")
    b = r["backlog"]
    row(f"backlog {b['jobs']} jobs: first/last {b['chunk']} (jobs/s)",
        f"{b['first_chunk_per_s']:.1f}/{b['last_chunk_per_s']:.1f}")


if __name__ == "__main__":
    main_of(run, __doc__, "a few images only (smoke run)")
