"""`/readyz`, built one way for every service: named checks, one answer.

A check is an async callable. It answers either whether its one thing is up
(any truthy value is up, and the check's name is what is missing when it is
not) or the list of what is missing (empty when nothing is), for checks that
can say more than their name (a consumer: its connection, its channel, or a
subscription the broker cancelled). A check that raises is down. Checks run
in order, so `missing` reads in the order they are given.

The answer is 200 when nothing is missing, else 503, with the same body:
`{"ready": bool, "checks": {name: bool}, "missing": [what, ...]}`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from starlette.responses import JSONResponse

Check = Callable[[], Awaitable[object]]


async def assess(checks: Mapping[str, Check]) -> tuple[dict[str, bool], list[str]]:
    """Run `checks` in order: whether each is up, and everything missing."""
    up: dict[str, bool] = {}
    missing: list[str] = []
    for name, check in checks.items():
        try:
            answer = await check()
        except Exception:  # an unreachable dependency raises: that is what the check asks
            answer = False
        gone = answer if isinstance(answer, list) else ([] if answer else [name])
        up[name] = not gone
        missing.extend(str(what) for what in gone)
    return up, missing


async def readiness(checks: Mapping[str, Check]) -> JSONResponse:
    """The `/readyz` answer for `checks`: 200 when nothing is missing, else 503."""
    up, missing = await assess(checks)
    ready = not missing
    return JSONResponse({"ready": ready, "checks": up, "missing": missing},
                        status_code=200 if ready else 503)
