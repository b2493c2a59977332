"""`prophoto rerender`: render every preview again (or one user's) on the bulk lane, with progress.

Needs an operator token. The run lives on the server: interrupting this
command stops only the progress display, and `prophoto rerender --run ID`
follows it again later.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console

from prophoto import RerenderRun
from prophoto.cli.client import Api, Target

POLL_S = 1.0


def line(run: RerenderRun) -> str:
    scope = f"user {run.user_id}" if run.user_id else "every user"
    return (f"re-render {run.id} ({scope}): {run.queued}/{run.total} queued, "
            f"{run.rendered}/{run.total} rendered, {run.status}")


async def follow(api: Api, run: RerenderRun, out: Console, wait: bool) -> RerenderRun:
    out.print(line(run))
    while wait and (run.status != "queued" or run.rendered < run.total):
        await asyncio.sleep(POLL_S)
        latest = await api.call(api.client.rerender_run(run.id))
        if (latest.queued, latest.rendered, latest.status) != (run.queued, run.rendered, run.status):
            out.print(line(latest))
        run = latest
    return run


def rerender(
    ctx: typer.Context,
    user: Annotated[str | None,
                    typer.Option(help="Only this user's previews (default: every user's).")] = None,
    run: Annotated[int | None, typer.Option("--run", help="Follow this run instead of starting one.")] = None,
    wait: Annotated[bool, typer.Option(help="Follow the run until every preview is rendered again.")] = True,
) -> None:
    """Render previews again on the bulk lane (after a size change or a decoder fix); operators only."""
    from prophoto.cli.main import _run, out

    target: Target = ctx.obj

    async def go() -> RerenderRun:
        async with Api(target) as api:
            started = await api.call(api.client.rerender_run(run) if run is not None
                                     else api.client.rerender(user))
            return await follow(api, started, out, wait)

    _run(go())
