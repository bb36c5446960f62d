"""Per-client rate limits of the Apex portal: 2,000 requests a minute, bursts of 80 a second.

Two limits at once: a token bucket (80 tokens, refilled at 80/s) for bursts, and a sliding
60-second window of 2,000 for the minute. A refused request gets 429 with ``Retry-After`` (whole
seconds, rounded up) and the ``RateLimit-*`` headers; an accepted one gets the headers too.
"""

from __future__ import annotations

import collections
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: float
    retry_after: float = 0.0

    def headers(self) -> dict[str, str]:
        h = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(max(0, self.remaining)),
            "RateLimit-Reset": str(max(0, math.ceil(self.reset_seconds))),
        }
        if not self.allowed:
            h["Retry-After"] = str(max(1, math.ceil(self.retry_after)))
        return h


class RateLimiter:
    def __init__(self, *, per_minute: int = 2000, burst: int = 80, per_second: float = 80.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.burst = burst
        self.rate = per_second
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[str, float] = {}
        self._stamp: dict[str, float] = {}
        self._window: dict[str, collections.deque[float]] = {}

    def check(self, client: str) -> Decision:
        now = self._clock()
        with self._lock:
            tokens = self._tokens.get(client, float(self.burst))
            last = self._stamp.get(client, now)
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            self._stamp[client] = now
            window = self._window.setdefault(client, collections.deque())
            while window and window[0] <= now - 60.0:
                window.popleft()
            minute_left = self.per_minute - len(window)
            if tokens < 1.0:
                self._tokens[client] = tokens
                wait = (1.0 - tokens) / self.rate
                return Decision(False, self.per_minute, minute_left, wait, retry_after=wait)
            if minute_left <= 0:
                self._tokens[client] = tokens
                wait = window[0] + 60.0 - now
                return Decision(False, self.per_minute, 0, wait, retry_after=wait)
            tokens -= 1.0
            self._tokens[client] = tokens
            window.append(now)
            reset = (window[0] + 60.0 - now) if window else 60.0
            return Decision(True, self.per_minute, minute_left - 1, reset)
