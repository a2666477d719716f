"""The long-running dispatcher loop, woken as soon as something commits or a send ends.

Wake-ups: (1) in-process, `shield.events.on_commit` when a committed event is push-worthy;
(2) across processes on PostgreSQL, `LISTEN shield_events` (the outbox hook NOTIFYs in the
committing transaction); (3) a send's answer; (4) the next delivery's due time, the
breaker's next probe or a lease renewal; (5) a fallback poll interval.
Any number of these loops may run in any number of processes: work is claimed in the database.
"""

from __future__ import annotations

import logging
import threading
import time

from flask import Flask
from sqlalchemy.engine import make_url

from models import db
from shield import events
from shield.events.outbox import PG_CHANNEL

from .dispatcher import Dispatcher
from .leases import new_owner

log = logging.getLogger(__name__)


def _pushes(event) -> bool:
    try:
        rule = events.rule_for(event.name)
    except ValueError:
        return False
    return bool(event.member_id) and rule.push((event.payload or {}).get("data") or {})


class PushWorker:
    """A daemon thread running dispatcher passes; `wake()` starts the next one at once."""

    def __init__(
        self, app: Flask, sender, settings, *, wake_on_commit: bool = True, listen: bool = True
    ):
        self.app = app
        self.sender = sender
        self.settings = settings
        self.owner = new_owner()
        self.passes = 0  # dispatcher steps
        self.dispatcher = Dispatcher(db.session, sender, settings, owner=self.owner)
        self._stop = threading.Event()
        self._wake_on_commit = wake_on_commit
        self._listen = listen
        self._threads: list[threading.Thread] = []

    # -- wake-ups -------------------------------------------------------------------------
    @property
    def processed(self) -> int:
        """Deliveries handled by this loop."""
        return self.dispatcher.processed

    def wake(self) -> None:
        self.dispatcher.poke()

    def _on_commit(self, committed) -> None:
        if any(_pushes(e) for e in committed):
            self.dispatcher.poke()

    def _pg_dsn(self) -> str | None:
        url = make_url(self.app.config["SQLALCHEMY_DATABASE_URI"])
        if not url.drivername.startswith("postgresql"):
            return None
        return url.set(drivername="postgresql").render_as_string(hide_password=False)

    def _listen_loop(self, dsn: str) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {PG_CHANNEL}")
                    self.dispatcher.poke()  # anything committed while we were not listening
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=0.5, stop_after=1):
                            self.dispatcher.poke()
            except Exception as exc:  # reconnect; the poll interval covers the gap
                if self._stop.is_set():
                    return
                log.warning("push LISTEN %s failed (%s); reconnecting", PG_CHANNEL, exc)
                self._stop.wait(2.0)

    # -- the loop -------------------------------------------------------------------------
    def _run(self) -> None:
        failures = 0
        dispatcher = self.dispatcher
        with self.app.app_context():
            while not self._stop.is_set():
                try:
                    dispatcher.step()
                    self.passes += 1
                    failures = 0
                except Exception:
                    failures += 1
                    log.exception("push dispatcher step failed")
                    db.session.rollback()
                    db.session.remove()
                    self._stop.wait(min(30.0, 0.5 * 2**failures))
                    continue
                dispatcher.wait(dispatcher.seconds_idle())
            try:  # the sends in flight end and are stored; what waits is given back
                dispatcher.drain(timeout=self.settings.timeout_seconds * 2 + 1)
            except Exception:
                log.exception("push dispatcher could not store its last results")
            db.session.remove()

    def start(self) -> PushWorker:
        if self._wake_on_commit:
            events.on_commit(self._on_commit)
        runner = threading.Thread(target=self._run, name="shield-push", daemon=True)
        self._threads.append(runner)
        dsn = self._pg_dsn() if self._listen else None
        if dsn:
            listener = threading.Thread(
                target=self._listen_loop, args=(dsn,), name="shield-push-listen", daemon=True
            )
            self._threads.append(listener)
        for thread in self._threads:
            thread.start()
        log.info(
            "push dispatcher started (%s backend%s)",
            getattr(self.sender, "name", "?"),
            ", LISTEN " + PG_CHANNEL if dsn else "",
        )
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Let the sends in flight end and store them, then stop (what was not sent is given
        back; a send cut short is taken over by another dispatcher after its lease)."""
        events.remove_listener(self._on_commit)
        self._stop.set()
        self.dispatcher.wake.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    @property
    def alive(self) -> bool:
        return any(t.is_alive() for t in self._threads)
