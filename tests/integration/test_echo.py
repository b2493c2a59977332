"""`Echo`: a half-open consumer connection shows as silence, and the silence ends with it.

The connection goes through tests/fixtures/blackhole.py, which drops every
byte both ways without closing a socket once a consumer is on it: the client
still reads connected, and only the echo's unanswered round trip tells.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest
from yarl import URL

from shared.broker.connections import Echo
from shared.broker.publisher import connect
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
