"""Round trips on a half-open connection: measured as silence, and failed, never cancelled.

The connection goes through tests/fixtures/blackhole.py, which drops every
byte both ways without closing a socket once a consumer is on it: the client
still reads connected, and only an unanswered round trip tells. aiormq drops
such a connection after three missed heartbeats by *cancelling* the round
trips pending on it, which would end any loop meant to retry them
(`except Exception` does not see a cancellation): `dropped_is_an_error`
turns them into errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest
from yarl import URL

from shared.broker.connections import BrokerLink, Echo, RoundTripDropped, dropped_is_an_error
from shared.broker.publisher import AmqpPublisher, PublishFailed, connect
from shared.broker.topology import Topology
from shared.resource_settings import BrokerSettings
from shared.settings import Settings
from tests.fixtures.blackhole import BlackholeProxy

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


async def until(check, within_s: float, what: str) -> float:
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < within_s, what
        await asyncio.sleep(0.1)
    return time.monotonic() - start


async def test_an_echo_counts_the_silence_of_a_half_open_connection_and_recovers_with_it(
        settings: Settings):
    broker = URL(settings.amqp_url)
    proxy = BlackholeProxy(broker.host or "127.0.0.1", broker.port or 5672)
    port = await proxy.start()
    # a 2 s heartbeat: aiormq gives up on the dead path after about 9 s, not 33
    connection = await connect(str(broker.with_port(port)), heartbeat_s=2, reconnect_interval=0.5)
    echo = Echo(connection, every_s=0.5)
    running = asyncio.create_task(echo.run())
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.consume(lambda message: message.ack())  # the proxy goes silent on consumers
        await until(lambda: echo.answers >= 2, 10, "the broker never answered the echo")
        assert echo.silent_s() < 1.0

        silent = proxy.blackhole()
        assert len(silent) == 1
        answers = echo.answers
        await asyncio.sleep(3.0)
        assert connection.connected.is_set(), "the client still believes the path is up"
        assert echo.answers == answers and echo.silent_s() >= 2.5, echo.silent_s()

        # aiormq drops the dead connection, the robust one comes back on a new path
        back = await until(lambda: echo.answers > answers, 30, "the echo never answered again")
        assert echo.silent_s() < 1.0
        assert silent[0].client_closed_at is not None, "the client gave up on the dead path"
        print(f"echo answered again {3.0 + back:.1f} s after the blackhole")
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        with contextlib.suppress(Exception):
            await asyncio.wait_for(connection.close(), 5)
        await proxy.close()


async def test_a_publish_whose_confirm_dies_with_a_half_open_connection_fails_and_the_next_one_goes(
        settings: Settings):
    broker = URL(settings.amqp_url)
    proxy = BlackholeProxy(broker.host or "127.0.0.1", broker.port or 5672)
    port = await proxy.start()
    url = str(broker.with_port(port))
    link = BrokerLink(url, heartbeat_s=2, timeout=30)
    # a confirm timeout longer than aiormq's patience: the dropped connection ends the wait
    publisher = AmqpPublisher(BrokerSettings(url, 30.0, 2), Topology(settings), link=link)
    try:
        channel = await (await link.connection()).channel()
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.consume(lambda message: message.ack())  # the proxy goes silent on consumers
        await publisher.connect(declare=False)
        await publisher.publish("", queue.name, b"before", mandatory=False)

        assert len(proxy.blackhole()) == 1
        start = time.monotonic()
        with pytest.raises(PublishFailed, match="RoundTripDropped"):
            await publisher.publish("", queue.name, b"during", mandatory=False)
        assert time.monotonic() - start < 25, "ended by the dropped connection, not the timeout"
        assert publisher.recovery.failures == 1 and publisher.recovery.channels_dropped == 1

        # the robust connection comes back on a new path: the next publish is confirmed
        deadline = time.monotonic() + 20
        while True:
            try:
                await publisher.publish("", queue.name, b"after", mandatory=False)
                break
            except PublishFailed:
                assert time.monotonic() < deadline, "no publish confirmed after the reconnect"
                await asyncio.sleep(0.5)
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(publisher.close(), 5)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(link.close(), 5)
        await proxy.close()


async def test_cancelling_the_task_itself_still_cancels_it():
    """Only a cancellation that comes from a dropped round trip becomes an error."""
    entered = asyncio.Event()

    async def waits() -> None:
        with dropped_is_an_error("test"):
            entered.set()
            await asyncio.sleep(60)

    task = asyncio.create_task(waits())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    async def round_trip_cancelled_under_it() -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_soon(future.cancel)  # what aiormq does on a drop
        with dropped_is_an_error("test"):
            await future

    with pytest.raises(RoundTripDropped, match="test: the connection was dropped"):
        await asyncio.create_task(round_trip_cancelled_under_it())
