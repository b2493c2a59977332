"""Finalize benchmark: `python -m bench.finalize [--quick]` (also part of `make bench`).

How long one confirmed proxy takes to become an Image, through the real
finalize worker (a child process) on the real RabbitMQ, PostgreSQL, ExifTool
and store. Proxies are made directly (row + original + preview + thumbnail +
EXIF thumbnail in the temp store, as upload and preview leave them) from
corpus JPEGs of different sizes, each copy with its own bytes; then one
worker drains the queue.

- per-image time: with one worker and prefetch 1 the jobs run one after
  another, so the gaps between consecutive Image inserts (database clock) are
  each image's whole cycle: delivery, full ExifTool read, key allocation,
  copy, sha256 check, insert, clean-up, ack. The worker's own per-attempt
  duration (its `finalize` trace events) is reported beside it;
- throughput: images / (last insert - first publish), database clock;
- the floor, measured in the same run: the same bytes copied between two
  directories and the copy sha256'd, in-process; and the full ExifTool read
  alone (persistent process), the step the floor leaves out and finalize
  cannot;
- the filesystem store, then both stores on a moto S3 server (server-side
  copy), when moto is installed.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid as uuidlib
from pathlib import Path
from typing import Any

from bench.common import (
    CACHE,
    CORPUS,
    Stack,
    await_all,
    bench_env,
    clean_up,
    free_port,
    main_of,
    percentiles,
    photo,
    save,
    unique_copy,
    wait_http,
)

#: corpus JPEGs from 8 KB to 2.3 MB, with and without camera EXIF
FILES = [
    "jpeg/Canon_40D.jpg", "jpeg/Canon_PowerShot_S40.jpg", "jpeg/Nikon D1X.jpg", "jpeg/DSCN0010.jpg",
    "jpeg/Canon EOS 7D.jpg", "jpeg/prairie_falcon.jpg", "jpeg/Samsung SM-J327T1.jpg", "jpeg/sky.jpg",
]


def settings_for(env: dict[str, str]) -> Any:
    from shared.settings import Settings

    return Settings(**{k.removeprefix("PROPHOTO_").lower(): v for k, v in env.items()
                       if k.startswith("PROPHOTO_")
                       and k.removeprefix("PROPHOTO_").lower() in Settings.model_fields})


def ms(samples: list[float]) -> dict[str, float]:
    return {k: (v * 1000 if k != "n" else v) for k, v in percentiles(samples).items()}


# ---- proxies, as upload + preview leave them -----------------------------------------

def _small_jpeg(data: bytes, width: int) -> bytes:
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(data)) as im:
        upright = ImageOps.exif_transpose(im).convert("RGB")
        upright.thumbnail((width, width))
        out = io.BytesIO()
        upright.save(out, "JPEG", quality=85)
        return out.getvalue()


async def make_proxies(settings: Any, user: str, sources: list[Path], n: int) -> list[tuple[str, str, int]]:
    """n proxies cycling through `sources`; returns (uuid, source name, size) each."""
    from shared import keys as storage_keys
    from shared.db import create_pool
    from shared.filetype import detect
    from shared.storage import open_store

    originals = {p.name: p.read_bytes() for p in sources}
    derived = {name: (_small_jpeg(d, 2048), _small_jpeg(d, 400), _small_jpeg(d, 160))
               for name, d in originals.items()}
    store = open_store(settings.temp_store, settings.stores.s3)
    pool = await create_pool(settings.database, max_size=4)
    made: list[tuple[str, str, int]] = []
    try:
        async def one(i: int) -> None:
            name = sources[i % len(sources)].name
            data = unique_copy(originals[name])
            ftype = detect(data[:4096])
            assert ftype is not None, name
            uuid = uuidlib.uuid4()
            keys = (storage_keys.original_key(uuid, ftype.ext), storage_keys.preview_key(uuid),
                    storage_keys.thumb_key(uuid), storage_keys.exif_thumb_key(uuid))
            await store.put_bytes(keys[0], data, ftype.mime)
            for key, body in zip(keys[1:], derived[name], strict=True):
                await store.put_bytes(key, body, "image/jpeg")
            await pool.execute(
                """INSERT INTO proxy_images (uuid, user_id, original_name, ext, mime, format, size, sha256,
                       temp_key, exif_thumb_key, metadata, preview_status, preview_path, thumbnail_path,
                       ingest_status, uploaded_at)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'ready', $12, $13, NULL, now())""",
                uuid, user, name, ftype.ext, ftype.mime, ftype.format, len(data),
                hashlib.sha256(data).hexdigest(), keys[0], keys[3], {}, keys[1], keys[2],
            )
            made.append((str(uuid), name, len(data)))

        for start in range(0, n, 16):
            await asyncio.gather(*(one(i) for i in range(start, min(n, start + 16))))
    finally:
        await pool.close()
        await store.close()
    return made


# ---- the worker draining the queue ---------------------------------------------------

async def queue_and_wait(settings: Any, user: str, uuids: list[str], timeout: float) -> dict[str, Any]:
    """Confirm every proxy, publish its job, wait for all Images; timings on the database clock."""
    import asyncpg

    from shared.broker.publisher import AmqpPublisher, publish_command
    from shared.broker.topology import Topology
    from shared.messages import FinalizeIngest

    conn = await asyncpg.connect(settings.database_url)
    publisher = AmqpPublisher(settings.broker, Topology(settings))
    await publisher.connect(declare=False)
    try:
        await conn.execute("UPDATE proxy_images SET ingest_status = 'queued' WHERE uuid = ANY($1::uuid[])",
                           uuids)
        started = float(await conn.fetchval("SELECT extract(epoch FROM clock_timestamp())"))
        topology = Topology(settings)
        for u in uuids:
            await publish_command(publisher, topology,
                                  FinalizeIngest(uuid=uuidlib.UUID(u), user_id=user))
        await await_all(
            conn, "SELECT (SELECT count(*) FROM images WHERE proxy_uuid = ANY($1::uuid[])),"
            " (SELECT count(*) FROM proxy_images WHERE uuid = ANY($1::uuid[]) AND ingest_status = 'failed')",
            uuids, "finalize jobs", timeout)
        rows = await conn.fetch(
            "SELECT proxy_uuid::text AS uuid, extract(epoch FROM created_at) AS t FROM images"
            " WHERE proxy_uuid = ANY($1::uuid[]) ORDER BY created_at", uuids)
    finally:
        await publisher.close()
        await conn.close()
    return {"started": started, "inserted": [(r["uuid"], float(r["t"])) for r in rows]}


async def worker_durations(settings: Any) -> list[float]:
    """The worker's own duration of each successful attempt, from its trace events (seconds)."""
    import aio_pika

    out: list[float] = []
    connection = await aio_pika.connect(settings.amqp_url, timeout=10)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(settings.queue_traces, passive=True)
        while (message := await queue.get(no_ack=True, fail=False)) is not None:
            event = json.loads(message.body)
            if event.get("trace_type") == "finalize" and event.get("success"):
                out.append(float(event["duration_ms"]) / 1000)
    return out


def measure(env: dict[str, str], sources: list[Path], n: int) -> dict[str, Any]:
    settings = settings_for(env)
    user = f"bench-{settings.exchange}"
    stack = Stack(env)
    try:
        port = free_port()
        stack.start("finalize", {"PROPHOTO_FINALIZE_METRICS_PORT": str(port)})
        wait_http(f"http://127.0.0.1:{port}/healthz", timeout=60)  # also declares the topology
        made = asyncio.run(make_proxies(settings, user, sources, n))
        timed = asyncio.run(queue_and_wait(settings, user, [u for u, _, _ in made], timeout=60 + 5 * n))
        stack.stop()
        own = asyncio.run(worker_durations(settings))
    finally:
        stack.stop()
        clean_up(env)
    source_of = {u: name for u, name, _ in made}
    per_image: list[float] = []
    by_file: dict[str, list[float]] = {}
    previous = timed["started"]
    for u, t in timed["inserted"]:
        per_image.append(t - previous)
        by_file.setdefault(source_of[u], []).append(t - previous)
        previous = t
    elapsed = timed["inserted"][-1][1] - timed["started"]
    return {
        "images": n, "bytes": sum(s for _, _, s in made), "seconds": elapsed, "images_per_s": n / elapsed,
        "per_image_ms": ms(per_image), "worker_attempt_ms": ms(own),
        "per_file_p50_ms": {name: percentiles(v)["p50"] * 1000 for name, v in sorted(by_file.items())},
    }


# ---- the floor -----------------------------------------------------------------------

def floor(sources: list[Path], n: int) -> dict[str, Any]:
    """The same n bodies copied between two directories and the copies hashed, in-process."""
    with tempfile.TemporaryDirectory(prefix="prophoto-bench-floor-") as tmp:
        src, dst = Path(tmp) / "src", Path(tmp) / "dst"
        src.mkdir()
        dst.mkdir()
        bodies = [src / f"{i}.jpg" for i in range(n)]
        for i, path in enumerate(bodies):
            path.write_bytes(unique_copy(sources[i % len(sources)].read_bytes()))
        samples = []
        for path in bodies:
            started = time.perf_counter()
            target = dst / path.name
            shutil.copyfile(path, target)
            h = hashlib.sha256()
            with target.open("rb") as fh:
                while chunk := fh.read(1024 * 1024):
                    h.update(chunk)
            h.hexdigest()
            samples.append(time.perf_counter() - started)
    return {"per_image_ms": ms(samples), "images_per_s": n / sum(samples)}


def exiftool_read(sources: list[Path], n: int) -> dict[str, Any]:
    """A full ExifTool read per image (persistent -stay_open process), as finalize does."""
    from shared.exif import ExifTool, ReadMode

    tool = ExifTool()
    try:
        tool.read(sources[0], mode=ReadMode.FULL)  # start the process outside the timing
        samples = []
        for i in range(n):
            started = time.perf_counter()
            tool.read(sources[i % len(sources)], mode=ReadMode.FULL)
            samples.append(time.perf_counter() - started)
    finally:
        tool.close()
    return {"per_image_ms": ms(samples)}


# ---- S3 (moto) -----------------------------------------------------------------------

def start_moto() -> tuple[subprocess.Popen[bytes], str] | None:
    try:
        import moto.server  # noqa: F401
    except ImportError:
        return None
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_http(endpoint + "/", timeout=30)
    except RuntimeError:
        stop_moto(proc)
        return None
    return proc, endpoint


def stop_moto(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# ---- the run -------------------------------------------------------------------------

def run(quick: bool = False) -> dict[str, Any]:
    from shared.migrate import migrate

    sources = [CORPUS / f for f in FILES if (CORPUS / f).exists()]
    if not sources:  # no corpus beside the repo: generated photos with EXIF, small to large
        print(f"no corpus JPEGs under {CORPUS}; using generated photos")
        sources = [photo(0.3, name="fin-0.3mp"), photo(4, 1_000_000, "1mb"), photo(12, name="fin-12mp")]
    n = 10 if quick else 200
    n_s3 = 6 if quick else 100
    file_env = bench_env("fin")
    prefix = file_env["PROPHOTO_EXCHANGE"]
    # a literal first segment of this run: the directory is new, as a fresh shoot's is
    pattern = f"{prefix}/{{year}}/{{month}}/{{camera}}"
    root = CACHE / "store" / prefix
    file_env |= {"PROPHOTO_TEMP_STORE": f"file://{root / 'temp'}",
                 "PROPHOTO_FINAL_STORE": f"file://{root / 'final'}", "PROPHOTO_SCHEMA_PATTERN": pattern}
    asyncio.run(migrate(settings_for(file_env).database))
    result: dict[str, Any] = {
        "sources": {p.name: p.stat().st_size for p in sources}, "schema_pattern": "<run>/{year}/{month}/{camera}",
    }
    try:
        result["file"] = measure(file_env, sources, n)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    result["floor_copy_sha256"] = floor(sources, n)
    result["exiftool_full_read"] = exiftool_read(sources, n)
    moto = start_moto()
    if moto is None:
        result["s3"] = None
    else:
        proc, endpoint = moto
        try:
            s3_env = bench_env("fins3")
            tag = s3_env["PROPHOTO_EXCHANGE"].lower()
            s3_env |= {"PROPHOTO_S3_ENDPOINT": endpoint, "PROPHOTO_S3_ACCESS_KEY": "bench",
                       "PROPHOTO_S3_SECRET_KEY": "bench-secret",
                       "PROPHOTO_TEMP_STORE": f"s3://{tag}-temp/temp",
                       "PROPHOTO_FINAL_STORE": f"s3://{tag}-final/final",
                       "PROPHOTO_SCHEMA_PATTERN": f"{tag}/{{year}}/{{month}}/{{camera}}"}
            asyncio.run(migrate(settings_for(s3_env).database))
            result["s3"] = measure(s3_env, sources, n_s3) | {"server": "moto (same endpoint: server-side copy)"}
        finally:
            stop_moto(proc)
    floor_p50 = result["floor_copy_sha256"]["per_image_ms"]["p50"]
    result["ratios"] = {
        "file_vs_floor_p50": result["file"]["per_image_ms"]["p50"] / floor_p50,
        "file_vs_floor_throughput": result["floor_copy_sha256"]["images_per_s"] / result["file"]["images_per_s"],
        "file_vs_exiftool_p50": (result["file"]["per_image_ms"]["p50"]
                                 / result["exiftool_full_read"]["per_image_ms"]["p50"]),
        "s3_vs_file_p50": (result["s3"]["per_image_ms"]["p50"] / result["file"]["per_image_ms"]["p50"]
                           if result["s3"] else None),
    }
    report(result)
    print(f"saved {save('finalize', result)}")
    return result


def report(r: dict[str, Any]) -> None:
    def row(name: str, value: str, note: str = "") -> None:
        print(f"{name:<48}{value:>22}  {note}")

    def p(d: dict[str, float]) -> str:
        return f"{d['p50']:.1f}/{d['p95']:.1f}/{d['p99']:.1f}"

    print(f"{'measure':<48}{'value':>22}")
    f = r["file"]
    row(f"finalize, file store, {f['images']} images: img/s", f"{f['images_per_s']:.1f}", "1 worker")
    row("finalize per image p50/p95/p99 (ms)", p(f["per_image_ms"]), "gaps between inserts")
    row("  worker's own attempt p50/p95/p99 (ms)", p(f["worker_attempt_ms"]), "trace events")
    if r["s3"]:
        s = r["s3"]
        row(f"finalize, S3 (moto), {s['images']} images: img/s", f"{s['images_per_s']:.1f}", "1 worker")
        row("finalize per image on S3 p50/p95/p99 (ms)", p(s["per_image_ms"]))
    row("floor: copy + sha256 p50/p95/p99 (ms)", p(r["floor_copy_sha256"]["per_image_ms"]))
    row("ExifTool full read alone p50/p95/p99 (ms)", p(r["exiftool_full_read"]["per_image_ms"]))
    ratios = r["ratios"]
    row("finalize / floor (p50)", f"{ratios['file_vs_floor_p50']:.0f}x")
    row("finalize / ExifTool read (p50)", f"{ratios['file_vs_exiftool_p50']:.1f}x")
    if ratios["s3_vs_file_p50"] is not None:
        row("S3 / file store (p50)", f"{ratios['s3_vs_file_p50']:.1f}x")


if __name__ == "__main__":
    main_of(run, __doc__, "a few images only (smoke run)")
