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
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from time import monotonic

from wsproto.events import Ping

from models import new_id
from shield.auth import Principal

from .protocol import CLOSE_TRY_AGAIN, Outgoing
from .settings import Settings

log = logging.getLogger(__name__)

_PING = object()
REMEMBER = 256  # ackable events remembered per connection (ack by claimId/payoutId)


@dataclass
class PendingAck:
    text: str
    resends: int = 0


class Connection:
    def __init__(self, ws, settings: Settings, spawn: Callable, *, remote: str | None = None):
        self.id = new_id("conn")
        self.ws = ws
        self.settings = settings
        self.remote = remote
        self._spawn = spawn
        self.principal: Principal | None = None
        self.lock = threading.Lock()  # queue and delivery state
        self.send_lock = threading.Lock()  # the socket itself
        self.queue: deque = deque()
        self.flushing = False
        self.closed = False
        self.ready = False
        self.backlog: list[Outgoing] = []
        self.last_seq = 0
        self.pending: dict[str, PendingAck] = {}
        self.sent_ackable: OrderedDict[tuple[str, str], str] = OrderedDict()
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
        """Queue a frame that is not an outbox event (connected, pong, error)."""
        with self.lock:
            if not self.closed:
                self._enqueue(text)

    def deliver(self, event: Outgoing) -> None:
        """Queue a committed event unless this connection already has it."""
        with self.lock:
            if self.closed:
                return
            if not self.ready:
                self.backlog.append(event)
                return
            self._deliver(event)

    def start(self, replayed: list[Outgoing], floor: int) -> None:
        """Send the replay, then whatever arrived meanwhile, then go live."""
        with self.lock:
            for event in replayed:
                self._deliver(event)
            self.last_seq = max(self.last_seq, floor)
            self.ready = True
            backlog, self.backlog = self.backlog, []
            for event in backlog:
                self._deliver(event)

    def _deliver(self, event: Outgoing) -> None:
        if event.seq <= self.last_seq:
            return
        self.last_seq = event.seq
        if event.ack_key:
            self.sent_ackable[event.ack_key] = event.id
            if len(self.sent_ackable) > REMEMBER:
                self.sent_ackable.popitem(last=False)
        self._enqueue(event.text)
        if event.ack_required and event.id not in self.pending and self.on_required:
            self.pending[event.id] = PendingAck(event.text)
            self.on_required(self, event.id, self.settings.ack_timeout)

    def acknowledged(self, event_id: str) -> None:
        with self.lock:
            self.pending.pop(event_id, None)

    def resend(self, event_id: str) -> float | None:
        """Send an unacknowledged required event again; return the delay to the next try."""
        with self.lock:
            pending = self.pending.get(event_id)
            if pending is None or self.closed:
                return None
            pending.resends += 1
            self._enqueue(pending.text)
            if pending.resends >= self.settings.ack_resends:
                del self.pending[event_id]
                return None
            return self.settings.ack_timeout * (2**pending.resends)

    def event_for(self, key: tuple[str, str]) -> str | None:
        with self.lock:
            return self.sent_ackable.get(key)

    # -- writing ------------------------------------------------------------------------------
    def _enqueue(self, item) -> None:  # caller holds self.lock
        if len(self.queue) >= self.settings.queue_max:
            log.warning(
                "socket %s reads too slowly: dropped (it will reconnect and replay)", self.id
            )
            self.closed = True
            self.queue.clear()
            self._spawn(self._abort_after_overflow)
            return
        self.queue.append(item)
        if not self.flushing:
            self.flushing = True
            self._spawn(self._flush)

    def _flush(self) -> None:
        with self.send_lock:
            while True:
                with self.lock:
                    if not self.queue or self.closed:
                        self.flushing = False
                        return
                    item = self.queue.popleft()
                if not self._write(item):
                    with self.lock:
                        self.closed = True
                        self.queue.clear()
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
            items = list(self.queue)
            self.queue.clear()
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
            if not self.closed:
                self._enqueue(_PING)
        return None

    def abort(self) -> None:
        with self.lock:
            self.closed = True
            self.queue.clear()
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
        """Wake the handler blocked in `ws.receive()` so it sees the connection is gone."""
        event = getattr(self.ws, "event", None)
        if event is not None:
            event.set()
