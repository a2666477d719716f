"""A process holding many idle, authenticated WebSockets: `python -m bench.ws_clients`.

    python -m bench.ws_clients WS_URL TOKENS_FILE START COUNT

Opens COUNT sockets with the tokens START.. of the file (one per line, reused round robin),
each authenticated with an Authorization header and acknowledged by the server's
`connected` frame, prints `opened <n> failed <m>`, then answers the server's pings until a
line `quit` (or EOF) arrives on stdin, printing `open <n>` for each `status` line.
"""

from __future__ import annotations

import contextlib
import resource
import selectors
import sys
import time

import websocket


def plain_connect(url: str, token: str) -> websocket.WebSocket:
    ws = websocket.create_connection(
        url,
        header=[f"Authorization: Bearer {token}"],
        suppress_origin=True,
        timeout=30,
        enable_multithread=False,
    )
    frame = ws.recv()
    if '"connected"' not in frame:
        raise RuntimeError(frame[:100])
    return ws


def main(url: str, tokens_file: str, start: str, count: str) -> int:
    return hold(plain_connect, url, tokens_file, start, count)


def hold(open_socket, url: str, tokens_file: str, start: str, count: str, on_text=None) -> int:
    """Open COUNT sockets with `open_socket(url, token)`, then keep them answering pings
    (`on_text(ws, data)` sees text frames: Socket.IO's pings are text)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with open(tokens_file) as f:
        tokens = f.read().split()
    first, n = int(start), int(count)
    sockets: dict[int, websocket.WebSocket] = {}
    failed = 0
    for i in range(first, first + n):
        try:
            ws = open_socket(url, tokens[i % len(tokens)])
            ws.settimeout(5)
            sockets[ws.sock.fileno()] = ws
        except Exception as exc:  # counted; the bench reports it
            failed += 1
            if failed <= 3:
                print(f"connect failed: {exc!r}", file=sys.stderr, flush=True)
    print(f"opened {len(sockets)} failed {failed}", flush=True)
    sel = selectors.DefaultSelector()
    for fd in sockets:
        sel.register(fd, selectors.EVENT_READ)
    sel.register(sys.stdin, selectors.EVENT_READ)
    while True:
        for key, _ in sel.select(timeout=1.0):
            if key.fileobj is sys.stdin:
                line = sys.stdin.readline().strip()
                if line in ("", "quit"):
                    for ws in sockets.values():
                        with contextlib.suppress(Exception):
                            ws.sock.close()
                    return 0
                print(f"open {len(sockets)}", flush=True)
                continue
            ws = sockets.get(key.fd)
            try:
                frame = ws.recv_frame()
                if frame.opcode == websocket.ABNF.OPCODE_PING:
                    ws.pong(frame.data)
                elif frame.opcode == websocket.ABNF.OPCODE_TEXT and on_text is not None:
                    on_text(ws, frame.data)
                elif frame.opcode == websocket.ABNF.OPCODE_CLOSE:
                    raise ConnectionError("closed by the server")
            except Exception:
                sel.unregister(key.fd)
                sockets.pop(key.fd, None)
                with contextlib.suppress(Exception):
                    ws.sock.close()
        time.sleep(0)


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
