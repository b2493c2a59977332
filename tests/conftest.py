"""Shared fixtures. Integration tests use the real RabbitMQ and PostgreSQL on
this machine, with names unique to each test so runs never collide."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import socket
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aio_pika
import asyncpg
import pytest

from shared.broker.fanout import exchange_deletion, queue_deletion, run_spread
from shared.broker.topology import Topology
from shared.db import create_pool
from shared.migrate import migrate
from shared.resource_settings import DatabaseSettings
from shared.settings import RetryPolicy, Settings
from tests.fixtures.services import endpoints

pytest_plugins: list[str] = ["tests.fixtures.breakable", "tests.fixtures.upload", "tests.fixtures.tracing", "tests.fixtures.preview", "tests.fixtures.s3"]

REPO = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("PROPHOTO_CORPUS", REPO.parent / "shared" / "corpus"))
AMQP_URL = endpoints().amqp_url  # testcontainers where Docker is reachable, else local services
DATABASE_URL = endpoints().database_url


def pytest_report_header() -> str:
    return f"prophoto test services: {endpoints().source}"


def fast_retry(attempts: int = 3, delays: tuple[float, ...] = (0.2, 0.4, 0.6)) -> RetryPolicy:
    return RetryPolicy(attempts=attempts, backoff_s=list(delays[: attempts - 1]), timeout_s=60)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    """Settings with per-test exchange and queue names and shrunk delays."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    values: dict[str, object] = dict(
        env="test",
        amqp_url=AMQP_URL,
        database_url=DATABASE_URL,
        temp_store=f"file://{tmp_path / 'store'}",
        final_store=f"file://{tmp_path / 'store'}",
        exchange=prefix,
        queue_preview=f"{prefix}-ingest-preview",
        queue_finalize=f"{prefix}-ingest",
        queue_enhance=f"{prefix}-ingest-enhance",
        queue_traces=f"{prefix}-ingest-traces",
        preview_retry=fast_retry(3),
        finalize_retry=fast_retry(3),
        enhance_retry=fast_retry(2),
        traces_retry=fast_retry(3),
        # users are unique per test: the test database is shared and never truncated
        api_tokens=f"tok-alice=alice-{prefix},tok-bob=bob-{prefix}",
        admin_tokens=f"tok-oscar=oscar-{prefix}",  # an operator: the debug page, every user's rows
        publish_timeout_s=5.0,
        outbox_poll_s=0.2,
        # a service started as a process opens its metrics listener: never on a fixed port
        upload_metrics_port=_free_port(),
        tracing_metrics_port=_free_port(),
    )
    values.update(overrides)
    settings = Settings(**values)  # type: ignore[arg-type]
    _NAMED.append(settings)
    return settings


#: every per-test topology named in this session and not yet removed: each test's go when it
#: ends (`_sweep_test_topologies`), the rest (module fixtures') at the session's end, whoever
#: declared them (workers started by a test declare their own)
_NAMED: list[Settings] = []


#: tests that share one session's resources, or would fight for them, run on one xdist worker:
#: the cluster tests share the session's own three RabbitMQ nodes and PostgreSQL
#: (tests/fixtures/breakable.py), the browser tests each drive a Chromium beside a whole stack
ONE_WORKER = {"tests/chaos/": "cluster", "tests/e2e/": "e2e"}


def work_unit(nodeid: str) -> str:
    """What xdist hands a worker at once: a one-worker folder whole, any other test alone."""
    for folder, unit in ONE_WORKER.items():
        if nodeid.startswith(folder):
            return unit
    return nodeid


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """`make test` runs on two workers (`-n 2`), scheduled by `work_unit`.

    Not `--dist loadgroup` with `xdist_group` marks: xdist 3.8 marks a group by rewriting the
    test's node id, which pytest 9.2 no longer reads, so a group's tests were spread anyway
    (and two workers each started a cluster on the same ports).
    """
    from xdist.scheduler import LoadScopeScheduling

    class OneWorkerFolders(LoadScopeScheduling):  # type: ignore[misc]  # xdist is untyped
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    return OneWorkerFolders(config, log)


async def _drop(settings: list[Settings], connection: aio_pika.abc.AbstractConnection) -> None:
    async with open_channels(connection) as channels:
        topologies = [Topology(s) for s in settings]
        await run_spread(channels, [queue_deletion(name) for t in topologies for name in t.all_queues()])
        await run_spread(channels, [exchange_deletion(name) for t in topologies for name in t.exchanges()])


class _Sweeper:
    """Removes finished tests' topologies from the broker in the background, on a thread of its own.

    Left to the session's end, a full run's few thousand quorum queues filled a broker started
    with 1,024 open files (RabbitMQ 3.10 counts queue segment files against that limit) until it
    stopped accepting connections, 20 minutes in. The names are unique to each test, so the
    next test need not wait for the removal.
    """

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="topology-sweeper",
                                        daemon=True)
        self._thread.start()
        self._connection: aio_pika.abc.AbstractConnection | None = None
        self._pending: list[tuple[concurrent.futures.Future[None], list[Settings]]] = []

    async def _remove(self, settings: list[Settings]) -> None:
        if self._connection is None or self._connection.is_closed:
            self._connection = await aio_pika.connect(AMQP_URL, timeout=10)
        await asyncio.wait_for(_drop(settings, self._connection), 60)

    def submit(self, settings: list[Settings]) -> None:
        self._pending.append((asyncio.run_coroutine_threadsafe(self._remove(settings), self._loop),
                              settings))

    def finish(self, timeout_s: float) -> tuple[list[Settings], BaseException | None]:
        """Wait for the removals under way; the topologies not removed, and the first error."""
        left: list[Settings] = []
        error: BaseException | None = None
        for future, settings in self._pending:
            try:
                future.result(timeout_s)
            except BaseException as exc:  # the session's end tries these again
                left += settings
                error = error or exc
        if self._connection is not None:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._connection.close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        return left, error


_SWEEPER: _Sweeper | None = None


@pytest.fixture(autouse=True)
def _sweep_test_topologies() -> Iterator[None]:
    """The topologies a test named (its own settings, its services') are removed when it ends.

    Autouse and function-scoped, it is set up after any module fixture and torn down after the
    test's other fixtures, so the services using those topologies have stopped.
    """
    global _SWEEPER
    start = len(_NAMED)
    yield
    made = _NAMED[start:]
    if made:
        del _NAMED[start:]
        _SWEEPER = _SWEEPER or _Sweeper()
        _SWEEPER.submit(made)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _SWEEPER is not None:
        left, error = _SWEEPER.finish(120)
        if error is not None:
            print(f"\n{len(left)} test topologies not removed after their test: {error!r}")
        _NAMED.extend(left)
    if not _NAMED:
        return

    async def drop() -> None:
        connection = await aio_pika.connect(AMQP_URL, timeout=10)
        async with connection:
            await _drop(_NAMED, connection)

    try:
        asyncio.run(asyncio.wait_for(drop(), 120))
    except Exception as exc:  # the broker being gone is reported by the tests themselves
        print(f"\ncould not remove the tests' queues: {exc!r}")


@pytest.fixture(scope="session")
async def migrated() -> str:
    await migrate(DatabaseSettings(DATABASE_URL))
    return DATABASE_URL


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
async def pool(migrated: str, settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(settings.database, max_size=5)
    yield p
    await p.close()


@pytest.fixture
async def amqp() -> AsyncIterator[aio_pika.abc.AbstractRobustConnection]:
    conn = await aio_pika.connect_robust(AMQP_URL)
    yield conn
    await conn.close()


#: channels a test's topology is declared and deleted over at once: its ~35 quorum queues take
#: a second on one channel; a handful is enough (and keeps the shared broker's channel count low)
TOPOLOGY_CHANNELS = 4


@contextlib.asynccontextmanager
async def open_channels(connection: aio_pika.abc.AbstractConnection,
                        count: int = TOPOLOGY_CHANNELS) -> AsyncIterator[list[aio_pika.abc.AbstractChannel]]:
    """`count` fresh channels on `connection`, closed afterwards (those a broker error left open)."""
    channels = [await connection.channel() for _ in range(count)]
    try:
        yield channels
    finally:
        for channel in channels:
            if not channel.is_closed:
                await channel.close()


@pytest.fixture
async def topology(settings: Settings, amqp: aio_pika.abc.AbstractConnection) -> AsyncIterator[Topology]:
    """The per-test topology, declared on the real broker and removed afterwards."""
    topo = Topology(settings)
    async with open_channels(amqp) as channels:
        await topo.declare(*channels)
    yield topo
    async with open_channels(amqp) as channels:
        await topo.delete(*channels)


@pytest.fixture
def corpus() -> Path:
    if not (CORPUS / "MANIFEST.tsv").exists():
        pytest.skip(f"the photo corpus is not present at {CORPUS}")
    return CORPUS



def settings_env(settings: Settings) -> dict[str, str]:
    """The whole environment for a child process that must see the same `settings`."""
    from tests.fixtures.cli import settings_env as prophoto_env

    env = {k: v for k, v in os.environ.items() if not k.startswith("PROPHOTO_")}
    return env | prophoto_env(settings) | {"PYTHONPATH": str(REPO)}
