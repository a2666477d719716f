"""Where prometheus_client keeps the numbers of a server's several processes.

prometheus_client picks its storage when it is first imported: with PROMETHEUS_MULTIPROC_DIR
set, every process writes its values to files there and a scrape, answered by any one
worker, reads all of them. `prepare()` runs before that import (shield.ops.metrics calls
it) and makes the layout work with no environment of the operator's:

- PROMETHEUS_MULTIPROC_DIR set (by the operator, or by ./gunicorn.conf.py in the gunicorn
  master): used as it is.
- a worker of a pre-fork server that did not set it (granian's workers are
  multiprocessing children; a gunicorn without our config file): a directory named after
  the parent process (pid and start time), shared by its workers.
- `own=True` (`python -m jobs`, whose push helpers are child processes): a directory of
  this process's, exported so that the children write there too, removed at exit.
- otherwise (one process: `flask run`, the tests): no directory, in-memory values.

Directories of servers that are gone are removed when a new one is made.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import shutil
import sys
import tempfile

ENV = "PROMETHEUS_MULTIPROC_DIR"
PREFIX = "shield-metrics-"


def prepare(*, own: bool = False) -> str | None:
    """Set PROMETHEUS_MULTIPROC_DIR when this process needs one; return it (or None)."""
    path = os.environ.get(ENV)
    if path:
        os.makedirs(path, exist_ok=True)
        return path
    if own:
        path = _directory(os.getpid())
        atexit.register(_remove_if_owner, path, os.getpid())
    elif multiprocessing.parent_process() is not None or "gunicorn.arbiter" in sys.modules:
        path = _directory(os.getppid())
    else:
        return None
    os.environ[ENV] = path
    return path


def _directory(pid: int) -> str:
    base = tempfile.gettempdir()
    path = os.path.join(base, f"{PREFIX}{pid}-{_start_time(pid)}")
    if not os.path.isdir(path):
        _prune(base)
        os.makedirs(path, exist_ok=True)
    return path


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), so that a reused pid
    never finds an earlier server's files; "0" where /proc is not there."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return "0"


def _prune(base: str) -> None:
    """Remove directories left by servers whose process is gone."""
    try:
        names = os.listdir(base)
    except OSError:
        return
    for name in names:
        if not name.startswith(PREFIX):
            continue
        owner = name[len(PREFIX) :].split("-", 1)
        if not owner[0].isdigit():
            continue
        started = owner[1] if len(owner) > 1 else ""
        if not alive(int(owner[0])) or started != _start_time(int(owner[0])):
            shutil.rmtree(os.path.join(base, name), ignore_errors=True)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_if_owner(path: str, pid: int) -> None:
    if os.getpid() == pid:  # a forked child inherits atexit handlers
        shutil.rmtree(path, ignore_errors=True)


def mark_dead_workers(path: str) -> None:
    """Drop the live gauges (open sockets, staleness...) of processes that are gone, for
    servers that have no child-exit hook (granian); gunicorn.conf.py does it on exit."""
    from prometheus_client import multiprocess

    pids = set()
    for name in os.listdir(path):
        if name.startswith("gauge_live") and name.endswith(".db"):
            pid = name[:-3].rsplit("_", 1)[-1]
            if pid.isdigit():
                pids.add(int(pid))
    for pid in pids:
        if not alive(pid):
            multiprocess.mark_process_dead(pid, path)
