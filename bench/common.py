"""Helpers shared by the benchmarks: test photos, percentiles, a stack in subprocesses (`upload_stack`), the command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / "bench" / "cache"
RESULTS = Path(os.environ.get("PROPHOTO_BENCH_RESULTS", REPO / "bench" / "results"))
CORPUS = Path(os.environ.get("PROPHOTO_CORPUS", REPO.parent / "shared" / "corpus"))
#: PROPHOTO_BENCH_SMOKE=1 (the test suite's smoke runs, tests/e2e/test_bench_smoke.py): every
#: generated photo at most SMOKE_MEGAPIXELS and SMOKE_BYTES, cached apart from the real ones.
#: A smoke run shows that a benchmark runs end to end and saves its figures, not the figures.
SMOKE = os.environ.get("PROPHOTO_BENCH_SMOKE") == "1"
SMOKE_MEGAPIXELS = 2.0
SMOKE_BYTES = 1_500_000


def _sized(megapixels: float, target_bytes: int | None, label: str) -> tuple[float, int | None, str]:
    """What `photo` makes: as asked, or shrunk (and named apart) in a smoke run."""
    if not SMOKE:
        return megapixels, target_bytes, label
    return (min(megapixels, SMOKE_MEGAPIXELS), target_bytes and min(target_bytes, SMOKE_BYTES),
            f"{label}-smoke")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentiles(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {"n": 0}
    ordered = sorted(samples)

    def pick(p: float) -> float:
        k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
        return ordered[k]

    return {"n": len(ordered), "p50": pick(50), "p95": pick(95), "p99": pick(99),
            "mean": statistics.fmean(ordered)}


def photo(megapixels: float, target_bytes: int | None = None, name: str | None = None) -> Path:
    """A realistic JPEG (smooth gradients + texture + EXIF), generated once and cached."""
    import pyvips

    CACHE.mkdir(parents=True, exist_ok=True)
    label = name or f"{megapixels:g}mp" + (f"-{target_bytes // 1_000_000}mb" if target_bytes else "")
    megapixels, target_bytes, label = _sized(megapixels, target_bytes, label)
    path = CACHE / f"{label}.jpg"
    if path.exists():
        return path
    width = int((megapixels * 1e6 * 3 / 2) ** 0.5)
    height = int(width * 2 / 3)
    xy = pyvips.Image.xyz(width, height)
    x, y = xy[0], xy[1]
    r = (x * 255 / width)
    g = (y * 255 / height)
    b = ((x + y) * 127 / (width + height) + 64)
    base = r.bandjoin([g, b])
    texture = pyvips.Image.gaussnoise(width, height, sigma=24, mean=0)
    # made once in memory: each encode below would otherwise compute the noise and gradients again
    img = (base + texture.bandjoin([texture, texture])).cast("uchar").copy_memory()
    img.set_type(pyvips.GValue.gstr_type, "exif-ifd0-Make", "Canon (Canon, ASCII, 6 components, 6 bytes)")
    quality = 92
    data = img.jpegsave_buffer(Q=quality)
    if target_bytes:
        # tune quality so the file is close to the asked size
        for _ in range(6):
            if abs(len(data) - target_bytes) < target_bytes * 0.1:
                break
            quality = max(40, min(100, int(quality * (target_bytes / len(data)) ** 0.35)))
            data = img.jpegsave_buffer(Q=quality)
    path.write_bytes(data)
    _add_exif(path)
    return path


def _add_exif(path: Path) -> None:
    try:
        subprocess.run(
            ["exiftool", "-q", "-overwrite_original", "-Make=Canon", "-Model=Canon EOS R5",
             "-DateTimeOriginal=2025:01:17 10:20:30", "-Orientation#=1", str(path)],
            check=True, capture_output=True, timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        pass


def camera_photo(megapixels: float, target_bytes: int, name: str) -> Path:
    """`photo` plus what a camera writes: a 160x107 EXIF thumbnail in IFD1."""
    name = _sized(megapixels, target_bytes, name)[2]
    path = CACHE / f"{name}.jpg"
    if path.exists():
        return path
    import pyvips

    source = photo(megapixels, target_bytes, f"{name}-plain")
    thumb = CACHE / f"{name}-thumb.jpg"
    pyvips.Image.thumbnail(str(source), 160).jpegsave(str(thumb), Q=75, strip=True)
    staged = CACHE / f"{name}-staged.jpg"
    staged.write_bytes(source.read_bytes())
    subprocess.run(["exiftool", "-q", "-overwrite_original", f"-ThumbnailImage<={thumb}", str(staged)],
                   check=True, capture_output=True, timeout=60)
    staged.rename(path)
    return path


def unique_copy(data: bytes) -> bytes:
    """The same photo with different bytes (trailing data after EOI), so it is not a duplicate."""
    return data + uuid.uuid4().bytes


@dataclass
class Stack:
    """Services of the pipeline as child processes with their own queue names."""

    env: dict[str, str]
    procs: dict[str, list[subprocess.Popen[bytes]]] = field(default_factory=dict)
    log_dir: Path = field(default_factory=lambda: CACHE / "logs")

    def start(self, service: str, extra_env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        n = len(self.procs.get(service, []))
        log = open(self.log_dir / f"{service}-{n}.log", "wb")
        proc = subprocess.Popen([sys.executable, "-m", f"services.{service}"], cwd=REPO,
                                env=self.env | (extra_env or {}), stdout=log, stderr=subprocess.STDOUT)
        self.procs.setdefault(service, []).append(proc)
        return proc

    def stop(self, service: str | None = None) -> None:
        names = [service] if service else list(self.procs)
        for name in names:
            for p in self.procs.get(name, []):
                if p.poll() is None:
                    p.terminate()
            for p in self.procs.get(name, []):
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
            self.procs[name] = []


def clean_up(env: dict[str, str]) -> None:
    """Remove everything the run made: its queues and exchanges, its database, its stored files.

    Each run has its own names, database and store folder (`bench_env`), so
    nothing is left to slow the next run down or to fill the disk.
    """
    import shutil

    import aio_pika
    import asyncpg

    from shared.broker.topology import Topology
    from shared.settings import Settings

    settings = Settings(**{k.removeprefix("PROPHOTO_").lower(): v for k, v in env.items()
                           if k.startswith("PROPHOTO_") and k.removeprefix("PROPHOTO_").lower()
                           in Settings.model_fields})

    async def drop_topology() -> None:
        connection = await aio_pika.connect(settings.amqp_url, timeout=10)
        async with connection:
            await Topology(settings).delete(await connection.channel())

    async def drop_database() -> None:
        base, _, name = settings.database_url.rpartition("/")
        admin = await asyncpg.connect(f"{base}/postgres")
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()

    for what, step in (("queues", drop_topology), ("database", drop_database)):
        try:
            asyncio.run(step())
        except Exception as exc:  # a service that is gone has nothing left to clean
            print(f"could not remove the benchmark's {what}: {exc}", file=sys.stderr)
    for key in ("PROPHOTO_TEMP_STORE", "PROPHOTO_FINAL_STORE"):
        url = env.get(key, "")
        if url.startswith("file://") and Path(url[len("file://"):]).is_relative_to(CACHE / "store"):
            shutil.rmtree(url[len("file://"):], ignore_errors=True)


async def fetch_value(db_url: str, sql: str, *args: Any) -> Any:
    """One value of one query, on a connection of its own (opened and closed here)."""
    import asyncpg

    conn = await asyncpg.connect(db_url)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def await_all(conn: Any, count_sql: str, uuids: list[str], what: str, timeout: float) -> None:
    """Poll `count_sql` (-> done, failed over `$1::uuid[]`) until every uuid is done.

    Raises as soon as one has failed, or when `timeout` passes.
    """
    deadline = time.monotonic() + timeout
    while True:
        done, failed = await conn.fetchrow(count_sql, uuids)
        if failed:
            raise RuntimeError(f"{failed} {what} failed")
        if done == len(uuids):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {done}/{len(uuids)} {what} done in {timeout} s")
        await asyncio.sleep(0.1)


def bench_env(tag: str, **overrides: str) -> dict[str, str]:
    prefix = f"bench{tag}{uuid.uuid4().hex[:6]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROPHOTO_")}
    env.update({
        "PYTHONPATH": str(REPO),
        "PROPHOTO_ENV": "test",
        "PROPHOTO_API_TOKENS": "bench-token=bench",
        # a database of the run's own: created by its migration, dropped by `clean_up`
        "PROPHOTO_DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/prophoto_{prefix}",
        "PROPHOTO_TEMP_STORE": f"file://{CACHE / 'store' / prefix}",
        "PROPHOTO_FINAL_STORE": f"file://{CACHE / 'store' / prefix}",
        "PROPHOTO_EXCHANGE": prefix,
        "PROPHOTO_QUEUE_PREVIEW": f"{prefix}-ingest-preview",
        "PROPHOTO_QUEUE_FINALIZE": f"{prefix}-ingest",
        "PROPHOTO_QUEUE_ENHANCE": f"{prefix}-ingest-enhance",
        "PROPHOTO_QUEUE_TRACES": f"{prefix}-ingest-traces",
        "PROPHOTO_LOG_LEVEL": "WARNING",
        # the HTTP services' metrics listeners: free ports, so two runs never collide
        "PROPHOTO_UPLOAD_METRICS_PORT": str(free_port()),
        "PROPHOTO_TRACING_METRICS_PORT": str(free_port()),
        # one benchmark user sends thousands of uploads a minute: the quotas are checked on
        # every one as in production (their cost is measured), but set past what a run sends
        "PROPHOTO_QUOTA_UPLOADS_PER_MINUTE": "10000000",
        "PROPHOTO_QUOTA_BYTES_PER_DAY": str(1 << 50),
        "PROPHOTO_QUOTA_UNCONFIRMED_PROXIES": "10000000",
    })
    env.update(overrides)
    return env


def upload_env(tag: str, **overrides: str) -> tuple[dict[str, str], str]:
    """A run's environment with the upload service on a free loopback port, its database
    migrated; returns the environment and the service's URL."""
    import asyncio

    from shared.migrate import migrate
    from shared.resource_settings import DatabaseSettings

    port = free_port()
    env = bench_env(tag, PROPHOTO_UPLOAD_PORT=str(port), PROPHOTO_UPLOAD_HOST="127.0.0.1", **overrides)
    asyncio.run(migrate(DatabaseSettings(env["PROPHOTO_DATABASE_URL"])))
    return env, f"http://127.0.0.1:{port}"


@dataclass
class UploadStack:
    """A run's stack with its upload service answering (`upload_stack`)."""

    env: dict[str, str]
    url: str
    stack: Stack
    upload: subprocess.Popen[bytes]


@contextlib.contextmanager
def upload_stack(tag: str, **overrides: str) -> Iterator[UploadStack]:
    """The set-up most benchmarks share: a run's environment (`upload_env`), the upload service
    started and answering `/healthz`; on the way out every service stopped and the run's
    queues, database and files removed (`clean_up`)."""
    env, url = upload_env(tag, **overrides)
    stack = Stack(env)
    try:
        upload = stack.start("upload")
        wait_http(f"{url}/healthz", timeout=60)
        yield UploadStack(env, url, stack, upload)
    finally:
        stack.stop()
        clean_up(env)


def wait_http(url: str, timeout: float = 30.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def save(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    payload = {"benchmark": name, "date": stamp, "machine": machine()} | payload
    path = RESULTS / f"{name}-{stamp}.json"
    path.write_text(json.dumps(payload, indent=2))
    (RESULTS / f"{name}-latest.json").write_text(json.dumps(payload, indent=2))
    return path


def machine() -> dict[str, Any]:
    import platform

    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}


@dataclass(frozen=True)
class Target:
    """One line of a report that has a target: `value` must be `op` (">=" or "<") `limit`."""

    name: str
    value: float
    op: str
    limit: float
    unit: str = ""

    @property
    def met(self) -> bool:
        return self.value >= self.limit if self.op == ">=" else self.value < self.limit

    def line(self) -> str:
        verdict = "met" if self.met else "MISSED"
        return f"{self.name:<52}{self.value:>10.2f}{self.unit:<3} target {self.op} {self.limit:g}{self.unit}  {verdict}"


def command_line(doc: str | None, quick: str) -> argparse.ArgumentParser:
    """A benchmark's command line: its docstring as the description, `--quick` for a smoke run."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help=quick)
    return parser


def main_of(run: Callable[..., object], doc: str | None, quick: str) -> None:
    """What `python -m bench.<name> [--quick]` does: one run of the benchmark."""
    run(quick=command_line(doc, quick).parse_args().quick)


def check_targets(targets: list[Target]) -> list[str]:
    """Print every target line; return the lines of the missed ones (`make bench` fails on them)."""
    print("targets:")
    for t in targets:
        print("  " + t.line())
    return [t.line() for t in targets if not t.met]
