"""Before `prophoto dev` starts anything: the database migrated and the broker topology declared.

Both are waited for (backoff from 1 s doubling to 30 s, saying so at each
try, giving up after about five minutes): a database or broker still
starting is not an error. The same code the services use does the work
(`shared.migrate.migrate`, `shared.broker.publisher.declare_topology`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from services.dev.plan import DevError, redact
from shared.settings import Settings

MAX_BACKOFF_S = 30.0
#: attempts at the database and the broker before `prophoto dev` gives up (about 5 minutes)
WAIT_TRIES = 14
T = TypeVar("T")


async def prepare_backends(settings: Settings, say: Callable[[str], None], backoff_s: float) -> None:
    from shared.broker.publisher import declare_topology
    from shared.migrate import migrate

    applied = await wait_for(f"the database {redact(settings.database_url)}",
                             lambda: migrate(settings.database),
                             "is PostgreSQL running? `bash scripts/services-up.sh`", say, backoff_s)
    say(f"database {redact(settings.database_url)}: {len(applied)} migration(s) applied now")
    where = ",".join(redact(u) for u in settings.amqp_url.split(","))
    await wait_for(f"the broker {where}", lambda: declare_topology(settings),
                   "is RabbitMQ running?", say, backoff_s)
    say(f"broker {where}: topology declared (exchange {settings.exchange!r})")


async def wait_for(what: str, attempt: Callable[[], Coroutine[Any, Any, T]], hint: str,
                   say: Callable[[str], None], backoff_s: float) -> T:
    """`attempt()` until it works: a database or broker still starting is waited for."""
    delay = backoff_s
    for tries in range(1, WAIT_TRIES + 1):
        try:
            return await attempt()
        except Exception as exc:  # any failure here is one line for the person at the terminal
            reason = f"{exc or type(exc).__name__}"
            if tries == WAIT_TRIES:
                raise DevError(f"cannot reach {what}: {reason} ({hint})") from exc
            say(f"waiting for {what}: {reason} ({hint}); trying again in {delay:g} s")
        await asyncio.sleep(delay)
        delay = min(MAX_BACKOFF_S, delay * 2)
    raise AssertionError("unreachable")
