"""CPU time per request, by process: the app server, PostgreSQL and wrk.

A ratio says how much slower a case is than hello-world; this says where the difference
is spent. Around each measured slice the bench reads the CPU ticks (`/proc/<pid>/stat`,
user and system) of the server's processes and of every PostgreSQL process, and wrk's own
(it is our child: `RUSAGE_CHILDREN`). Divided by the slice's requests: microseconds of CPU
per request. Linux only; elsewhere the figures are left out.
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass, field
from pathlib import Path

PROC = Path("/proc")
TICK_US = 1e6 / os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 0.0


def _ticks(pid: int) -> tuple[int, int] | None:
    """(user, system) clock ticks of a process, or None once it is gone."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    return int(fields[11]), int(fields[12])


def _postgres_pids() -> list[int]:
    pids = []
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().startswith("postgres"):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def _children_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Usage:
    """CPU spent over some slices, and the requests they served."""

    requests: int = 0
    server_us: float = 0.0
    server_system_us: float = 0.0
    postgres_us: float = 0.0
    wrk_us: float = 0.0

    def add(self, other: Usage) -> None:
        self.requests += other.requests
        self.server_us += other.server_us
        self.server_system_us += other.server_system_us
        self.postgres_us += other.postgres_us
        self.wrk_us += other.wrk_us

    def per_request(self) -> dict:
        n = max(self.requests, 1)
        return {
            "server_us": round(self.server_us / n, 1),
            "server_system_us": round(self.server_system_us / n, 1),
            "postgres_us": round(self.postgres_us / n, 1),
            "wrk_us": round(self.wrk_us / n, 1),
        }


@dataclass
class Meter:
    """Snapshots around one slice: `start()`, run it, `stop(requests)`."""

    server_pids: list[int]
    _server: dict = field(default_factory=dict)
    _postgres: dict = field(default_factory=dict)
    _children: float = 0.0

    @staticmethod
    def available() -> bool:
        return (PROC / "self" / "stat").exists() and TICK_US > 0

    def start(self) -> None:
        self._server = {p: _ticks(p) for p in self.server_pids}
        self._postgres = {p: _ticks(p) for p in _postgres_pids()}
        self._children = _children_seconds()

    def stop(self, requests: int) -> Usage:
        usage = Usage(requests=requests)
        for pid, before in self._server.items():
            after = _ticks(pid)
            if before and after:
                usage.server_us += (sum(after) - sum(before)) * TICK_US
                usage.server_system_us += (after[1] - before[1]) * TICK_US
        for pid in _postgres_pids():  # backends that started during the slice count whole
            before, after = self._postgres.get(pid) or (0, 0), _ticks(pid)
            if after:
                usage.postgres_us += (sum(after) - sum(before)) * TICK_US
        usage.wrk_us = (_children_seconds() - self._children) * 1e6
        return usage
