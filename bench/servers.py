# ruff: noqa: S603, S607 (the benchmark runs local tools: wrk, servers, ps, py-spy, git)
"""Start the app under gunicorn (gthread) or granian (WSGI) with the settings we recommend."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
WORKERS = 2
THREADS = 4


def command(server: str, port: int) -> list[str]:
    if server == "gunicorn":
        return [
            str(BIN / "gunicorn"),
            "bench.app:app",
            "--worker-class",
            "gthread",
            "--workers",
            str(WORKERS),
            "--threads",
            str(THREADS),
            "--bind",
            f"127.0.0.1:{port}",
            "--backlog",
            "2048",
            "--keep-alive",
            "75",
            "--log-level",
            "warning",
        ]
    if server == "granian":
        return [
            str(BIN / "granian"),
            "--interface",
            "wsgi",
            "--workers",
            str(WORKERS),
            "--blocking-threads",
            str(THREADS),
            "--http",
            "1",
            "--no-ws",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
            "bench.app:app",
        ]
    raise ValueError(server)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    name: str
    label: str
    port: int
    proc: subprocess.Popen
    log_path: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def worker_pids(self) -> list[int]:
        out = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(self.proc.pid)],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        return [int(p) for p in out.split()]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start(server: str, env: dict, log_dir: Path, label: str | None = None) -> Server:
    port = free_port()
    log_path = log_dir / f"{label or server}.log"
    log = open(log_path, "w")  # noqa: SIM115 (kept open for the server's life)
    proc = subprocess.Popen(
        command(server, port),
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    srv = Server(server, label or server, port, proc, log_path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{server} exited: see {log_path}")
        try:
            with urllib.request.urlopen(srv.base + "/bench/hello", timeout=1) as r:  # noqa: S310
                if r.status == 200:
                    return srv
        except OSError:
            time.sleep(0.2)
    srv.stop()
    raise RuntimeError(f"{server} did not answer within 30 s: see {log_path}")
