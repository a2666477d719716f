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
