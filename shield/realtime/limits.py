"""Client frame rate limit: a token bucket, an error now and then, a close if it goes on."""

from __future__ import annotations

from collections import deque

OK = "ok"  # process the frame
WARN = "warn"  # drop it and answer RATE_LIMITED
DROP = "drop"  # drop it silently (an error went out less than a second ago)
CLOSE = "close"  # too many dropped frames: close the socket

WINDOW = 10.0  # seconds over which dropped frames are counted
WARN_EVERY = 1.0


class FrameLimiter:
    """`rate` frames per second with bursts of `rate`; `close_after` drops within 10 s close."""

    def __init__(self, rate: int, close_after: int, now: float) -> None:
        self.rate = max(1, rate)
        self.close_after = max(1, close_after)
        self.tokens = float(self.rate)
        self.updated = now
        self.dropped: deque[float] = deque()
        self.warned_at: float | None = None

    def check(self, now: float) -> str:
        self.tokens = min(self.rate, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return OK
        self.dropped.append(now)
        while self.dropped and self.dropped[0] < now - WINDOW:
            self.dropped.popleft()
        if len(self.dropped) >= self.close_after:
            return CLOSE
        if self.warned_at is None or now - self.warned_at >= WARN_EVERY:
            self.warned_at = now
            return WARN
        return DROP
