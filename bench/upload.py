"""Upload latency benchmark: `make bench-upload` (or `python -m bench.upload [--quick]`).

Runs the real upload service (uvicorn, real PostgreSQL, RabbitMQ, ExifTool,
file store) in a child process and measures, in one run:
- p50/p95/p99 upload latency for 1, 10 and 25 MB JPEGs and a RAW, with 1 and 8
  concurrent clients;
- the floor: writing and hashing the same bytes to the same store in-process;
- the server's RSS growth while a 200 MB upload streams through it.
Prints a table and saves JSON under bench/results/.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from pathlib import Path
from typing import Any

import httpx

from bench.client import TOKEN, LeanClient, post_photo
from bench.common import (
    CORPUS,
    main_of,
    percentiles,
    photo,
    save,
    unique_copy,
    upload_stack,
)
from bench.rss import PeakRss


async def _one(client: LeanClient, data: bytes, name: str) -> float:
    started = time.perf_counter()
    await post_photo(client, data, name)
    return time.perf_counter() - started


async def measure(url: str, data: bytes, name: str, count: int, concurrency: int) -> list[float]:
    """Upload latency as a browser or curl sees it. The client is `LeanClient` (one write for
    the head, one for the body), not httpx: httpx spends about 25 ms of its own CPU sending a
    10 MB body (a server that only drains it answers in 44 ms through httpx, 18 ms through a
    plain socket), and on a two-core machine that CPU is taken from the server being measured
    and charged to it (bench/client.py, `LeanClient`)."""
    bodies = [unique_copy(data) for _ in range(count)]
    samples: list[float] = []
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for b in bodies:
        queue.put_nowait(b)
    clients = [LeanClient(url, TOKEN) for _ in range(concurrency)]
    try:
        await _one(clients[0], unique_copy(data), name)  # warm-up

        async def worker(client: LeanClient) -> None:
            while not queue.empty():
                body = queue.get_nowait()
                samples.append(await _one(client, body, name))

        await asyncio.gather(*(worker(c) for c in clients))
    finally:
        for client in clients:
            await client.close()
    return samples


def floor(store_root: Path, data: bytes, count: int) -> list[float]:
    """Hash the bytes and write them to the same filesystem store: the least an upload costs."""
    from shared.settings import Settings
    from shared.storage.fs import FileStore

    store = FileStore(store_root)
    samples = []

    async def run() -> None:
        for i in range(count):
            body = unique_copy(data)
            started = time.perf_counter()
            hashlib.sha256(body).hexdigest()
            await store.put_bytes(f"floor/{i}.jpg", body)
            samples.append(time.perf_counter() - started)
            await store.delete(f"floor/{i}.jpg")

    asyncio.run(run())
    del Settings
    return samples


def rss_during_big_upload(url: str, pid: int, size: int) -> dict[str, float]:
    base = unique_copy(photo(24, name="rss-seed").read_bytes())  # never a duplicate of an earlier run
    chunk = 1024 * 1024

    def body():  # type: ignore[no-untyped-def]
        yield base
        sent = len(base)
        pad = b"\0" * chunk
        while sent < size:
            yield pad
            sent += chunk

    with PeakRss(pid) as rss:
        started = time.perf_counter()
        r = httpx.post(f"{url}/v1/uploads", content=body(), timeout=300,
                       headers=TOKEN | {"Content-Type": "image/jpeg", "X-Filename": "big.jpg"})
        elapsed = time.perf_counter() - started
    if r.status_code != 201:
        raise RuntimeError(f"200 MB upload answered {r.status_code}: {r.text[:200]}")
    return {"bytes": size, "seconds": elapsed, "rss_before_mb": rss.before_mb,
            "rss_peak_mb": rss.peak_mb, "rss_growth_mb": rss.growth_mb}


def run(quick: bool = False) -> dict[str, Any]:
    files: dict[str, Path] = {
        "1MB jpeg": photo(4, 1_000_000, "1mb"),
        "10MB jpeg": photo(24, 10_000_000, "10mb"),
        "25MB jpeg": photo(45, 25_000_000, "25mb"),
    }
    raw = CORPUS / "raw" / "canon-r6.cr3"
    if raw.exists():
        files["RAW (CR3)"] = raw
    counts = {"1MB jpeg": 60, "10MB jpeg": 40, "25MB jpeg": 20, "RAW (CR3)": 30}
    if quick:
        counts = {k: 4 for k in counts}
    rows: list[dict[str, Any]] = []
    with upload_stack("up", PROPHOTO_MAX_UPLOAD_BYTES=str(400 * 2**20)) as up:
        store_root = Path(up.env["PROPHOTO_TEMP_STORE"][len("file://"):])
        for label, path in files.items():
            data = path.read_bytes()
            base = percentiles(floor(store_root, data, counts[label]))
            for conc in (1, 8):
                samples = asyncio.run(measure(up.url, data, path.name, counts[label], conc))
                stats = percentiles(samples)
                rows.append({"file": label, "bytes": len(data), "concurrency": conc,
                             "upload_ms": {k: v * 1000 if k != "n" else v for k, v in stats.items()},
                             "store_write_ms": {k: v * 1000 if k != "n" else v for k, v in base.items()},
                             "p50_vs_store_write": stats["p50"] / base["p50"]})
        big = rss_during_big_upload(up.url, up.upload.pid, (20 if quick else 200) * 2**20)
    result = {"rows": rows, "big_upload": big,
              "targets": {"10MB p50 ms": 50, "10MB p99 ms": 150, "200MB rss growth mb": 30}}
    report(result)
    path = save("upload", result)
    print(f"saved {path}")
    return result


def report(result: dict[str, Any]) -> None:
    print(f"{'file':<12}{'conc':>5}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'write p50':>11}{'ratio':>7}")
    for r in result["rows"]:
        u, w = r["upload_ms"], r["store_write_ms"]
        print(f"{r['file']:<12}{r['concurrency']:>5}{u['p50']:>9.1f}{u['p95']:>9.1f}{u['p99']:>9.1f}"
              f"{w['p50']:>11.1f}{r['p50_vs_store_write']:>7.2f}")
    b = result["big_upload"]
    print(f"{b['bytes'] / 2**20:.0f} MB upload: {b['seconds']:.2f} s, server RSS "
          f"{b['rss_before_mb']:.0f} -> {b['rss_peak_mb']:.0f} MB (+{b['rss_growth_mb']:.1f} MB)")


if __name__ == "__main__":
    main_of(run, __doc__, "a few uploads only (smoke run)")
