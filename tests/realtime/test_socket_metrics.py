"""The socket metrics on the server's /metrics: open connections, frames in and out."""

from __future__ import annotations

import time

from tests.ops.scrape import fetch, total

from .conftest import connect, uid


def _numbers(server) -> dict[str, float]:
    text = fetch(server.url + "/metrics")
    return {
        name: total(text, name)
        for name in (
            "shield_socket_connections",
            "shield_socket_frames_received_total",
            "shield_socket_frames_sent_total",
            "shield_socket_acks_pending",
        )
    }


def test_a_socket_is_counted_while_open_and_its_frames_both_ways(server, clients):
    before = _numbers(server)
    client = clients(connect(server, uid("metrics")))  # the `connected` frame: one out
    client.send("ping")
    assert client.recv()["event"] == "pong"  # one in, one out
    during = _numbers(server)
    assert during["shield_socket_connections"] == before["shield_socket_connections"] + 1
    assert (
        during["shield_socket_frames_received_total"]
        >= before["shield_socket_frames_received_total"] + 1
    )
    assert (
        during["shield_socket_frames_sent_total"] >= before["shield_socket_frames_sent_total"] + 2
    )
    client.close()
    deadline = time.monotonic() + 5
    while _numbers(server)["shield_socket_connections"] != before["shield_socket_connections"]:
        assert time.monotonic() < deadline, "the closed socket is still counted"
        time.sleep(0.1)
