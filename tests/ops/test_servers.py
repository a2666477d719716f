"""As deployed: `gunicorn -w 2 wsgi:app`, granian with 2 workers and `python -m jobs`, with no
metrics environment of the test's, on PostgreSQL."""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from shield.auth import issue_token
from shield.ops.meter import FLUSH_SECONDS
from tests.conftest import TEST_SECRET
from tests.processes import free_port, gunicorn, process_env, running_jobs, running_server

from .conftest import closed_port
from .scrape import fetch, total

pytestmark = pytest.mark.postgres
METRICS_TOKEN = "metrics-token-for-the-test"


def _env(uri: str, **settings: str) -> dict:
    env = process_env(uri, SHIELD_METRICS_TOKEN=METRICS_TOKEN, **settings)
    assert not any(k.startswith("PROMETHEUS") for k in env)  # nothing but what the repo sets
    return env


def _get(url: str, headers: dict | None = None, timeout: float = 10):
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:  # noqa: S310
            return r.status, r.headers, r.read()  # case-insensitive (granian: lower case)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def _polls_end_in_304(base: str, count: int) -> set[str]:
    """One member's ETag, then `count` polls with it (new connections: either worker);
    returns the request ids' process prefixes (which workers answered)."""
    config = {"SHIELD_JWT_SIGN_KEY": TEST_SECRET, "SHIELD_JWT_ALGORITHM": "HS256"}
    token = issue_token(config, f"ops-{os.getpid()}", email="ops@example.com")
    auth = {"Authorization": f"Bearer {token}"}
    status, headers, _ = _get(base + "/shield/v1/claims", auth)
    assert status == 200
    workers = set()
    for _ in range(count):
        status, answer, _ = _get(
            base + "/shield/v1/claims", {**auth, "If-None-Match": headers["ETag"]}
        )
        assert status == 304
        workers.add(answer["X-Request-ID"].split("-")[0])
    return workers


def _scrape_after_polls(base: str, polls: int = 20) -> str:
    before = total(
        fetch(base + "/metrics", METRICS_TOKEN), "shield_http_requests_total", status="304"
    )
    workers = _polls_end_in_304(base, polls)
    time.sleep(FLUSH_SECONDS * 2)  # each worker moves its counts into the files this often
    text = fetch(base + "/metrics", METRICS_TOKEN)
    counted = total(text, "shield_http_requests_total", status="304") - before
    assert counted >= polls, (counted, workers)
    return text


def test_gunicorn_two_workers_count_every_304_and_keep_probes_honest(migrated_uri, tmp_path):
    port = free_port()
    env = _env(migrated_uri, SHIELD_LOG_FORMAT="json")
    log = tmp_path / "gunicorn.log"
    with running_server(gunicorn(port), env, log, port) as base:
        assert _get(base + "/readyz")[0] == 200
        text = _scrape_after_polls(base)
        route = total(text, "shield_http_requests_total", route="/shield/v1/claims", status="304")
        assert route >= 20
        assert (
            total(text, "shield_http_request_duration_seconds_count", route="/shield/v1/claims")
            >= 21
        )
        assert total(text, "shield_ready") == 1
        assert "shield_outbox_head_seq" in text
        # The token is required once set.
        assert _get(base + "/metrics")[0] == 401
        assert _get(base + "/metrics", {"Authorization": "Bearer wrong"})[0] == 401
    # SHIELD_LOG_FORMAT=json: gunicorn's lines and the app's are one JSON object each.
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    assert lines
    entries = [json.loads(line) for line in lines]
    assert {"time", "level", "logger", "message"} <= set(entries[0])
    assert any(e["logger"] == "gunicorn.error" for e in entries)


def test_gunicorn_readyz_is_503_within_5_s_on_a_closed_database_port(tmp_path):
    port = free_port()
    dead = f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/shield"
    with running_server(gunicorn(port), _env(dead), tmp_path / "g.log", port) as base:
        assert _get(base + "/healthz")[0] == 200
        started = time.monotonic()
        status, _, body = _get(base + "/readyz")
        assert time.monotonic() - started < 5
        assert status == 503
        assert not json.loads(body)["checks"]["database"]["ok"]


def test_granian_two_workers_count_every_304(migrated_uri, tmp_path):
    port = free_port()
    command = [
        str(Path(sys.executable).parent / "granian"),
        "--interface",
        "wsgi",
        "--workers",
        "2",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-ws",
        "wsgi:app",
    ]
    with running_server(command, _env(migrated_uri), tmp_path / "granian.log", port) as base:
        _scrape_after_polls(base)


def test_the_jobs_process_answers_probes_and_metrics_on_its_port(migrated_uri, tmp_path):
    port = free_port()
    env = _env(migrated_uri, SHIELD_JOBS_HTTP_PORT=f"127.0.0.1:{port}")
    base = f"http://127.0.0.1:{port}"
    with running_jobs(env, tmp_path / "jobs.log", "--job", "push.dispatch") as proc:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (tmp_path / "jobs.log").read_text()
            try:
                if _get(base + "/healthz", timeout=1)[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "jobs.log").read_text()
            time.sleep(0.2)
        deadline = time.monotonic() + 20
        while True:  # the first run starts 2 s after the scheduler
            status, _, body = _get(base + "/readyz")
            text = fetch(base + "/metrics", METRICS_TOKEN)
            runs = total(text, "shield_job_runs_total", job="push.dispatch")
            if (status == 200 and runs >= 1) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert status == 200, body
        checks = json.loads(body)["checks"]
        assert checks["scheduler"] == {"ok": True} and checks["schema"] == {"ok": True}
        assert "version_cache" not in checks  # the jobs process answers no polls
        assert runs >= 1
        assert total(text, "shield_job_failures_total", job="push.dispatch") == 0
        assert _get(base + "/metrics")[0] == 401
        assert _get(base + "/shield/v1/claims")[0] == 404  # no API on this port
        proc.terminate()
        assert proc.wait(20) == 0
