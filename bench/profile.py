# ruff: noqa: S603, S607 (the benchmark runs local tools: wrk, servers, ps, py-spy, git)
"""py-spy profiles of one worker while wrk runs a case: where each case spends its time.

Samples are grouped by the library the sampled (leaf) frame is in, so the shares add up to
100% of the worker's busy samples; `inclusive` lists the app's own steps (a sample counts
for each step on its stack).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

from . import loadgen

LEAF_GROUPS = [
    ("JWT verify (pyjwt, hmac)", ("jwt/", "hmac.py", "cryptography/", "hashlib")),
    ("SQL (SQLAlchemy, psycopg)", ("sqlalchemy/", "psycopg/", "flask_sqlalchemy/")),
    ("marshmallow", ("marshmallow/",)),
    ("JSON encoding", ("json/", "flask/json/")),
    ("werkzeug", ("werkzeug/",)),
    ("flask", ("flask/",)),
    (
        "server (gunicorn, granian) and sockets",
        (
            "gunicorn/",
            "granian/",
            "selectors.py",
            "socket.py",
            "threading.py",
            "queue.py",
            "concurrent/",
        ),
    ),
    ("app code (shield, models, bench)", ("shield/", "models/", "bench/")),
]
INCLUSIVE = [
    ("authenticate (token check)", "authenticate ("),
    ("conditional_get", "conditional_get ("),
    ("version read", "Cache.read (shield/versions"),
    ("build (load + serialise)", "build ("),
    ("marshmallow dump", "Schema.dump ("),
    ("ORM load", "Session.execute ("),
    ("jsonify", "jsonify ("),
    ("Flask.wsgi_app (all app work)", "Flask.wsgi_app ("),
]


def _path(frame: str) -> str:
    inner = frame.rpartition(" (")[2]
    return inner.rpartition(":")[0]


def record_command(tool: str, pid: int, seconds: float, out: Path) -> list[str]:
    """py-spy sampling one process's GIL holder at 250 Hz, raw (collapsed) stacks to `out`."""
    return [
        tool,
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(int(seconds)),
        "--rate",
        "250",
        "--gil",
        "--format",
        "raw",
        "--nonblocking",
        "-o",
        str(out),
    ]


def summarise(raw: str) -> dict:
    leaf, inclusive, top, total = Counter(), Counter(), Counter(), 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        if frames[-1].startswith("EpollSelector.select") or "wait (threading.py" in frames[-1]:
            continue  # an idle thread, not work
        total += n
        path = _path(frames[-1])
        top[frames[-1].rpartition(":")[0] + ")"] += n
        for name, prefixes in LEAF_GROUPS:
            if any(path.startswith(x) or ("/" + x) in path for x in prefixes):
                leaf[name] += n
                break
        else:
            leaf["other (stdlib, interpreter)"] += n
        for name, needle in INCLUSIVE:
            if any(needle in f for f in frames):
                inclusive[name] += n
    if not total:
        return {"samples": 0, "groups": [], "inclusive": [], "top": []}
    return {
        "samples": total,
        "groups": [(k, v / total) for k, v in leaf.most_common()],
        "inclusive": [(k, v / total) for k, v in inclusive.most_common()],
        "top": [(k, v / total) for k, v in top.most_common(12)],
    }


def py_spy() -> str | None:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return found if Path(found).exists() else None


def profile_cases(srv, targets: dict[str, Path], *, duration: float, work: Path) -> dict:
    tool = py_spy()
    if tool is None:
        print("py-spy is not installed (pip install py-spy): no profiles", flush=True)
        return {}
    work.mkdir(parents=True, exist_ok=True)
    pid = srv.worker_pids()[0]
    out = {}
    for key, target in targets.items():
        raw = work / f"{key}.txt"
        load = threading.Thread(
            target=loadgen.run,
            args=(srv.base, target),
            kwargs={"duration": duration + 1.5},
            daemon=True,
        )
        load.start()
        subprocess.run(record_command(tool, pid, duration, raw), capture_output=True, check=False)
        load.join()
        if raw.exists():
            out[key] = summarise(raw.read_text())
    return out
