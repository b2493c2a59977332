"""A test worker on the real harness: its job's behaviour is chosen by the payload.

Run as `python -m tests.integration.probe_worker`; every attempt is appended to
the file named by PROBE_LOG as `<id> <attempt> <result>`.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Literal

from shared.messages import Message
from shared.settings import get_settings
from shared.worker.context import JobContext, PermanentError
from shared.worker.harness import run_worker
from shared.worker.spec import Resources, WorkerSpec


class Probe(Message):
    id: str
    mode: Literal["ok", "fail_twice", "always_fail", "permanent", "sleep", "crash"]
    sleep_s: float = 0.0


def _log(line: str) -> None:
    with open(os.environ["PROBE_LOG"], "a") as fh:
        fh.write(line.replace("\n", " ") + "\n")
        fh.flush()
        os.fsync(fh.fileno())


async def no_deps(resources: Resources) -> None:
    return None


async def work(_: None, job: Probe, ctx: JobContext) -> None:
    _log(f"{job.id} {ctx.attempt} start")
    if job.mode == "crash":  # like a decoder segfault: the whole process dies
        os.kill(os.getpid(), signal.SIGKILL)
    if job.mode == "sleep":
        await asyncio.sleep(job.sleep_s)
    if job.mode == "fail_twice" and ctx.attempt <= 2:
        _log(f"{job.id} {ctx.attempt} fail")
        raise ConnectionError("storage unavailable (simulated)")
    if job.mode == "always_fail":
        _log(f"{job.id} {ctx.attempt} fail")
        raise ConnectionError("database unavailable (simulated)")
    if job.mode == "permanent":
        _log(f"{job.id} {ctx.attempt} fail")
        raise PermanentError("corrupt image data (simulated)")
    _log(f"{job.id} {ctx.attempt} done")


async def on_failed(_: None, job: Probe | None, reason: str) -> None:
    _log(f"{job.id if job else '-'} 0 parked:{reason}")


if __name__ == "__main__":
    settings = get_settings()
    Path(os.environ["PROBE_LOG"]).touch()
    spec = WorkerSpec(service="probe", queue=settings.queue_preview, model=Probe, deps=no_deps, work=work,
                      on_failed=on_failed)
    run_worker(spec, settings, int(os.environ.get("PROBE_PORT", "0")))
