"""A process holding many idle Socket.IO clients: `python -m bench.sio_clients`.

    python -m bench.sio_clients URL TOKENS_FILE START COUNT

The Socket.IO twin of `bench.ws_clients` (same arguments, same output): URL is the
endpoint's base (`ws://host:port`); each client speaks Engine.IO 4 / Socket.IO 5 on a
WebSocket as socket.io-client does with `transports: ["websocket"]` - the handshake, a
CONNECT to namespace `/shield/ws` with `auth: {token: "Bearer <jwt>"}`, then `connected` -
and answers Engine.IO pings with pongs. Written on websocket-client so that 10,000 of them
fit in a few processes; the tests use the real npm client.
"""

from __future__ import annotations

import json
import sys

import websocket

from .ws_clients import hold

NAMESPACE = "/shield/ws"


def connect(base_url: str, token: str, timeout: float = 30) -> websocket.WebSocket:
    """Open, connect to the namespace, and wait for the `connected` event."""
    ws = websocket.create_connection(
        f"{base_url}/socket.io/?EIO=4&transport=websocket",
        suppress_origin=True,
        timeout=timeout,
        enable_multithread=False,
    )
    opened = ws.recv()
    if not opened.startswith("0"):
        raise RuntimeError(f"no Engine.IO OPEN: {opened[:80]}")
    ws.send(f"40{NAMESPACE}," + json.dumps({"token": f"Bearer {token}"}))
    while True:
        packet = ws.recv()
        if packet == "2":
            ws.send("3")
        elif packet.startswith(f"44{NAMESPACE},"):
            raise RuntimeError(f"connect_error: {packet[:200]}")
        elif packet.startswith(f'42{NAMESPACE},["connected"'):
            return ws


def event(packet: str) -> tuple[str, dict] | None:
    """(name, envelope) of a Socket.IO EVENT packet on the namespace, else None."""
    prefix = f"42{NAMESPACE},"
    if not packet.startswith(prefix):
        return None
    body = packet[len(prefix) :]
    body = body[body.index("[") :]  # past an ack id
    name, envelope = json.loads(body)[:2]
    return name, envelope


def answer_ping(ws: websocket.WebSocket, data: bytes) -> None:
    if data == b"2":
        ws.send("3")  # Engine.IO pong


def main(url: str, tokens_file: str, start: str, count: str) -> int:
    return hold(connect, url, tokens_file, start, count, on_text=answer_ping)


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
