"""Naming photos on the command line by file name or a short id, and `prophoto cull`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from prophoto.cli.client import Api, CliError, Target

#: the shortest uuid prefix taken as an id (the tables print eight characters)
MIN_PREFIX = 4


def short(uuid: Any) -> str:
    return str(uuid or "")[:8]


def resolve(proxies: list[dict[str, Any]], refs: list[str]) -> list[dict[str, Any]]:
    """Each ref is a whole uuid, a uuid prefix (as the tables print it) or a file name."""
    found: list[dict[str, Any]] = []
    for ref in refs:
        hits = [p for p in proxies if str(p["uuid"]) == ref]
        if not hits and len(ref) >= MIN_PREFIX:
            hits = [p for p in proxies if str(p["uuid"]).startswith(ref.lower())]
        if not hits:
            hits = [p for p in proxies if p["original_name"] == ref]
        if not hits:
            raise CliError(f"no photo waiting for review is called or numbered {ref!r} "
                           "(`prophoto status` lists them)")
        if len(hits) > 1:
            ids = ", ".join(short(p["uuid"]) for p in hits)
            raise CliError(f"{ref!r} names {len(hits)} photos ({ids}): give one of these ids")
        found.append(hits[0])
    return found


def cull(
    ctx: typer.Context,
    photos: Annotated[list[str], typer.Argument(help="File names or ids (as `prophoto status` shows).")],
    pick: Annotated[bool, typer.Option("--pick", "-p", help="Pick them.")] = False,
    reject: Annotated[bool, typer.Option("--reject", "-x", help="Reject them.")] = False,
    unflag: Annotated[bool, typer.Option("--unflag", "-u", help="Neither picked nor rejected.")] = False,
    rating: Annotated[int | None, typer.Option("--rating", "-r", min=0, max=5,
                                               help="0-5 stars (0: unrated).")] = None,
) -> None:
    """Pick, reject or rate photos waiting for review, as the web page's P, X, U and 0-5 keys do.
    `prophoto ingest --picked` then keeps the picked ones."""
    from prophoto.cli import render
    from prophoto.cli.main import _run, out

    target: Target = ctx.obj
    flags = [name for name, on in (("pick", pick), ("reject", reject), (None, unflag)) if on]
    if len(flags) > 1:
        raise typer.BadParameter("give one of --pick, --reject, --unflag")
    change: dict[str, Any] = {"flag": flags[0]} if flags else {}
    if rating is not None:
        change["rating"] = rating
    if not change:
        raise typer.BadParameter("give --pick, --reject, --unflag and/or --rating")

    async def go() -> list[dict[str, Any]]:
        async with Api(target) as api:
            chosen = resolve(await api.all_proxies(), photos)
            return [await api.cull(str(p["uuid"]), change) for p in chosen]

    render.proxy_table(out, _run(go()), more=False)
