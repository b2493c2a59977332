"""`/v1/failed` against the real upload service, broker and database: each user's listing reads
the read model, so a replay or another user's listing never hides a parked job (the issue's
"a user saw 0, 0, 1 of her 1"), and a replay chooses by tag within what the caller may see."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from shared.broker.topology import ATTEMPT_HEADER, Topology
from shared.db import parked as rows
from shared.settings import Settings
from shared.worker.park import Delivery, park
from tests.conftest import make_settings
from tests.fixtures.upload import UploadServer, serve

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    base = make_settings(tmp_path)
    return make_settings(tmp_path, exchange=base.exchange, queue_preview=base.queue_preview,
                         queue_finalize=base.queue_finalize, queue_enhance=base.queue_enhance,
                         queue_traces=base.queue_traces,
                         api_tokens=base.api_tokens + f",tok-carol=carol-{base.exchange}",
                         quota_parked_scans_per_minute=10_000)


@pytest.fixture
async def server(settings: Settings, topology: Topology, migrated: str) -> AsyncIterator[UploadServer]:
    async for s in serve(settings):
        yield s


def user(server: UploadServer, name: str) -> str:
    return f"{name}-{server.settings.exchange}"


async def park_for(server: UploadServer, name: str, count: int, queue: str | None = None) -> list[str]:
    ctx = server.app.state.ctx  # type: ignore[attr-defined]
    queue = queue or server.settings.queue_preview
    photos = []
    for _ in range(count):
        photo = str(uuid.uuid4())
        body = json.dumps({"uuid": photo, "user_id": user(server, name)}).encode()
        delivery = Delivery(body, {ATTEMPT_HEADER: 3, "tags": f"ingest,proxy:{photo},user:{user(server, name)}"},
                            message_id=photo)
        assert await park(ctx.publisher, ctx.topology, queue, delivery, "gave up", "boom",
                          lambda job: rows.record(ctx.pool, job))
        photos.append(photo)
    return photos


async def listed(client: httpx.AsyncClient, **params: str) -> list[str]:
    r = await client.get("/v1/failed", params=params)
    assert r.status_code == 200, r.text
    return sorted(i["uuid"] for i in r.json()["items"])


async def test_two_users_listing_while_a_third_replays_always_see_all_of_their_own(
        server: UploadServer) -> None:
    alice, bob = sorted(await park_for(server, "alice", 3)), sorted(await park_for(server, "bob", 2))
    carol = await park_for(server, "carol", 20)
    seen: dict[str, list[list[str]]] = {"alice": [], "bob": []}
    replaying = asyncio.Event()

    async def keep_listing(name: str) -> None:
        async with server.client(f"tok-{name}") as client:
            while not replaying.is_set() or len(seen[name]) < 40:
                seen[name].append(await listed(client))
                await asyncio.sleep(0)

    async def replay_one_by_one() -> int:
        done = 0
        async with server.client("tok-carol") as client:
            for photo in carol:
                r = await client.post("/v1/failed/replay", json={"tag": f"proxy:{photo}"})
                assert r.status_code == 200, r.text
                done += r.json()["replayed"]
        replaying.set()
        return done

    listers = [asyncio.create_task(keep_listing(n)) for n in ("alice", "bob")]
    replayed = await replay_one_by_one()
    await asyncio.gather(*listers)

    assert replayed == 20
    assert len(seen["alice"]) >= 40 and len(seen["bob"]) >= 40
    assert all(s == alice for s in seen["alice"]), [len(s) for s in seen["alice"]]
    assert all(s == bob for s in seen["bob"]), [len(s) for s in seen["bob"]]
    async with server.client("tok-carol") as client:
        assert await listed(client) == []
    async with server.client("tok-oscar") as operator:  # an operator sees everyone's
        assert await listed(operator) == sorted(alice + bob)


async def test_replay_by_tag_is_scoped_to_what_the_caller_may_see(server: UploadServer) -> None:
    alice = await park_for(server, "alice", 2)
    bob = await park_for(server, "bob", 2, queue=server.settings.queue_finalize)
    async with server.client("tok-alice") as client:
        r = await client.post("/v1/failed/replay", json={"tag": f"user:{user(server, 'bob')}"})
        assert r.json() == {"replayed": 0}  # bob's jobs are not hers to replay
        r = await client.post("/v1/failed/replay", json={"tag": f"proxy:{bob[0]}"})
        assert r.json() == {"replayed": 0}
        r = await client.post("/v1/failed/replay", json={"tag": "nonsense"})
        assert r.status_code == 422 and r.json()["title"] == "Invalid tag"
        assert await listed(client, tag=f"proxy:{alice[1]}") == [alice[1]]
        r = await client.post("/v1/failed/replay", json={"tag": "ingest", "queue": "preview"})
        assert r.json() == {"replayed": 2}
        assert await listed(client) == []
    async with server.client("tok-oscar") as operator:
        assert await listed(operator, queue="ingest") == sorted(bob)
        r = await operator.post("/v1/failed/replay", json={"tag": f"user:{user(server, 'bob')}"})
        assert r.json() == {"replayed": 2}
        assert await listed(operator) == []


async def test_the_upload_service_rebuilds_the_read_model_when_it_starts(
        settings: Settings, topology: Topology, migrated: str) -> None:
    async for first in serve(settings):
        ctx = first.app.state.ctx  # type: ignore[attr-defined]
        photo = str(uuid.uuid4())  # parked by the broker itself: nobody wrote its row
        await ctx.publisher.publish(topology.failed_exchange, settings.queue_finalize,
                                    json.dumps({"uuid": photo, "user_id": user(first, "bob")}).encode())
    async for second in serve(settings):
        async with second.client("tok-bob") as client:
            for _ in range(100):
                if await listed(client) == [photo]:
                    break
                await asyncio.sleep(0.05)
            assert await listed(client) == [photo]


async def test_a_replay_says_how_many_of_its_chosen_jobs_it_did_not_find(server: UploadServer) -> None:
    ctx = server.app.state.ctx  # type: ignore[attr-defined]
    await park_for(server, "alice", 1)
    photo = str(uuid.uuid4())  # a row whose message is gone (a crash after a replay's ack)
    await rows.record(ctx.pool, rows.Parked(
        park_id=str(uuid.uuid4()), queue=server.settings.queue_preview, uuid=photo,
        user_id=user(server, "alice"), reason="gave up", error="boom",
        parked_at=datetime.now(UTC), tags=("ingest", f"proxy:{photo}", f"user:{user(server, 'alice')}")))
    async with server.client("tok-alice") as client:
        r = await client.post("/v1/failed/replay", json={"tag": f"proxy:{photo}"})
        assert r.json() == {"replayed": 0, "missing": 1}
        assert len(await listed(client)) == 1  # the scan was complete: that row went, hers stays
