"""Rate limits and retry delays of the runner."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable

__all__ = ["TokenBucket", "backoff_delay"]


class TokenBucket:
    """An async token bucket: ``rate`` units per second, holding at most ``capacity``.

    ``await bucket.acquire(n)`` waits until ``n`` units are available and takes them.  A request larger than
    the capacity waits for a full bucket and takes it all (it is never refused), so one oversized prompt cannot
    stall a run.  Waiters are served in arrival order (one lock), which keeps the long-run rate at ``rate``.
    Used for requests per minute (``rate = rpm / 60``, one unit per request) and tokens per minute
    (``rate = tpm / 60``, the request's estimated tokens).  The bucket starts full.
    """

    def __init__(
        self,
        rate: float,
        capacity: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not rate > 0 or not capacity > 0:
            raise ValueError("TokenBucket: rate and capacity must be positive")
        self.rate = float(rate)
        self.capacity = float(capacity)
        self._level = float(capacity)
        self._clock = clock
        self._sleep = sleep
        self._t = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._level = min(self.capacity, self._level + (now - self._t) * self.rate)
        self._t = now

    async def acquire(self, amount: float = 1.0) -> float:
        """Take ``amount`` units (capped at the capacity); return the seconds waited."""
        need = min(float(amount), self.capacity)
        waited = 0.0
        async with self._lock:
            self._refill()
            # the tolerance ends the wait when rounding leaves the level a hair short of ``need``
            while self._level < need - 1e-9 * self.capacity:
                delay = (need - self._level) / self.rate
                await self._sleep(delay)
                waited += delay
                self._refill()
            self._level = max(0.0, self._level - need)
        return waited


def backoff_delay(
    attempt: int,
    *,
    retry_after: float | None = None,
    base: float = 0.5,
    cap: float = 60.0,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before retry number ``attempt`` (1 for the first retry).

    Without a server hint: exponential backoff with "full jitter" around it,
    ``min(cap, base * 2**(attempt - 1)) * U(0.5, 1.5)`` (AWS Architecture Blog, "Exponential Backoff and
    Jitter", 2015: jitter spreads the retries of concurrent requests so they do not hit the server together).
    With ``retry_after`` (the server's Retry-After): at least that long, plus up to 10 % jitter.
    """
    u = (rng or random).random()
    if retry_after is not None and retry_after >= 0:
        return float(retry_after) * (1.0 + 0.1 * u)
    return min(cap, base * 2 ** max(0, attempt - 1)) * (0.5 + u)
