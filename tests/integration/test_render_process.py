"""The backstop: the render process's hard cap under libvips and LibRaw threads, and timeouts that stop work.

The budget is set out of the way here (its estimates would refuse these
inputs first), so what is tested is what happens when an estimate misses.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from services.preview.render import render_or_raise
from shared.imaging import ImagingError, Limits, render_libraw
from shared.settings import Settings
from shared.worker import render_process
from shared.worker.render_process import RenderCrashed, RenderProcess
from tests.fixtures import hostile, render_calls

pytestmark = pytest.mark.integration

CAP_MB = 160
NO_BUDGET = Limits(memory_budget=1 << 40, max_pixels=10**12)


def capped(vips_threads: int) -> RenderProcess:
    # a budget of 1 TB keeps the estimates out of the way; the cap is CAP_MB over the child at rest
    settings = Settings(job_memory_mb=1 << 20, render_cap_factor=CAP_MB / (1 << 20),
                        vips_concurrency=vips_threads)
    return render_process.for_settings(settings)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().split()[2] != "Z"


@pytest.mark.parametrize("vips_threads", [1, 4])
async def test_a_decode_past_the_cap_fails_that_job_and_the_next_job_renders(tmp_path: Path, vips_threads: int,
                                                                            corpus: Path):
    big = tmp_path / "big.jpg"
    big.write_bytes(hostile.real_progressive_jpeg(7000, 7000))  # 294 MB of coefficients alone
    renderer = capped(vips_threads)
    try:
        with pytest.raises((ImagingError, RenderCrashed)) as failed:
            await renderer.call(render_or_raise, big, False, NO_BUDGET)
        assert "memory" in str(failed.value).lower() or "hard cap" in str(failed.value), failed.value
        fine = await renderer.call(render_or_raise, corpus / "jpeg/canon_hdr_YES.jpg", False, Limits())
        assert fine.method.startswith("source:") and fine.preview[:2] == b"\xff\xd8"
    finally:
        renderer.close()


async def test_libraw_past_the_cap_fails_that_job_and_the_next_job_renders(corpus: Path):
    renderer = capped(2)
    renderer.cap_bytes = 8 * 2**20  # LibRaw's buffers for this 9 MP sensor need far more
    try:
        # LibRaw's own allocator gives up, libgomp cannot start a thread, or the process dies:
        # whichever comes first, this job fails and nothing outside the render process notices
        with pytest.raises(Exception) as failed:
            await renderer.call(render_libraw, corpus / "raw/Blackmagic.dng", NO_BUDGET)
        assert not isinstance(failed.value, AssertionError)
        assert renderer.pid is None  # a process that ran out is retired, never reused
        renderer.cap_bytes = CAP_MB * 2**20
        fine = await renderer.call(render_or_raise, corpus / "jpeg/canon_hdr_YES.jpg", False, Limits())
        assert fine.method.startswith("source:") and fine.preview[:2] == b"\xff\xd8"
    finally:
        renderer.close()


async def test_a_timeout_kills_the_render_and_holds_the_slot_until_it_is_gone():
    renderer = RenderProcess(cap_bytes=0)
    slot = asyncio.Semaphore(1)
    await renderer.call(time.sleep, 0)
    pid = renderer.pid
    assert pid is not None

    async def job() -> None:
        async with slot:
            await renderer.call(time.sleep, 60)

    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(job(), timeout=0.5)
    # by the time the timeout reaches the caller the render is gone, and only then is the slot free
    assert not alive(pid)
    assert not slot.locked()
    assert time.monotonic() - started < 5
    await renderer.call(time.sleep, 0)  # a new process takes the next job
    assert renderer.pid not in (None, pid)
    renderer.close()


async def test_a_failed_call_retires_the_process_only_when_it_cannot_reserve_its_headroom_any_more():
    renderer = RenderProcess(cap_bytes=192 * 2**20, headroom_bytes=96 * 2**20)
    try:
        with pytest.raises(ValueError, match="corrupt data"):  # the exception comes back as itself
            await renderer.call(render_calls.fail)
        first = renderer.pid
        assert first is not None  # an input that failed: the same process takes the next call
        with pytest.raises(ValueError, match="the decoder gave up"):
            await renderer.call(render_calls.hold_then_fail, 128 * 2**20)
        assert renderer.pid is None  # it still holds 128 MB of its 192: retired after answering
        await renderer.call(time.sleep, 0)
        assert renderer.pid not in (None, first)
    finally:
        renderer.close()


async def test_a_function_the_process_cannot_import_is_refused_before_anything_is_sent():
    renderer = RenderProcess(cap_bytes=0)
    try:
        with pytest.raises(TypeError):
            await renderer.call(lambda: None)
        assert renderer.pid is None  # nothing was started for it
    finally:
        renderer.close()
