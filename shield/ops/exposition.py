"""The /metrics answer: this server's metrics (every process's, in the multiprocess mode)
plus gauges computed at scrape time from the database and the readiness checks."""

from __future__ import annotations

import hmac
import os
import time
from concurrent.futures import TimeoutError as FutureTimeout

from flask import Flask
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from . import health, multiproc
from .meter import METER

CONTENT_TYPE = CONTENT_TYPE_LATEST


def authorized(app: Flask, header: str | None) -> bool:
    """Open without SHIELD_METRICS_TOKEN; with it, `Authorization: Bearer <token>` only."""
    expected = app.config.get("SHIELD_METRICS_TOKEN")
    if not expected:
        return True
    scheme, _, given = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), expected)


def _outbox(app: Flask) -> dict[str, float]:
    """Push backlog and feed head, read on a short-timeout connection of its own."""
    from sqlalchemy import func, select

    from models import EventSequence, OutboxEvent, PushDelivery
    from models.delivery import PENDING
    from models.outbox import PUSH_PENDING

    with health.short_connection(app) as conn:
        pending, oldest_delivery = conn.execute(
            select(func.count(), func.min(PushDelivery.created_at)).where(
                PushDelivery.status == PENDING
            )
        ).one()
        oldest_event = conn.execute(
            select(func.min(OutboxEvent.created_at)).where(OutboxEvent.push_state == PUSH_PENDING)
        ).scalar()
        head = conn.execute(select(func.coalesce(func.max(EventSequence.value), 0))).scalar()
    oldest = [_as_utc(t) for t in (oldest_delivery, oldest_event) if t is not None]
    age = max(0.0, time.time() - min(oldest).timestamp()) if oldest else 0.0
    return {"pending": float(pending), "age": age, "head": float(head)}


def _as_utc(value):
    from datetime import UTC

    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


class ScrapeTime:
    """Collector of what is read when scraped, not counted: one database read, readiness."""

    def __init__(self, app: Flask, extra_checks: dict | None, polls: bool) -> None:
        self.app = app
        self.extra_checks = extra_checks
        self.polls = polls

    def collect(self):
        outbox = health.run_in_pool(_outbox, self.app)
        ready, body = health.readiness(self.app, self.extra_checks, polls=self.polls)
        gauge = GaugeMetricFamily("shield_ready", "1 when every readiness check passes.")
        gauge.add_metric([], 1.0 if ready else 0.0)
        yield gauge
        checks = GaugeMetricFamily(
            "shield_readiness_check", "Each readiness check: 1 passes, 0 fails.", labels=["check"]
        )
        for name, result in body["checks"].items():
            checks.add_metric([name], 1.0 if result["ok"] else 0.0)
        yield checks
        try:
            numbers = outbox.result(timeout=health.READY_DEADLINE)
        except (FutureTimeout, Exception):  # the database is down: readiness says so
            return
        for name, key, text in (
            ("shield_outbox_pending_deliveries", "pending", "Push deliveries not sent yet."),
            (
                "shield_outbox_oldest_undelivered_push_age_seconds",
                "age",
                "Age of the oldest push not delivered yet (0 when none).",
            ),
            ("shield_outbox_head_seq", "head", "The events feed's latest seq."),
        ):
            family = GaugeMetricFamily(name, text)
            family.add_metric([], numbers[key])
            yield family


def render(app: Flask, extra_checks: dict | None = None, *, polls: bool = True) -> bytes:
    METER.flush()  # this process's counts; the others' flush on their own
    path = os.environ.get(multiproc.ENV)
    if path:
        from prometheus_client import multiprocess

        multiproc.mark_dead_workers(path)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=path)
        counted = generate_latest(registry)
    else:
        counted = generate_latest(REGISTRY)
    scraped = CollectorRegistry()
    scraped.register(ScrapeTime(app, extra_checks, polls))
    return counted + generate_latest(scraped)
