"""`/admin/ingest-traces`: the debug page, server-rendered with Jinja2 (autoescaped).

Filters arrive as a plain GET form and are validated here, so a bad value
shows a message on the page instead of a JSON error.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials
from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.tracing import queries
from services.tracing.handlers import TracingContext, get_ctx, list_traces, stats_for, trace_json
from shared import tags
from shared.db import previews, sessions
from shared.http.auth import (
    COOKIE,
    QUERY_CREDENTIALS,
    SESSION_SECONDS,
    bearer_scheme,
    principal_of,
    token_book,
)
from shared.messages import TraceType

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
HERE = Path(__file__).parent
templates = Environment(
    loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
    trim_blocks=True, lstrip_blocks=True,
)
TRACE_TYPES: tuple[str, ...] = TraceType.__args__  # type: ignore[attr-defined]
PAGE_SIZE = 50


def render(name: str, code: int = 200, **values: Any) -> HTMLResponse:
    html = templates.get_template(name).render(**values)
    return HTMLResponse(html, status_code=code, headers={
        "Cache-Control": "no-store",
        "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                                   "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    })


async def authenticate(request: Request, creds: HTTPAuthorizationCredentials | None) -> Response | None:
    """None when the caller is an operator; otherwise the page to send instead."""
    if any(k.lower() in QUERY_CREDENTIALS for k in request.query_params):
        return render("login.html", code=400, next=request.url.path,
                      error="Tokens do not go in the URL: sign in with the form.")
    principal = await principal_of(request, creds)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if principal is None:
        return render("login.html", code=401, error=None, next=here)
    if not principal.operator:
        return render("login.html", code=403, next=here,
                      error="This page shows every user's photos: it needs an operator token "
                            "(PROPHOTO_ADMIN_TOKENS).")
    return None


def came_over_https(request: Request, trusted_proxies: set[str]) -> bool:
    """https as uvicorn saw it, or as a trusted proxy says in X-Forwarded-Proto."""
    if request.url.scheme == "https":
        return True
    peer = request.client.host if request.client else ""
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return peer in trusted_proxies and forwarded == "https"


def safe_next(target: str) -> str:
    """Only a path on this page: never another site (an open redirect)."""
    return target if target.startswith("/admin/ingest-traces") and "//" not in target \
        and "\\" not in target else "/admin/ingest-traces"


@router.post("/admin/login", response_class=HTMLResponse)
async def login(request: Request, token: Annotated[str, Form(max_length=512)] = "",
                next: Annotated[str, Form(max_length=2000)] = "/admin/ingest-traces") -> Response:
    book = token_book(request)
    principal = book.lookup(token)
    if principal is None:
        return render("login.html", code=401, error="That token is not known.", next=safe_next(next))
    if not principal.operator:
        return render("login.html", code=403, next=safe_next(next),
                      error="That is a user token; this page needs an operator token.")
    redirect = RedirectResponse(safe_next(next), status_code=303)
    https = came_over_https(request, get_ctx(request).settings.trusted_proxy_hosts())
    redirect.set_cookie(COOKIE, book.issue_session(principal), httponly=True, samesite="strict",
                        secure=https, path="/", max_age=SESSION_SECONDS)
    return redirect


@router.post("/admin/logout")
async def logout(request: Request) -> Response:
    # the cookie ends here for every copy of it, not only in this browser
    principal = token_book(request).session(request.cookies.get(COOKIE))
    if principal is not None and principal.session:
        await sessions.revoke(get_ctx(request).pool, principal.session, principal.expires)
    redirect = RedirectResponse("/admin/ingest-traces", status_code=303)
    redirect.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return redirect


def parse_filters(params: dict[str, str]) -> tuple[queries.TraceFilter, list[str]]:
    errors: list[str] = []
    uuid: UUID | None = None
    if params.get("uuid", "").strip():
        try:
            uuid = UUID(params["uuid"].strip())
        except ValueError:
            errors.append("uuid is not a UUID")
    trace_type = params.get("type") or None
    if trace_type is not None and trace_type not in TRACE_TYPES:
        errors.append("unknown type")
        trace_type = None
    success = {"true": True, "false": False}.get(params.get("success", ""))
    stamps: dict[str, datetime | None] = {}
    for key in ("from", "to"):
        raw = params.get(key, "").strip()
        stamps[key] = None
        if raw:
            try:
                stamps[key] = queries.in_range(datetime.fromisoformat(raw))
            except ValueError:
                errors.append(f"{key} is not a date and time between {queries.EARLIEST.year} "
                              f"and {queries.LATEST.year}")
    method = (params.get("method") or "").strip()[:128] or None
    by_tag = None
    if params.get("tag", "").strip():
        try:
            by_tag = tags.parse_filter(params["tag"][:200])
        except ValueError as exc:
            errors.append(str(exc))
    return queries.TraceFilter(uuid=uuid, trace_type=trace_type, method=method, success=success,
                               since=stamps["from"], until=stamps["to"], tag=by_tag), errors


@router.get("/admin/ingest-traces", response_class=HTMLResponse)
async def debug_page(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    denied = await authenticate(request, creds)
    if denied is not None:
        return denied
    ctx: TracingContext = get_ctx(request)
    params = dict(request.query_params)
    flt, errors = parse_filters(params)
    page: dict[str, Any] = {"items": [], "next_cursor": None}
    if not errors:
        try:
            page = await list_traces(ctx, flt, PAGE_SIZE, cursor)
        except Exception as exc:  # a bad cursor: show the first page's message, not a 500
            errors.append(getattr(exc, "title", "could not read traces"))
    stats = await stats_for(ctx, flt.since, flt.until)
    status = await _queue_status(ctx)
    keep = {k: v for k, v in params.items() if k != "cursor" and v}
    next_url = (f"?{urlencode(keep | {'cursor': page['next_cursor']})}"
                if page["next_cursor"] else None)
    return render(
        "ingest_traces.html", params=params, errors=errors, traces=page["items"],
        next_url=next_url, first_url=f"?{urlencode(keep)}" if cursor else None,
        stats=stats, status=status, trace_types=TRACE_TYPES, uuid=flt.uuid, timeline=None,
    )


@router.get("/admin/ingest-traces/{uuid}", response_class=HTMLResponse)
async def timeline_page(
    request: Request,
    uuid: str,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Response:
    denied = await authenticate(request, creds)
    if denied is not None:
        return denied
    ctx: TracingContext = get_ctx(request)
    try:
        photo = UUID(uuid)
    except ValueError:
        return render("login.html", code=404, error="That is not a photo uuid.", login=False)
    rows = [trace_json(r) for r in await queries.timeline_of(ctx.pool, photo)]
    start = datetime.fromisoformat(rows[0]["created_at"]) if rows else None
    for row in rows:
        assert start is not None
        row["offset_ms"] = (datetime.fromisoformat(row["created_at"]) - start).total_seconds() * 1e3
    status = await _queue_status(ctx)
    colour = await previews.colour_of(ctx.pool, photo)
    return render("timeline.html", uuid=str(photo), timeline=rows, status=status,
                  colour=dict(colour) if colour is not None else None)


async def _queue_status(ctx: TracingContext) -> dict[str, Any] | None:
    try:
        return await ctx.monitor.snapshot()
    except Exception:
        log.warning("queue status unavailable for the page", exc_info=True)
        return ctx.monitor.last
