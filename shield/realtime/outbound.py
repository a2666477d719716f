"""A socket's outgoing side, whatever its transport: the frame queue, the single writer,
the close.

Every write to a socket (events, errors, pings, the close frame) goes through the queue
and is written under `send_lock` by one flusher at a time. What a write is on the wire is
the transport's: a subclass implements the `_transport_*` methods at the bottom
(`ws_connection.WsConnection` for the plain WebSocket, `socketio_connection.SioConnection`
for Socket.IO). Queued items are `Outgoing` events, `Control` frames (connected, pong,
error) and `PING`.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from time import monotonic

from shield.ops import metrics

from .protocol import CLOSE_TRY_AGAIN, Control, Outgoing
from .settings import Settings

log = logging.getLogger(__name__)

PING = object()  # a queue item: the transport's own ping (WebSocket, Engine.IO)


class Outbound:
    """The writing half of a Connection (slotted: thousands per process, mostly idle)."""

    __slots__ = (
        "id",
        "settings",
        "_spawn",
        "lock",
        "send_lock",
        "queue",
        "flushing",
        "closed",
        "send_started",
    )

    def __init__(
        self,
        conn_id: str,
        settings: Settings,
        spawn: Callable,
        lock: threading.Lock | None = None,
    ) -> None:
        self.id = conn_id
        self.settings = settings
        self._spawn = spawn
        # Queue and delivery state: held briefly, never across I/O nor with another
        # connection's, so the hub hands out one of a few shared locks (`Hub.lock_for`).
        self.lock = lock if lock is not None else threading.Lock()
        self.send_lock = threading.Lock()  # the socket itself
        self.queue: deque | None = None
        self.flushing = False
        self.closed = False
        self.send_started: float | None = None

    # -- writing ------------------------------------------------------------------------------
    def _enqueue(self, item) -> bool:
        """Queue a frame (caller holds self.lock). True: no writer is running and the caller
        must start one (`_flush`) once it has released the lock; it is then the writer."""
        queue = self.queue
        if queue is None:
            queue = self.queue = deque()
        elif len(queue) >= self.settings.queue_max:
            log.warning(
                "socket %s reads too slowly: dropped (it will reconnect and replay)", self.id
            )
            self.closed = True
            self.queue = None
            self._spawn(self._abort_after_overflow)
            return False
        queue.append(item)
        if self.flushing:
            return False
        self.flushing = True
        return True

    def _flush(self) -> None:
        with self.send_lock:
            while True:
                with self.lock:
                    if not self.queue or self.closed:
                        self.queue = None  # an idle socket holds no queue
                        self.flushing = False
                        return
                    item = self.queue.popleft()
                if not self._write(item):
                    with self.lock:
                        self.closed = True
                        self.queue = None
                        self.flushing = False
                    self._transport_abort()
                    self._transport_wake()
                    return

    def _write(self, item) -> bool:
        self.send_started = monotonic()
        try:
            if item is PING:
                self._transport_ping()
            else:
                self._transport_send(item)
                metrics.frame_sent()
            return True
        except Exception:  # closed, reset, broken pipe: the handler will notice
            return False
        finally:
            self.send_started = None

    def close(self, code: int, reason: str = "", final: Control | None = None) -> None:
        """Write what is queued (and `final`), then the close frame; idempotent."""
        with self.lock:
            if self.closed:
                return
            self.closed = True
            items = list(self.queue or ())
            self.queue = None
        if final is not None:
            items.append(final)
        if self.send_lock.acquire(timeout=2.0):
            try:
                for item in items:
                    if not self._write(item):
                        break
                self._transport_close(code, reason)
            finally:
                self.send_lock.release()
        else:  # a write is stuck on a dead peer
            self._transport_abort()
        self._transport_wake()

    def _abort_after_overflow(self) -> None:
        if self.send_lock.acquire(timeout=1.0):
            try:
                self._transport_close(CLOSE_TRY_AGAIN, "Too slow")
            finally:
                self.send_lock.release()
        else:
            self._transport_abort()
        self._transport_wake()

    def abort(self) -> None:
        with self.lock:
            self.closed = True
            self.queue = None
        self._transport_abort()
        self._transport_wake()

    # -- the transport --------------------------------------------------------------------------
    def _transport_send(self, item: Outgoing | Control) -> None:
        """Write one frame; raise on a closed or broken connection."""
        raise NotImplementedError

    def _transport_ping(self) -> None:
        raise NotImplementedError

    def _transport_pong_received(self) -> bool:
        """Has a pong arrived since the last call? Resets it."""
        raise NotImplementedError

    def _transport_close(self, code: int, reason: str) -> None:
        """Close with a code the client can read; never raises."""
        raise NotImplementedError

    def _transport_abort(self) -> None:
        """Drop the connection now (a peer that does not read)."""
        raise NotImplementedError

    def _transport_wake(self) -> None:
        """Wake whatever waits for the client's frames, so it sees the connection is gone."""
        raise NotImplementedError
