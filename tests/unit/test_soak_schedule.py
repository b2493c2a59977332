"""The soak's fault schedule: what strikes, in which order, and when it stops."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from chaos.soak import FAULT_KINDS, Soak, SoakConfig


def soak(tmp_path: Path, **config: Any) -> tuple[Soak, list[str]]:
    postgres = SimpleNamespace(url="postgresql://postgres@127.0.0.1:1/prophoto")
    cluster = SimpleNamespace(amqp_url="amqp://guest:guest@127.0.0.1:1/", count=3)
    run = Soak(SoakConfig(fault_every_s=0.001, **config), postgres, cluster, tmp_path)  # type: ignore[arg-type]
    struck: list[str] = []

    async def fault(stack: object, kind: str) -> None:
        struck.append(kind)

    run._fault = fault  # type: ignore[method-assign]
    return run, struck


async def test_every_kind_strikes_once_even_when_the_uploads_are_in_before_the_first_fault(
    tmp_path: Path,
):
    run, struck = soak(tmp_path)
    done = asyncio.Event()
    done.set()
    await asyncio.wait_for(run._faults(object(), done), 5)  # type: ignore[arg-type]
    assert sorted(struck) == sorted(FAULT_KINDS)


async def test_a_broker_outage_comes_first_and_the_whole_round_still_follows_it(tmp_path: Path):
    run, struck = soak(tmp_path, broker_outage_s=120.0)
    done = asyncio.Event()
    done.set()  # what a two-minute outage does: every upload is in (the outbox) before it ends
    await asyncio.wait_for(run._faults(object(), done), 5)  # type: ignore[arg-type]
    assert struck[0] == "broker outage"
    assert sorted(struck[1:]) == sorted(FAULT_KINDS)


async def test_the_seeded_schedule_goes_on_at_random_until_the_uploads_are_in(tmp_path: Path):
    run, struck = soak(tmp_path)
    done = asyncio.Event()

    async def fault(stack: object, kind: str) -> None:
        struck.append(kind)
        if len(struck) == 3 * len(FAULT_KINDS):
            done.set()  # the last upload is in

    run._fault = fault  # type: ignore[method-assign]
    await asyncio.wait_for(run._faults(object(), done), 5)  # type: ignore[arg-type]
    assert len(struck) == 3 * len(FAULT_KINDS)
    assert set(struck) <= set(FAULT_KINDS)
