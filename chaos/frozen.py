"""The frozen-worker measurement: a preview worker SIGSTOPped with two jobs in hand.

Catching a busy worker between two jobs is luck; this makes the hold certain.
The worker is frozen first, while idle, then photos are uploaded: the broker
delivers up to the prefetch (two on the interactive lane's queue) into the
frozen consumer's socket and counts them unacked, and the worker's beats
stop. Before the clock reading counts, the broker itself is asked how many
unacked deliveries the frozen process's connections hold (`rabbitmqctl
list_connections` and `list_channels`, matched to the process's own TCP
ports): at least `held` or the phase fails.

Two tracing services watch the same stack: the stack's own, reading consumer
and unacked counts from the nodes' Prometheus endpoints, and one started
here that reads the broker over AMQP only (ready and consumers). For each:
seconds from SIGSTOP until `/v1/queue-status` says `stalled` for the preview
queue (and whether the debug page's card says so then), and seconds from
SIGCONT until it is no longer stalled with no silent worker, with the status
it said then and whether it said `processing` while the woken worker ran the
jobs it held.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from chaos.infra import RabbitCluster
from chaos.soak import Stack, free_ports, settings_env
from shared.settings import Settings

#: the stack's own tracing service reads the nodes' Prometheus endpoints; the extra one does not
PROMETHEUS, AMQP_ONLY = "Prometheus", "AMQP only"


@dataclass
class Observer:
    """What one tracing service said about the frozen worker's queue."""

    name: str
    url: str
    stalled_after_s: float | None = None
    stalled_detail: str = ""
    page_stalled: bool = False
    resumed_after_s: float | None = None
    resumed_status: str = ""
    #: `processing` seen within the resume bound after SIGCONT
    processing_seen: bool = False


@dataclass
class FrozenReport:
    stall_s: float
    resume_s: float
    #: unacked deliveries the broker counted on the frozen process's connections
    held: int = 0
    #: seconds from SIGSTOP until the broker counted them
    held_after_s: float | None = None
    uploads: int = 0
    observers: list[Observer] = field(default_factory=list)
    error: str | None = None

    def problems(self, wanted_held: int = 2) -> list[str]:
        if self.error:
            return [f"frozen worker: {self.error}"]
        out = []
        if self.held < wanted_held:
            out.append(f"the broker counted {self.held} job(s) held by the frozen worker, "
                       f"not {wanted_held}")
        for o in self.observers:
            if o.stalled_after_s is None or o.stalled_after_s > self.stall_s:
                out.append(f"{o.name}: not stalled within {self.stall_s:g} s of SIGSTOP "
                           f"({o.stalled_after_s})")
            elif not o.page_stalled:
                out.append(f"{o.name}: the debug page did not show the queue stalled")
            if o.resumed_after_s is None or o.resumed_after_s > self.resume_s:
                out.append(f"{o.name}: still stalled {self.resume_s:g} s after SIGCONT "
                           f"({o.resumed_after_s})")
        return out

    def render(self) -> list[str]:
        held_at = "never" if self.held_after_s is None else f"{self.held_after_s:.1f} s"
        lines = [f"  frozen preview worker (SIGSTOP while idle, then {self.uploads} uploads): the "
                 f"broker counted {self.held} unacked deliveries on it {held_at} after SIGSTOP"]
        for o in self.observers:
            stalled = "never" if o.stalled_after_s is None else f"{o.stalled_after_s:.1f} s"
            back = "never" if o.resumed_after_s is None else f"{o.resumed_after_s:.1f} s"
            lines.append(f"    {o.name}: stalled {stalled} after SIGSTOP ({o.stalled_detail}; "
                         f"page: {o.page_stalled}); {o.resumed_status or '?'} {back} after "
                         f"SIGCONT (processing seen: {o.processing_seen})")
        if self.error:
            lines.append(f"    error: {self.error}")
        return lines


@contextlib.contextmanager
def amqp_only_tracing(settings: Settings, workdir: Path) -> Iterator[str]:
    """A second tracing service on the stack's broker and database, without the Prometheus
    endpoints (its depths from passive declares only); yields its base URL."""
    port, metrics_port = free_ports(2)
    own = settings.model_copy(update={"tracing_port": port, "tracing_metrics_port": metrics_port,
                                      "rabbitmq_prometheus_url": "",
                                      "rabbitmq_management_url": ""})
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROPHOTO_")}
    env.update(settings_env(own), NO_COLOR="1", PYTHONUNBUFFERED="1")
    log = (workdir / "tracing-amqp-only.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "services.tracing"], env=env, cwd=workdir,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def broker_held(cluster: RabbitCluster, pid: int) -> int:
    """Unacked deliveries the broker counts on the channels of process `pid`'s connections."""
    ports = {cluster.port(n) for n in range(1, cluster.count + 1)}
    mine = {c.laddr.port for c in psutil.Process(pid).net_connections(kind="tcp")
            if c.raddr and c.raddr.port in ports}
    node = next((n for n in range(1, cluster.count + 1) if cluster.alive(n)), 1)
    connections = {
        parts[0] for parts in _rows(cluster, node, "list_connections", "pid", "peer_port")
        if len(parts) == 2 and parts[1].isdigit() and int(parts[1]) in mine}
    return sum(int(parts[1]) for parts in _rows(cluster, node, "list_channels", "connection",
                                                "messages_unacknowledged")
               if len(parts) == 2 and parts[0] in connections and parts[1].isdigit())


def _rows(cluster: RabbitCluster, node: int, *args: str) -> list[list[str]]:
    out = cluster.ctl(node, "-q", *args, "--no-table-headers")
    return [line.split() for line in out.splitlines()]


async def measure(stack: Stack, cluster: RabbitCluster, settings: Settings,
                  observers: dict[str, str], operator: str,
                  upload: Callable[[], Awaitable[None]], *, workers: int, held: int = 2,
                  stall_s: float = 40.0, resume_s: float = 10.0,
                  name: str = "preview-1") -> FrozenReport:
    """Freeze `name` while idle, upload until the broker counts `held` deliveries on it, time
    the verdicts of every observer (name -> tracing URL), SIGCONT, time them again."""
    report = FrozenReport(stall_s, resume_s)
    report.observers = [Observer(n, url) for n, url in observers.items()]
    queue = settings.queue_preview
    headers = {"Authorization": f"Bearer {operator}"}
    pid = stack.pids[name]
    async with httpx.AsyncClient(timeout=5, headers=headers) as c:
        # every observer hears every worker first: the one started here may be new
        if not await _until(lambda: _all(c, report.observers, queue, lambda w: (
                w["workers_reporting"] >= workers and w["silent_workers"] == 0)), 60):
            report.error = f"the tracing services never heard all {workers} preview workers"
            return report
        os.kill(pid, signal.SIGSTOP)
        frozen_at = time.monotonic()
        try:
            while time.monotonic() - frozen_at < 30:
                for _ in range(4):
                    await upload()
                    report.uploads += 1
                with contextlib.suppress(subprocess.SubprocessError, psutil.Error):
                    report.held = await asyncio.to_thread(broker_held, cluster, pid)
                if report.held >= held:
                    report.held_after_s = time.monotonic() - frozen_at
                    break
            else:
                report.error = f"the broker counted {report.held} deliveries on {name} after " \
                               f"{report.uploads} uploads"
                return report
            await asyncio.gather(*(_stalled(c, o, queue, frozen_at, stall_s * 2)
                                   for o in report.observers))
        finally:
            os.kill(pid, signal.SIGCONT)
        resumed_at = time.monotonic()
        await asyncio.gather(*(_resumed(c, o, queue, resumed_at, resume_s)
                               for o in report.observers))
    return report


async def _worker(c: httpx.AsyncClient, base: str, queue: str) -> dict[str, Any] | None:
    with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
        r = await c.get(f"{base}/v1/queue-status")
        worker: dict[str, Any] = r.json()["queues"][queue]["worker"]
        return worker
    return None


async def _all(c: httpx.AsyncClient, observers: list[Observer], queue: str,
               test: Callable[[dict[str, Any]], bool]) -> bool:
    found = await asyncio.gather(*(_worker(c, o.url, queue) for o in observers))
    return all(w is not None and test(w) for w in found)


async def _until(check: Callable[[], Awaitable[bool]], within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.5)
    return False


async def _stalled(c: httpx.AsyncClient, o: Observer, queue: str, since: float,
                   within_s: float) -> None:
    while time.monotonic() - since < within_s:
        worker = await _worker(c, o.url, queue)
        if worker and worker["status"] == "stalled":
            o.stalled_after_s = time.monotonic() - since
            o.stalled_detail = str(worker["detail"])
            with contextlib.suppress(httpx.HTTPError):
                page = await c.get(f"{o.url}/admin/ingest-traces")
                card = re.search(rf'class="queue status-(\w+)[^"]*" data-queue="{re.escape(queue)}"',
                                 page.text)
                o.page_stalled = bool(card and card.group(1) == "stalled")
            return
        await asyncio.sleep(0.5)


async def _resumed(c: httpx.AsyncClient, o: Observer, queue: str, since: float,
                   bound_s: float) -> None:
    """Until not stalled with no worker silent (watched 3 x `bound_s`), and `processing` seen
    within `bound_s` or that bound passed."""
    while (elapsed := time.monotonic() - since) < bound_s * 3:
        worker = await _worker(c, o.url, queue)
        if worker:
            if worker["status"] == "processing" and elapsed <= bound_s:
                o.processing_seen = True
            if o.resumed_after_s is None and worker["status"] != "stalled" \
                    and worker["silent_workers"] == 0:
                o.resumed_after_s = elapsed
                o.resumed_status = str(worker["status"])
            if o.resumed_after_s is not None and (o.processing_seen or elapsed > bound_s):
                return
        await asyncio.sleep(0.25)
