"""`run_spread`: each step once, over every channel, the first error raised after the rest ran."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from shared.broker.fanout import run_spread


class Broken(Exception):
    pass


async def test_each_step_runs_once_and_every_channel_takes_some() -> None:
    ran: list[tuple[str, int]] = []

    def step(n: int) -> Any:
        async def run(channel: Any) -> None:
            await asyncio.sleep(0.01)
            ran.append((channel, n))
        return run

    await run_spread(["a", "b", "c"], [step(n) for n in range(9)])  # type: ignore[list-item]
    assert sorted(n for _, n in ran) == list(range(9))
    assert {c for c, _ in ran} == {"a", "b", "c"}


async def test_a_failed_channel_takes_no_more_steps_and_its_error_is_raised_after_the_others_finish() -> None:
    ran: list[tuple[str, int]] = []

    def step(n: int) -> Any:
        async def run(channel: Any) -> None:
            await asyncio.sleep(0.01)
            if n == 0:
                raise Broken(channel)
            ran.append((channel, n))
        return run

    with pytest.raises(Broken) as raised:
        await run_spread(["a", "b"], [step(n) for n in range(6)])  # type: ignore[list-item]
    failed = raised.value.args[0]
    assert sorted(n for _, n in ran) == [1, 2, 3, 4, 5]
    assert failed not in {c for c, _ in ran}
