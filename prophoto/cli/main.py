"""`prophoto`: the command-line client, and `dev`, which starts the local pipeline (`services.dev`).

Every command is a thin shell over an async function; `_run` is the one place
that turns a failure into a single line on stderr and exit code 1.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.text import Text

from prophoto.cli import render
from prophoto.cli.client import DEFAULT_URL, URL_ENV, Api, CliError, Target
from prophoto.cli.cull import cull, resolve
from prophoto.cli.progress import upload_with_progress
from prophoto.cli.rerender import rerender
from prophoto.cli.upload import collect
from shared.settings import DEV_TOKEN

T = TypeVar("T")

#: one preview worker per core: each runs one libvips thread (PROPHOTO_VIPS_CONCURRENCY)
DEFAULT_PREVIEW_WORKERS = max(1, min(4, os.cpu_count() or 1))

app = typer.Typer(
    name="prophoto",
    help="Upload photos to prophoto-ingest, follow them, and run the pipeline locally.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
failed_app = typer.Typer(help="Jobs parked after their last attempt.", no_args_is_help=True)
app.add_typer(failed_app, name="failed")
app.command("rerender")(rerender)

# server text is never rich markup; error lines are never wrapped (one line, greppable)
out = Console(highlight=False, markup=False)
err = Console(stderr=True, highlight=False, markup=False, soft_wrap=True)


def _run(coro: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(coro)
    except CliError as exc:
        err.print(Text.assemble(("error:", "red"), f" {exc}"))
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        err.print("interrupted")
        raise typer.Exit(130) from None


@app.callback()
def main(
    ctx: typer.Context,
    url: Annotated[
        str, typer.Option(envvar=URL_ENV, help="The server (the one setting the CLI and the Python "
                          "client share).")
    ] = DEFAULT_URL,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="PROPHOTO_TOKEN",
            help=f"Bearer token (default: the development token {DEV_TOKEN!r}).",
        ),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for one HTTP answer.")] = 60.0,
) -> None:
    if not url.startswith(("http://", "https://")):
        err.print(f"error: --url must start with http:// or https:// (got {url!r})")
        raise typer.Exit(1)
    if not out.is_terminal:  # piped output: whole rows beat folded cells
        out.width = int(os.environ.get("COLUMNS", "160"))
    ctx.obj = Target(
        url=url, token=token or DEV_TOKEN, timeout=timeout, token_is_default=token is None
    )


@app.command()
def upload(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="Files, or folders with --recursive.")],
    recursive: Annotated[
        bool, typer.Option("--recursive", "-r", help="Upload everything inside folders.")
    ] = False,
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-c", min=1, max=64, help="Uploads in flight.")
    ] = 4,
    wait: Annotated[
        bool, typer.Option("--wait", help="Follow each preview until ready or failed.")
    ] = False,
    wait_timeout: Annotated[
        float, typer.Option(help="Seconds to wait for one preview with --wait.")
    ] = 300.0,
    bulk: Annotated[
        bool, typer.Option("--bulk", help="Previews on the bulk lane (an import, a whole archive): "
                           "behind anyone's interactive uploads. Uploads past the per-minute "
                           "threshold go there anyway; files big enough for resumable upload "
                           "follow the threshold only.")
    ] = False,
) -> None:
    """Upload photos; duplicates and rejections are reported with their reasons."""
    target: Target = ctx.obj
    files = _collect(paths, recursive)
    outcomes = _run(upload_with_progress(target, files, concurrency, wait, wait_timeout, err, bulk))
    render.upload_summary(out, outcomes, waited=wait)
    problems = [o for o in outcomes if not o.uploaded or (wait and o.status != "ready")]
    if problems:
        err.print(
            f"error: {len(problems)} of {len(outcomes)} file(s) did not "
            f"{'reach a ready preview' if wait else 'upload'} (reasons above)"
        )
        raise typer.Exit(1)


def _collect(paths: list[Path], recursive: bool) -> list[Path]:
    try:
        files = collect(paths, recursive)
    except CliError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(1) from None
    if not files:
        err.print("error: no files to upload")
        raise typer.Exit(1)
    return files


@app.command()
def status(
    ctx: typer.Context,
    uuid: Annotated[
        str | None, typer.Argument(help="One photo (file name or id); without it, a table.")
    ] = None,
    state: Annotated[
        str | None,
        typer.Option(
            "--status",
            help="Only proxies in this preview status (pending|processing|ready|failed).",
        ),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="Rows to show.")] = 50,
) -> None:
    """Show one proxy in detail, or a table of your proxies (newest first)."""
    target: Target = ctx.obj

    async def go() -> None:
        async with Api(target) as api:
            if uuid:
                full = uuid if len(uuid) == 36 else str(resolve(await api.all_proxies(), [uuid])[0]["uuid"])
                render.proxy_detail(out, await api.get_proxy(full))
            else:
                page = await api.list_proxies(state, limit)
                render.proxy_table(out, page.get("items", []), more=bool(page.get("next_cursor")))

    _run(go())


#: more than this many photos chosen by a flag (not named one by one) asks first
HANDFUL = 5


@app.command()
def ingest(
    ctx: typer.Context,
    photos: Annotated[
        list[str] | None, typer.Argument(help="File names or ids (as `prophoto status` shows them).")
    ] = None,
    all_ready: Annotated[
        bool, typer.Option("--all-ready", help="Every photo whose preview is ready.")
    ] = False,
    picked: Annotated[
        bool, typer.Option("--picked", help="Every picked photo (`prophoto cull --pick`, the page's P).")
    ] = False,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", "-t", help="A tag for the Images (repeat for more).")
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Until each is kept, with its path.")] = False,
    wait_timeout: Annotated[float, typer.Option(help="Seconds to wait for one photo with --wait.")] = 300.0,
    yes: Annotated[bool, typer.Option("--yes", "-y", help=f"No question for more than {HANDFUL}.")] = False,
) -> None:
    """Keep photos: each is confirmed and becomes a permanent Image (or is refused with a reason)."""
    target: Target = ctx.obj
    if sum((bool(photos), all_ready, picked)) != 1:
        err.print("error: give file names or ids, --all-ready or --picked (one of the three)")
        raise typer.Exit(1)

    async def chosen() -> list[dict[str, Any]]:
        async with Api(target) as api:
            if photos:
                return resolve(await api.all_proxies(), photos)
            if all_ready:
                return await api.all_proxies("ready")
            return [p for p in await api.all_proxies() if p.get("flag") == "pick"
                    and (p.get("ingest_status") in (None, "failed"))]

    wanted = _run(chosen())
    if not wanted:
        out.print("nothing to keep: " + ("no proxy has a ready preview" if all_ready
                                         else "no photo is picked"))
        return
    # a question (answered from stdin; no answer is no) before a flag keeps more than a handful
    if not photos and len(wanted) > HANDFUL and not yes and not typer.confirm(
            f"Keep {len(wanted)} photos as permanent Images? (--yes skips this question)"):
        err.print("error: nothing kept")
        raise typer.Exit(1)

    async def go() -> list[dict[str, Any]]:
        names = {str(p["uuid"]): p["original_name"] for p in wanted}
        async with Api(target) as api:
            uuids = list(names)
            results: list[dict[str, Any]] = []
            for start in range(0, len(uuids), 500):
                results.extend(await api.ingest(uuids[start : start + 500], list(tag or [])))
            for r in results:
                r["file"] = names.get(str(r["uuid"]), "")
                if wait and r.get("status") == "queued":
                    r["status"], r["reason"] = await api.wait_kept(str(r["uuid"]), wait_timeout)
            return results

    results = _run(go())
    render.ingest_table(out, results)
    refused = [r for r in results if r.get("status") not in ("queued", "ingested")]
    if refused:
        err.print(f"error: {len(refused)} of {len(results)} photos were not kept (reasons above)")
        raise typer.Exit(1)


app.command("cull")(cull)


@app.command()
def reindex(
    ctx: typer.Context,
    user: Annotated[str | None, typer.Option(help="One user's Images (default: everyone's).")] = None,
) -> None:
    """Operators: read every kept original (and its sidecar) again, to fill new metadata fields."""
    target: Target = ctx.obj

    async def go() -> int:
        async with Api(target) as api:
            return await api.reindex(user)

    queued = _run(go())
    out.print(f"queued a metadata re-read of {queued} image{'s' if queued != 1 else ''}")


@failed_app.command("list")
def failed_list(
    ctx: typer.Context,
    queue: Annotated[
        str | None, typer.Option(help="preview, finalize or enhance (default: all).")
    ] = None,
    tag: Annotated[
        str | None, typer.Option(help="Only jobs with this tag: ingest, proxy:<uuid> or user:<id>.")
    ] = None,
) -> None:
    """List your parked jobs with the reason they failed."""
    target: Target = ctx.obj

    async def go() -> list[dict[str, Any]]:
        async with Api(target) as api:
            jobs = await api.failed(queue, tag)
            if jobs:  # file names for the table (a job whose proxy is gone keeps its id only)
                names = {str(p["uuid"]): p["original_name"] for p in await api.all_proxies()}
                for job in jobs:
                    job["file"] = names.get(str(job.get("uuid")), "")
            return jobs

    render.failed_table(out, _run(go()))


@failed_app.command("replay")
def failed_replay(
    ctx: typer.Context,
    uuids: Annotated[
        list[str] | None, typer.Argument(help="Only these proxies (default: all of yours).")
    ] = None,
    queue: Annotated[
        str | None, typer.Option(help="preview, finalize or enhance (default: all).")
    ] = None,
    tag: Annotated[
        str | None, typer.Option(help="Only jobs with this tag: ingest, proxy:<uuid> or user:<id>.")
    ] = None,
) -> None:
    """Send parked jobs back to their work queue with their attempts reset."""
    target: Target = ctx.obj

    async def go() -> int:
        async with Api(target) as api:
            named = list(uuids or [])
            if any(len(u) != 36 for u in named):  # file names or short ids, as the tables show
                known = await api.all_proxies()
                named = [u if len(u) == 36 else str(resolve(known, [u])[0]["uuid"]) for u in named]
            return await api.replay(named or None, queue, tag)

    replayed = _run(go())
    out.print(f"replayed {replayed} parked job(s)")
    if uuids and replayed < len(uuids):
        err.print(f"error: {len(uuids) - replayed} of the given proxies had no parked job")
        raise typer.Exit(1)


@app.command()
def dev(
    preview_workers: Annotated[
        int, typer.Option(min=1, max=32, envvar="PREVIEW_WORKERS",
                          help="Preview worker processes (default: one per core, at most 4).")
    ] = DEFAULT_PREVIEW_WORKERS,
    restart: Annotated[bool, typer.Option(help="Restart a child that dies (with backoff).")] = True,
    store: Annotated[
        Path, typer.Option(help="Filesystem store root when PROPHOTO_*_STORE are unset.")
    ] = Path("var/store"),
) -> None:
    """Run the whole pipeline locally: migrate, declare the topology, start every service."""
    # the services' side: imported only by this command, never by the client commands
    from services.dev.plan import DevError, prepare_environment
    from services.dev.supervisor import Supervisor

    env = prepare_environment(dict(os.environ), store)
    supervisor = Supervisor(env, preview_workers=preview_workers, restart=restart)
    try:
        code = supervisor.run()
    except DevError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(1) from None
    except KeyboardInterrupt:  # before the services started: nothing to stop
        raise typer.Exit(130) from None
    raise typer.Exit(code)


if __name__ == "__main__":
    app()
