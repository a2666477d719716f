# ruff: noqa: S603 (the benchmark starts its own server and client processes)
"""Socket rows: commit -> socket frame latency, and server memory per idle socket.

The server is the app with the addon on (SHIELD_WS_ENABLED=1) under gunicorn's gevent
worker, 2 workers (settings in `command()`), compression off (the addon's default:
permessage-deflate costs about 90 KB more per socket - library notes). Sockets are real
WebSockets (websocket-client), authenticated with a bearer header and acknowledged by
the server's `connected` frame.

- latency: sockets of a few members are opened from this process; this process commits
  one `claim_under_review` at a time through `shield.events.record` (it is another
  process than the server, which learns of it by PostgreSQL NOTIFY and reads the outbox);
  the clock starts before `commit()` and stops when the frame is read here.
- memory: idle sockets are held by several client processes (`bench.ws_clients`, each
  with its own open-file limit); the server's RSS is the sum of its workers' VmRSS from
  /proc, measured at each level after a settle; per socket = (RSS - idle baseline) / n.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from . import latency, servers

ROOT = Path(__file__).resolve().parent.parent
WORKERS = 2
WORKER_CONNECTIONS = 16_000  # per worker; the default 1,000 is a hard cap (library notes)


def command(port: int, app: str = "bench.app:app") -> list[str]:
    return [
        str(servers.BIN / "gunicorn"),
        app,
        "--worker-class",
        "gevent",
        "--workers",
        str(WORKERS),
        "--worker-connections",
        str(WORKER_CONNECTIONS),
        "--bind",
        f"127.0.0.1:{port}",
        "--backlog",
        "4096",
        "--graceful-timeout",
        "5",
        "--keep-alive",
        "75",
        "--log-level",
        "warning",
    ]


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class SocketBench:
    def __init__(
        self,
        db_url: str,
        secret: str,
        env: dict,
        tokens: dict[str, str],
        work: Path,
        log,
        app: str = "bench.app:app",
        clients: str = "bench.ws_clients",
    ):
        self.db_url = db_url
        self.secret = secret
        self.tokens = tokens  # member -> bearer token
        self.work = work
        self.log = log
        self.clients: list[subprocess.Popen] = []
        self.held = 0
        _raise_nofile()
        port = servers.free_port()
        self.log_path = work / f"gevent-{app.split(':')[0]}.log"
        self._log = open(self.log_path, "w")  # noqa: SIM115 (closed in close())
        self.proc = subprocess.Popen(
            command(port, app),
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=_raise_nofile,
        )
        self.srv = servers.Server(
            "gunicorn-gevent", "gunicorn-gevent", port, self.proc, self.log_path
        )
        self.ws_url = f"ws://127.0.0.1:{port}/shield/ws"
        # bench.ws_clients: plain WebSockets; bench.sio_clients: Socket.IO on /socket.io/.
        self.clients_module = clients
        self.socketio = clients == "bench.sio_clients"
        self.client_url = f"ws://127.0.0.1:{port}" if self.socketio else self.ws_url
        _wait_ready(self.srv)
        self.token_file = work / "ws-tokens.txt"
        self.token_file.write_text("\n".join(tokens.values()))

    def worker_rss_kb(self) -> int:
        return sum(rss_kb(pid) for pid in self.srv.worker_pids())

    def close(self) -> None:
        for proc in self.clients:
            if proc.poll() is None:
                try:
                    proc.stdin.write("quit\n")
                    proc.stdin.flush()
                    proc.wait(timeout=30)
                except (OSError, subprocess.TimeoutExpired):
                    proc.kill()
        self.srv.stop()
        self._log.close()

    # -- idle sockets ----------------------------------------------------------------------
    def hold(self, count: int, processes: int) -> tuple[int, int, float]:
        """Open `count` more idle sockets over `processes` client processes."""
        started = time.monotonic()
        share = [count // processes + (1 if i < count % processes else 0) for i in range(processes)]
        procs = []
        first = self.held
        for n in share:
            if not n:
                continue
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        self.clients_module,
                        self.client_url,
                        str(self.token_file),
                        str(first),
                        str(n),
                    ],
                    cwd=ROOT,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                    preexec_fn=_raise_nofile,
                )
            )
            first += n
        opened = failed = 0
        for proc in procs:
            line = proc.stdout.readline().split()
            if len(line) == 4 and line[0] == "opened":
                opened += int(line[1])
                failed += int(line[3])
            else:
                failed += 1
        self.clients += procs
        self.held += opened
        return opened, failed, time.monotonic() - started

    def settle(self, seconds: float) -> int:
        """RSS once it stops moving (greenlets of the handshakes ended, buffers returned)."""
        time.sleep(seconds)
        return self.worker_rss_kb()

    def still_open(self) -> int:
        """Sockets the client processes still hold (one the server dropped is not counted)."""
        total = 0
        for proc in self.clients:
            if proc.poll() is not None:
                continue
            proc.stdin.write("status\n")
            proc.stdin.flush()
            line = proc.stdout.readline().split()
            if len(line) == 2 and line[0] == "open":
                total += int(line[1])
        return total

    # -- latency ---------------------------------------------------------------------------
    def latency(self, members: list[str], trials: int, gap: float = 0.02) -> dict:
        import websocket

        from app import create_app
        from models import db
        from shield.events import record

        app = create_app(
            SQLALCHEMY_DATABASE_URI=self.db_url,
            SHIELD_JWT_SECRET=self.secret,
            SHIELD_SCHEDULER="off",
            SHIELD_WS_ENABLED=False,
            SHIELD_PUSH_WORKER="off",
            SHIELD_VERSION_CACHE="off",
        )
        from . import sio_clients, ws_clients

        connect = sio_clients.connect if self.socketio else ws_clients.plain_connect
        sockets = {m: connect(self.client_url, self.tokens[m]) for m in members}
        lags, lost = [], 0
        with app.app_context():
            for n in range(trials):
                member = members[n % len(members)]
                ws = sockets[member]
                claim = f"clm_wsbench{n:06d}"
                record(
                    db.session,
                    "claim_under_review",
                    {
                        "claimId": claim,
                        "ticketNumber": f"T-WS-{n:06d}",
                        "previousStatus": "submitted",
                        "newStatus": "under_review",
                        "updatedAt": "2026-01-01T00:00:00.000Z",
                    },
                    member_id=member,
                )
                started = time.perf_counter()
                db.session.commit()
                got = None
                deadline = started + 5
                while got is None and time.perf_counter() < deadline:
                    ws.settimeout(max(0.01, deadline - time.perf_counter()))
                    try:
                        frame = ws.recv_frame()
                    except websocket.WebSocketTimeoutException:
                        break
                    if frame.opcode == websocket.ABNF.OPCODE_PING:
                        ws.pong(frame.data)
                        continue
                    if frame.opcode != websocket.ABNF.OPCODE_TEXT:
                        continue
                    body = self._envelope(ws, frame.data.decode())
                    if body is not None and (
                        body.get("event") == "claim_under_review"
                        and (body.get("data") or {}).get("claimId") == claim
                    ):
                        got = time.perf_counter()
                if got is None:
                    lost += 1
                else:
                    lags.append((got - started) * 1000)
                time.sleep(gap)
            db.session.remove()
            db.engine.dispose()
        for ws in sockets.values():
            ws.close()
        return latency.summary(lags, lost, trials, "frames")

    def _envelope(self, ws, text: str) -> dict | None:
        """The event envelope a text frame carries (answering Socket.IO's pings)."""
        if not self.socketio:
            return json.loads(text)
        if text == "2":
            ws.send("3")
            return None
        from .sio_clients import event

        found = event(text)
        return found[1] if found else None


def _raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _wait_ready(srv) -> None:
    import urllib.request

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if srv.proc.poll() is not None:
            raise RuntimeError(f"gevent server exited: see {srv.log_path}")
        try:
            with urllib.request.urlopen(srv.base + "/bench/hello", timeout=1) as r:  # noqa: S310
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    srv.stop()
    raise RuntimeError(f"gevent server did not answer within 30 s: see {srv.log_path}")
