"""The addon's small parts, without a server: frames, limits, origins, rooms, settings,
in-process presence."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from models import db
from shield.auth import Principal
from shield.realtime import has_live_socket, push_hold_seconds
from shield.realtime import protocol as p
from shield.realtime.clock import idle_check_interval
from shield.realtime.endpoint import origin_allowed
from shield.realtime.limits import CLOSE, DROP, OK, WARN, FrameLimiter
from shield.realtime.linger import reader_thread
from shield.realtime.registry import Registry
from shield.realtime.settings import Settings, load
from shield.realtime.ws_connection import WsConnection


def test_client_frames_are_parsed_strictly():
    assert p.parse('{"event": "ping"}') == p.ClientFrame("ping", {})
    assert p.parse('{"event": "claim_paid_ack", "data": {"claimId": "c"}}').data == {"claimId": "c"}
    with pytest.raises(p.FrameError) as bad:
        p.parse('{"event": "subscribe", "data": {}}')
    assert (bad.value.code, bad.value.original) == ("INVALID_PAYLOAD", "subscribe")
    with pytest.raises(p.FrameError):
        p.parse('{"event": "' + "x" * 100 + '"}')
    assert set(p.ACK_EVENTS) == {
        "claim_submitted_ack",
        "claim_approved_ack",
        "claim_denied_ack",
        "claim_paid_ack",
        "payout_completed_ack",
    }


def test_last_seq_and_token_forms():
    assert p.parse_last_seq(None, "connect") is None
    assert p.parse_last_seq("12", "connect") == 12
    assert p.parse_last_seq(7, "auth") == 7
    for bad in ("-1", "x", True, 1.5, [1]):
        with pytest.raises(p.FrameError):
            p.parse_last_seq(bad, "auth")
    assert p.auth_token("Bearer abc") == "abc"
    assert p.auth_token("abc") == "abc"
    assert p.auth_token("Bearer ") is None
    assert p.auth_token(42) is None


def test_outgoing_keys_acks_by_claim_or_payout():
    paid = p.outgoing(5, "evt_1", "claim_paid", "m", "member", {"data": {"claimId": "clm_1"}})
    assert paid.ack_required and paid.ack_key == ("claim_paid", "clm_1")
    payout = p.outgoing(
        6,
        "evt_2",
        "payout_completed",
        "m",
        "member",
        {"data": {"payoutId": "pay_1", "claimId": "clm_1"}},
    )
    assert payout.ack_key == ("payout_completed", "pay_1")
    optional = p.outgoing(7, "evt_3", "claim_submitted", "m", "member", {"data": {"claimId": "c"}})
    assert not optional.ack_required and optional.ack_key == ("claim_submitted", "c")
    plain = p.outgoing(8, "evt_4", "coverage_updated", "m", "member", {"data": {"claimId": "c"}})
    assert plain.ack_key is None
    assert '"id":"evt_4"' in plain.text and '"seq":8' in plain.text


def test_rate_limiter_warns_once_a_second_and_closes_a_flood():
    limiter = FrameLimiter(rate=10, close_after=20, now=0.0)
    assert [limiter.check(0.0) for _ in range(10)] == [OK] * 10
    assert limiter.check(0.0) == WARN
    assert limiter.check(0.01) == DROP
    assert limiter.check(0.2) == OK  # refilled 2 tokens
    verdicts = [limiter.check(0.2) for _ in range(30)]
    assert verdicts[-1] == CLOSE and verdicts.count(WARN) == 0
    steady = FrameLimiter(rate=10, close_after=20, now=0.0)
    assert all(steady.check(t / 10) == OK for t in range(100))  # 10 per second forever


def test_origins():
    allowed = ("https://app.example.com",)
    assert origin_allowed("https://app.example.com/", "api.example.com", allowed)
    assert not origin_allowed("https://evil.example.com", "api.example.com", allowed)
    assert not origin_allowed("https://api.example.com", "api.example.com", allowed)
    assert origin_allowed("https://api.example.com", "api.example.com", ())  # same origin
    assert not origin_allowed("https://evil.example.com", "api.example.com", ())
    assert origin_allowed("https://anything.example", "api.example.com", ("*",))


class _FakeWs:
    connected = True
    pong_received = True

    def __init__(self):
        self.sent: list = []
        self.event = threading.Event()

    def send(self, data):
        self.sent.append(data)


class _Later:
    """A spawn that runs tasks when asked (the real ones run on another greenlet/thread)."""

    def __init__(self):
        self.tasks: list = []

    def __call__(self, fn, *args):
        self.tasks.append((fn, args))

    def run(self):
        while self.tasks:
            fn, args = self.tasks.pop(0)
            fn(*args)


def _connection(subject: str, *, admin: bool = False) -> WsConnection:
    conn = WsConnection(_FakeWs(), Settings(), spawn=_Later())
    conn.principal = Principal(subject, "admin" if admin else "member", None, datetime.now(UTC))
    return conn


def test_rooms_route_admin_events_to_admins_only():
    registry = Registry()
    alice, bob, root = _connection("alice"), _connection("bob"), _connection("root", admin=True)
    for conn in (alice, bob, root):
        registry.join(conn)
    own = p.outgoing(1, "e1", "claim_submitted", "alice", "member", {"data": {}})
    admin = p.outgoing(2, "e2", "admin_claim_submitted", None, "admin", {"data": {}})
    assert registry.targets(own) == [alice]
    assert registry.targets(admin) == [root]
    registry.leave(root)
    assert registry.targets(admin) == []


def test_connection_sends_backlog_after_replay_once_and_in_order():
    conn = _connection("alice")
    events = [
        p.outgoing(s, f"e{s}", "coverage_updated", "alice", "member", {"data": {}})
        for s in range(1, 7)
    ]
    conn.deliver(events[4])  # live while the replay is being read: held back
    conn.deliver(events[5])
    conn.start(events[1:5], floor=3)  # replay of 2..5 (5 also came live)
    conn.deliver(events[5])  # again from another fan-out path: dropped
    conn._spawn.run()
    sent = [int(text.split('"seq":')[1].rstrip("}")) for text in conn.ws.sent]
    assert sent == [2, 3, 4, 5, 6]


def test_settings_from_config_then_environment():
    settings = load(
        {"SHIELD_WS_RATE_LIMIT": 3, "SHIELD_WS_ALLOWED_ORIGINS": ["https://a/"]},
        env={
            "SHIELD_WS_RATE_LIMIT": "99",
            "SHIELD_WS_PING_INTERVAL": "0.5",
            "SHIELD_WS_PG_LISTEN": "0",
            "REDIS_URL": "",
        },
    )
    assert settings.rate_limit == 3
    assert settings.allowed_origins == ("https://a",)
    assert settings.ping_interval == 0.5
    assert settings.pg_listen is False
    assert settings.redis_url is None
    assert load({}, env={}).max_message_size == 64 * 1024


def test_presence_without_redis_is_this_process(make_app):
    app = make_app(SHIELD_WS_ENABLED=True, SHIELD_WS_PUSH_HOLD=4)
    state = app.extensions["shield.realtime"]
    with app.app_context():
        assert has_live_socket("alice") is False  # no hub yet
        hub = state.get_hub()
        conn = _connection("alice")
        hub.registry.join(conn)
        assert has_live_socket("alice") is True
        assert has_live_socket("bob") is False
        hub.registry.leave(conn)
        assert has_live_socket("alice") is False
        assert push_hold_seconds() == 4
    assert any(rule.rule == "/shield/ws" for rule in app.url_map.iter_rules())
    options = dict(app.config["SOCK_SERVER_OPTIONS"])
    assert options.pop("thread_class") is reader_thread  # the lingering close (linger.py)
    assert options == {"max_message_size": 65536, "ping_interval": None}


def test_addon_is_off_by_default(make_app):
    app = make_app()
    assert "shield.realtime" not in app.extensions
    assert not any(rule.rule == "/shield/ws" for rule in app.url_map.iter_rules())


def test_socketio_endpoint_alone_refuses_long_polling_and_foreign_origins(make_app):
    app = make_app(SHIELD_SOCKETIO_ENABLED=True, SHIELD_WS_ALLOWED_ORIGINS=["https://app.test"])
    assert app.extensions["shield.realtime"].socketio is not None
    assert not any(rule.rule == "/shield/ws" for rule in app.url_map.iter_rules())
    client = app.test_client()
    polling = client.get("/socket.io/?EIO=4&transport=polling")
    assert polling.status_code == 400  # WebSocket only
    foreign = client.get(
        "/socket.io/?EIO=4&transport=websocket", headers={"Origin": "https://evil.test"}
    )
    assert foreign.status_code == 403 and foreign.json["error"]["code"] == "NOT_AUTHORIZED"
    assert client.get("/shield/v1/openapi.json").status_code == 200  # the app behind it


def test_socketio_manager_keeps_no_room_per_client_and_bounds_callbacks():
    from shield.realtime.socketio_engine import LeanManager

    class _Eio:
        n = 0

        def generate_id(self):
            self.n += 1
            return f"s{self.n}"

    class _Server:
        eio = _Eio()

    manager = LeanManager()
    manager.server = _Server()
    sids = [manager.pre_connect(f"e{i}", "/shield/ws") for i in range(3)]
    for sid in sids:
        manager.connect(sid, "/shield/ws")
    assert list(manager.rooms["/shield/ws"]) == [None]  # no room per client
    assert manager.is_connected(sids[0], "/shield/ws")
    assert manager.pre_connect("e0", "/shield/ws") is None  # already connected
    for _ in range(LeanManager.max_callbacks + 10):
        manager._generate_ack_id(sids[0], print)
    assert len(manager.callbacks[sids[0]]) == LeanManager.max_callbacks + 1
    manager.disconnect(sids[0], "/shield/ws")
    assert sids[0] not in manager.callbacks
    assert manager.sid_from_eio_sid("e0", "/shield/ws") is None
    assert manager.sid_from_eio_sid("e1", "/shield/ws") == sids[1]


def test_deployment_id_setting_is_checked_and_messages_name_their_deployment():
    from shield.realtime.fanout import decode, encode

    assert load({"SHIELD_DEPLOYMENT_ID": "prod-eu.1"}, env={}).deployment_id == "prod-eu.1"
    assert load({}, env={"SHIELD_DEPLOYMENT_ID": ""}).deployment_id is None
    with pytest.raises(ValueError, match="SHIELD_DEPLOYMENT_ID"):
        load({}, env={"SHIELD_DEPLOYMENT_ID": "a b:c"})
    assert decode(encode([], "dep-1")) == ("dep-1", [])


def test_stored_deployment_id_is_written_once(make_app):
    from models import db
    from shield.realtime.deployment import stored_id

    app = make_app()
    with app.app_context():
        first = stored_id(db.engine)
        assert first.startswith("dep-") and stored_id(db.engine) == first


def test_idle_sockets_are_looked_for_every_twentieth_of_the_idle_timeout():
    assert idle_check_interval(Settings()) == 3.0  # dropped 60-63 s after the last sign
    assert idle_check_interval(Settings(ping_interval=0.3, idle_timeout=1)) == 0.05
    assert idle_check_interval(Settings(ping_interval=1, idle_timeout=600)) == 1


def test_events_above_the_database_are_rewound_and_only_the_database_resets(make_app):
    """A dispatched event this deployment's database does not hold (a fan-out message that
    claimed this deployment) is dropped and counted on the next outbox read, nobody closed;
    only the database's own top going below one it reported is a reset (1012)."""
    from shield.realtime.replay import top_seq

    app = make_app(SHIELD_WS_ENABLED=True)
    hub = app.extensions["shield.realtime"].get_hub()
    closed = []
    hub.spawn = lambda fn, *args: closed.append(args)
    with app.app_context():
        top = top_seq(db.session)
    hub.watermark = hub.confirmed = top
    conn = _connection("alice")
    conn.ready = True
    hub.registry.join(conn)
    bogus = p.outgoing(top + 1, "evt_bogus", "coverage_updated", "alice", "member", {"data": {}})
    hub.dispatch([bogus])
    assert (hub.watermark, conn.last_seq) == (top + 1, top + 1)
    hub._read_outbox()
    assert (hub.watermark, conn.last_seq, hub.dropped, closed) == (top, top, {"unfit": 1}, [])
    hub.confirmed = top + 5  # the database once said more than it does now: restored
    hub._read_outbox()
    assert closed == [(p.CLOSE_RESTART, "Event log reset")]
    assert hub.confirmed == top
