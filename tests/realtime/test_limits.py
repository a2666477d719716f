"""Bad input, rate limits, oversize frames, client disconnects and the heartbeat."""

from __future__ import annotations

import json
import time

import pytest

from tests.realtime.conftest import Closed, connect, record_events, uid


@pytest.mark.parametrize(
    "raw, original",
    [
        ("{not json", None),
        ("[1, 2]", None),
        ('{"data": {}}', None),
        ('{"event": 5}', None),
        ('{"event": "hello", "data": {}}', "hello"),
        ('{"event": "claim_paid", "data": {}}', "claim_paid"),  # a server event, not a client one
        ('{"event": "ping", "data": [1]}', "ping"),
        ("[" * 5000 + "]" * 5000, None),
        (b"\x00\x01binary", None),
    ],
)
def test_malformed_frames_get_invalid_payload_and_the_socket_lives(server, clients, raw, original):
    client = clients(connect(server, uid("alice")))
    client.send_raw(raw)
    error = client.recv()
    assert error["event"] == "error"
    assert error["data"]["code"] == "INVALID_PAYLOAD"
    assert error["data"].get("originalEvent") == original
    client.send("ping")
    assert client.recv()["event"] == "pong"


def test_oversize_frame_closes_with_1009(server, clients):
    client = clients(connect(server, uid("alice")))
    client.send_raw(json.dumps({"event": "ping", "data": {"pad": "x" * 60_000}}))
    assert client.recv()["event"] == "pong"  # under 64 KB is fine
    client.send_raw(json.dumps({"event": "ping", "data": {"pad": "x" * 70_000}}))
    closed, _ = client.expect_close()
    assert closed.code == 1009


def test_more_than_ten_frames_a_second_are_rate_limited(server, clients):
    client = clients(connect(server, uid("alice")))
    for _ in range(15):
        client.send("ping")
    frames = client.quiet(0.5)
    errors = [f for f in frames if f["event"] == "error"]
    assert len(errors) == 1
    assert errors[0]["data"]["code"] == "RATE_LIMITED"
    assert errors[0]["data"]["originalEvent"] == "ping"
    assert 10 <= len([f for f in frames if f["event"] == "pong"]) <= 11
    time.sleep(1.0)  # the bucket refills: the socket is still good
    client.send("ping")
    assert client.recv()["event"] == "pong"


def test_a_flood_closes_the_socket(server, clients):
    client = clients(connect(server, uid("alice")))
    for _ in range(60):
        try:
            client.send("ping")
        except Exception:  # the server may close while we are still sending
            break
    closed, frames = client.expect_close()
    assert closed.code == 1008
    assert frames[-1]["event"] == "error" and frames[-1]["data"]["code"] == "RATE_LIMITED"


def test_disconnect_frame_closes_normally(server, clients):
    client = clients(connect(server, uid("alice")))
    client.send("disconnect", {"reason": "sleeping"})
    assert client.recv()["data"]["code"] == "INVALID_PAYLOAD"
    client.send("disconnect", {"reason": "background"})
    closed, frames = client.expect_close()
    assert frames == []
    assert (closed.code, closed.reason) == (1000, "background")


def test_silent_client_is_disconnected(fast_heartbeat, clients):
    client = clients(connect(fast_heartbeat, uid("alice")))
    time.sleep(1.6)  # not reading: the server's pings get no pong (idle timeout 1 s)
    closed, _ = client.expect_close(timeout=3)
    assert closed.code == 1008
    assert "heartbeat" in closed.reason.lower()


def test_client_answering_pings_stays_connected_and_gets_events(fast_heartbeat, local_app, clients):
    alice = uid("alice")
    client = clients(connect(fast_heartbeat, alice))
    assert client.quiet(1.6) == []  # reading answers the pings: alive, no app frame needed
    client.send("ping")
    assert client.recv()["event"] == "pong"
    record_events(local_app, alice, 1)
    assert client.recv()["event"] == "claim_status_changed"


def test_app_level_pings_alone_keep_a_socket_alive(fast_heartbeat, clients):
    """A client that answers no protocol ping but sends app pings is alive too."""
    client = clients(connect(fast_heartbeat, uid("alice")))
    for _ in range(6):  # 1.8 s, longer than the 1 s idle timeout
        client.ws.send(json.dumps({"event": "ping"}))
        time.sleep(0.3)
    frames = []
    with pytest.raises(TimeoutError):
        while True:
            frames.append(client.recv(0.3))
    assert {f["event"] for f in frames} == {"pong"}
    with pytest.raises(Closed):
        client.send("disconnect")
        client.recv()
