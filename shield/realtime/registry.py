"""This process's sockets by room: `user:{id}` for every member, `admin:all` for admins."""

from __future__ import annotations

import threading

from models.outbox import AUDIENCE_ADMIN

from .connection import Connection
from .protocol import Outgoing

ADMIN_ROOM = "admin:all"


def room_of(event: Outgoing) -> str | None:
    """The one room an event goes to: its member's, or the admins' (never both)."""
    if event.audience == AUDIENCE_ADMIN:
        return ADMIN_ROOM
    return f"user:{event.member_id}" if event.member_id else None


class Registry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rooms: dict[str, set[Connection]] = {}
        self._all: set[Connection] = set()

    def join(self, conn: Connection) -> None:
        with self._lock:
            self._all.add(conn)
            for room in conn.rooms:
                self._rooms.setdefault(room, set()).add(conn)

    def leave(self, conn: Connection) -> None:
        with self._lock:
            self._all.discard(conn)
            for room in conn.rooms:
                members = self._rooms.get(room)
                if members is not None:
                    members.discard(conn)
                    if not members:
                        del self._rooms[room]

    def targets(self, event: Outgoing) -> list[Connection]:
        room = room_of(event)
        with self._lock:
            return list(self._rooms.get(room, ())) if room else []

    def in_room(self, room: str) -> int:
        with self._lock:
            return len(self._rooms.get(room, ()))

    def connections(self) -> list[Connection]:
        with self._lock:
            return list(self._all)

    def __len__(self) -> int:
        return len(self._all)
