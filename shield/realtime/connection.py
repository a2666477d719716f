"""One socket: its outgoing queue, the single writer, delivery bookkeeping and heartbeat.

Every write to a socket (events, errors, pings, the close frame) goes through the queue
and is written under `send_lock` by one flusher at a time: simple-websocket's `send` is not
thread-safe. That is also why pings are ours and not simple-websocket's `ping_interval`
(its background thread would write them without our lock). The few simple-websocket /
wsproto internals used are confined to the `_transport_*` helpers at the bottom.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections import deque
from collections.abc import Callable
from time import monotonic

from wsproto.events import Ping

from models import new_id
from shield.auth import Principal

from .protocol import AUTH_EXPIRED, CLOSE_POLICY, CLOSE_TRY_AGAIN, Outgoing, error_frame
from .settings import Settings

log = logging.getLogger(__name__)

_PING = object()
REMEMBER = 256  # ackable events remembered per connection (ack by claimId/payoutId)


class PendingAck:
    __slots__ = ("text", "resends")

    def __init__(self, text: str, resends: int = 0) -> None:
        self.text = text
        self.resends = resends


class Connection:
    """One socket's delivery state; kept small (thousands per process, mostly idle).

    The queue, the replay backlog, the pending acks and the ackable-event map are made on
    first use and dropped when empty, so an idle socket holds none of them.
    """

    __slots__ = (
        "id",
        "ws",
        "settings",
        "remote",
        "_spawn",
        "principal",
        "expires_at",
        "expiry_due",
        "lock",
        "send_lock",
        "queue",
        "flushing",
        "closed",
        "ready",
        "backlog",
        "last_seq",
        "pending",
        "sent_ackable",
        "last_seen",
        "last_ping",
        "send_started",
        "on_required",
        "__weakref__",
    )

    def __init__(
        self,
        ws,
        settings: Settings,
        spawn: Callable,
        *,
        remote: str | None = None,
        lock: threading.Lock | None = None,
    ):
        self.id = new_id("conn")
        self.ws = ws
        self.settings = settings
        self.remote = remote
        self._spawn = spawn
        self.principal: Principal | None = None
        self.expires_at = 0.0  # epoch seconds (leeway included) of the current token
        self.expiry_due: float | None = None  # when the hub's clock checks it (monotonic)
        # Queue and delivery state: held briefly, never across I/O nor with another
        # connection's, so the hub hands out one of a few shared locks (`Hub.lock_for`).
        self.lock = lock if lock is not None else threading.Lock()
        self.send_lock = threading.Lock()  # the socket itself
        self.queue: deque | None = None
        self.flushing = False
        self.closed = False
        self.ready = False
        self.backlog: list[Outgoing] | None = None
        self.last_seq = 0
        self.pending: dict[str, PendingAck] | None = None
        self.sent_ackable: dict[tuple[str, str], str] | None = None  # oldest first
        now = monotonic()
        self.last_seen = now
        self.last_ping = now
        self.send_started: float | None = None
        self.on_required: Callable[[Connection, str, float], None] | None = None

    # -- rooms --------------------------------------------------------------------------------
    @property
    def rooms(self) -> tuple[str, ...]:
        p = self.principal
        if p is None:
            return ()
        return (f"user:{p.id}", "admin:all") if p.is_admin else (f"user:{p.id}",)

    # -- delivery -----------------------------------------------------------------------------
    def send(self, text: str) -> None:
        """Send a frame that is not an outbox event (connected, pong, error).

        Called by the socket's own handler, which then writes the queue itself (no writer
        greenlet or thread is started for it).
        """
        with self.lock:
            write = not self.closed and self._enqueue(text)
        if write:
            self._flush()

    def deliver(self, event: Outgoing) -> None:
        """Queue a committed event unless this connection already has it."""
        with self.lock:
            if self.closed:
                return
            if not self.ready:
                if self.backlog is None:
                    self.backlog = []
                self.backlog.append(event)
                return
            write = self._deliver(event)
        if write:
            self._spawn(self._flush)

    def start(self, replayed: list[Outgoing], floor: int) -> None:
        """Send the replay, then whatever arrived meanwhile, then go live (handler only)."""
        write = False
        with self.lock:
            for event in replayed:
                write = self._deliver(event) or write
            self.last_seq = max(self.last_seq, floor)
            self.ready = True
            backlog, self.backlog = self.backlog, None
            for event in backlog or ():
                write = self._deliver(event) or write
        if write:
            self._flush()

    def _deliver(self, event: Outgoing) -> bool:
        """Queue an event; True if the caller must start the writer (see `_enqueue`)."""
        if event.seq <= self.last_seq:
            return False
        self.last_seq = event.seq
        if event.ack_key:
            sent = self.sent_ackable
            if sent is None:
                sent = self.sent_ackable = {}
            sent[event.ack_key] = event.id
            if len(sent) > REMEMBER:
                del sent[next(iter(sent))]
        write = self._enqueue(event.text)
        if event.ack_required and self.on_required:
            pending = self.pending
            if pending is None:
                pending = self.pending = {}
            if event.id not in pending:
                pending[event.id] = PendingAck(event.text)
                self.on_required(self, event.id, self.settings.ack_timeout)
        return write

    def acknowledged(self, event_id: str) -> None:
        with self.lock:
            if self.pending is not None:
                self.pending.pop(event_id, None)
                if not self.pending:
                    self.pending = None

    def resend(self, event_id: str) -> float | None:
        """Send an unacknowledged required event again; return the delay to the next try."""
        with self.lock:
            pending = self.pending.get(event_id) if self.pending is not None else None
            if pending is None or self.closed:
                return None
            pending.resends += 1
            write = self._enqueue(pending.text)
            delay = self.settings.ack_timeout * (2**pending.resends)
            if pending.resends >= self.settings.ack_resends:
                del self.pending[event_id]
                if not self.pending:
                    self.pending = None
                delay = None
        if write:
            self._spawn(self._flush)
        return delay

    def event_for(self, key: tuple[str, str]) -> str | None:
        with self.lock:
            return self.sent_ackable.get(key) if self.sent_ackable is not None else None

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
            if item is _PING:
                self._transport_ping()
            else:
                self.ws.send(item)
            return True
        except Exception:  # closed, reset, broken pipe: the handler will notice
            return False
        finally:
            self.send_started = None

    def close(self, code: int, reason: str = "", final: str | None = None) -> None:
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

    def expire(self) -> None:
        """The token ran out (checked by the handler and by the hub's clock)."""
        self.close(
            CLOSE_POLICY,
            AUTH_EXPIRED,
            final=error_frame(AUTH_EXPIRED, "The token has expired: reconnect with a fresh one."),
        )

    def _abort_after_overflow(self) -> None:
        if self.send_lock.acquire(timeout=1.0):
            try:
                self._transport_close(CLOSE_TRY_AGAIN, "Too slow")
            finally:
                self.send_lock.release()
        else:
            self._transport_abort()
        self._transport_wake()

    # -- heartbeat ----------------------------------------------------------------------------
    def seen(self, now: float) -> None:
        self.last_seen = now

    def heartbeat(self, now: float) -> str | None:
        """Ping, or return why the connection must go ('idle', 'stuck')."""
        if self.closed:
            return None
        if getattr(self.ws, "pong_received", False):
            self.last_seen = max(self.last_seen, self.last_ping)
        if now - self.last_seen >= self.settings.idle_timeout:
            return "idle"
        started = self.send_started
        if started is not None and now - started >= self.settings.send_timeout:
            return "stuck"
        self.ws.pong_received = False
        self.last_ping = now
        with self.lock:
            write = not self.closed and self._enqueue(_PING)
        if write:
            self._spawn(self._flush)
        return None

    def abort(self) -> None:
        with self.lock:
            self.closed = True
            self.queue = None
        self._transport_abort()
        self._transport_wake()

    # -- simple-websocket 1.1 / wsproto internals ---------------------------------------------
    def _transport_ping(self) -> None:
        ws = self.ws
        if not ws.connected:
            raise ConnectionError("closed")
        ws.sock.send(ws.ws.send(Ping()))

    def _transport_close(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):  # already closed by the peer or the library
            self.ws.close(code, reason)

    def _transport_abort(self) -> None:
        self.ws.connected = False
        with contextlib.suppress(OSError):
            self.ws.sock.shutdown(socket.SHUT_RDWR)

    def _transport_wake(self) -> None:
        """Wake the handler blocked in `ws.receive()` so it sees the connection is gone.

        The handler waits without a timeout (no timer per socket), so `connected` is cleared
        too: `receive()` then returns instead of waiting again, even if the close frame
        could not be written."""
        self.ws.connected = False
        event = getattr(self.ws, "event", None)
        if event is not None:
            event.set()
