"""Backing off after failures: jittered exponential delays, and a publisher's failure record."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass


@dataclass
class PublishRecovery:
    """What an `AmqpPublisher` went through: failed publishes and the recoveries they caused."""

    #: publishes not confirmed in a row (0 after any confirmed publish)
    consecutive_failures: int = 0
    failures: int = 0
    #: channels dropped after a failure, and connections dropped after `reconnect_after` of them
    channels_dropped: int = 0
    connections_dropped: int = 0
    last_error: str | None = None
    #: monotonic time of the first failure of the current run of failures (None: publishing works)
    failing_since: float | None = None

    def failing_for(self) -> float:
        """Seconds the publisher has failed without a single confirm in between."""
        return 0.0 if self.failing_since is None else time.monotonic() - self.failing_since


def jittered(base_s: float, attempt: int, cap_s: float) -> float:
    """Exponential backoff with full jitter above half: `base * 2^attempt` capped, times 0.5-1.0."""
    delay: float = min(cap_s, base_s * (2 ** max(0, attempt)))
    return delay * random.uniform(0.5, 1.0)  # noqa: S311 (spreading retries, not a secret)
