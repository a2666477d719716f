"""Every metric the service exports, and the one-line calls that feed them.

The HTTP metrics are counted in plain Python by `shield.ops.meter` (the polls' fast path
cannot afford a file write per request) and reach these metrics within FLUSH_SECONDS. The
rest are cheap enough to write directly: call the functions below, never the metric objects,
so that the names live in this one module (the alert rules and the dashboard are checked
against a scrape).

Push (for shield/push, jobs/push.py):
    push_send(outcome, error_code, seconds)   one FCM request answered (or failed)
    push_retry()                              a delivery scheduled for another attempt
    push_token_deactivated()                  a device turned off because FCM said so
    push_breaker_state(project, state)        0 closed / 1 open / 2 half-open (or the names
                                              "closed" / "open" / "half_open")
Sockets (shield/realtime): socket_opened(), socket_closed(), frame_received(), frame_sent(),
    acks_pending(n) (this process's total, set by the hub's sweep).
Jobs (jobs/scheduler.py): job_finished(job_id, seconds, ok).
"""

from __future__ import annotations

import time

from . import multiproc

multiproc.prepare()  # before prometheus_client is imported

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics  # noqa: E402

disable_created_metrics()  # no *_created series: they double every counter's lines

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter(
    "shield_http_requests",
    "HTTP requests answered, by route template, method and status (fast-path 304s included).",
    ["route", "method", "status"],
)
HTTP_SECONDS = Histogram(
    "shield_http_request_duration_seconds",
    "Time from the request reaching the app to its response, by route template.",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
)

PUSH_SENDS = Counter(
    "shield_push_sends",
    "Push sends to FCM by outcome (sent, retry, token_dead, failed, ...) and FCM error code.",
    ["outcome", "error_code"],
)
PUSH_RETRIES = Counter("shield_push_retries", "Push deliveries scheduled for another attempt.")
PUSH_DEACTIVATED = Counter(
    "shield_push_deactivated_tokens", "Devices deactivated because FCM rejected their token."
)
PUSH_BREAKER = Gauge(
    "shield_push_breaker_state",
    "The FCM circuit breaker per project: 0 closed, 1 open, 2 half-open.",
    ["project"],
    multiprocess_mode="livemax",
)
PUSH_SECONDS = Histogram(
    "shield_push_send_seconds", "Duration of one FCM send.", buckets=LATENCY_BUCKETS
)
BREAKER_CLOSED, BREAKER_OPEN, BREAKER_HALF_OPEN = 0, 1, 2

JOB_RUNS = Counter("shield_job_runs", "Scheduled job runs, by job id.", ["job"])
JOB_FAILURES = Counter(
    "shield_job_failures", "Scheduled job runs that raised or could not start.", ["job"]
)
JOB_SECONDS = Histogram(
    "shield_job_duration_seconds",
    "Duration of a scheduled job run.",
    ["job"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0),
)
JOB_LAST_SUCCESS = Gauge(
    "shield_job_last_success_timestamp_seconds",
    "Unix time of the job's last successful run.",
    ["job"],
    multiprocess_mode="max",
)

VERSION_HITS = Counter("shield_version_cache_hits", "Version reads answered from the cache.")
VERSION_MISSES = Counter(
    "shield_version_cache_misses", "Version reads that loaded the member's row (not cached)."
)
VERSION_FALLBACKS = Counter(
    "shield_version_cache_fallbacks",
    "Version reads sent to the database because the cache was staler than its bound.",
)
VERSION_STALENESS = Gauge(
    "shield_version_cache_staleness_seconds",
    "Seconds since the LISTEN/NOTIFY cache was last known fresh (worst process).",
    multiprocess_mode="livemax",
)

SOCKETS_OPEN = Gauge(
    "shield_socket_connections", "Open WebSocket connections.", multiprocess_mode="livesum"
)
SOCKET_FRAMES_IN = Counter("shield_socket_frames_received", "Frames received from sockets.")
SOCKET_FRAMES_OUT = Counter("shield_socket_frames_sent", "Frames written to sockets.")
SOCKET_ACKS_PENDING = Gauge(
    "shield_socket_acks_pending",
    "Socket events sent and not acknowledged yet.",
    multiprocess_mode="livesum",
)


# --- push ----------------------------------------------------------------------------------


def push_send(outcome: str, error_code: str | None, seconds: float | None = None) -> None:
    """One FCM request's result; error_code is FCM's errorCode ("" or None when none)."""
    PUSH_SENDS.labels(outcome, error_code or "").inc()
    if seconds is not None:
        PUSH_SECONDS.observe(seconds)


def push_retry() -> None:
    PUSH_RETRIES.inc()


def push_token_deactivated() -> None:
    PUSH_DEACTIVATED.inc()


BREAKER_STATES = {"closed": BREAKER_CLOSED, "open": BREAKER_OPEN, "half_open": BREAKER_HALF_OPEN}


def push_breaker_state(project: str, state: int | str) -> None:
    """The breaker's new state: 0/1/2, or shield.push.breaker's "closed"/"open"/"half_open"."""
    PUSH_BREAKER.labels(project).set(BREAKER_STATES.get(state, state))


# --- sockets -------------------------------------------------------------------------------


def socket_opened() -> None:
    SOCKETS_OPEN.inc()


def socket_closed() -> None:
    SOCKETS_OPEN.dec()


def frame_received() -> None:
    SOCKET_FRAMES_IN.inc()


def frame_sent() -> None:
    SOCKET_FRAMES_OUT.inc()


def acks_pending(count: int) -> None:
    SOCKET_ACKS_PENDING.set(count)


# --- jobs ----------------------------------------------------------------------------------


def job_finished(job_id: str, seconds: float, ok: bool) -> None:
    JOB_RUNS.labels(job_id).inc()
    JOB_SECONDS.labels(job_id).observe(seconds)
    if ok:
        JOB_LAST_SUCCESS.labels(job_id).set(time.time())
    else:
        JOB_FAILURES.labels(job_id).inc()
