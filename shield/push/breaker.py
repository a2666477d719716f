"""The circuit breaker in front of FCM: an outage for everyone costs time, not attempts.

FCM (or its OAuth endpoint, or the network, or a wrong SHIELD_FCM_ENDPOINT) failing for
every token looks the same from here: project-wide results (`SendResult.project_wide`)
with no success in between. After `failures` of them in a row the breaker opens: no
delivery is claimed, so deliveries keep their place and their retry budget. After
`open_seconds` one probe is let through (half-open); a success closes the breaker and the
backlog drains (critical deliveries first, oldest first), a failure opens it again for
twice as long, up to `max_open_seconds`. A configuration fault (`SendResult.config_fault`)
opens it at once: retrying a wrong endpoint sooner helps nobody.

One breaker per sender (one FCM project per process), shared by every dispatcher of the
process; thread-safe. Time is `time.monotonic()`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .results import SendResult

# A probe whose answer has not been recorded after this long no longer blocks the next one
# (longer than a send with its token refresh can take).
PROBE_SECONDS = 60.0

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"


@dataclass(frozen=True)
class Change:
    """What a recorded result did to the breaker (None when nothing changed)."""

    state: str  # the new state
    result: SendResult  # the result that caused it
    open_seconds: float = 0.0  # opened: how long until the next probe


class Breaker:
    def __init__(
        self,
        failures: int = 5,
        open_seconds: float = 5.0,
        max_open_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.failures = max(1, failures)
        self.open_seconds = open_seconds
        self.max_open_seconds = max(open_seconds, max_open_seconds)
        self.clock = clock
        self._lock = threading.Lock()
        self.state = CLOSED
        self.reason: SendResult | None = None  # the failure that opened it
        self._streak = 0  # project-wide failures since the last success
        self._wait = open_seconds  # the current open interval (doubles per failed probe)
        self._retry_at = 0.0  # open: when the next probe may go
        self._probing = False  # half-open: the probe is in flight
        self._probe_ends = 0.0
        self.last_success = float("-inf")
        self.opened = 0  # times it opened (metrics, tests)

    # -- asking -------------------------------------------------------------------------------
    def room(self, free: int) -> int:
        """How many sends may start now, given `free` slots (a probe when half-open)."""
        with self._lock:
            if self.state == CLOSED:
                return free
            if self.state == OPEN and self.clock() >= self._retry_at:
                self.state = HALF_OPEN
                self._probing = False
            if self.state == HALF_OPEN and self._probing and self.clock() > self._probe_ends:
                self._probing = False  # its answer never came back to us: probe again
            if self.state == HALF_OPEN and not self._probing and free > 0:
                self._probing = True
                self._probe_ends = self.clock() + PROBE_SECONDS
                return 1
            return 0

    def seconds_to_probe(self) -> float | None:
        """Open: seconds until the next probe may go; None when sends may go now."""
        with self._lock:
            if self.state != OPEN:
                return None
            return max(0.0, self._retry_at - self.clock())

    def token_only(self, started: float) -> bool:
        """Whether a project-wide-looking failure hit this token only: the breaker is closed
        and FCM answered another send properly after this one started."""
        with self._lock:
            return self.state == CLOSED and self.last_success >= started

    # -- recording ----------------------------------------------------------------------------
    def probe_unused(self) -> None:
        """The probe `room()` granted was not sent (nothing was due): grant it again later."""
        with self._lock:
            if self.state == HALF_OPEN:
                self._probing = False

    def record(self, result: SendResult, at: float | None = None) -> Change | None:
        """Count one send's result (answered at `at`, monotonic); return the state change it
        caused, if any. Any proper answer from FCM, errors about one token included, counts
        as FCM being up."""
        with self._lock:
            if not result.project_wide:
                self.last_success = max(self.last_success, self.clock() if at is None else at)
                self._streak = 0
                self._wait = self.open_seconds
                if self.state == CLOSED:
                    return None
                self.state, self.reason, self._probing = CLOSED, None, False
                return Change(CLOSED, result)
            self._streak += 1
            if self.state == HALF_OPEN:  # the probe (or a send started before) failed
                self._wait = min(self.max_open_seconds, self._wait * 2)
                return self._open(result)
            if self.state == CLOSED and (self._streak >= self.failures or result.config_fault):
                return self._open(result)
            return None

    def _open(self, result: SendResult) -> Change:
        was_open = self.state != CLOSED
        self.state, self.reason, self._probing = OPEN, result, False
        self._retry_at = self.clock() + self._wait
        if not was_open:
            self.opened += 1
        return Change(OPEN, result, self._wait) if not was_open else None


def breaker_for(sender, settings) -> Breaker:
    """The sender's breaker (made on first use with the push settings)."""
    breaker = getattr(sender, "breaker", None)
    if breaker is None:
        breaker = Breaker(
            settings.breaker_failures,
            settings.breaker_open_seconds,
            settings.breaker_max_open_seconds,
        )
        sender.breaker = breaker
    return breaker
