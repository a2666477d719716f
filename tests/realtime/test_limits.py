"""Bad input, rate limits, oversize frames, client disconnects and the heartbeat."""

from __future__ import annotations

import json
import threading
import time

import pytest
import websocket

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


@pytest.mark.parametrize("size", [70_000, 300_000, 2_000_000])
def test_oversize_frame_close_is_readable_every_time(server, clients, size):
    """The client is still sending when the server refuses the frame: its write must end
    well and it must then read the 1009 close frame, not meet a TCP reset (a browser
    reports 1006 then). The server drains what the client still sends before closing."""
    outcomes = []
    for _ in range(5):
        client = clients(connect(server, uid("alice")))
        try:
            client.send_raw(json.dumps({"event": "ping", "data": {"pad": "x" * size}}))
            # As a browser reads: the next frame, with the close answered (websocket-client).
            opcode, frame = client.ws.recv_data_frame(True)
        except OSError as exc:
            outcomes.append(repr(exc))
            continue
        code = (
            int.from_bytes(frame.data[:2], "big") if opcode == websocket.ABNF.OPCODE_CLOSE else None
        )
        outcomes.append((opcode, code, frame.data[2:].decode()))
    assert outcomes == [(websocket.ABNF.OPCODE_CLOSE, 1009, "Message is too big")] * 5


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


def test_silent_client_is_dropped_at_the_idle_timeout(idle_server, clients):
    """Dropped idle_timeout (+/- 1/12 of it: 60 +/- 5 s by default) after its last sign of
    life, wherever that falls in the ping period: three sockets fall silent 1 s apart
    (the ping period is 3 s) and none answers the server's pings."""
    sockets = [clients(connect(idle_server, uid("alice"))) for _ in range(3)]
    results: dict[int, tuple] = {}

    def watch(n: int, client) -> None:
        time.sleep(n * 1.0)
        client.send("ping")  # the last sign of life
        last = time.monotonic()
        client.ws.settimeout(12)
        try:
            while True:
                frame = client.ws.recv_frame()  # pings are read, never answered
                if frame.opcode == websocket.ABNF.OPCODE_CLOSE:
                    code = int.from_bytes(frame.data[:2], "big")
                    results[n] = (code, round(time.monotonic() - last, 2))
                    return
        except Exception as exc:  # noqa: BLE001 - reported below
            results[n] = (repr(exc), None)

    threads = [threading.Thread(target=watch, args=(n, c)) for n, c in enumerate(sockets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    assert sorted(results) == [0, 1, 2], results
    for code, after in results.values():
        assert code == 1008 and 6 - 0.5 <= after <= 6 + 0.5, results


def test_client_pong_frames_are_accepted_as_signs_of_life(fast_heartbeat, clients):
    """The spec's heartbeat snippet answers with a `pong` event: no error, and it keeps a
    socket that answers no protocol ping alive (idle timeout 1 s)."""
    client = clients(connect(fast_heartbeat, uid("alice")))
    for _ in range(6):  # 1.8 s
        client.ws.send(json.dumps({"event": "pong"}))
        time.sleep(0.3)
    client.ws.send(json.dumps({"event": "ping"}))
    frames = []
    while True:
        frame = client.ws.recv_frame()
        if frame.opcode == websocket.ABNF.OPCODE_TEXT:
            frames.append(json.loads(frame.data))
            if frames[-1]["event"] == "pong":
                break
        assert frame.opcode != websocket.ABNF.OPCODE_CLOSE, frame.data
    assert [f["event"] for f in frames] == ["pong"], frames
