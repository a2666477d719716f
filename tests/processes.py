"""Child processes in tests (`python -m jobs`, dispatchers): a clean environment and a start."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import TEST_SECRET

ROOT = Path(__file__).resolve().parents[1]


def process_env(database_uri: str, **settings: str) -> dict[str, str]:
    """This environment without any SHIELD_*, DATABASE_URL or REDIS_URL of the caller's,
    pointed at the test database, plus `settings`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SHIELD_", "DATABASE_URL", "REDIS_URL"))
    }
    env.update(
        DATABASE_URL=database_uri,
        SHIELD_ENV="test",
        SHIELD_JWT_SECRET=TEST_SECRET,
        PYTHONUNBUFFERED="1",
        **settings,
    )
    return env


@contextmanager
def running_jobs(env: dict[str, str], log_path: Path, *args: str) -> Iterator[subprocess.Popen]:
    """`python -m jobs *args` in the background, its output to `log_path`; killed on the way
    out if the test did not stop it."""
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jobs", *args],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(
    command: list[str], env: dict[str, str], log_path: Path, port: int, timeout: float = 30.0
) -> Iterator[str]:
    """A web server (`command` with its bind on `port`) from the repository root; yields its
    base URL once /healthz answers; stopped with SIGTERM (then killed) on the way out."""
    import signal
    import time
    import urllib.request

    base = f"http://127.0.0.1:{port}"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited:\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=1):  # noqa: S310
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"no answer:\n{log_path.read_text()[-3000:]}") from None
                time.sleep(0.1)
        yield base
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def gunicorn(port: int, *args: str) -> list[str]:
    """`gunicorn -w 2 wsgi:app` as an operator runs it (the repository's gunicorn.conf.py)."""
    return [
        str(Path(sys.executable).parent / "gunicorn"),
        "-w",
        "2",
        "-b",
        f"127.0.0.1:{port}",
        "--graceful-timeout",
        "2",
        *args,
        "wsgi:app",
    ]
