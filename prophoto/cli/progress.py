"""`prophoto upload`'s progress: bars for files, bytes (with the rate) and, with --wait, previews.

The bars go to stderr, so the summary table on stdout stays clean when piped.
"""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console
from rich.filesize import decimal
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

from prophoto.cli import render
from prophoto.cli.client import Api, Target
from prophoto.cli.upload import Outcome, follow_all, upload_all


async def upload_with_progress(
    target: Target, files: list[Path], concurrency: int, wait: bool, wait_timeout: float,
    err: Console, bulk: bool = False,
) -> list[Outcome]:
    """Upload `files` (and follow their previews with `wait`), drawing bars on `err`."""
    outcomes = [Outcome(path=p, size=p.stat().st_size) for p in files]
    total_bytes = sum(o.size for o in outcomes)
    async with Api(target, max_connections=max(concurrency, 16)) as api:
        await api.list_proxies(limit=1)  # one clear error for a wrong URL or token, up front
        with Progress(
            TextColumn("{task.description:<8}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[info]}"),
            TimeRemainingColumn(),
            console=err,
        ) as bars:
            files_task = bars.add_task("files", total=len(outcomes), info=f"0/{len(outcomes)}")
            bytes_task = bars.add_task("bytes", total=total_bytes, info="")
            started = time.monotonic()
            done = {"bytes": 0, "files": 0, "previews": 0}

            def on_bytes(n: int) -> None:
                done["bytes"] += n
                rate = done["bytes"] / max(time.monotonic() - started, 1e-6)
                bars.update(
                    bytes_task,
                    advance=n,
                    info=f"{decimal(done['bytes'])}/{decimal(total_bytes)} {decimal(int(rate))}/s",
                )

            def on_file(_: Outcome) -> None:
                done["files"] += 1
                bars.update(files_task, advance=1, info=f"{done['files']}/{len(outcomes)}")

            await upload_all(api, outcomes, concurrency, on_bytes=on_bytes, on_file=on_file, bulk=bulk)
            elapsed = time.monotonic() - started
            if wait:
                pending = [o for o in outcomes if o.uuid]
                previews = bars.add_task("previews", total=len(pending), info=f"0/{len(pending)}")

                def on_preview(_: Outcome) -> None:
                    done["previews"] += 1
                    bars.update(previews, advance=1, info=f"{done['previews']}/{len(pending)}")

                await follow_all(
                    api, pending, wait_timeout, max(concurrency, 16), on_done=on_preview
                )
    render.upload_rate(err, outcomes, elapsed)
    return outcomes
