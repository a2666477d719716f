"""Push settings: app config first, then the environment, then the defaults below."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

# (config key, default, parser). Every knob of push delivery lives here.
_KEYS: dict[str, tuple[str, object]] = {
    # auto: run the wake-able dispatcher thread when the scheduler runs in-process (make run);
    # on: always in this process; off: never (the jobs process starts it, see jobs/push.py).
    "worker": ("SHIELD_PUSH_WORKER", "auto"),
    "poll_seconds": ("SHIELD_PUSH_POLL_SECONDS", 5.0),
    # Sends in flight = concurrency: pushes/s <= concurrency / FCM latency (64 / 20 ms = 3,200).
    # A delivery is claimed only when a send slot is free for it; batch_size bounds how many
    # events one planning step takes and how many deliveries one safety-net pass handles.
    "batch_size": ("SHIELD_PUSH_BATCH", 256),
    "concurrency": ("SHIELD_PUSH_CONCURRENCY", 64),
    # Dispatcher processes `python -m jobs` runs (itself + N-1 `python -m jobs.push`), each
    # with `concurrency` sends in flight: one CPython process sends at most ~1 core's worth
    # (about 1,000 pushes/s here); work is claimed in the database, so they never overlap.
    "processes": ("SHIELD_PUSH_PROCESSES", 1),
    # The lease of a delivery being sent, renewed every third of it while the send lasts:
    # after a crash another dispatcher takes the delivery over within this time.
    "lease_seconds": ("SHIELD_PUSH_LEASE_SECONDS", 10.0),
    "timeout_seconds": ("SHIELD_PUSH_TIMEOUT_SECONDS", 10.0),
    "max_attempts": ("SHIELD_PUSH_MAX_ATTEMPTS", 5),
    "ttl_seconds": ("SHIELD_PUSH_TTL_SECONDS", 86_400),
    "retry_base_seconds": ("SHIELD_PUSH_RETRY_BASE_SECONDS", 10.0),
    "quota_retry_seconds": ("SHIELD_PUSH_QUOTA_RETRY_SECONDS", 60.0),
    "retry_cap_seconds": ("SHIELD_PUSH_RETRY_CAP_SECONDS", 3_600.0),
    "pause_seconds": ("SHIELD_PUSH_PAUSE_SECONDS", 900.0),
    # The breaker (breaker.py): opens after this many project-wide failures in a row, probes
    # after open_seconds, doubling up to max_open_seconds while the probes fail.
    "breaker_failures": ("SHIELD_PUSH_BREAKER_FAILURES", 5),
    "breaker_open_seconds": ("SHIELD_PUSH_BREAKER_OPEN_SECONDS", 5.0),
    "breaker_max_open_seconds": ("SHIELD_PUSH_BREAKER_MAX_OPEN_SECONDS", 60.0),
    "alert_repeat_seconds": ("SHIELD_PUSH_ALERT_REPEAT_SECONDS", 86_400.0),
    # Re-push rounds of unacknowledged ack-required events, minutes after the event.
    "repush_minutes": ("SHIELD_PUSH_REPUSH_MINUTES", "2,10,60"),
}


@dataclass(frozen=True)
class PushSettings:
    worker: str = "auto"
    poll_seconds: float = 5.0
    batch_size: int = 256
    concurrency: int = 64
    processes: int = 1
    lease_seconds: float = 10.0
    timeout_seconds: float = 10.0
    max_attempts: int = 5
    ttl_seconds: int = 86_400
    retry_base_seconds: float = 10.0
    quota_retry_seconds: float = 60.0
    retry_cap_seconds: float = 3_600.0
    pause_seconds: float = 900.0
    breaker_failures: int = 5
    breaker_open_seconds: float = 5.0
    breaker_max_open_seconds: float = 60.0
    alert_repeat_seconds: float = 86_400.0
    repush_minutes: tuple[int, ...] = (2, 10, 60)
    service_account: str | None = None
    endpoint: str | None = None

    @classmethod
    def from_config(cls, config: Mapping, env: Mapping | None = None) -> PushSettings:
        """Read the settings from a Flask config (falling back to the environment)."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for field, (key, default) in _KEYS.items():
            raw = config.get(key)
            if raw is None:
                raw = env.get(key)
            if raw is None or raw == "":
                raw = default
            values[field] = _parse(field, raw, default)
        values["service_account"] = config.get("SHIELD_FCM_SERVICE_ACCOUNT") or None
        values["endpoint"] = config.get("SHIELD_FCM_ENDPOINT") or None
        settings = cls(**values)
        if settings.ttl_seconds < 0 or settings.ttl_seconds > 2_419_200:
            raise ValueError("SHIELD_PUSH_TTL_SECONDS must be within FCM's 0..2419200")
        if min(settings.max_attempts, settings.batch_size, settings.concurrency) < 1:
            raise ValueError("push attempts, batch size and concurrency must be >= 1")
        if settings.lease_seconds <= 0:
            raise ValueError("SHIELD_PUSH_LEASE_SECONDS must be positive")
        if settings.processes < 1:
            raise ValueError("SHIELD_PUSH_PROCESSES must be >= 1")
        return settings


def _parse(field: str, raw: object, default: object) -> object:
    if field == "repush_minutes":
        if isinstance(raw, (list, tuple)):
            return tuple(int(v) for v in raw)
        return tuple(int(v) for v in str(raw).split(",") if v.strip())
    if field == "worker":
        value = str(raw).strip().lower()
        if value not in {"auto", "on", "off"}:
            raise ValueError("SHIELD_PUSH_WORKER must be auto, on or off")
        return value
    return type(default)(raw)
