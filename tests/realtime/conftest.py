"""Real servers (gunicorn, gevent worker, SHIELD_WS_ENABLED=1 and SHIELD_SOCKETIO_ENABLED=1:
both transports on one hub) on the session database, and real clients to talk to them: a
WebSocket client (websocket-client) here, the npm socket.io-client in `sio_client`."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import requests
import websocket
from sqlalchemy import select

from app import create_app
from models import EventAck, OutboxEvent, db
from models.outbox import EventSequence
from shield.auth import issue_token
from shield.events import record
from shield.members import ensure_member_id
from tests.conftest import ON_POSTGRES, REDIS_URL, TEST_SECRET, _service_missing, _test_config
from tests.factories import claim_body, subscribe
from tests.realtime.sio_client import node_driver, sio  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"
TOKEN_CONFIG = {"SHIELD_JWT_SIGN_KEY": TEST_SECRET, "SHIELD_JWT_ALGORITHM": "HS256"}
ALLOWED_ORIGIN = "https://app.example.com"

# The package's default server: short timeouts so the suite stays fast.
DEFAULT_ENV = {
    "SHIELD_SOCKETIO_ENABLED": "1",
    "SHIELD_WS_ALLOWED_ORIGINS": ALLOWED_ORIGIN,
    "SHIELD_WS_AUTH_TIMEOUT": "1",
    "SHIELD_WS_ACK_TIMEOUT": "0.4",
    "SHIELD_WS_ACK_RESENDS": "2",
    "SHIELD_WS_POLL_INTERVAL": "0.2",
    "SHIELD_WS_RATE_LIMIT": "10",
    "SHIELD_WS_RATE_CLOSE_AFTER": "20",
}


def uid(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:10]}"


def token(subject: str, *, admin: bool = False, ttl: timedelta = timedelta(hours=1)) -> str:
    return issue_token(TOKEN_CONFIG, subject, admin=admin, email=f"{subject}@example.com", ttl=ttl)


def bearer(subject: str, *, admin: bool = False, **headers) -> dict:
    return {"Authorization": f"Bearer {token(subject, admin=admin)}", **headers}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One gunicorn process serving create_app() with the addon on."""

    def __init__(self, database_uri: str, log_path: Path, **env) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/shield/ws"  # also the socket.io URL
        self.log_path = log_path
        full_env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("SHIELD_", "REDIS_URL", "DATABASE_URL"))
        }
        full_env.update(
            {
                "DATABASE_URL": database_uri,
                "SHIELD_ENV": "test",
                "SHIELD_JWT_SECRET": TEST_SECRET,
                "SHIELD_JWT_LEEWAY": "0",
                "SHIELD_WS_ENABLED": "1",
                "SHIELD_SCHEDULER": "off",
            }
        )
        full_env.update({k: str(v) for k, v in env.items()})
        self._interrupted = False
        self._log = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [
                str(GUNICORN),
                "-k",
                "gevent",
                "-w",
                "1",
                "-b",
                f"127.0.0.1:{self.port}",
                "--no-control-socket",
                "--graceful-timeout",
                "1",
                "--timeout",  # a busy machine boots slowly: not a reason to kill the worker
                "120",
                "--log-level",
                "warning",
                "app:create_app()",
            ],
            cwd=ROOT,
            env=full_env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if requests.get(self.url + "/shield/v1/openapi.json", timeout=1).ok:
                    return
            except requests.RequestException:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("server did not start:\n" + self.log_path.read_text()[-3000:])

    def post(self, path: str, headers: dict, body: dict | None = None) -> requests.Response:
        return requests.post(self.url + path, json=body, headers=headers, timeout=10)

    def interrupt(self) -> None:
        if self.process.poll() is None and not self._interrupted:
            self._interrupted = True
            self.process.send_signal(signal.SIGINT)  # quick shutdown: sockets just drop

    def stop(self) -> None:
        self.interrupt()
        if self.process.poll() is None:
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._log.close()


@pytest.fixture(scope="package")
def start_server(database_uri, _schema, tmp_path_factory):
    """Start servers on the session database; all stopped when the package is done."""
    servers: list[Server] = []

    def start(count: int = 1, envs: list[dict] | None = None, **env) -> Server | list[Server]:
        envs = envs or [env] * count
        started = [
            Server(database_uri, tmp_path_factory.mktemp("server") / "gunicorn.log", **server_env)
            for server_env in envs
        ]
        servers.extend(started)
        for server in started:  # booting in parallel
            server.wait_ready()
        return started[0] if count == 1 else started

    yield start
    for server in servers:
        server.interrupt()
    for server in servers:
        server.stop()


# No outbox poll to speak of and no LISTEN: only Redis can carry an event in time. Presence
# is refreshed every 0.5 s, so another test's FLUSHDB of the shared Redis database cannot
# fool the presence test; keys and channel live under a private prefix.
REDIS_ENV = {
    **DEFAULT_ENV,
    "SHIELD_WS_POLL_INTERVAL": "60",
    "SHIELD_WS_PG_LISTEN": "0",
    "REDIS_URL": REDIS_URL,
    "SHIELD_WS_REDIS_PREFIX": f"shield-test:{uuid.uuid4().hex}:",
    "SHIELD_WS_PING_INTERVAL": "0.5",
    "SHIELD_WS_IDLE_TIMEOUT": "30",
}
FLEET = {
    "default": DEFAULT_ENV,
    "fast_heartbeat": {
        **DEFAULT_ENV,
        "SHIELD_WS_PING_INTERVAL": "0.3",
        "SHIELD_WS_IDLE_TIMEOUT": "1",
    },
    # The defaults' heartbeat scaled down tenfold (ping 30 s, idle 60 s): the idle check's
    # interval is derived from the idle timeout, so what is checked stays the same.
    "idle": {**DEFAULT_ENV, "SHIELD_WS_PING_INTERVAL": "3", "SHIELD_WS_IDLE_TIMEOUT": "6"},
    "redis_a": REDIS_ENV,
    "redis_b": REDIS_ENV,
    # PostgreSQL only: LISTEN/NOTIFY must be what wakes it (the poll is a minute away).
    "listen": {**DEFAULT_ENV, "SHIELD_WS_POLL_INTERVAL": "60"},
}


def _redis_problem() -> Exception | None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
        return None
    except redis.RedisError as exc:
        return exc
    finally:
        client.close()


@pytest.fixture(scope="package")
def fleet(start_server):
    """Every server this package needs, booted in parallel on first use (boots are slow)."""
    names = ["default", "fast_heartbeat", "idle"]
    redis_problem = _redis_problem()
    if redis_problem is None:
        names += ["redis_a", "redis_b"]
    if ON_POSTGRES:
        names.append("listen")
    servers = start_server(count=len(names), envs=[FLEET[name] for name in names])
    booted = dict(zip(names, servers, strict=True))
    booted["redis_problem"] = redis_problem
    return booted


@pytest.fixture(scope="package")
def server(fleet):
    return fleet["default"]


@pytest.fixture(scope="package")
def fast_heartbeat(fleet):
    """Pings every 0.3 s, idle sockets dropped after 1 s."""
    return fleet["fast_heartbeat"]


@pytest.fixture(scope="package")
def idle_server(fleet):
    """Pings every 3 s, idle sockets dropped 6 s after their last sign of life."""
    return fleet["idle"]


@pytest.fixture(scope="package")
def redis_pair(fleet):
    """Two servers that share Redis (and the database)."""
    if fleet["redis_problem"] is not None:
        _service_missing("Redis", fleet["redis_problem"])
    return fleet["redis_a"], fleet["redis_b"], REDIS_ENV


_redis_apps: list = []


def redis_app(database_uri: str, env: dict, **config):
    """An app in the test process on the Redis servers' prefix (presence lookups). Its
    presence lookups read the deployment id through its pool: disposed when the package
    ends (on PostgreSQL a pooled connection collected open fails whichever test runs)."""
    app = create_app(
        _test_config(database_uri),
        REDIS_URL=env["REDIS_URL"],
        SHIELD_WS_REDIS_PREFIX=env["SHIELD_WS_REDIS_PREFIX"],
        **config,
    )
    _redis_apps.append(app)
    return app


@pytest.fixture(scope="package", autouse=True)
def _dispose_redis_apps():
    yield
    while _redis_apps:
        with _redis_apps.pop().app_context():
            db.engine.dispose()


@pytest.fixture(scope="package")
def listen_server(fleet):
    return fleet["listen"]


@pytest.fixture(scope="package")
def local_app(database_uri, _schema):
    """An app in the test process (addon off): a process committing events on its own."""
    app = create_app(_test_config(database_uri))
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


class Closed(Exception):
    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"closed {code} {reason}")
        self.code = code
        self.reason = reason


class Client:
    """A websocket-client connection that reads JSON frames (answering pings as it reads)."""

    def __init__(self, ws: websocket.WebSocket) -> None:
        self.ws = ws

    def send(self, event: str, data: dict | None = None) -> None:
        frame = {"event": event}
        if data is not None:
            frame["data"] = data
        self.ws.send(json.dumps(frame))

    def send_raw(self, text) -> None:
        if isinstance(text, bytes):
            self.ws.send_binary(text)
        else:
            self.ws.send(text)

    def recv(self, timeout: float = 5.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no frame")
            self.ws.settimeout(remaining)
            try:
                frame = self.ws.recv_frame()  # no automatic replies: we answer pings below
            except websocket.WebSocketTimeoutException:
                raise TimeoutError("no frame") from None
            except (websocket.WebSocketConnectionClosedException, OSError):
                raise Closed(None, "connection closed") from None
            if frame.opcode == websocket.ABNF.OPCODE_TEXT:
                assert frame.fin, "the server sends whole messages"
                return json.loads(frame.data)
            if frame.opcode == websocket.ABNF.OPCODE_PING:
                with contextlib.suppress(OSError):
                    self.ws.pong(frame.data)
            elif frame.opcode == websocket.ABNF.OPCODE_CLOSE:
                data = frame.data or b""
                code = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
                raise Closed(code, data[2:].decode("utf-8", "replace"))

    def until(self, match, timeout: float = 5.0) -> tuple[dict, list[dict]]:
        """Read until a frame matches (an event name or a predicate); return it and the rest."""
        predicate = match if callable(match) else (lambda f: f.get("event") == match)
        skipped: list[dict] = []
        deadline = time.monotonic() + timeout
        while True:
            frame = self.recv(max(0.01, deadline - time.monotonic()))
            if predicate(frame):
                return frame, skipped
            skipped.append(frame)

    def quiet(self, duration: float = 0.5) -> list[dict]:
        """Every frame that arrives within `duration`."""
        frames: list[dict] = []
        deadline = time.monotonic() + duration
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                frames.append(self.recv(remaining))
            except TimeoutError:
                break
        return frames

    def expect_close(self, timeout: float = 5.0) -> tuple[Closed, list[dict]]:
        frames: list[dict] = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                frames.append(self.recv(max(0.01, deadline - time.monotonic())))
            except Closed as closed:
                return closed, frames

    def close(self) -> None:
        try:
            self.ws.close(timeout=1)
        except Exception:  # noqa: S110 - already closed by the server
            pass
        finally:
            self.ws.shutdown()


def connect(
    server: Server,
    subject: str | None = None,
    *,
    admin: bool = False,
    how: str = "header",
    last_seq: int | None = None,
    origin: str | None = None,
    raw_token: str | None = None,
    expect_connected: bool = True,
) -> Client:
    """Open a socket; `how` is header, query or frame (the auth frame)."""
    tok = raw_token if raw_token is not None else (token(subject, admin=admin) if subject else None)
    params, headers = [], []
    if how == "header" and tok is not None:
        headers.append(f"Authorization: Bearer {tok}")
    if how == "query" and tok is not None:
        params.append(f"token={tok}")
    if last_seq is not None and how != "frame":
        params.append(f"lastSeq={last_seq}")
    url = server.ws_url + ("?" + "&".join(params) if params else "")
    ws = websocket.create_connection(
        url, header=headers, origin=origin, suppress_origin=origin is None, timeout=5
    )
    client = Client(ws)
    if how == "frame" and tok is not None:
        data = {"token": tok}
        if last_seq is not None:
            data["lastSeq"] = last_seq
        client.send("auth", data)
    if expect_connected:
        frame = client.recv()
        assert frame["event"] == "connected", frame
    return client


@pytest.fixture
def clients():
    """Collect clients so every test closes its sockets."""
    opened: list[Client] = []

    def track(client: Client) -> Client:
        opened.append(client)
        return client

    yield track
    for client in opened:
        client.close()


# -- data, committed by the test process or through a server's REST API -----------------------
def top_seq(app) -> int:
    with app.app_context():
        try:
            return (
                db.session.execute(
                    select(EventSequence.value).where(EventSequence.id == 1)
                ).scalar()
                or 0
            )
        finally:
            db.session.remove()


def member_events(app, member_id: str, after: int = 0, admin: bool = False) -> list[tuple]:
    """(seq, id, name) of a member's events after a seq, straight from the outbox."""
    with app.app_context():
        try:
            condition = OutboxEvent.member_id == member_id
            if admin:
                condition = condition | (OutboxEvent.audience == "admin")
            rows = db.session.execute(
                select(OutboxEvent.seq, OutboxEvent.id, OutboxEvent.name)
                .where(condition, OutboxEvent.seq > after)
                .order_by(OutboxEvent.seq)
            ).all()
            return [tuple(r) for r in rows]
        finally:
            db.session.remove()


def record_events(app, member_id: str, count: int = 1, name: str = "claim_status_changed") -> None:
    """Commit `count` events for a member from this (addon-less) process, one commit each."""
    with app.app_context():
        try:
            ensure_member_id(db.session, member_id)
            db.session.commit()
            for n in range(count):
                record(
                    db.session,
                    name,
                    {
                        "claimId": f"clm_fake{n}",
                        "ticketNumber": f"T{n}",
                        "previousStatus": "submitted",
                        "newStatus": "under_review",
                        "updatedAt": "2026-01-01T00:00:00.000Z",
                    },
                    member_id=member_id,
                )
                db.session.commit()
        finally:
            db.session.remove()


def subscribed(app, member_id: str) -> None:
    with app.app_context():
        try:
            ensure_member_id(db.session, member_id)
            db.session.commit()
            subscribe(member_id, "pro")
        finally:
            db.session.remove()


def submit_claim(server: Server, member_id: str, **overrides) -> dict:
    r = server.post("/shield/v1/claims", bearer(member_id), claim_body(**overrides))
    assert r.status_code == 201, r.text
    return r.json()


def admin_post(server: Server, path: str, body: dict | None = None) -> dict:
    r = server.post(
        path, bearer("root-admin", admin=True, **{"Idempotency-Key": uuid.uuid4().hex}), body
    )
    assert r.status_code in (200, 201), r.text
    return r.json()


def paid_claim(server: Server, member_id: str) -> dict:
    claim = submit_claim(server, member_id)
    admin_post(server, f"/shield/v1/admin/claims/{claim['claimId']}/approve")
    admin_post(server, f"/shield/v1/admin/claims/{claim['claimId']}/pay")
    return claim


def acks_of(app, event_ids: list[str]) -> dict[str, str]:
    with app.app_context():
        try:
            rows = db.session.execute(
                select(EventAck.event_id, EventAck.via).where(EventAck.event_id.in_(event_ids))
            )
            return {event_id: via for event_id, via in rows}
        finally:
            db.session.remove()


def wait_for(condition, timeout: float = 3.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)
