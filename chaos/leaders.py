"""The leader-loss scenario: each work queue's leader killed while its commands are published.

One `prophoto dev` stack on the 3-node cluster, the upload service's node
killed and revived first (so every publisher has failed over once), then:

1. previews: unique uploads stream in (half asked for the bulk lane) while
   the node leading the user's interactive-lane queue is SIGKILLed, then the
   one leading its bulk-lane queue (one kill when one node leads both);
   measured: every preview of an upload accepted before the kill ready
   within `deadline_s` of it;
2. enhance: enhance requests for ready proxies are sent while the node
   leading the enhance queue is SIGKILLed; every enhancement ready within
   `deadline_s` of the kill;
3. ingest: `photos` ready proxies confirmed (POST /v1/ingest) while the
   node leading the ingest queue is SIGKILLed; all `photos` Images within
   `deadline_s` of the kill, none twice;
4. a frozen worker (`chaos/frozen.py`): a preview worker SIGSTOPped while
   idle is handed two jobs by the broker (counted there before the clock
   reading counts); measured with and without the nodes' Prometheus
   endpoints: `/v1/queue-status` and the debug page say `stalled` within
   `stall_s` of SIGSTOP, and no longer within `resume_s` of SIGCONT.

`LeaderLossConfig.phases` runs a subset (the frozen-worker test runs only
that phase, with no kill at all).

Throughout, no process may be restarted by the supervisor: recovering is
the publishers' and consumers' own job.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
from PIL import Image

from chaos.frozen import AMQP_ONLY, PROMETHEUS, FrozenReport, amqp_only_tracing, measure
from chaos.infra import OwnPostgres, RabbitCluster
from chaos.soak import TOKEN, Stack, unique_jpeg
from shared.broker.topology import Topology
from shared.messages import Lane
from shared.settings import Settings

OPERATOR = "chaos-operator-0123456789abcdef"


@dataclass
class LeaderLossConfig:
    photos: int = 120  # confirmed for ingest while the ingest leader dies
    enhance: int = 12  # enhancement requests while the enhance leader dies
    preview_workers: int = 2
    node_down_s: float = 5.0
    deadline_s: float = 60.0
    stall_s: float = 40.0
    resume_s: float = 10.0
    seed: int = 11
    #: which phases run, in this order (a subset of PHASES)
    phases: tuple[str, ...] = ("warm-up", "previews", "enhance", "ingest", "frozen")


@dataclass
class Phase:
    name: str
    killed: list[str] = field(default_factory=list)
    #: seconds from the (first) kill until everything the phase waited for was done; None: never
    settled_s: float | None = None
    expected: int = 0
    done: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass
class LeaderLossReport:
    config: LeaderLossConfig
    phases: list[Phase] = field(default_factory=list)
    duplicate_images: int = 0
    restarts: dict[str, int] = field(default_factory=dict)
    frozen: FrozenReport | None = None

    def problems(self) -> list[str]:
        c = self.config
        out: list[str] = []
        for p in self.phases:
            if p.settled_s is None or p.settled_s > c.deadline_s:
                out.append(f"{p.name}: {p.done}/{p.expected} done, not within {c.deadline_s:g} s "
                           f"of the kill ({p.settled_s})")
        if self.duplicate_images:
            out.append(f"{self.duplicate_images} proxies became more than one Image")
        if self.restarts:
            out.append(f"processes restarted: {self.restarts}")
        if "frozen" in c.phases:
            out += self.frozen.problems() if self.frozen else ["the frozen-worker phase did not run"]
        return out

    def render(self) -> str:
        lines = ["leader loss: each work queue's leader SIGKILLed while its commands are published"]
        for p in self.phases:
            settled = "never" if p.settled_s is None else f"{p.settled_s:.1f} s after the kill"
            lines.append(f"  {p.name}: {p.done}/{p.expected} done, {settled}; "
                         + "; ".join(p.killed + p.notes))
        lines.append(f"  duplicate Images: {self.duplicate_images}; restarts: "
                     + (", ".join(f"{k} x{v}" for k, v in self.restarts.items()) or "none"))
        if self.frozen is not None:
            lines += self.frozen.render()
        problems = self.problems()
        lines.append("RESULT: " + ("PASS" if not problems else "FAIL\n  " + "\n  ".join(problems)))
        return "\n".join(lines)


def scenario_settings(cluster: RabbitCluster, postgres: OwnPostgres, workdir: Path,
                      ports: list[int]) -> Settings:
    prefix = f"lead{os.urandom(4).hex()}"
    store = f"file://{workdir / 'store'}"
    return Settings(
        env="test", amqp_url=cluster.amqp_url, database_url=postgres.url,
        temp_store=store, final_store=store, exchange=prefix,
        queue_preview=f"{prefix}-ingest-preview", queue_finalize=f"{prefix}-ingest",
        queue_enhance=f"{prefix}-ingest-enhance", queue_traces=f"{prefix}-ingest-traces",
        api_tokens=f"{TOKEN}=lead-user", admin_tokens=f"{OPERATOR}=lead-operator",
        upload_port=ports[0], tracing_port=ports[1], preview_metrics_port=ports[2],
        finalize_metrics_port=ports[3], enhance_metrics_port=ports[4],
        upload_metrics_port=ports[5], tracing_metrics_port=ports[6],
        # one job at a time: a preview worker then holds the job it runs and the next one
        publish_timeout_s=5.0, outbox_poll_s=0.5, prefetch=1, queue_poll_s=2.0,
        rabbitmq_prometheus_url=",".join(cluster.prometheus_urls),
        # the lanes are chosen by `?bulk=` here, not by the per-minute threshold
        bulk_after_uploads_per_minute=100_000,
    )


class LeaderLoss:
    def __init__(self, config: LeaderLossConfig, postgres: OwnPostgres, cluster: RabbitCluster,
                 workdir: Path, ports: list[int]) -> None:
        self.config = config
        self.postgres = postgres
        self.cluster = cluster
        self.workdir = workdir
        self.settings = scenario_settings(cluster, postgres, workdir, ports)
        self.topology = Topology(self.settings)
        self.report = LeaderLossReport(config)
        self.uploads: dict[int, str] = {}  # index -> proxy uuid
        self.pool: asyncpg.Pool | None = None
        self.next_index = 0

    @property
    def db(self) -> asyncpg.Pool:
        assert self.pool is not None
        return self.pool

    async def run(self) -> LeaderLossReport:
        stack = Stack(self.settings, self.workdir, self.config.preview_workers)
        self.pool = await asyncpg.create_pool(self.postgres.url, min_size=1, max_size=3)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        phases = self.config.phases
        try:
            async with httpx.AsyncClient(base_url=stack.url, headers=headers, timeout=30) as api:
                await stack.wait_ready()
                if "warm-up" in phases:
                    await self._kill_and_revive(await self._upload_node(stack),
                                                "the upload service's")
                if "previews" in phases:
                    await self._previews(api)
                if "enhance" in phases:
                    await self._enhance(api)
                if "ingest" in phases:
                    await self._ingest(api)
                if "frozen" in phases:
                    await self._frozen_worker(api, stack)
            self.report.restarts = stack.restarts()
        finally:
            stack.stop()
            (self.workdir / "leaders.log").write_text("\n".join(stack.lines))
            await self.db.close()
        return self.report

    # -- helpers --------------------------------------------------------------------
    async def _upload_node(self, stack: Stack) -> int:
        for _ in range(50):
            node = stack.broker_node("upload", self.cluster)
            if node is not None:
                return node
            await asyncio.sleep(0.2)
        raise RuntimeError("the upload service has no connection to a cluster node")

    async def _kill(self, node: int) -> float:
        at = time.monotonic()
        await asyncio.to_thread(self.cluster.kill, node)
        return at

    async def _kill_and_revive(self, node: int, whose: str) -> None:
        await self._kill(node)
        await asyncio.sleep(self.config.node_down_s)
        await asyncio.to_thread(self.cluster.revive, node)
        self.report.phases.append(Phase(f"warm-up: {whose} node {node} killed and revived",
                                        settled_s=0.0))

    async def _leader(self, queue: str) -> int:
        return await asyncio.to_thread(self.cluster.leader, queue)

    async def _upload(self, api: httpx.AsyncClient, bulk: bool, big: bool = False) -> None:
        index = self.next_index
        self.next_index += 1
        data = (big_jpeg if big else unique_jpeg)(index, self.config.seed)
        for _ in range(120):
            with contextlib.suppress(httpx.HTTPError):
                r = await api.post("/v1/uploads", params={"bulk": "true"} if bulk else None,
                                   files={"file": (f"lead-{index}.jpg", data, "image/jpeg")})
                if r.status_code in (200, 201):
                    self.uploads[index] = r.json()["uuid"]
                    return
                if r.status_code < 500 and r.status_code != 429:
                    raise RuntimeError(f"upload refused: {r.status_code} {r.text}")
            await asyncio.sleep(0.5)
        raise RuntimeError(f"upload {index} never accepted")

    async def _count(self, sql: str, uuids: list[str]) -> int:
        count: int = await self.db.fetchval(sql, uuids)
        return count

    async def _until(self, count: Callable[[], Awaitable[int]], expected: int, since: float,
                     phase: Phase) -> None:
        """Poll `count` until it reaches `expected`; the phase records when, from `since`."""
        phase.expected = expected
        deadline = since + self.config.deadline_s * 3  # measured against deadline_s after
        while time.monotonic() < deadline:
            phase.done = await count()
            if phase.done >= expected:
                phase.settled_s = time.monotonic() - since
                return
            await asyncio.sleep(0.25)

    def _ready_count(self, uuids: list[str]) -> Callable[[], Awaitable[int]]:
        return lambda: self._count("SELECT count(*) FROM proxy_images WHERE uuid = ANY($1::uuid[])"
                                   " AND preview_status = 'ready'", uuids)

    # -- phases ---------------------------------------------------------------------
    async def _previews(self, api: httpx.AsyncClient) -> None:
        phase = Phase("ingest-preview (both lanes)")
        self.report.phases.append(phase)
        total = self.config.photos + self.config.enhance
        user = "lead-user"
        leaders = {lane: await self._leader(self.topology.shard_for(lane, user))
                   for lane in (Lane.INTERACTIVE, Lane.BULK)}

        async def stream(bulk: bool, count: int) -> None:
            for _ in range(count):
                await self._upload(api, bulk)
                await asyncio.sleep(0.05)

        sending = [asyncio.create_task(stream(False, total // 2)),
                   asyncio.create_task(stream(True, total - total // 2))]
        for _ in range(1200):  # a quarter in: the rest stream in across the kills
            if len(self.uploads) >= total // 4:
                break
            await asyncio.sleep(0.1)
        first_kill: float | None = None
        for node in sorted(set(leaders.values())):
            lanes = "+".join(lane.value for lane, n in leaders.items() if n == node)
            at = await self._kill(node)
            first_kill = first_kill or at
            phase.killed.append(f"node {node} killed (leads the {lanes} lane's queue)")
            await asyncio.sleep(self.config.node_down_s)
            await asyncio.to_thread(self.cluster.revive, node)
        await asyncio.gather(*sending)
        assert first_kill is not None
        await self._until(self._ready_count(list(self.uploads.values())), total, first_kill, phase)

    async def _enhance(self, api: httpx.AsyncClient) -> None:
        phase = Phase("ingest-enhance")
        self.report.phases.append(phase)
        chosen = list(self.uploads.values())[-self.config.enhance:]
        node = await self._leader(self.settings.queue_enhance)

        async def ask(uuid: str) -> None:
            for _ in range(60):
                with contextlib.suppress(httpx.HTTPError):
                    r = await api.post(f"/v1/proxies/{uuid}/enhance", json={"factor": 1.5})
                    if r.status_code in (202, 409):  # 409: an earlier try got in
                        return
                await asyncio.sleep(0.5)
            raise RuntimeError(f"enhance of {uuid} never accepted")

        half = len(chosen) // 2
        await asyncio.gather(*(ask(u) for u in chosen[:half]))
        killing = asyncio.create_task(self._kill(node))
        await asyncio.gather(*(ask(u) for u in chosen[half:]))
        killed_at = await killing
        phase.killed.append(f"node {node} killed (leads the enhance queue)")
        await self._until(lambda: self._count(
            "SELECT count(*) FROM proxy_images WHERE uuid = ANY($1::uuid[])"
            " AND enhancement_status = 'ready'", chosen), len(chosen), killed_at, phase)
        await asyncio.to_thread(self.cluster.revive, node)

    async def _ingest(self, api: httpx.AsyncClient) -> None:
        phase = Phase("ingest")
        self.report.phases.append(phase)
        enhanced = set(list(self.uploads.values())[-self.config.enhance:])
        chosen = [u for u in self.uploads.values() if u not in enhanced][:self.config.photos]
        node = await self._leader(self.settings.queue_finalize)

        async def confirm(uuids: list[str]) -> None:
            for _ in range(60):
                with contextlib.suppress(httpx.HTTPError):
                    if (await api.post("/v1/ingest", json={"uuids": uuids})).status_code == 202:
                        return
                await asyncio.sleep(0.5)
            raise RuntimeError("the ingest confirmation was never accepted")

        await confirm(chosen[:60])
        killing = asyncio.create_task(self._kill(node))  # right after a confirm, and during one
        await confirm(chosen[60:])
        killed_at = await killing
        phase.killed.append(f"node {node} killed (leads the ingest queue)")
        await self._until(lambda: self._count(
            "SELECT count(DISTINCT proxy_uuid) FROM images WHERE proxy_uuid = ANY($1::uuid[])",
            chosen), len(chosen), killed_at, phase)
        self.report.duplicate_images = await self._count(
            "SELECT count(*) - count(DISTINCT proxy_uuid) FROM images"
            " WHERE proxy_uuid = ANY($1::uuid[])", chosen)
        await asyncio.to_thread(self.cluster.revive, node)

    async def _frozen_worker(self, api: httpx.AsyncClient, stack: Stack) -> None:
        """preview-1 frozen with two jobs in hand, watched with and without Prometheus."""
        own_url = f"http://127.0.0.1:{self.settings.tracing_port}"
        with amqp_only_tracing(self.settings, self.workdir) as amqp_url:
            self.report.frozen = await measure(
                stack, self.cluster, self.settings, {PROMETHEUS: own_url, AMQP_ONLY: amqp_url},
                OPERATOR, lambda: self._upload(api, False, big=True),
                workers=self.config.preview_workers, stall_s=self.config.stall_s,
                resume_s=self.config.resume_s)


def big_jpeg(index: int, seed: int) -> bytes:
    """A unique 1200x800 photo of noise: a preview of it takes a while, its upload is quick."""
    rnd = random.Random(seed * 7_000_003 + index)
    img = Image.frombytes("RGB", (1200, 800), rnd.randbytes(1200 * 800 * 3))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=80)
    return buf.getvalue()
