"""/metrics in one process: the token, route templates (never ids), the histogram, the
push/socket/job calls and the gauges read at scrape time."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from jobs import Job
from jobs.scheduler import run_job
from shield.ops import metrics
from shield.ops.meter import METER
from tests.review.helpers import paid_claim

from .scrape import names, total


def _scrape(client, **headers) -> str:
    r = client.get("/metrics", headers=headers)
    assert r.status_code == 200, r.data
    assert r.headers["Content-Type"].startswith("text/plain; version=")
    return r.get_data(as_text=True)


def test_the_metrics_token_is_required_once_set(make_app):
    app = make_app(SHIELD_METRICS_TOKEN="s3cret-metrics")
    client = app.test_client()
    r = client.get("/metrics")
    assert r.status_code == 401 and r.json["error"]["code"] == "AUTH_INVALID"
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "s3cret-metrics"}).status_code == 401
    _scrape(client, Authorization="Bearer s3cret-metrics")
    assert make_app().test_client().get("/metrics").status_code == 200  # unset: open


def test_requests_are_counted_by_route_template_never_by_id(client, auth):
    before = _scrape(client)
    missing = "clm_doesnotexist_7f3a9c"
    assert client.get(f"/shield/v1/claims/{missing}", headers=auth("alice")).status_code == 404
    assert client.get("/no/such/path/4242").status_code == 404
    assert client.open("/healthz", method="BREW").status_code == 405
    text = _scrape(client)
    template = "/shield/v1/claims/<claim_id>"
    for route, method, status in (
        (template, "GET", "404"),
        ("unmatched", "GET", "404"),
        ("unmatched", "other", "405"),  # no rule matched the method
    ):
        labels = {"route": route, "method": method, "status": status}
        grown = total(text, "shield_http_requests_total", **labels) - total(
            before, "shield_http_requests_total", **labels
        )
        assert grown == 1, labels
    assert missing not in text and "4242" not in text and "BREW" not in text


def test_the_histogram_is_a_valid_prometheus_histogram(client):
    METER.observe("/test/route", "GET", "200", 0.003)
    METER.observe("/test/route", "GET", "200", 0.2)
    METER.observe("/test/route", "GET", "500", 99.0)
    text = _scrape(client)
    family = next(
        f
        for f in text_string_to_metric_families(text)
        if f.name == "shield_http_request_duration_seconds"
    )
    mine = [s for s in family.samples if s.labels.get("route") == "/test/route"]
    buckets = {s.labels["le"]: s.value for s in mine if s.name.endswith("_bucket")}
    assert buckets["0.001"] == 0 and buckets["0.005"] == 1 and buckets["0.25"] == 2
    assert buckets["10.0"] == 2 and buckets["+Inf"] == 3  # cumulative, as Prometheus reads it
    count = next(s.value for s in mine if s.name.endswith("_count"))
    assert count == 3
    assert next(s.value for s in mine if s.name.endswith("_sum")) == pytest.approx(99.203)
    assert total(text, "shield_http_requests_total", route="/test/route", status="500") == 1


def test_the_push_socket_and_job_calls_reach_the_scrape(app, client):
    before = _scrape(client)
    metrics.push_send("sent", None, 0.02)
    metrics.push_send("token_dead", "UNREGISTERED", 0.03)
    metrics.push_retry()
    metrics.push_token_deactivated()
    metrics.push_breaker_state("demo-project", metrics.BREAKER_OPEN)
    metrics.push_breaker_state("other-project", "half_open")
    metrics.socket_opened()
    metrics.frame_received()
    metrics.frame_sent()
    metrics.acks_pending(3)
    assert run_job(app, Job("ops.ok", "tests.jobs.sample_jobs.count", 5)) == 3
    assert run_job(app, Job("ops.broken", "tests.jobs.sample_jobs.boom", 5)) is None
    text = _scrape(client)
    metrics.socket_closed()
    metrics.acks_pending(0)

    def grown(name, **labels):
        return total(text, name, **labels) - total(before, name, **labels)

    assert grown("shield_push_sends_total", outcome="token_dead", error_code="UNREGISTERED") == 1
    assert grown("shield_push_sends_total", outcome="sent", error_code="") == 1
    assert grown("shield_push_send_seconds_count") == 2
    assert grown("shield_push_retries_total") == 1
    assert grown("shield_push_deactivated_tokens_total") == 1
    assert total(text, "shield_push_breaker_state", project="demo-project") == 1
    assert total(text, "shield_push_breaker_state", project="other-project") == 2
    assert grown("shield_socket_connections") == 1
    assert grown("shield_socket_frames_received_total") == 1
    assert grown("shield_socket_frames_sent_total") == 1
    assert total(text, "shield_socket_acks_pending") == 3
    assert grown("shield_job_runs_total", job="ops.ok") == 1
    assert grown("shield_job_failures_total", job="ops.ok") == 0
    assert grown("shield_job_runs_total", job="ops.broken") == 1
    assert grown("shield_job_failures_total", job="ops.broken") == 1
    assert total(text, "shield_job_last_success_timestamp_seconds", job="ops.ok") > 0


def test_outbox_gauges_are_read_at_scrape_time(app, client, auth):
    text = _scrape(client)
    assert {
        "shield_outbox_head_seq",
        "shield_outbox_pending_deliveries",
        "shield_outbox_oldest_undelivered_push_age_seconds",
    } <= names(text)
    assert total(text, "shield_outbox_head_seq") == 0
    assert total(text, "shield_outbox_pending_deliveries") == 0
    assert total(text, "shield_outbox_oldest_undelivered_push_age_seconds") == 0
    paid_claim(app, client, auth, "alice", 40)
    text = _scrape(client)
    assert total(text, "shield_outbox_head_seq") >= 3  # submitted, approved, paid...
    # An event waiting for its push, two minutes old, and one delivery pending.
    r = client.post(
        "/shield/v1/devices", json={"token": "t" * 40, "platform": "android"}, headers=auth("bob")
    )
    assert r.status_code == 201
    with app.app_context():
        from datetime import timedelta

        from sqlalchemy import select, update

        from models import Device, OutboxEvent, PushDelivery, db, utcnow

        event = db.session.execute(select(OutboxEvent).order_by(OutboxEvent.seq)).scalars().first()
        device = db.session.execute(select(Device)).scalars().one()
        db.session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.id == event.id)
            .values(push_state="pending", created_at=utcnow() - timedelta(seconds=120))
        )
        db.session.add(PushDelivery(event_id=event.id, device_id=device.id, member_id="bob"))
        db.session.commit()
        db.session.remove()
    text = _scrape(client)
    assert total(text, "shield_outbox_pending_deliveries") == 1
    assert 120 <= total(text, "shield_outbox_oldest_undelivered_push_age_seconds") < 180


def test_counts_from_many_threads_are_all_kept(client):
    """Each thread counts into cells of its own; none is lost, even a thread that ended."""
    import threading

    before = _scrape(client)

    def work():
        for _ in range(5000):
            METER.observe("/test/threads", "GET", "304", 0.0002)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    METER.flush()  # while they run: later counts come on the next flush
    for thread in threads:
        thread.join()
    text = _scrape(client)
    labels = {"route": "/test/threads", "method": "GET", "status": "304"}
    grown = total(text, "shield_http_requests_total", **labels) - total(
        before, "shield_http_requests_total", **labels
    )
    assert grown == 40_000
    assert _scrape(client).count('route="/test/threads"') >= 1
    assert total(_scrape(client), "shield_http_requests_total", **labels) == total(
        text, "shield_http_requests_total", **labels
    )  # a dead thread's cells are not counted twice
