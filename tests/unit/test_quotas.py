"""The quota shapes (shared/quotas.py) on a fake clock."""

from __future__ import annotations

import asyncio

import pytest

from shared.errors import RateLimited
from shared.quotas import Concurrent, Counted, Window


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_window_refuses_past_its_limit_until_the_oldest_use_leaves_it() -> None:
    clock, refused = Clock(), []
    window = Window("uploads", 3, 60.0, refused.append, clock=clock)
    for _ in range(3):
        window.take("ann")
        clock.now += 10
    with pytest.raises(RateLimited) as caught:
        window.take("ann")
    assert caught.value.extra["retry_after"] == 30  # the first use leaves the window at 1060
    assert refused == ["uploads"]
    window.take("bob")  # another user's window is their own
    clock.now = 1061
    window.take("ann")


def test_a_window_counts_amounts_and_a_refusal_counts_nothing() -> None:
    clock = Clock()
    window = Window("bytes", 100, 3600.0, clock=clock)
    window.take("ann", 60)
    with pytest.raises(RateLimited):
        window.take("ann", 50)
    window.take("ann", 40)
    with pytest.raises(RateLimited):
        window.take("ann", 1)


def test_concurrent_places_come_back_once_per_slot() -> None:
    streams = Concurrent("streams", 2)
    first, _second = streams.slot("ann"), streams.slot("ann")
    with pytest.raises(RateLimited):
        streams.acquire("ann")
    first.release()
    first.release()  # twice is once
    third = streams.slot("ann")
    with pytest.raises(RateLimited):
        streams.acquire("ann")
    assert streams.total() == 2
    third.release()
    assert streams.total() == 1


def test_a_counted_quota_reads_the_database_once_per_refresh_and_counts_on_locally() -> None:
    clock, reads = Clock(), []

    async def count(user: str) -> int:
        reads.append(user)
        return 8

    quota = Counted("unconfirmed", 10, count, refresh_s=10, clock=clock)

    async def run() -> None:
        await quota.check("ann")
        quota.added("ann")
        await quota.check("ann")
        quota.added("ann")
        with pytest.raises(RateLimited):
            await quota.check("ann")
        clock.now += 11  # re-read: the database says 8 again (some were confirmed)
        await quota.check("ann")

    asyncio.run(run())
    assert reads == ["ann", "ann"]
