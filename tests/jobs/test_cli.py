"""`python -m jobs` as a real subprocess against the test database."""

import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest

from jobs import JOBS
from models import Payout, db, utcnow
from tests.jobs.support import approve, events, file_claim, member
from tests.processes import ROOT, process_env, running_jobs

OWN_JOBS = [
    "payouts.process",
    "claims.review-alerts",
    "claims.proof-overdue",
    "claims.fraud-signals",
    "retention.events",
    "retention.idempotency-keys",
    "retention.devices",
]


@pytest.fixture
def env(database_uri):
    # SHIELD_SCHEDULER=inprocess must be ignored: the process is the scheduler.
    return process_env(database_uri, SHIELD_SCHEDULER="inprocess")


def cli(*args, env, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "jobs", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def work_due_now() -> tuple[str, str]:
    """A payout due for completion and a claim waiting > 48 h, in real time."""
    now = utcnow()
    member("alice", at=now - timedelta(days=10))
    stale = file_claim("alice", at=now - timedelta(days=3))
    paid = file_claim("alice", at=now - timedelta(hours=1))
    payout = approve(paid.id, at=now - timedelta(minutes=5))
    ids = payout.id, stale.id
    db.session.remove()  # no open transaction while the other process works
    return ids


def test_list_shows_every_job(env):
    result = cli("--list", env=env)
    assert result.returncode == 0, result.stderr
    for job in JOBS:
        assert job.id in result.stdout and job.func in result.stdout


def test_unknown_job_id_is_a_usage_error(env):
    result = cli("--once", "--job", "no.such-job", env=env)
    assert result.returncode == 2
    assert "unknown job id: no.such-job" in result.stderr


def test_once_runs_the_jobs_one_time_and_exits(ctx, env):
    payout_id, stale_id = work_due_now()
    args = [a for job in OWN_JOBS for a in ("--job", job)]
    result = cli("--once", *args, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[:3] == ["payouts.process: 1", "claims.review-alerts: 1", "claims.proof-overdue: 0"]
    assert len(lines) == len(OWN_JOBS)
    assert "in-process scheduler started" not in result.stderr
    assert db.session.get(Payout, payout_id).status == "completed"
    [alert] = events("admin_action_required")
    assert alert.payload["data"]["claimId"] == stale_id
    assert len(events("payout_completed")) == 1

    again = cli("--once", *args, env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.splitlines()[:2] == ["payouts.process: 0", "claims.review-alerts: 0"]
    db.session.remove()
    assert len(events("admin_action_required")) == 1
    assert len(events("payout_completed")) == 1


def test_once_runs_every_job_of_the_list(ctx, env):
    work_due_now()
    result = cli("--once", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    ran = dict(line.split(": ", 1) for line in result.stdout.splitlines())
    assert list(ran) == [job.id for job in JOBS]
    assert all(value.isdigit() for value in ran.values()), ran
    assert ran["payouts.process"] == "1"


@pytest.mark.parametrize(
    ("sig", "args"),
    [
        (signal.SIGTERM, []),  # every job, and the push worker beside them
        (signal.SIGINT, ["--job", "payouts.process"]),
    ],
    ids=["SIGTERM-all-jobs", "SIGINT-one-job"],
)
def test_jobs_process_works_until_signalled_then_stops_cleanly(ctx, env, tmp_path, sig, args):
    payout_id, _ = work_due_now()
    log_path = tmp_path / "jobs.log"
    with running_jobs(env, log_path, *args) as proc:
        deadline = time.monotonic() + 30
        status = None
        while time.monotonic() < deadline:
            db.session.remove()
            status = db.session.get(Payout, payout_id).status
            if status == "completed" or proc.poll() is not None:
                break
            time.sleep(0.2)
        assert status == "completed", log_path.read_text()
        proc.send_signal(sig)
        proc.wait(timeout=30)
    output = log_path.read_text()
    assert proc.returncode == 0, output
    assert "job payouts.process handled 1 item(s)" in output
    assert f"{sig.name} received" in output and "scheduler stopped" in output
    assert "Traceback" not in output
