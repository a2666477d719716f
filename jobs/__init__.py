"""Scheduled jobs: one module per job family, declared once in `JOBS` with stable ids.

A job is a plain function `fn(now=None) -> int` (the number of items it handled), run inside
an app context. It commits per item or per small batch, claims its rows so that several
processes may run it at once (`FOR UPDATE SKIP LOCKED` on PostgreSQL), and marks what it has
done so that running it twice never emits an event twice. The functions are named by dotted
path and imported when they first run, so importing this package imports no job module.

`python -m jobs` runs the scheduler as its own process; `SHIELD_SCHEDULER=inprocess` runs the
same list inside the web process (`make run`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Job:
    id: str  # stable: the scheduler's job id, `--job` selects by it, logs name it
    func: str  # dotted path, e.g. "jobs.payouts.process_payouts"
    seconds: int  # interval between runs
    description: str = ""

    def resolve(self) -> Callable[..., int]:
        """Import the job function (raises ImportError/AttributeError if it is missing)."""
        module, _, name = self.func.rpartition(".")
        return getattr(importlib.import_module(module), name)


MINUTE = 60
HOUR = 60 * MINUTE

JOBS: list[Job] = [
    Job(
        "push.dispatch",
        "jobs.push.dispatch_push",
        5,
        "send due push deliveries (also woken on commit)",
    ),
    Job(
        "payouts.process",
        "jobs.payouts.process_payouts",
        15,
        "complete pending payouts whose completion delay has passed",
    ),
    Job(
        "withdrawals.process",
        "jobs.withdrawals.process_withdrawals",
        30,
        "move withdrawals through the bank transfer",
    ),
    Job(
        "subscriptions.renew",
        "jobs.subscriptions.renew_subscriptions",
        10 * MINUTE,
        "renew due subscriptions; failed charges go past_due",
    ),
    Job(
        "subscriptions.reset-coverage",
        "jobs.subscriptions.reset_coverage_periods",
        10 * MINUTE,
        "start the new coverage year at each anniversary",
    ),
    Job(
        "subscriptions.expire-restrictions",
        "jobs.subscriptions.expire_cancellation_restrictions",
        10 * MINUTE,
        "announce the end of the 90-day cancellation restriction",
    ),
    Job(
        "claims.review-alerts",
        "jobs.claims.alert_stale_reviews",
        5 * MINUTE,
        "admin alert for claims submitted more than 48 h ago",
    ),
    Job(
        "claims.proof-overdue",
        "jobs.claims.alert_overdue_proofs",
        5 * MINUTE,
        "admin alert for proof of payment past its due date",
    ),
    Job(
        "claims.fraud-signals",
        "jobs.claims.detect_fraud",
        5 * MINUTE,
        "admin alert for duplicate ticket numbers and claim bursts",
    ),
    Job(
        "retention.events",
        "jobs.retention.prune_events",
        HOUR,
        "delete events (and their deliveries) past SHIELD_EVENT_RETENTION_DAYS",
    ),
    Job(
        "retention.idempotency-keys",
        "jobs.retention.prune_idempotency_keys",
        HOUR,
        "delete Idempotency-Keys older than 24 h",
    ),
    Job(
        "retention.devices",
        "jobs.retention.deactivate_stale_devices",
        HOUR,
        "deactivate devices unseen for 270 days",
    ),
]


def select_jobs(ids: list[str] | None = None, jobs: list[Job] | None = None) -> list[Job]:
    """Return the jobs with the given ids (all when None); unknown ids raise KeyError."""
    jobs = JOBS if jobs is None else jobs
    if not ids:
        return list(jobs)
    by_id = {job.id: job for job in jobs}
    unknown = [i for i in ids if i not in by_id]
    if unknown:
        raise KeyError(", ".join(unknown))
    return [by_id[i] for i in ids]
