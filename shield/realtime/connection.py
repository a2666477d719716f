"""One socket, whatever its transport: who it is, its rooms, delivery bookkeeping (seq, replay
backlog, pending acks) and heartbeat. Writing (queue, single writer, close) is its base
class, `outbound.Outbound`; the wire is a subclass's (`WsConnection`, `SioConnection`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from time import monotonic

from models import new_id
from shield.auth import Principal

from .outbound import PING, Outbound
from .protocol import AUTH_EXPIRED, CLOSE_POLICY, Control, Outgoing, error_frame
from .settings import Settings

REMEMBER = 256  # ackable events remembered per connection (ack by claimId/payoutId)


class PendingAck:
    __slots__ = ("event", "resends")

    def __init__(self, event: Outgoing, resends: int = 0) -> None:
        self.event = event
        self.resends = resends


class Connection(Outbound):
    """One socket's delivery state; kept small (thousands per process, mostly idle).

    The queue, the replay backlog, the pending acks and the ackable-event map are made on
    first use and dropped when empty, so an idle socket holds none of them.
    """

    __slots__ = (
        "remote",
        "principal",
        "expires_at",
        "expiry_due",
        "ready",
        "backlog",
        "last_seq",
        "pending",
        "sent_ackable",
        "last_seen",
        "last_ping",
        "on_required",
        "__weakref__",
    )

    def __init__(
        self,
        settings: Settings,
        spawn: Callable,
        *,
        remote: str | None = None,
        lock: threading.Lock | None = None,
    ):
        super().__init__(new_id("conn"), settings, spawn, lock)
        self.remote = remote
        self.principal: Principal | None = None
        self.expires_at = 0.0  # epoch seconds (leeway included) of the current token
        self.expiry_due: float | None = None  # when the hub's clock checks it (monotonic)
        self.ready = False
        self.backlog: list[Outgoing] | None = None
        self.last_seq = 0
        self.pending: dict[str, PendingAck] | None = None
        self.sent_ackable: dict[tuple[str, str], str] | None = None  # oldest first
        now = monotonic()
        self.last_seen = now
        self.last_ping = now
        self.on_required: Callable[[Connection, str, float], None] | None = None

    # -- rooms --------------------------------------------------------------------------------
    @property
    def rooms(self) -> tuple[str, ...]:
        p = self.principal
        if p is None:
            return ()
        return (f"user:{p.id}", "admin:all") if p.is_admin else (f"user:{p.id}",)

    # -- delivery -----------------------------------------------------------------------------
    def send(self, frame: Control) -> None:
        """Send a frame that is not an outbox event (connected, pong, error).

        Called by the socket's own handler, which then writes the queue itself (no writer
        greenlet or thread is started for it).
        """
        with self.lock:
            write = not self.closed and self._enqueue(frame)
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
        write = self._enqueue(event)
        if event.ack_required and self.on_required:
            pending = self.pending
            if pending is None:
                pending = self.pending = {}
            if event.id not in pending:
                pending[event.id] = PendingAck(event)
                self.on_required(self, event.id, self.settings.ack_timeout)
        return write

    def rewind(self, seq: int) -> None:
        """Forget having sent anything above `seq` (events that were not this log's)."""
        with self.lock:
            self.last_seq = min(self.last_seq, seq)

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
            write = self._enqueue(pending.event)
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

    def expire(self) -> None:
        """The token ran out (checked by the handler and by the hub's clock)."""
        self.close(
            CLOSE_POLICY,
            AUTH_EXPIRED,
            final=error_frame(AUTH_EXPIRED, "The token has expired: reconnect with a fresh one."),
        )

    # -- heartbeat ----------------------------------------------------------------------------
    def seen(self, now: float) -> None:
        self.last_seen = now

    def heartbeat(self, now: float, ping: bool = True) -> str | None:
        """Return why the connection must go ('idle', 'stuck'), else ping it if asked.

        A pong is credited at the time of the ping it answers (simple-websocket only sets
        a flag), so a client is never given more than `idle_timeout` after its last sign."""
        if self.closed:
            return None
        if self._transport_pong_received():
            self.last_seen = max(self.last_seen, self.last_ping)
        if now - self.last_seen >= self.settings.idle_timeout:
            return "idle"
        started = self.send_started
        if started is not None and now - started >= self.settings.send_timeout:
            return "stuck"
        if not ping:
            return None
        self.last_ping = now
        with self.lock:
            write = not self.closed and self._enqueue(PING)
        if write:
            self._spawn(self._flush)
        return None
