"""RFC 9457 problem+json errors for every 4xx/5xx both HTTP services answer.

Work code raises the domain errors of `shared.errors`; `STATUS` below is the
one place that says which status each kind answers. Routes and dependencies
may raise `ProblemError(status, title, detail)` for what is purely HTTP (a
header, a cursor). `install_problem_handlers(app)` turns both, FastAPI's HTTP
errors and request validation errors into `application/problem+json` bodies. `responses(...)`
documents those answers in OpenAPI.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared import errors as domain
from shared.availability import BROKER_ERRORS, DATABASE_ERRORS, Unavailable, unavailable_from

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


class Problem(BaseModel):
    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None


#: the one mapping from a domain error's kind to its HTTP status (the first match in the MRO wins)
STATUS: dict[type[domain.DomainError], int] = {
    domain.NotFound: 404,
    domain.Conflict: 409,
    domain.Invalid: 400,
    domain.Refused: 422,
    domain.TooLarge: 413,
    domain.Unsupported: 415,
    domain.Gone: 410,
    domain.Busy: 423,
    domain.OverQuota: 429,
    domain.ChecksumMismatch: 460,  # tus's own code for a failed Upload-Checksum
    domain.DomainError: 422,
}


def problem_of(exc: domain.DomainError) -> dict[str, Any]:
    """The problem+json body (with `status`) a domain error answers."""
    status = next(STATUS[k] for k in type(exc).__mro__ if k in STATUS)
    body: dict[str, Any] = {"status": status, "title": exc.title, "detail": exc.detail}
    return body | exc.extra


class ProblemError(Exception):
    def __init__(self, status: int, title: str, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.extra = extra


def problem_response(status: int, title: str, detail: str | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    if status == 503:
        headers["Retry-After"] = str(body.pop("retry_after", 5))
    elif status == 429 and "retry_after" in body:
        headers["Retry-After"] = str(body["retry_after"])
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers or None)


def unavailable_response(exc: Unavailable) -> JSONResponse:
    return problem_response(503, "Service temporarily unavailable",
                            f"the {exc.what} is unavailable; try again shortly",
                            retry_after=exc.retry_after_s, unavailable=exc.what)


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def _problem(_: Request, exc: ProblemError) -> JSONResponse:
        return problem_response(exc.status, exc.title, exc.detail, **exc.extra)

    @app.exception_handler(domain.DomainError)
    async def _domain(_: Request, exc: domain.DomainError) -> JSONResponse:
        body = problem_of(exc)
        return problem_response(body.pop("status"), body.pop("title"), body.pop("detail"), **body)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem_response(exc.status_code, str(exc.detail))

    async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
        outage = unavailable_from(exc)
        if outage is None:
            return await _internal(request, exc)
        log.warning("%s %s: %s", request.method, request.url.path, outage)
        return unavailable_response(outage)

    errors: tuple[type[Exception], ...] = (Unavailable, *DATABASE_ERRORS, *BROKER_ERRORS)
    for error in errors:
        app.add_exception_handler(error, _unavailable)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return problem_response(500, "Internal error", "the server failed; this is a bug")

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()
        ]
        return problem_response(422, "Invalid request", "the request does not match the API", errors=errors)


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI documentation of the problem answers a route can give."""
    return {code: {"model": Problem, "content": {PROBLEM_JSON: {}}} for code in codes}
