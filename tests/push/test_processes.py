"""`python -m jobs` with SHIELD_PUSH_PROCESSES=2: two dispatcher processes, each push once."""

from __future__ import annotations

import os
import re
import signal

import pytest

from shield.push.settings import PushSettings
from tests.processes import process_env, running_jobs
from tests.push.test_multiprocess import _drained, _make_events, _wait


def _two_processes(database_uri, fcm, service_account) -> dict[str, str]:
    return process_env(
        database_uri,
        SHIELD_FCM_SERVICE_ACCOUNT=str(service_account),
        SHIELD_FCM_ENDPOINT=fcm.url,
        SHIELD_PUSH_PROCESSES="2",
    )


def test_processes_setting():
    assert PushSettings.from_config({}, env={}).processes == 1
    assert PushSettings.from_config({}, env={"SHIELD_PUSH_PROCESSES": "3"}).processes == 3
    with pytest.raises(ValueError):
        PushSettings.from_config({"SHIELD_PUSH_PROCESSES": 0}, env={})


@pytest.mark.postgres
def test_jobs_process_runs_helper_dispatchers(ctx, fcm, service_account, database_uri, tmp_path):
    expected = _make_events(400, members=40)
    env = _two_processes(database_uri, fcm, service_account)
    env.update(SHIELD_PUSH_BATCH="20", SHIELD_PUSH_CONCURRENCY="4")
    fcm.delay = 0.01  # both processes get a share
    log_path = tmp_path / "jobs.log"
    with running_jobs(env, log_path, "--job", "push.dispatch") as proc:
        assert _wait(lambda: _drained(400), timeout=60), log_path.read_text()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    output = log_path.read_text()
    assert proc.returncode == 0, output
    delivered = fcm.delivered()
    assert set(delivered) == expected and all(n == 1 for n in delivered.values())
    [helper] = re.findall(r"push: 1 more dispatcher processes \[(\d+)\]", output)
    assert re.search(rf"push dispatcher process {helper} stopped after (\d+) deliveries", output)
    assert "Traceback" not in output


def _alive(pid: int) -> bool:
    """Running, not a zombie (a re-parented process may wait long to be reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.postgres
def test_a_dead_helper_is_restarted_and_helpers_stop_with_their_parent(
    ctx, fcm, service_account, database_uri, tmp_path
):
    log_path = tmp_path / "jobs.log"
    env = _two_processes(database_uri, fcm, service_account)
    started = r"push: 1 more dispatcher processes \[(\d+)\]"
    restarted = r"push dispatcher process (\d+) started"
    with running_jobs(env, log_path, "--job", "push.dispatch") as proc:
        assert _wait(lambda: re.search(started, log_path.read_text()), timeout=30)
        first = int(re.search(started, log_path.read_text())[1])
        os.kill(first, signal.SIGKILL)
        assert _wait(lambda: re.search(restarted, log_path.read_text()), timeout=30), (
            log_path.read_text()
        )
        second = int(re.search(restarted, log_path.read_text())[1])
        assert second != first and _alive(second)
        proc.kill()  # SIGKILL: no chance to stop its helpers
        proc.wait()
        assert _wait(lambda: not _alive(second), timeout=30), log_path.read_text()
    assert "parent" in log_path.read_text() and "is gone, stopping" in log_path.read_text()
