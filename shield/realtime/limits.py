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
    """`rate` frames per second with bursts of `rate`; `close_after` drops within 10 s close.

    One per socket: slotted, and the record of dropped frames is made on the first drop.
    """

    __slots__ = ("rate", "close_after", "tokens", "updated", "dropped", "warned_at")

    def __init__(self, rate: int, close_after: int, now: float) -> None:
        self.rate = max(1, rate)
        self.close_after = max(1, close_after)
        self.tokens = float(self.rate)
        self.updated = now
        self.dropped: deque[float] | None = None
        self.warned_at: float | None = None

    def check(self, now: float) -> str:
        self.tokens = min(self.rate, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            if self.dropped is not None and self.dropped[-1] < now - WINDOW:
                self.dropped = None  # all of them out of the window
            return OK
        dropped = self.dropped
        if dropped is None:
            dropped = self.dropped = deque()
        dropped.append(now)
        while dropped and dropped[0] < now - WINDOW:
            dropped.popleft()
        if len(dropped) >= self.close_after:
            return CLOSE
        if self.warned_at is None or now - self.warned_at >= WARN_EVERY:
            self.warned_at = now
            return WARN
        return DROP
