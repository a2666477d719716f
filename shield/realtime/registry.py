"""This process's sockets by room: `user:{id}` for every member, `admin:all` for admins."""

from __future__ import annotations

import threading

from models.outbox import AUDIENCE_ADMIN
from shield.ops import metrics

from .connection import Connection
from .protocol import Outgoing

ADMIN_ROOM = "admin:all"
SMALL = 8  # a room of up to this many sockets is a tuple (48 bytes for one), then a set


def room_of(event: Outgoing) -> str | None:
    """The one room an event goes to: its member's, or the admins' (never both)."""
    if event.audience == AUDIENCE_ADMIN:
        return ADMIN_ROOM
    return f"user:{event.member_id}" if event.member_id else None


class Registry:
    """Rooms map to a tuple of connections (a set once a room grows past SMALL): most rooms
    hold one member's one or two sockets, and an idle socket should cost little here."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rooms: dict[str, tuple[Connection, ...] | set[Connection]] = {}
        self._count = 0

    def join(self, conn: Connection) -> None:
        with self._lock:
            if self._join(conn):
                metrics.socket_opened()

    def leave(self, conn: Connection) -> None:
        with self._lock:
            if self._leave(conn):
                metrics.socket_closed()

    def move(self, conn: Connection, principal) -> None:
        """Give the connection a new principal and the rooms that go with it, at once (the
        same socket: no metrics change)."""
        with self._lock:
            self._leave(conn)
            conn.principal = principal
            self._join(conn)

    def _join(self, conn: Connection) -> bool:
        rooms = conn.rooms
        for room in rooms:
            members = self._rooms.get(room)
            if members is None:
                self._rooms[room] = (conn,)
            elif isinstance(members, set):
                members.add(conn)
            elif conn not in members:
                members = (*members, conn)
                self._rooms[room] = members if len(members) <= SMALL else set(members)
        if rooms:
            self._count += 1
        return bool(rooms)

    def _leave(self, conn: Connection) -> bool:
        found = False
        for room in conn.rooms:
            members = self._rooms.get(room)
            if members is None or conn not in members:
                continue
            found = True
            if isinstance(members, set):
                members.discard(conn)
            else:
                members = tuple(c for c in members if c is not conn)
                self._rooms[room] = members
            if not members:
                del self._rooms[room]
        if found:
            self._count -= 1
        return found

    def targets(self, event: Outgoing) -> list[Connection]:
        room = room_of(event)
        with self._lock:
            return list(self._rooms.get(room, ())) if room else []

    def in_room(self, room: str) -> int:
        with self._lock:
            return len(self._rooms.get(room, ()))

    def connections(self) -> list[Connection]:
        """Every connection once (each is in exactly one `user:` room)."""
        with self._lock:
            return [
                conn
                for room, members in self._rooms.items()
                if room != ADMIN_ROOM
                for conn in members
            ]

    def __len__(self) -> int:
        return self._count
