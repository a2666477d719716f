"""A lingering close for every socket, so the client can read the close frame.

simple-websocket closes the TCP socket right after writing a close frame. When the client
is still sending (a frame over `max_message_size` is refused part-way through), the unread
bytes make the kernel answer with a TCP reset, and the client usually loses the 1009 close
frame that was already on its way. So the socket simple-websocket holds is wrapped: its
`close()` first sends FIN (shutdown for writing), then reads and discards what the client
still sends until it closes too: while bytes keep coming (no pause of LINGER seconds), up
to LINGER_BYTES bytes and LINGER_MAX seconds. The
handler waits for that before it returns (`wait_closed`), since the server closes the
same socket once the handler is done.

Hooked in through simple-websocket's `thread_class` option (`reader_thread`): the wrapper
is put in place as the reader starts, before it reads anything.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from time import monotonic

LINGER = 2.0  # seconds without a byte from the client: it is not sending, close
LINGER_MAX = 10.0  # seconds in all
LINGER_BYTES = 8 << 20


class LingeringSocket:
    """Delegates everything to the real socket but `close()`."""

    __slots__ = ("_sock", "lingering")

    def __init__(self, sock) -> None:
        self._sock = sock
        self.lingering = False

    def __getattr__(self, name):
        return getattr(self._sock, name)

    def close(self) -> None:
        sock = self._sock
        self.lingering = True
        with contextlib.suppress(OSError, ValueError):  # reset, closed, timed out
            sock.shutdown(socket.SHUT_WR)
            deadline = monotonic() + LINGER_MAX
            drained = 0
            while drained < LINGER_BYTES:
                left = deadline - monotonic()
                if left <= 0:
                    break
                sock.settimeout(min(LINGER, left))
                data = sock.recv(65536)
                if not data:
                    break
                drained += len(data)
        sock.close()


def reader_thread(target) -> threading.Thread:
    """simple-websocket's `thread_class`: its reader, on the socket wrapped for lingering.

    `threading.Thread` is looked up at call time, so under gevent it is gevent's."""
    ws = getattr(target, "__self__", None)

    def run() -> None:
        if ws is not None and not isinstance(ws.sock, LingeringSocket):
            ws.sock = LingeringSocket(ws.sock)
        target()

    return threading.Thread(target=run, name="(_thread)", daemon=True)


def wait_closed(ws) -> None:
    """Wait until the reader has closed the socket, lingering included. A reader still
    waiting for the close reply of a dead peer is given LINGER seconds, not more."""
    thread = getattr(ws, "thread", None)
    if thread is None or thread is threading.current_thread():
        return
    thread.join(LINGER + 0.5)
    sock = getattr(ws, "sock", None)
    if thread.is_alive() and isinstance(sock, LingeringSocket) and sock.lingering:
        thread.join(LINGER_MAX)
