"""Examples for every operation and answer of the tracing API, keyed by operation
(see `services/upload/examples/`; values as the service sends them)."""

from __future__ import annotations

from typing import Any

from shared.apidocs import Example, Operation, problem

UUID = "3f2b8c1e-9d4a-4f6e-b7c2-5a1d0e8f9b34"
PARAMETERS: dict[str, Any] = {
    "uuid": UUID, "type": "preview_extraction", "method": "embedded:JpgFromRaw", "success": False,
    "from": "2025-06-14T00:00:00Z", "to": "2025-06-15T00:00:00Z", "limit": 50,
}


def _trace(id_: int, trace_type: str, method: str, service: str, ms: float, size: int | None,
           at: str, success: bool = True, reason: str | None = None, attempt: int = 1,
           dims: tuple[int, int] | None = None) -> dict[str, Any]:
    return {"id": id_, "uuid": UUID, "user_id": "studio-dupont", "trace_type": trace_type,
            "method": method, "success": success, "reason": reason, "duration_ms": ms,
            "result_size": size, "width": dims[0] if dims else None,
            "height": dims[1] if dims else None, "attempt": attempt, "service": service,
            "created_at": f"2025-06-14T18:{at}+00:00"}


TIMELINE = [
    _trace(90211, "metadata_extraction", "exiftool-fast2", "upload", 38.2, None, "02:11.402"),
    _trace(90214, "preview_extraction", "embedded:JpgFromRaw", "preview", 61.7, 912_304, "02:12.118"),
    _trace(90212, "thumbnail_generation", "upload-exif-thumbnail", "upload", 0.1, 11_236, "02:11.403",
           dims=(160, 120)),
    _trace(90215, "thumbnail_generation", "from-preview", "preview", 24.9, 41_877, "02:12.143",
           dims=(400, 400)),
    _trace(90398, "finalize", "copy", "finalize", 181.4, 47_316_992, "05:40.097"),
]
FAILED = _trace(90177, "preview_extraction", "source:pyvips", "preview", 12.5, None, "01:58.660",
                success=False, reason="VipsJpeg: Premature end of input file")
UNAUTHORIZED = [
    problem(401, "Missing bearer token", "send Authorization: Bearer <token>"),
    problem(401, "Invalid token", "the bearer token is not known"),
    problem(401, "Token in query string refused", "send Authorization: Bearer <token>, not "
            "?token=; URLs end up in logs and browser history"),
]


def _invalid(loc: list[str | int], msg: str, summary: str) -> Example:
    return problem(422, "Invalid request", "the request does not match the API", summary=summary,
                   errors=[{"loc": loc, "msg": msg}])


def _queue(name: str, ready: int, status: str, detail: str, in_progress: float,
           waits: dict[str, int], failed: int = 0) -> dict[str, Any]:
    return {"broker": {"ready": ready, "unacked": None, "consumers": 2,
                       "wait_queues": {f"{name}.retry.{w}": n for w, n in waits.items()}, "failed": failed},
            "jobs": {"pending": ready + sum(waits.values()), "failed": failed, "ingest_pending": 3},
            "worker": {"status": status, "detail": detail, "workers_reporting": 2,
                       "in_progress": in_progress, "last_started": 1749924190.52}}


QUEUE_STATUS = {
    "broker": {"product": "RabbitMQ", "version": "3.10.8", "cluster_name": "rabbit@ingest-1",
               "platform": "Erlang/OTP 25.2.3"},
    "checked_at": 1749924191.07, "stalled_after_s": 30.0,
    "totals": {"pending": 45, "failed": 1, "ingest_pending": 3},
    "queues": {
        "ingest-preview": _queue("ingest-preview", 41, "processing", "2 job(s) in progress", 2.0,
                                 {"10s": 1, "30s": 0}, failed=1),
        "ingest": _queue("ingest", 3, "processing", "1 job(s) in progress", 1.0, {"10s": 0, "30s": 0}),
        "ingest-enhance": _queue("ingest-enhance", 0, "idle", "consumers attached, nothing waiting", 0.0,
                                 {"5s": 0}),
        "ingest-traces": _queue("ingest-traces", 0, "idle", "consumers attached, nothing waiting", 0.0,
                                {"5s": 0, "30s": 0}),
    },
}

EXAMPLES: dict[str, Operation] = {
    "GET /v1/traces": Operation(responses={
        200: [Example("Newest first, with a next page", {
                  "items": TIMELINE[::-1][:2],
                  "next_cursor": "WyIyMDI1LTA2LTE0VDE4OjAyOjEyLjExOCswMDowMCIsIDkwMjE0XQ"}),
              Example("Failures of one method", {"items": [FAILED], "next_cursor": None})],
        400: [problem(400, "Invalid cursor", "use the next_cursor of a previous page")],
        401: UNAUTHORIZED,
        422: [_invalid(["query", "success"], "Input should be a valid boolean, unable to interpret input",
                       "success is not a boolean")],
    }),
    "GET /v1/traces/stats": Operation(responses={
        200: [Example("The last 24 hours", {
            "from": "2025-06-13T18:10:00+00:00", "to": "2025-06-14T18:10:00+00:00",
            "total": 1292, "passed": 1287, "failed": 5,
            "by_type": [{"trace_type": "finalize", "total": 212, "passed": 212, "failed": 0},
                        {"trace_type": "preview_extraction", "total": 540, "passed": 535, "failed": 5},
                        {"trace_type": "thumbnail_generation", "total": 540, "passed": 540, "failed": 0}],
            "by_method": [
                {"trace_type": "finalize", "method": "copy", "total": 212, "passed": 212,
                 "p50_ms": 14.6, "p95_ms": 20.4},
                {"trace_type": "preview_extraction", "method": "embedded:JpgFromRaw", "total": 120,
                 "passed": 120, "p50_ms": 48.3, "p95_ms": 63.9},
                {"trace_type": "preview_extraction", "method": "source:pyvips", "total": 420,
                 "passed": 415, "p50_ms": 295.0, "p95_ms": 402.7},
                {"trace_type": "thumbnail_generation", "method": "from-preview", "total": 540,
                 "passed": 540, "p50_ms": 22.1, "p95_ms": 35.8}]})],
        401: UNAUTHORIZED,
        422: [_invalid(["query", "from"], "Input should be a valid datetime or date, invalid character "
                       "in year", "from is not a date")],
    }),
    "GET /v1/traces/{uuid}": Operation(responses={
        200: [Example("Upload to permanent storage", {"uuid": UUID, "items": TIMELINE})],
        401: UNAUTHORIZED,
        422: [_invalid(["path", "uuid"], "Input should be a valid UUID, invalid length: expected length "
                       "32 for simple format, found 7", "Not a UUID")],
    }),
    "GET /v1/queue-status": Operation(responses={
        200: [Example("A backlog being worked through", QUEUE_STATUS)],
        401: UNAUTHORIZED,
        403: [problem(403, "Operators only", "this view covers every user; it needs a token "
                      "from PROPHOTO_ADMIN_TOKENS")],
    }),
}
