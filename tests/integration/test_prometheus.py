"""deploy/prometheus and deploy/grafana against a real Prometheus scraping the services."""

from __future__ import annotations

import asyncio
import json
import math
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import aio_pika
import httpx
import pytest
import yaml

from shared.broker.publisher import AmqpPublisher
from tests.conftest import make_settings
from tests.fixtures.tracing import *  # noqa: F403
from tests.fixtures.tracing import free_port, start_tracing

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
RULES = sorted((PROMETHEUS_DIR / "rules").glob("*.yml"))
DASHBOARDS = sorted((REPO / "deploy" / "grafana" / "dashboards").glob("*.json"))
CORE_PANELS = ("Queue depth (ready)", "Jobs by outcome", "Upload to preview ready p50 / p95 / p99")

needs_prometheus = pytest.mark.skipif(
    not (shutil.which("prometheus") and shutil.which("promtool")),
    reason="Debian's prometheus package (prometheus, promtool) is not installed",
)


def rule_expressions() -> list[tuple[str, str]]:
    out = []
    for path in RULES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                out.append((f"{path.name}:{rule.get('record') or rule.get('alert')}", rule["expr"]))
    return out


def dashboard_expressions() -> list[tuple[str, str]]:
    out = []
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                out.append((f"{path.name}:{panel['title']}", target["expr"]))
    return out


def grafana_to_promql(expr: str) -> str:
    return expr.replace("$__rate_interval", "1m")


@needs_prometheus
def test_promtool_accepts_the_config_and_every_rule_file() -> None:
    config = subprocess.run(["promtool", "check", "config", str(PROMETHEUS_DIR / "prometheus.yml")],
                            capture_output=True, text=True, timeout=30)
    assert config.returncode == 0, config.stdout + config.stderr
    rules = subprocess.run(["promtool", "check", "rules", *map(str, RULES)],
                           capture_output=True, text=True, timeout=30)
    assert rules.returncode == 0, rules.stdout + rules.stderr
    assert len(rule_expressions()) >= 15 and len(dashboard_expressions()) >= 20


@needs_prometheus
def test_the_alert_rules_fire_as_their_promtool_unit_tests_say() -> None:
    tests = sorted((PROMETHEUS_DIR / "tests").glob("*.test.yml"))
    assert tests
    result = subprocess.run(["promtool", "test", "rules", *(p.name for p in tests)],
                            cwd=PROMETHEUS_DIR / "tests", capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_grafana_provisioning_points_at_the_dashboards_and_prometheus() -> None:
    provisioning = REPO / "deploy" / "grafana" / "provisioning"
    source = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    assert source["datasources"][0]["uid"] == "prometheus"
    provider = yaml.safe_load((provisioning / "dashboards" / "prophoto.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    uids = [json.loads(p.read_text())["uid"] for p in DASHBOARDS]
    assert len(uids) == len(set(uids)) == 3
    titles = {t.split(":", 1)[1] for t, _ in dashboard_expressions()}
    assert set(CORE_PANELS) <= titles


@pytest.fixture
def prometheus(tmp_path: Path, request) -> Iterator[tuple[str, Path]]:
    """A real Prometheus on a free port; the test writes its scrape targets first."""
    port = free_port()
    config = tmp_path / "prometheus.yml"
    proc: list[subprocess.Popen] = []

    def start(targets: dict[str, str]) -> str:
        deployed = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
        deployed["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
        deployed["rule_files"] = [str(p) for p in RULES]
        deployed["scrape_configs"] = [
            {"job_name": job, "static_configs": [{"targets": [target]}]}
            for job, target in targets.items()
        ]
        config.write_text(yaml.safe_dump(deployed))
        proc.append(subprocess.Popen(
            ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
            stdout=subprocess.DEVNULL, stderr=open(tmp_path / "prometheus.log", "w"),
        ))
        return f"http://127.0.0.1:{port}"

    yield start, tmp_path  # type: ignore[misc]
    for p in proc:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()


async def query(client: httpx.AsyncClient, expr: str) -> dict:
    r = await client.get("/api/v1/query", params={"query": expr})
    body = r.json()
    assert r.status_code == 200 and body["status"] == "success", f"{expr}: {body}"
    return body["data"]


async def wait_for(client: httpx.AsyncClient, expr: str, within: float = 15.0) -> list:
    deadline = time.monotonic() + within
    while True:
        try:
            result = (await query(client, expr))["result"]
        except (httpx.HTTPError, AssertionError, ValueError):
            result = []
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.3)


def has_numbers(result: list) -> bool:
    values = [float(s["value"][1]) for s in result]
    return bool(values) and not all(math.isnan(v) for v in values)


@needs_prometheus
async def test_prometheus_scrapes_the_services_and_every_rule_and_panel_evaluates(
    tmp_path, prometheus, fake_worker_metrics, amqp, migrated
):
    worker = fake_worker_metrics
    settings = make_settings(tmp_path, queue_poll_s=0.5)
    from shared.broker.topology import Topology
    topology = Topology(settings)
    channel = await amqp.channel()
    await topology.declare(channel)
    start, _ = prometheus
    try:
        async with start_tracing(settings) as tracing:
            base = start({"tracing": tracing.metrics_url.removeprefix("http://").removesuffix(
                              "/metrics"),
                          "preview": worker.url.removeprefix("http://").removesuffix("/metrics")})
            async with httpx.AsyncClient(base_url=base, timeout=10) as prom:
                assert await wait_for(prom, 'up{job="preview"} == 1')
                assert await wait_for(prom, 'up{job="tracing"} == 1')
                await small_run(settings, topology, amqp, worker)
                await asyncio.sleep(3)  # a few scrapes and rule evaluations

                for name, expr in rule_expressions() + dashboard_expressions():
                    await query(prom, grafana_to_promql(expr))  # asserts it evaluates

                panels = dict(dashboard_expressions())
                for title in CORE_PANELS:
                    (key,) = [k for k in panels if k.endswith(":" + title)]
                    result = await wait_for(prom, grafana_to_promql(panels[key]))
                    assert has_numbers(result), f"{title} returned no data"

                depth = await wait_for(
                    prom, f'prophoto_queue_messages_ready{{queue="{settings.queue_finalize}"}}')
                assert [s["value"][1] for s in depth] == ["2"]
                outcomes = {s["metric"]["outcome"] for s in await wait_for(
                    prom, f'prophoto_jobs_total{{queue="{settings.queue_preview}"}}')}
                assert outcomes == {"success", "retry", "parked"}
                status = await wait_for(prom, "prophoto:queue_worker_status")
                by_queue = {s["metric"]["queue"]: s["metric"]["status"] for s in status}
                assert by_queue[settings.queue_preview] == "idle"
                assert by_queue[settings.queue_finalize] == "pending"
                groups = (await prom.get("/api/v1/rules")).json()["data"]["groups"]
                unhealthy = [(r["name"], r.get("lastError")) for g in groups for r in g["rules"]
                             if r["health"] != "ok"]
                assert not unhealthy and sum(len(g["rules"]) for g in groups) == len(
                    rule_expressions())
                own = await wait_for(prom, 'prophoto_queue_worker_status{status="idle"} == 1')
                assert settings.queue_preview in {s["metric"]["queue"] for s in own}
    finally:
        channel = await amqp.channel()
        await topology.delete(channel)


async def small_run(settings, topology, amqp, worker) -> None:
    """Three preview jobs through a test worker that reports like the real harness."""
    publisher = AmqpPublisher(settings.broker, topology)
    await publisher.connect(declare=False)
    for i in range(3):
        await publisher.publish(topology.exchange, settings.queue_preview, b'{"n": %d}' % i)
    for i in range(2):  # left waiting: finalize has no worker here
        await publisher.publish(topology.exchange, settings.queue_finalize, b'{"n": %d}' % i)
    await publisher.close()

    channel = await amqp.channel()
    await channel.set_qos(prefetch_count=1)
    queue = await channel.get_queue(settings.queue_preview, ensure=False)
    worker.jobs.heartbeat.labels(settings.queue_preview).set_to_current_time()
    for outcome in ("success", "retry", "parked"):
        msg = await queue.get(no_ack=False, timeout=5)
        assert isinstance(msg, aio_pika.abc.AbstractIncomingMessage)
        worker.jobs.started(settings.queue_preview)
        await asyncio.sleep(0.05)
        await msg.ack()
        worker.jobs.finished(settings.queue_preview, outcome, 0.05)
        worker.upload.uploads.labels("created").inc()
        worker.upload.latency.labels("created").observe(0.08)
        worker.upload.bytes.inc(1_000_000)
        worker.preview.upload_to_ready.observe(1.5)
        worker.preview.method.labels("preview", "embedded_jpeg", "success").inc()
        worker.preview.method_duration.labels("preview", "embedded_jpeg").observe(0.03)
    # a consumer stays attached, as a real worker would
    await queue.consume(lambda m: None)
