import logging
from datetime import timedelta

import jobs.scheduler as scheduler_module
from jobs import JOBS, Job, select_jobs
from jobs.scheduler import build_scheduler, misfire_grace, run_job, stop_in_process
from tests.jobs import sample_jobs

OWN = {
    "payouts.process": "jobs.payouts.process_payouts",
    "claims.review-alerts": "jobs.claims.alert_stale_reviews",
    "claims.proof-overdue": "jobs.claims.alert_overdue_proofs",
    "claims.fraud-signals": "jobs.claims.detect_fraud",
    "retention.events": "jobs.retention.prune_events",
    "retention.idempotency-keys": "jobs.retention.prune_idempotency_keys",
    "retention.devices": "jobs.retention.deactivate_stale_devices",
}


def test_jobs_have_stable_unique_ids_and_the_planned_intervals():
    ids = [job.id for job in JOBS]
    assert len(ids) == len(set(ids))
    seconds = {job.id: job.seconds for job in JOBS}
    assert seconds == {
        "push.dispatch": 5,
        "payouts.process": 15,
        "withdrawals.process": 30,
        "subscriptions.renew": 600,
        "subscriptions.reset-coverage": 600,
        "subscriptions.expire-restrictions": 600,
        "claims.review-alerts": 300,
        "claims.proof-overdue": 300,
        "claims.fraud-signals": 300,
        "retention.events": 3600,
        "retention.idempotency-keys": 3600,
        "retention.devices": 3600,
    }
    funcs = {job.id: job.func for job in JOBS}
    assert funcs["push.dispatch"] == "jobs.push.dispatch_push"
    assert funcs["withdrawals.process"] == "jobs.withdrawals.process_withdrawals"
    assert funcs["subscriptions.renew"] == "jobs.subscriptions.renew_subscriptions"
    assert funcs["subscriptions.reset-coverage"] == "jobs.subscriptions.reset_coverage_periods"
    assert (
        funcs["subscriptions.expire-restrictions"]
        == "jobs.subscriptions.expire_cancellation_restrictions"
    )
    for job_id, func in OWN.items():
        assert funcs[job_id] == func
        assert callable(select_jobs([job_id])[0].resolve())


def test_select_jobs_keeps_the_order_asked_and_rejects_unknown_ids():
    assert [j.id for j in select_jobs(["retention.devices", "payouts.process"])] == [
        "retention.devices",
        "payouts.process",
    ]
    assert select_jobs(None) == JOBS
    try:
        select_jobs(["payouts.process", "nope"])
    except KeyError as exc:
        assert exc.args[0] == "nope"
    else:
        raise AssertionError("unknown id accepted")


def test_scheduler_gives_every_job_an_explicit_id_coalesce_and_one_instance(app):
    scheduler = build_scheduler(app)
    scheduled = {job.id: job for job in scheduler.get_jobs()}
    assert set(scheduled) == {job.id for job in JOBS}
    for job in JOBS:
        entry = scheduled[job.id]
        assert entry.coalesce is True
        assert entry.max_instances == 1
        assert entry.misfire_grace_time == misfire_grace(job) == max(job.seconds, 5)
        assert entry.trigger.interval == timedelta(seconds=job.seconds)
        assert entry.func is run_job and entry.args == (app, job)


def test_run_job_reports_count_failure_and_missing_module(app, caplog):
    caplog.set_level(logging.DEBUG, logger="jobs")
    assert run_job(app, Job("t.count", "tests.jobs.sample_jobs.count", 1)) == 3
    assert "job t.count handled 3 item(s)" in caplog.text
    assert run_job(app, Job("t.boom", "tests.jobs.sample_jobs.boom", 1)) is None
    assert "job t.boom failed" in caplog.text and "RuntimeError: boom" in caplog.text
    missing = Job("t.missing", "jobs.not_written_yet.run", 1)
    caplog.clear()
    assert run_job(app, missing) is None
    assert run_job(app, missing) is None
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "cannot import jobs.not_written_yet.run" in errors[0].getMessage()


def test_background_scheduler_keeps_running_after_a_job_fails(app):
    sample_jobs.calls.clear()
    jobs = [
        Job("t.boom", "tests.jobs.sample_jobs.boom", 1),
        Job("t.count", "tests.jobs.sample_jobs.count", 1),
    ]
    scheduler = build_scheduler(app, jobs, first_run_delay=timedelta(0))
    scheduler.start()
    try:
        assert sample_jobs.wait_for("boom", 2, timeout=10)
        assert sample_jobs.wait_for("count", 2, timeout=10)
    finally:
        scheduler.shutdown(wait=True)


def test_in_process_scheduler_starts_once_per_process(make_app, monkeypatch):
    monkeypatch.setattr(
        scheduler_module, "JOBS", [Job("t.count", "tests.jobs.sample_jobs.count", 3600)]
    )
    # Through shield.addons, as `make run` does (the push addon is not under test here).
    first = make_app(SHIELD_SCHEDULER="inprocess", SHIELD_PUSH_WORKER="off")
    second = make_app(SHIELD_SCHEDULER="inprocess", SHIELD_PUSH_WORKER="off")
    scheduler = first.extensions["shield_scheduler"]
    try:
        assert scheduler.running
        assert second.extensions["shield_scheduler"] is scheduler
        assert [job.id for job in scheduler.get_jobs()] == ["t.count"]
    finally:
        stop_in_process()
    assert not scheduler.running
    assert "shield_scheduler" not in make_app().extensions  # SHIELD_SCHEDULER=off
