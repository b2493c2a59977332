"""The soak: many unique uploads through `prophoto dev` while a seeded schedule breaks things.

Clients upload like a real client does: each file until it is answered 2xx,
pausing as `Retry-After` says on a 503 and backing off on a dropped
connection (a 200 "duplicate" answer means an earlier try got in). Meanwhile
the fault schedule SIGKILLs preview, finalize and enhance workers and the
upload service (the supervisor restarts them), kills a RabbitMQ cluster node
and brings it back, and restarts PostgreSQL in fast mode. When every upload
is in, the faults stop, every ready proxy is confirmed, and the checker
waits for the pipeline to settle and counts (Jepsen-style):

- accepted = ready + failed-with-a-reason (anything else is stuck);
- every ready proxy became exactly one Image whose file has the uploaded
  sha256; no two Images share a path; no proxy row or temp file is left for
  a finalized upload; no message waits in a work or wait queue;
- parked jobs are listed with their reasons; every service answers /readyz.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import uuid as uuidlib
from dataclasses import dataclass, field
from pathlib import Path

import aio_pika
import asyncpg
import httpx
import psutil
from PIL import Image

from chaos.infra import OwnPostgres, RabbitCluster, bindable, port_open
from shared.broker.publisher import connect_once
from shared.broker.topology import PARK_REASON_HEADER, Topology
from shared.keys import TEMP_PREFIX
from shared.messages import Lane
from shared.settings import Settings

PROPHOTO = str(Path(sys.executable).with_name("prophoto"))
#: the upload service's janitor round in a soak: the orphans of killed uploads go within a
#: minute, and an upload slowed down by a fault between storing and recording it (a database
#: restart) is still recorded long before two rounds have seen it without its proxy
JANITOR_EVERY_S = 10.0
TOKEN = "chaos-token-0123456789abcdef"
FAULT_KINDS = ("kill preview", "kill finalize", "kill enhance", "kill upload", "kill node",
               "restart database")
#: faults a plan may also name: the node leading the preview queue, the upload service's node
PLANNED_KINDS = (*FAULT_KINDS, "kill preview leader node", "kill bulk leader node",
                 "kill upload node", "broker outage")


@dataclass
class SoakConfig:
    uploads: int = 300
    clients: int = 4
    seed: int = 1
    preview_workers: int = 2
    fault_every_s: float = 4.0
    node_down_s: float = 6.0
    database_down_s: float = 3.0
    settle_timeout_s: float = 600.0
    #: exactly these faults, one every `fault_every_s`, instead of the seeded schedule; a plan
    #: runs to its end even when the uploads are in before it
    fault_plan: tuple[str, ...] | None = None
    #: > 0: the whole cluster is killed this long (once, as the first fault), then revived
    broker_outage_s: float = 0.0
    #: each client's pause between two uploads (keeps the soak going while the faults strike)
    pace_s: float = 1.5
    #: > 0: every n-th upload asks for the bulk lane (`?bulk=true`): work in both preview lanes
    bulk_every: int = 0


@dataclass
class Fault:
    at_s: float
    kind: str
    detail: str = ""


@dataclass
class Report:
    config: SoakConfig
    accepted: int = 0
    attempts: int = 0
    answers: dict[str, int] = field(default_factory=dict)
    ready: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    stuck: list[str] = field(default_factory=list)
    images: int = 0
    missing_images: list[str] = field(default_factory=list)
    duplicate_images: list[str] = field(default_factory=list)
    wrong_bytes: list[str] = field(default_factory=list)
    shared_paths: list[str] = field(default_factory=list)
    leftover_proxies: list[str] = field(default_factory=list)
    leftover_files: list[str] = field(default_factory=list)
    queued: dict[str, int] = field(default_factory=dict)
    parked: list[str] = field(default_factory=list)
    unhealthy: list[str] = field(default_factory=list)
    restarts: dict[str, int] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    upload_s: float = 0.0
    settle_s: float = 0.0

    def problems(self) -> list[str]:
        out = []
        if self.stuck:
            out.append(f"{len(self.stuck)} stuck (neither ready nor failed): {self.stuck[:5]}")
        failed_silently = [u for u, why in self.failed.items() if not why]
        if failed_silently:
            out.append(f"{len(failed_silently)} failed without a reason")
        for name in ("missing_images", "duplicate_images", "wrong_bytes", "shared_paths",
                     "leftover_proxies", "leftover_files", "unhealthy"):
            items = getattr(self, name)
            if items:
                out.append(f"{name.replace('_', ' ')}: {len(items)} {items[:5]}")
        waiting = {q: n for q, n in self.queued.items() if n}
        if waiting:
            out.append(f"messages left in work queues: {waiting}")
        if self.answers.get("500"):
            out.append(f"{self.answers['500']} answers were a plain 500")
        timeouts = sum(n for a, n in self.answers.items() if "Timeout" in a and a != "ConnectTimeout")
        if timeouts:
            out.append(f"{timeouts} requests hung past the client's timeout")
        if self.accepted != self.config.uploads:
            out.append(f"only {self.accepted} of {self.config.uploads} uploads were accepted")
        return out

    def render(self) -> str:
        c = self.config
        lines = [
            f"soak: {c.uploads} unique uploads from {c.clients} clients, seed {c.seed}, "
            f"{c.preview_workers} preview workers",
            f"  uploads took {self.upload_s:.1f} s ({self.attempts} requests: "
            + ", ".join(f"{k} x{v}" for k, v in sorted(self.answers.items())) + ")",
            f"  accepted {self.accepted} = ready {self.ready} + failed {len(self.failed)}"
            f" + stuck {len(self.stuck)}",
            f"  images {self.images} (missing {len(self.missing_images)}, duplicate "
            f"{len(self.duplicate_images)}, wrong bytes {len(self.wrong_bytes)}, shared paths "
            f"{len(self.shared_paths)}); settled {self.settle_s:.1f} s after the faults ended",
            f"  left behind: {len(self.leftover_proxies)} proxies, {len(self.leftover_files)} temp "
            f"files; queued messages: {sum(self.queued.values())}",
            f"  parked: {len(self.parked)}" + "".join(f"\n    {p}" for p in self.parked[:20]),
            "  restarts by the supervisor: "
            + (", ".join(f"{k} x{v}" for k, v in sorted(self.restarts.items())) or "none"),
            f"  faults ({len(self.faults)}):",
            *(f"    +{f.at_s:6.1f} s  {f.kind}{(' (' + f.detail + ')') if f.detail else ''}"
              for f in self.faults),
        ]
        if self.failed:
            lines.append("  failed previews: " + "; ".join(
                f"{u[:8]}: {why}" for u, why in list(self.failed.items())[:10]))
        problems = self.problems()
        lines.append("RESULT: " + ("PASS" if not problems else "FAIL\n  " + "\n  ".join(problems)))
        return "\n".join(lines)


def unique_jpeg(index: int, seed: int) -> bytes:
    rnd = random.Random(seed * 1_000_003 + index)
    img = Image.frombytes("RGB", (96, 64), rnd.randbytes(96 * 64 * 3))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=85, comment=f"soak {seed} {index}".encode())
    return buf.getvalue()


class Stack:
    """`prophoto dev` on its own database, broker names, ports and store."""

    def __init__(self, settings: Settings, workdir: Path, preview_workers: int) -> None:
        self.settings = settings
        self.workdir = workdir
        self.lines: list[str] = []
        self.pids: dict[str, int] = {}
        env = {k: v for k, v in os.environ.items() if not k.startswith("PROPHOTO_")}
        env.update(settings_env(settings), NO_COLOR="1", PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [PROPHOTO, "dev", "--preview-workers", str(preview_workers)], cwd=workdir, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        started = re.compile(r"^supervisor +\| started (\S+) \(pid (\d+)")
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            if m := started.match(line):
                self.pids[m.group(1)] = int(m.group(2))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.upload_port}"

    def restarts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for line in self.lines:
            if m := re.match(r"^supervisor +\| restarting (\S+) in", line):
                counts[m.group(1)] = counts.get(m.group(1), 0) + 1
        return counts

    def kill(self, name: str) -> int | None:
        pid = self.pids.get(name)
        if pid is None:
            return None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)  # the child and its helpers (ExifTool, renderers)
        return pid

    def broker_node(self, name: str, cluster: RabbitCluster) -> int | None:
        """The cluster node child `name` has its broker connection(s) to, if any."""
        pid = self.pids.get(name)
        if pid is None:
            return None
        ports = {cluster.port(n): n for n in range(1, cluster.count + 1)}
        with contextlib.suppress(psutil.Error):
            for conn in psutil.Process(pid).net_connections(kind="tcp"):
                if conn.raddr and conn.raddr.port in ports:
                    return ports[conn.raddr.port]
        return None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    async def wait_ready(self, within_s: float = 180.0) -> None:
        """Until the upload service and every worker answer /readyz (workers start slower, and
        a fault must not strike one still starting: that is a different test)."""
        deadline = time.monotonic() + within_s
        waiting = ["upload"]
        async with httpx.AsyncClient(timeout=3) as c:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError("prophoto dev exited:\n" + "\n".join(self.lines[-30:]))
                urls = {"upload": f"{self.url}/readyz"} | {
                    name: f"http://127.0.0.1:{port}/readyz"
                    for name, port in self.metrics_ports().items()}
                waiting = []
                for name, url in urls.items():
                    try:
                        if (await c.get(url)).status_code != 200:
                            waiting.append(name)
                    except httpx.HTTPError:
                        waiting.append(name)
                if not waiting:
                    return
                await asyncio.sleep(0.5)
        raise RuntimeError(f"not ready: {waiting}\n" + "\n".join(self.lines[-30:]))

    def metrics_ports(self) -> dict[str, int]:
        ports = {"finalize": self.settings.finalize_metrics_port,
                 "enhance": self.settings.enhance_metrics_port}
        for line in self.lines:
            if m := re.match(r"^supervisor +\| started (preview-\d+) .*metrics port (\d+)", line):
                ports[m.group(1)] = int(m.group(2))
        return ports


def settings_env(settings: Settings) -> dict[str, str]:
    env: dict[str, str] = {}
    for name, value in settings.model_dump(mode="json").items():
        if value is None:
            continue
        if isinstance(value, dict | list):
            env[f"PROPHOTO_{name.upper()}"] = json.dumps(value)
        else:
            env[f"PROPHOTO_{name.upper()}"] = str(value).lower() if isinstance(value, bool) else str(value)
    return env


def free_ports(count: int) -> list[int]:
    """`count` ports nobody listens on, below the ephemeral range (32768+): a port chosen there
    can be taken by any outgoing connection before the service binds it (an upload service
    failed to start that way), while these are only ever taken by a listener."""
    rnd = random.SystemRandom()
    ports: list[int] = []
    while len(ports) < count:
        port = rnd.randrange(24000, 32000)
        if port not in ports and bindable(port) and not port_open(port):
            ports.append(port)
    return ports


class Soak:
    def __init__(self, config: SoakConfig, postgres: OwnPostgres, cluster: RabbitCluster,
                 workdir: Path) -> None:
        self.config = config
        self.postgres = postgres
        self.cluster = cluster
        self.workdir = workdir
        self.rnd = random.Random(config.seed)
        self.report = Report(config)
        self.accepted: dict[int, tuple[str, str]] = {}  # index -> (uuid, sha256)
        self.started = 0.0
        prefix = f"soak{uuidlib.uuid4().hex[:8]}"
        # a photographer of its own per run: runs sharing a database (the tests of one module) upload
        # the same seeded photos, which a kept Image of the same user would answer as duplicates
        self.user = f"soak-user-{prefix}"
        ports = free_ports(7)
        store = f"file://{workdir / 'store'}"
        self.settings = Settings(
            env="test", amqp_url=cluster.amqp_url, database_url=postgres.url,
            temp_store=store, final_store=store, exchange=prefix,
            queue_preview=f"{prefix}-ingest-preview", queue_finalize=f"{prefix}-ingest",
            queue_enhance=f"{prefix}-ingest-enhance", queue_traces=f"{prefix}-ingest-traces",
            api_tokens=f"{TOKEN}={self.user}", upload_port=ports[0], tracing_port=ports[1],
            preview_metrics_port=ports[2], finalize_metrics_port=ports[3],
            enhance_metrics_port=ports[4], upload_metrics_port=ports[5],
            tracing_metrics_port=ports[6], publish_timeout_s=5.0, outbox_poll_s=0.5,
            quota_uploads_per_minute=100_000,  # the soak's retries are not what it measures
            janitor_every_s=JANITOR_EVERY_S,
        )

    def now(self) -> float:
        return time.monotonic() - self.started

    async def run(self) -> Report:
        stack = Stack(self.settings, self.workdir, self.config.preview_workers)
        try:
            await stack.wait_ready()
            self.started = time.monotonic()
            done = asyncio.Event()
            faults = asyncio.create_task(self._faults(stack, done))
            await self._upload_all(stack)
            self.report.upload_s = self.now()
            done.set()
            await faults
            settle_from = time.monotonic()
            await self._settle_and_confirm(stack)
            self.report.settle_s = time.monotonic() - settle_from
            await self._check(stack)
            self.report.restarts = stack.restarts()
        finally:
            stack.stop()
            (self.workdir / "stack.log").write_text("\n".join(stack.lines))
        return self.report

    # -- clients --------------------------------------------------------------
    async def _upload_all(self, stack: Stack) -> None:
        todo: asyncio.Queue[int] = asyncio.Queue()
        for i in range(self.config.uploads):
            todo.put_nowait(i)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(base_url=stack.url, headers=headers, timeout=30) as client:
            await asyncio.gather(*(self._client(client, todo) for _ in range(self.config.clients)))

    async def _client(self, client: httpx.AsyncClient, todo: asyncio.Queue[int]) -> None:
        while not todo.empty():
            index = todo.get_nowait()
            data = unique_jpeg(index, self.config.seed)
            pause = 0.5
            while True:
                self.report.attempts += 1
                try:
                    bulk = self.config.bulk_every > 0 and index % self.config.bulk_every == 0
                    r = await client.post("/v1/uploads", params={"bulk": "true"} if bulk else None, files={
                        "file": (f"soak-{index}.jpg", data, "image/jpeg")})
                except httpx.HTTPError as exc:
                    self._count(type(exc).__name__)
                else:
                    self._count(str(r.status_code))
                    if r.status_code in (200, 201):
                        body = r.json()
                        self.accepted[index] = (body["uuid"], hashlib.sha256(data).hexdigest())
                        self.report.accepted = len(self.accepted)
                        await asyncio.sleep(self.config.pace_s)
                        break
                    if r.status_code < 500 and r.status_code != 429:
                        raise RuntimeError(f"upload {index} refused: {r.status_code} {r.text}")
                    with contextlib.suppress(KeyError, ValueError):
                        pause = float(r.headers["retry-after"])
                await asyncio.sleep(min(pause, 5.0))
                pause = min(pause * 2, 5.0)

    def _count(self, answer: str) -> None:
        self.report.answers[answer] = self.report.answers.get(answer, 0) + 1

    # -- faults -----------------------------------------------------------------
    async def _faults(self, stack: Stack, done: asyncio.Event) -> None:
        plan = self.config.fault_plan
        kinds = list(plan) if plan is not None else list(FAULT_KINDS)
        if plan is None:
            self.rnd.shuffle(kinds)  # every kind once first, then at random
            if self.config.broker_outage_s > 0:
                kinds.insert(0, "broker outage")
        # The seeded schedule strikes every kind at least once even when the uploads are in
        # first (after a long broker outage they are: they wait in the outbox), so its faults
        # also meet the backlog being worked off.
        first_round = len(kinds)
        n = 0
        while plan is not None or not done.is_set() or n < first_round:
            if plan is not None:
                if n >= len(kinds):
                    return
                await asyncio.sleep(self.config.fault_every_s)
            elif n < first_round:
                await asyncio.sleep(self.config.fault_every_s)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done.wait(), self.config.fault_every_s)
                    return
            kind = kinds[n] if n < len(kinds) else self.rnd.choice(FAULT_KINDS)
            n += 1
            await self._fault(stack, kind)

    async def _fault(self, stack: Stack, kind: str) -> None:
        at = self.now()
        if kind.startswith("kill ") and not kind.endswith(" node"):
            service = kind.split()[1]
            names = sorted(n for n in stack.pids if n == service or n.startswith(f"{service}-"))
            if not names:
                return
            name = self.rnd.choice(names)
            pid = stack.kill(name)
            self.report.faults.append(Fault(at, f"SIGKILL {name}", f"pid {pid}"))
        elif kind in ("kill node", "kill preview leader node", "kill bulk leader node", "kill upload node"):
            node, why = self.rnd.randint(1, self.cluster.count), "random"
            if kind == "kill upload node":
                node = stack.broker_node("upload", self.cluster) or node
                why = "the upload service's node"
            elif kind in ("kill preview leader node", "kill bulk leader node") or self.rnd.random() < 0.5:
                with contextlib.suppress(LookupError, subprocess.SubprocessError):
                    # the queue the soak's uploads wait in: its user's shard of a lane
                    bulk = kind == "kill bulk leader node" or (self.config.bulk_every and self.rnd.random() < 0.5)
                    lane = Lane.BULK if bulk else Lane.INTERACTIVE
                    queue = Topology(self.settings).shard_for(lane, self.user)
                    node = await asyncio.to_thread(self.cluster.leader, queue)
                    why = f"leader of the preview queue ({lane} lane)"
            await asyncio.to_thread(self.cluster.kill, node)
            self.report.faults.append(Fault(at, f"SIGKILL RabbitMQ node {node}",
                                            f"{why}; back after {self.config.node_down_s:g} s"))
            await asyncio.sleep(self.config.node_down_s)
            await asyncio.to_thread(self.cluster.revive, node)
        elif kind == "broker outage":
            await asyncio.to_thread(self.cluster.kill_all)
            fault = Fault(at, "every RabbitMQ node SIGKILLed",
                          f"restarted after {self.config.broker_outage_s:g} s")
            self.report.faults.append(fault)
            await asyncio.sleep(self.config.broker_outage_s)
            await asyncio.to_thread(self.cluster.revive_all)
            fault.detail += f", all nodes answering again at +{self.now():.1f} s"
        elif kind == "restart database":
            await asyncio.to_thread(self.postgres.restart, self.config.database_down_s)
            self.report.faults.append(Fault(
                at, "PostgreSQL restart (fast)", f"down {self.config.database_down_s:g} s"))

    # -- settle and check -----------------------------------------------------
    async def _settle_and_confirm(self, stack: Stack) -> None:
        uuids = [u for u, _ in self.accepted.values()]
        deadline = time.monotonic() + self.config.settle_timeout_s
        pool = await asyncpg.create_pool(self.postgres.url, min_size=1, max_size=2)
        try:
            while True:
                rows = await pool.fetch(
                    "SELECT uuid::text, preview_status, preview_error FROM proxy_images"
                    " WHERE uuid = ANY($1::uuid[])", uuids)
                states = {r["uuid"]: r for r in rows}
                open_ = [u for u in uuids if u not in states
                         or states[u]["preview_status"] not in ("ready", "failed")]
                if not open_ or time.monotonic() > deadline:
                    break
                await asyncio.sleep(1)
            ready = [u for u in uuids if u in states and states[u]["preview_status"] == "ready"]
            self.report.ready = len(ready)
            self.report.failed = {u: states[u]["preview_error"] or "" for u in uuids
                                  if u in states and states[u]["preview_status"] == "failed"}
            self.report.stuck = open_
            await self._confirm(stack, ready)
            while time.monotonic() < deadline:
                have = await pool.fetchval(
                    "SELECT count(*) FROM images WHERE proxy_uuid = ANY($1::uuid[])", ready)
                if have >= len(ready):
                    break
                await asyncio.sleep(1)
            await self._drain_queues(deadline)
        finally:
            await pool.close()

    async def _confirm(self, stack: Stack, ready: list[str]) -> None:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(base_url=stack.url, headers=headers, timeout=30) as c:
            for start in range(0, len(ready), 100):
                chunk = ready[start:start + 100]
                for _ in range(30):
                    with contextlib.suppress(httpx.HTTPError):
                        r = await c.post("/v1/ingest", json={"uuids": chunk})
                        if r.status_code == 202:
                            break
                    await asyncio.sleep(1)
                else:
                    raise RuntimeError("the ingest confirmation was never accepted")

    async def _queue_depths(self) -> dict[str, int]:
        topology = Topology(self.settings)
        depths: dict[str, int] = {}
        connection = await connect_once(self.settings.amqp_url)
        async with connection:
            channel = await connection.channel()
            for queue in topology.work_queues():
                names = [queue, *topology.shards(queue), *(n for n, _ in topology.wait_queues(queue))]
                for name in names:
                    q = await channel.declare_queue(name, passive=True)
                    depths[name] = q.declaration_result.message_count
        return depths

    async def _drain_queues(self, deadline: float) -> None:
        while True:
            depths = await self._queue_depths()
            work = {q: n for q, n in depths.items() if not q.endswith("-ingest-traces") and n}
            if not work or time.monotonic() > deadline:
                self.report.queued = work
                return
            await asyncio.sleep(1)

    async def _check(self, stack: Stack) -> None:
        by_uuid = {u: sha for u, sha in self.accepted.values()}
        ready = [u for u in by_uuid if u not in self.report.failed and u not in self.report.stuck]
        conn = await asyncpg.connect(self.postgres.url)
        try:
            images = await conn.fetch(
                "SELECT proxy_uuid::text AS uuid, disk, path, sha256 FROM images"
                " WHERE proxy_uuid = ANY($1::uuid[])", list(by_uuid))
            proxies = await conn.fetch(
                "SELECT uuid::text AS uuid FROM proxy_images WHERE uuid = ANY($1::uuid[])", ready)
        finally:
            await conn.close()
        self.report.images = len(images)
        seen: dict[str, int] = {}
        paths: dict[tuple[str, str], int] = {}
        store = Path(self.settings.final_store.removeprefix("file://"))
        for img in images:
            seen[img["uuid"]] = seen.get(img["uuid"], 0) + 1
            paths[(img["disk"], img["path"])] = paths.get((img["disk"], img["path"]), 0) + 1
            on_disk = store / img["path"]
            actual = hashlib.sha256(on_disk.read_bytes()).hexdigest() if on_disk.exists() else None
            if img["sha256"] != by_uuid[img["uuid"]] or actual != by_uuid[img["uuid"]]:
                self.report.wrong_bytes.append(img["uuid"])
        self.report.missing_images = [u for u in ready if u not in seen]
        self.report.duplicate_images = [u for u, n in seen.items() if n > 1]
        self.report.shared_paths = [p for (_, p), n in paths.items() if n > 1]
        self.report.leftover_proxies = [r["uuid"] for r in proxies]
        self.report.leftover_files = await self._leftover_files(store)
        self.report.parked = await self._parked()
        self.report.unhealthy = await self._unhealthy(stack)

    async def _leftover_files(self, store: Path) -> list[str]:
        """Temporary files of no failed upload, once the janitor has had its rounds: an upload
        service killed between storing an upload and recording it leaves an orphan, which its
        janitor removes once it has seen it at two rounds in a row (every JANITOR_EVERY_S)."""
        temp = store / TEMP_PREFIX
        keep = set(self.report.failed)
        deadline = time.monotonic() + JANITOR_EVERY_S * 3 + 5
        while True:
            left = [str(p.relative_to(store)) for p in temp.rglob("*") if p.is_file()
                    and not any(u in str(p) for u in keep)] if temp.exists() else []
            if not left or time.monotonic() > deadline:
                return left
            await asyncio.sleep(0.5)

    async def _parked(self) -> list[str]:
        topology = Topology(self.settings)
        out: list[str] = []
        connection = await connect_once(self.settings.amqp_url)
        async with connection:
            channel = await connection.channel()
            for queue in topology.work_queues():
                q = await channel.declare_queue(topology.failed_queue(queue), passive=True)
                while (m := await q.get(no_ack=False, fail=False)) is not None:
                    reason = (m.headers or {}).get(PARK_REASON_HEADER, "dead-lettered by the broker")
                    out.append(f"{queue}: {m.message_id or '?'}: {reason}")
        return out

    async def _unhealthy(self, stack: Stack) -> list[str]:
        checks = {"upload": f"{stack.url}/readyz",
                  "tracing": f"http://127.0.0.1:{self.settings.tracing_port}/readyz"}
        for name, port in stack.metrics_ports().items():
            checks[name] = f"http://127.0.0.1:{port}/readyz"
        bad: list[str] = []
        async with httpx.AsyncClient(timeout=5) as c:
            for name, url in checks.items():
                status = None
                for _ in range(30):  # a service restarted by the last fault may still be starting
                    with contextlib.suppress(httpx.HTTPError):
                        status = (await c.get(url)).status_code
                        if status == 200:
                            break
                    await asyncio.sleep(1)
                if status != 200:
                    bad.append(f"{name} ({status})")
        return bad


async def migrate_and_declare(settings: Settings) -> None:
    from shared.db import ensure_database
    from shared.migrate import migrate

    await ensure_database(settings.database_url)
    await migrate(settings.database)
    connection = await aio_pika.connect(settings.amqp_url.split(",")[0])
    async with connection:
        await Topology(settings).declare(await connection.channel())
