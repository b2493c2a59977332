"""Per-user quotas and rates: how much one caller may ask of a service process.

Three shapes cover every quota (docs/operations.md lists each with its setting):
- `Window`: at most `limit` units (uploads, bytes) in any `span_s`, counted in
  buckets so a day of a busy user costs a few hundred integers;
- `Concurrent`: at most `limit` things (SSE streams, parked-job scans) open at once;
- `Counted`: a total kept in the database (unconfirmed proxies), read at most
  once per `refresh_s` per user and counted on locally in between.
Past a quota the caller gets `RateLimited` (429 with Retry-After) and the
refusal is counted in `prophoto_quota_refusals_total{quota}`.

The counts live in the process: behind a balancer with N upload replicas, a
user's rate may reach N times the setting (the concurrent and counted ones
hold per replica as well). They bound what one caller costs one process,
which is what they are for.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field

from shared.errors import RateLimited

Clock = Callable[[], float]
OnRefusal = Callable[[str], None]


@dataclass
class Window:
    """At most `limit` units per user in any `span_s` (to within one bucket)."""

    name: str
    limit: int
    span_s: float
    on_refusal: OnRefusal = lambda quota: None
    buckets: int = 60
    clock: Clock = time.monotonic
    _used: dict[str, deque[list[float]]] = field(default_factory=dict)

    def take(self, user: str, amount: int = 1) -> None:
        """Count `amount` for `user`, or raise RateLimited (counting nothing)."""
        now = self.clock()
        spent = self._expire(user, now)
        if spent + amount > self.limit:
            self.on_refusal(self.name)
            oldest = self._used[user][0][0] if self._used.get(user) else now
            raise RateLimited(
                f"{self.name}: at most {self.limit} per {self.span_s:g} s",
                quota=self.name, retry_after_s=max(1.0, oldest + self.span_s - now), limit=self.limit)
        self.add(user, amount, now)

    def add(self, user: str, amount: int, now: float | None = None) -> None:
        """Count `amount` without a check (what was only known once the work was done)."""
        now = self.clock() if now is None else now
        used = self._used.setdefault(user, deque())
        width = self.span_s / self.buckets
        if used and now - used[-1][0] < width:
            used[-1][1] += amount
        else:
            used.append([now, float(amount)])

    def _expire(self, user: str, now: float) -> float:
        used = self._used.get(user)
        if not used:
            return 0.0
        while used and used[0][0] <= now - self.span_s:
            used.popleft()
        if not used:
            del self._used[user]
            return 0.0
        return sum(amount for _, amount in used)


@dataclass
class Concurrent:
    """At most `limit` things open per user at once."""

    name: str
    limit: int
    on_refusal: OnRefusal = lambda quota: None
    retry_after_s: float = 5.0
    _open: dict[str, int] = field(default_factory=dict)

    def acquire(self, user: str) -> None:
        if self._open.get(user, 0) >= self.limit:
            self.on_refusal(self.name)
            raise RateLimited(f"{self.name}: at most {self.limit} at once",
                              quota=self.name, retry_after_s=self.retry_after_s, limit=self.limit)
        self._open[user] = self._open.get(user, 0) + 1

    def release(self, user: str) -> None:
        left = self._open.get(user, 0) - 1
        if left > 0:
            self._open[user] = left
        else:
            self._open.pop(user, None)

    def slot(self, user: str) -> Slot:
        """Acquire one, released (once) by `Slot.release`: for what outlives the call."""
        self.acquire(user)
        return Slot(self, user)

    @contextlib.contextmanager
    def hold(self, user: str) -> Iterator[None]:
        self.acquire(user)
        try:
            yield
        finally:
            self.release(user)

    def total(self) -> int:
        return sum(self._open.values())


class Slot:
    """One acquired place of a `Concurrent`; releasing it twice releases it once."""

    def __init__(self, owner: Concurrent, user: str) -> None:
        self._owner, self._user, self._held = owner, user, True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._owner.release(self._user)


@dataclass
class Counted:
    """At most `limit` of something the database counts, per user."""

    name: str
    limit: int
    count: Callable[[str], Awaitable[int]]
    on_refusal: OnRefusal = lambda quota: None
    refresh_s: float = 10.0
    clock: Clock = time.monotonic
    _known: dict[str, tuple[int, float]] = field(default_factory=dict)

    async def check(self, user: str, adding: int = 1) -> None:
        now = self.clock()
        known = self._known.get(user)
        if known is None or now - known[1] >= self.refresh_s:
            known = (await self.count(user), now)
            self._known[user] = known
        if known[0] + adding > self.limit:
            self.on_refusal(self.name)
            raise RateLimited(f"{self.name}: at most {self.limit}; confirm or delete some first",
                              quota=self.name, retry_after_s=self.refresh_s, limit=self.limit)

    def added(self, user: str, amount: int = 1) -> None:
        if user in self._known:
            count, at = self._known[user]
            self._known[user] = (count + amount, at)
