"""docker-compose.yml and deploy/k8s, run: every service as a process with exactly the
environment the file gives it (tests/fixtures/shipped.py says what is mapped), driven
upload -> preview -> enhance -> ingest, with the debug page's queue health checked while
a backlog drains.

`PROPHOTO_SHIPPED_REPLICAS=4` runs it with four preview replicas (`--scale preview=4`);
the suite runs the files' own replica counts (compose 2, k8s 1 plus KEDA). Each health
sample is printed (`-s`) and kept as JSON (`PROPHOTO_SHIPPED_HEALTH_DIR`, else the test's
tmp folder).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from pathlib import Path

import httpx
import pytest

from tests.fixtures.shipped import ShippedStack, logs, start_shipped, stop_shipped

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

#: the larger JPEGs of the corpus: enough work that two workers have a backlog to drain
BACKLOG = ["sky.jpg", "Samsung SM-J327T1.jpg", "jolla.jpg", "canon_hdr_YES.jpg",
           "Sony_DSLR-A200.jpg", "Android Depth Map.jpg", "Casio EX-Z3.jpg", "empty_gps.jpg",
           "Reconyx_HC500_Hyperfire.jpg", "Canon EOS 7D.jpg", "Apple iPhone 4.jpg",
           "Nikon D5000.jpg"]


async def until(check, timeout: float, what: str, stack: ShippedStack):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}\n{logs(stack)}")


@pytest.mark.parametrize(("source", "photos"), [("compose", len(BACKLOG)), ("k8s", 4)])
async def test_the_shipped_configuration_runs_the_pipeline_and_reports_honest_health(
    tmp_path: Path, s3_server, corpus, migrated, source: str, photos: int,
):
    replicas = int(os.environ.get("PROPHOTO_SHIPPED_REPLICAS", "0")) or None
    stack = await start_shipped(tmp_path, s3_server, preview_replicas=replicas, source=source)
    try:
        preview_env = stack.env_of("preview")
        preview_queue = preview_env["PROPHOTO_QUEUE_PREVIEW"]
        n = sum(p.name.startswith("preview") for p in stack.processes)
        user = httpx.AsyncClient(base_url=stack.url("upload"), timeout=60,
                                 headers={"Authorization": f"Bearer {stack.user_token}"})
        operator = httpx.AsyncClient(base_url=stack.url("tracing"), timeout=30,
                                     headers={"Authorization": f"Bearer {stack.operator_token}"})
        async with user, operator:
            async def preview_health() -> dict:
                r = await operator.get("/v1/queue-status")
                assert r.status_code == 200, r.text
                return r.json()["queues"][preview_queue]

            await until(lambda: _all_reporting(preview_health, n), 30,
                        f"{n} preview workers to announce themselves", stack)
            assert (await user.get("/v1/queue-status")).status_code == 404  # not the upload API's
            assert (await httpx.AsyncClient(base_url=stack.url("tracing")).get(
                "/v1/queue-status", headers={"Authorization": f"Bearer {stack.user_token}"})
                ).status_code == 403

            # the health is sampled from before the first upload until the backlog has drained,
            # so the samples cover the backlog building up, being worked and going idle
            samples: list[tuple[float, dict]] = []
            started = time.monotonic()

            async def sample_health() -> None:
                while True:
                    samples.append((time.monotonic() - started, await preview_health()))
                    await asyncio.sleep(0.3)

            sampler = asyncio.create_task(sample_health())
            uuids: list[str] = []
            for name in BACKLOG[:photos]:
                body = (corpus / "jpeg" / name).read_bytes()
                r = await user.post("/v1/uploads", content=body, headers={
                    "Content-Type": "image/jpeg", "X-Filename": name})
                assert r.status_code in (200, 201), r.text
                uuids.append(r.json()["uuid"])

            async def drained() -> bool:
                views = [(await user.get(f"/v1/proxies/{u}")).json() for u in uuids]
                assert not [v for v in views if v["preview_status"] == "failed"], views
                return all(v["preview_status"] == "ready" for v in views)

            try:
                await until(drained, 120, "every preview", stack)
                await asyncio.sleep(0.4)  # one more sample after the last preview
            finally:
                sampler.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sampler
            record_health(tmp_path, source, n, len(uuids), samples)
            assert any(h["worker"]["status"] == "processing" for _, h in samples)
            statuses = {h["worker"]["status"] for _, h in samples}
            assert statuses <= {"processing", "pending", "idle"}, statuses  # never stalled/unknown
            assert all(h["worker"]["workers_reporting"] == n for _, h in samples)
            assert all(h["broker"]["consumers"] == n for _, h in samples)

            page = await operator.get("/admin/ingest-traces")
            assert page.status_code == 200 and f'data-queue="{preview_queue}"' in page.text

            enhanced = uuids[0]
            r = await user.post(f"/v1/proxies/{enhanced}/enhance", json={})
            assert r.status_code == 202, r.text

            async def enhancement_done() -> bool:
                view = (await user.get(f"/v1/proxies/{enhanced}")).json()
                assert view["enhancement_status"] != "failed", view
                return view["enhancement_status"] == "ready"

            await until(enhancement_done, 90, "the enhancement", stack)
            r = await user.post("/v1/ingest", json={"uuids": uuids})
            assert r.status_code == 202, r.text

            async def images() -> list | None:
                page = (await user.get("/v1/images", params={"limit": 100})).json()
                mine = [i for i in page["items"] if i.get("proxy_uuid") in uuids]
                return mine if len(mine) == len(uuids) else None

            await until(images, 120, "every Image", stack)
            async def every_step() -> list | None:
                timeline = (await operator.get(f"/v1/traces/{enhanced}")).json()["items"]
                steps = {(t["trace_type"], t["service"]) for t in timeline}
                return timeline if {
                    ("metadata_extraction", "upload"), ("preview_extraction", "preview"),
                    ("thumbnail_generation", "preview"), ("enhance", "enhance"),
                    ("metadata_extraction", "finalize"), ("finalize", "finalize")} <= steps else None

            timeline = await until(every_step, 30, "a trace of every step", stack)
            fast = next(t for t in timeline if t["method"] == "exiftool-fast2")
            assert fast["success"] and fast["result_size"] > 10  # fields read
            assert (await user.get(f"/v1/traces/{enhanced}")).status_code == 404  # tracing only

            idle = await until(lambda: _idle(preview_health, n), 30, "preview to read idle", stack)
            assert idle["worker"]["workers_reporting"] == n
            async with httpx.AsyncClient(timeout=10) as anyone:  # no token
                for name in ("upload", "tracing"):  # metrics only on the metrics listener
                    assert (await anyone.get(f"{stack.url(name)}/metrics")).status_code == 404
                metrics = (await anyone.get(stack.metrics_url("tracing"))).text
                uploads = (await anyone.get(stack.metrics_url("upload"))).text
            assert (f'prophoto_queue_worker_status{{queue="{preview_queue}",status="idle"}} 1.0'
                    in metrics)
            assert f'prophoto_uploads_total{{outcome="created"}} {float(len(uuids))}' in uploads
    finally:
        await stop_shipped(stack)


def record_health(tmp_path: Path, source: str, n: int, photos: int,
                  samples: list[tuple[float, dict]]) -> Path:
    """Print the health samples and keep them as JSON (in `PROPHOTO_SHIPPED_HEALTH_DIR` when
    set, else the test's tmp folder) so a run's figures can be quoted afterwards."""
    rows = []
    for at, health in samples:
        w, b = health["worker"], health["broker"]
        row = {"t_s": round(at, 1), "ready": b["ready"], "unacked": b["unacked"],
               "consumers": b["consumers"], "status": w["status"], "in_progress": w["in_progress"],
               "workers_reporting": w["workers_reporting"]}
        rows.append(row)
        print(f"{source} preview x{n} " + " ".join(f"{k}={v}" for k, v in row.items()))
    folder = Path(os.environ.get("PROPHOTO_SHIPPED_HEALTH_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"health-{source}-preview-x{n}.json"
    out.write_text(json.dumps({"source": source, "preview_replicas": n, "photos": photos,
                               "samples": rows}, indent=1))
    print(f"health samples kept in {out}")
    return out


async def _all_reporting(health, n: int) -> bool:
    return (await health())["worker"]["workers_reporting"] == n


async def _idle(health, n: int) -> dict | None:
    h = await health()
    return h if h["worker"]["status"] == "idle" else None
