"""The client's side of the portal's limits: a token bucket shared by every thread.

Two budgets at once, as the server counts them: bursts of 80 a second (a bucket of 80 tokens that
refills at 80 a second) and 2,000 a minute (a sliding 60-second window). ``acquire()`` blocks until
both allow one more request; a 429 from the server (``penalize``) pauses everyone for its
``Retry-After``, so one thread's refusal protects the others.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable


class TokenBucket:
    """``margin`` keeps the client a little under the server's limits: requests sent exactly at the
    limit arrive with network jitter, and two that left 12.5 ms apart can land 10 ms apart (measured:
    at margin 1.0 a 5/s server refused 2 of 12 requests from a 5/s client)."""

    def __init__(self, *, per_second: float = 80.0, burst: int = 80, per_minute: int = 2000, margin: float = 0.9,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self.rate = per_second * margin
        self.burst = max(1, int(burst * margin))
        self.per_minute = max(1, int(per_minute * margin))
        self._clock = clock
        self._sleep = sleep
        self._cond = threading.Condition()
        self._tokens = float(burst)
        self._stamp = clock()
        self._window: collections.deque[float] = collections.deque()
        self._paused_until = 0.0
        self.waited = 0.0  # total seconds threads spent waiting (for sync statistics)

    def _wait_needed(self, now: float) -> float:
        self._tokens = min(float(self.burst), self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        while self._window and self._window[0] <= now - 60.0:
            self._window.popleft()
        waits = [self._paused_until - now]
        if self._tokens < 1.0:
            waits.append((1.0 - self._tokens) / self.rate)
        if len(self._window) >= self.per_minute:
            waits.append(self._window[0] + 60.0 - now)
        return max(0.0, *waits)

    def acquire(self) -> None:
        while True:
            with self._cond:
                now = self._clock()
                wait = self._wait_needed(now)
                if wait <= 0:
                    self._tokens -= 1.0
                    self._window.append(now)
                    return
            self.waited += wait
            self._sleep(min(wait, 1.0))

    def penalize(self, retry_after: float) -> None:
        """The server said 429: nobody sends before ``retry_after`` seconds from now."""
        with self._cond:
            self._paused_until = max(self._paused_until, self._clock() + max(0.0, retry_after))
            self._tokens = 0.0
