"""The npm socket.io-client 4 (Node 20), driven from the tests through `socketio_client/driver.js`.

`npm ci` runs from here, once per lock file (a stamp in node_modules). Without Node or npm
the Socket.IO tests skip on a developer's machine and fail in CI.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import queue
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import IN_CI

CLIENT_DIR = Path(__file__).resolve().parent / "socketio_client"
DRIVER = CLIENT_DIR / "driver.js"
NODE_MAJOR = 20


def _missing(message: str):
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def install_client() -> str:
    """Node's path, after `npm ci` of the locked socket.io-client (if not done already)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        _missing("Node.js and npm are needed for the socket.io-client tests")
    version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout
    if int(version.strip().lstrip("v").split(".")[0]) < NODE_MAJOR:
        _missing(f"Node.js {NODE_MAJOR} or newer is needed, found {version.strip()}")
    lock = (CLIENT_DIR / "package-lock.json").read_bytes()
    stamp = CLIENT_DIR / "node_modules" / ".shield-lock-sha256"
    digest = hashlib.sha256(lock).hexdigest()
    if not stamp.exists() or stamp.read_text() != digest:
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=CLIENT_DIR,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            _missing(f"npm ci failed: {done.stderr[-2000:]}")
        stamp.write_text(digest)
    return node


@pytest.fixture(scope="session")
def node_driver() -> str:
    return install_client()


class SioClient:
    """One Node process holding one socket.io-client socket; reports are read as they come."""

    def __init__(self, node: str, script: Path = DRIVER, env: dict | None = None) -> None:
        """Start the client; with the driver, wait until it is loaded (a busy machine takes
        seconds), so a short-lived token is not spent on Node's start-up."""
        self.process = subprocess.Popen(
            [node, str(script)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=CLIENT_DIR,
        )
        self.reports: queue.Queue = queue.Queue()
        self.seen: list[dict] = []
        self._tags = 0
        threading.Thread(target=self._read, daemon=True).start()
        if script == DRIVER:
            self.until("ready", timeout=60)

    def _read(self) -> None:
        for line in self.process.stdout:
            with contextlib.suppress(ValueError):
                self.reports.put(json.loads(line))
        self.reports.put({"kind": "exit"})

    def command(self, op: str, **fields) -> None:
        self.process.stdin.write(json.dumps({"op": op, **fields}) + "\n")
        self.process.stdin.flush()

    # -- commands -----------------------------------------------------------------------------
    def connect(self, url: str, token: str | None = None, **options) -> SioClient:
        auth = options.pop("auth", {})
        if token is not None:
            auth["token"] = token
        options = {"transports": ["websocket"], "reconnection": False, "auth": auth, **options}
        self.command("connect", url=url, options=options)
        return self

    def emit(self, event: str, data=None, *, callback: bool = False) -> str:
        self._tags += 1
        tag = f"t{self._tags}"
        fields = {"event": event, "tag": tag, "callback": callback}
        if data is not None:
            fields["data"] = data
        self.command("emit", **fields)
        return tag

    def callback(self, ack_id: int, *args) -> None:
        self.command("callback", ackId=ack_id, args=list(args))

    def disconnect(self) -> None:
        self.command("disconnect")

    # -- reports ------------------------------------------------------------------------------
    def next(self, timeout: float = 5.0) -> dict:
        try:
            report = self.reports.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError("no report from socket.io-client") from None
        if report["kind"] == "exit":
            self.reports.put(report)
            raise EOFError(self.process.stderr.read()[-2000:])
        self.seen.append(report)
        return report

    def until(self, match, timeout: float = 5.0) -> tuple[dict, list[dict]]:
        """Read until a report matches (an event name, or a predicate); it and those before."""
        predicate = (
            match
            if callable(match)
            else lambda r: r["kind"] == match or (r["kind"] == "event" and r["name"] == match)
        )
        skipped: list[dict] = []
        deadline = time.monotonic() + timeout
        while True:
            report = self.next(max(0.01, deadline - time.monotonic()))
            if predicate(report):
                return report, skipped
            skipped.append(report)

    def event(self, name: str, timeout: float = 5.0) -> dict:
        """The next `name` event's payload (the envelope)."""
        return self.until(name, timeout)[0]["payload"]

    def reply(self, tag: str, timeout: float = 5.0) -> list:
        return self.until(lambda r: r["kind"] == "reply" and r["tag"] == tag, timeout)[0]["args"]

    def quiet(self, duration: float = 0.5) -> list[dict]:
        reports: list[dict] = []
        deadline = time.monotonic() + duration
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                reports.append(self.next(remaining))
            except TimeoutError:
                break
        return reports

    def close(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                self.process.stdin.close()
            try:
                self.process.wait(3)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for stream in (self.process.stdout, self.process.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.close()


@pytest.fixture
def sio(node_driver):
    """Make socket.io-client processes; each is closed when the test ends."""
    opened: list[SioClient] = []

    def make(**kwargs) -> SioClient:
        client = SioClient(node_driver, **kwargs)
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.close()
