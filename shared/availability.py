"""When the database or the broker is away: how to tell, and how to wait for it.

A service that starts while PostgreSQL or RabbitMQ is away waits for it with
backoff (`until_available`) instead of exiting; a request that meets an
outage is answered 503 with `Retry-After` (`Unavailable`), never a 500.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import aiormq.exceptions
import asyncpg

from shared.broker.publisher import PublishFailed
from shared.db import DatabaseUnreachable

log = logging.getLogger(__name__)
T = TypeVar("T")

#: what asyncpg raises while PostgreSQL is restarting, refusing or gone
DATABASE_ERRORS: tuple[type[Exception], ...] = (
    OSError,  # connection refused / reset
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,  # "the database system is starting up / shutting down"
    asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError,  # "connection is closed", pool closing under us
    # "cannot switch to state 15; another operation is in progress": a pooled connection whose
    # operation the server's going away interrupted (met in `make chaos` mid-restart)
    asyncpg.InternalClientError,
)
BROKER_ERRORS: tuple[type[Exception], ...] = (
    OSError, TimeoutError, aiormq.exceptions.AMQPConnectionError, PublishFailed,
)
RETRY_AFTER_S = 5


class Unavailable(Exception):
    """A dependency (`database` or `broker`) is away; try again in `retry_after_s`."""

    def __init__(self, what: str, detail: str, retry_after_s: int = RETRY_AFTER_S) -> None:
        super().__init__(f"the {what} is unavailable: {detail}")
        self.what = what
        self.detail = detail
        self.retry_after_s = retry_after_s


def unavailable_from(exc: BaseException) -> Unavailable | None:
    """The outage `exc` means, or None when it is a bug rather than an outage."""
    if isinstance(exc, Unavailable):
        return exc
    if isinstance(exc, PublishFailed | aiormq.exceptions.AMQPConnectionError):
        return Unavailable("broker", str(exc) or type(exc).__name__)
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, DatabaseUnreachable | asyncpg.PostgresError | asyncpg.InterfaceError
                  | asyncpg.InternalClientError):
        return Unavailable("database", detail)
    if isinstance(exc, DATABASE_ERRORS):  # refused, reset or timed out: which one is not known here
        return Unavailable("database or storage", detail)
    return None


async def until_available(what: str, attempt: Callable[[], Awaitable[T]], *,
                          errors: tuple[type[BaseException], ...],
                          first_delay_s: float = 0.5, max_delay_s: float = 10.0) -> T:
    """`attempt()` until it stops raising one of `errors`, doubling the pause up to a cap."""
    delay = first_delay_s
    while True:
        try:
            return await attempt()
        except errors as exc:
            log.warning("the %s is unavailable (%s: %s); trying again in %.1f s",
                        what, type(exc).__name__, exc, delay)
        await asyncio.sleep(delay)
        delay = min(max_delay_s, delay * 2)
