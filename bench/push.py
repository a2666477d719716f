# ruff: noqa: S603 (the benchmark starts its own Python processes)
"""Push rows: dispatch throughput beside a bare pyfcm loop, and commit -> FCM request latency.

The FCM/OAuth stand-in is `tests.fakes.fcm_server.FakeFCM` (a real HTTP server on one
asyncio event loop, about 0.1 ms of CPU per send) running in this process, holding every
send for `DELAY` seconds. This process does nothing else while a case runs; the dispatchers
and the bare pyfcm loops run in processes of their own (`python -m bench.push ...`), so the
senders and the stand-in never share a GIL.

- throughput: N `claim_approved` events (critical: one push each, one device per member)
  are committed through `shield.events.record` (outbox rows, inbox notifications, version
  bumps) before the dispatchers start; then `processes` copies of `shield.push.start_worker`
  (the jobs process's loop, on PostgreSQL, default settings; `python -m jobs` with
  SHIELD_PUSH_PROCESSES=N runs N such loops) drain them. pushes/s = N / (go -> last answer).
- reference: pyfcm's own `FCMNotification.notify` in `processes` processes, each a thread
  pool of the dispatcher's `SHIELD_PUSH_CONCURRENCY`, same messages (built by
  shield.push.messages, split evenly), same stand-in.
- latency: the wake-on-commit worker in another process (woken by PostgreSQL NOTIFY);
  the clock starts before `commit()` here and stops when the request reaches the stand-in.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.fakes.fcm_server import FakeFCM

from . import latency

ROOT = Path(__file__).resolve().parent.parent
DELAY = 0.020  # seconds the stand-in holds every send (FCM's own latency, roughly)
# Dispatcher processes of the target row (the jobs process with SHIELD_PUSH_PROCESSES=2):
# one CPython process, GIL-bound, sends about 1,000/s here; the bare loop gets as many.
PROCESSES = 2


class StandIn(FakeFCM):
    """FakeFCM holding every send `delay` seconds (it notes arrivals, before the delay)."""

    def __init__(self, delay: float = DELAY):
        super().__init__(project_id="shield-bench")
        self.delay = delay


def _app(db_url: str, secret: str, **config):
    from app import create_app

    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": db_url,
            "SHIELD_JWT_SECRET": secret,
            "SHIELD_SCHEDULER": "off",
            "SHIELD_WS_ENABLED": False,
            "SHIELD_PUSH_WORKER": "off",
            **config,
        }
    )


def _event_data(n: int) -> dict:
    from models import utcnow
    from shield.wire import iso

    return {
        "claimId": f"clm_bench{n:08d}",
        "ticketNumber": f"T-BENCH-{n:06d}",
        "previousStatus": "under_review",
        "newStatus": "approved",
        "payoutAmount": 50,
        "deductibleApplied": 15,
        "memberCoPay": 15,
        "approvalTimestamp": iso(utcnow()),
    }


class PushBench:
    """Owns the stand-in and the bench-side app for the push cases."""

    def __init__(
        self,
        db_url: str,
        secret: str,
        members: list[str],
        work: Path,
        log,
        processes: int | None = None,
    ):
        self.db_url = db_url
        self.secret = secret
        self.members = members
        self.work = work
        self.log = log
        self.fcm = StandIn().start()
        self.account = self.fcm.write_service_account(work / "bench-service-account.json")
        self.app = _app(db_url, secret)
        self._next_member = 0
        self._generation = 0  # times the seeded members were used again
        self._n = 0
        from shield.push.settings import PushSettings

        self.settings = PushSettings.from_config({})  # the defaults the dispatcher will use
        # Dispatcher processes (SHIELD_PUSH_PROCESSES); the bare loop runs as many processes
        # of `concurrency` threads, so both have the same sends in flight and the same GILs.
        self.processes = processes or self.settings.processes

    def close(self) -> None:
        from models import db

        with self.app.app_context():
            db.session.remove()
            db.engine.dispose()
        self.fcm.stop()

    # -- data ----------------------------------------------------------------------------
    def devices(self, count: int) -> list[tuple[str, str]]:
        """`count` members of the seed, each given one new Android device: (member, token).

        When the seed runs out, members are used again: their earlier bench devices are
        deactivated first, so each event still has exactly one device to go to."""
        from sqlalchemy import update

        from models import Device, db

        if count > len(self.members):
            raise RuntimeError("not enough seeded members for the push case")
        if self._next_member + count > len(self.members):
            self._next_member = 0
            self._generation += 1
        chosen = self.members[self._next_member : self._next_member + count]
        self._next_member += count
        tag = f"g{self._generation}-"  # FCM tokens are ~150 chars
        pairs = [(m, f"bench-fcm-{m}-{tag}{'x' * 117}") for m in chosen]
        with self.app.app_context():
            if self._generation:
                db.session.execute(
                    update(Device)
                    .where(Device.member_id.in_(chosen), Device.active.is_(True))
                    .values(active=False, deactivated_reason="bench: member used again")
                )
            db.session.add_all(Device(member_id=m, token=t, platform="android") for m, t in pairs)
            db.session.commit()
            db.session.remove()
        return pairs

    def commit_events(self, members: list[str], per_commit: int = 100) -> float:
        """Record one claim_approved per member through the write path; return seconds."""
        from models import db
        from shield import events

        started = time.perf_counter()
        with self.app.app_context():
            for i in range(0, len(members), per_commit):
                for m in members[i : i + per_commit]:
                    self._n += 1
                    events.record(db.session, "claim_approved", _event_data(self._n), member_id=m)
                db.session.commit()
            db.session.remove()
        return time.perf_counter() - started

    # -- processes -------------------------------------------------------------------------
    def _proc(self, *args: str) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.push", *args],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = proc.stdout.readline().strip()
        if line != "ready":
            proc.kill()
            raise RuntimeError(f"bench.push {args[0]} did not start: {line!r}")
        return proc

    def _procs(self, *args: str) -> list[subprocess.Popen]:
        return [self._proc(*args) for _ in range(self.processes)]

    @staticmethod
    def _go(procs: list[subprocess.Popen]) -> None:
        for proc in procs:
            proc.stdin.write("go\n")
            proc.stdin.flush()

    def _wait_sends(self, before: int, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(self.fcm.received) < before + count and time.monotonic() < deadline:
            time.sleep(0.02)

    def _settle(self, proc: subprocess.Popen) -> str:
        proc.stdin.write("stop\n")
        proc.stdin.flush()
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        return out.strip()

    def _round(self, before: int, started: float, procs, pairs) -> dict:
        """pushes/s of a round from `started` to the last answer; its processes settled."""
        received = self.fcm.received[before:]
        done = received[-1].at if received else time.time()
        tail = "; ".join(self._settle(p) for p in procs)
        seconds = done - started
        return {
            "pushes": len(received),
            "seconds": round(seconds, 3),
            "rps": round(len(received) / seconds, 1) if seconds > 0 else None,
            "problem": self._check(received, {t for _, t in pairs}),
            "process": tail,
        }

    def _check(self, received, tokens: set[str]) -> str | None:
        bad = [r for r in received if r.status != 200 or r.shape_errors]
        if bad:
            return f"{len(bad)} sends answered {bad[0].status} {bad[0].shape_errors[:1]}"
        got = {r.token for r in received}
        if got != tokens:
            return f"{len(tokens - got)} devices got no push, {len(received) - len(tokens)} extra"
        return None

    def dispatch(self, pairs: list[tuple[str, str]], profile_to: Path | None = None) -> dict:
        """Drain the committed events with the real worker; pushes/s from go to last answer."""
        procs = self._procs("dispatcher", self.db_url, self.secret, str(self.account), self.fcm.url)
        spy = None
        before = len(self.fcm.received)
        started = time.time()
        self._go(procs)
        if profile_to is not None:
            spy = _py_spy(procs[0].pid, profile_to)
        self._wait_sends(before, len(pairs), timeout=120)
        result = self._round(before, started, procs, pairs)
        if spy is not None:
            spy.wait(timeout=60)
        return {**result, "attempts": self._attempts()}

    def _attempts(self) -> dict:
        """Delivery attempts by outcome and error code so far (all should be `sent`)."""
        from sqlalchemy import func, select

        from models import DeliveryAttempt, db

        with self.app.app_context():
            rows = db.session.execute(
                select(DeliveryAttempt.outcome, DeliveryAttempt.error_code, func.count()).group_by(
                    DeliveryAttempt.outcome, DeliveryAttempt.error_code
                )
            ).all()
            db.session.remove()
        return {f"{o}{'/' + e if e else ''}": n for o, e, n in rows}

    def bare(self, pairs: list[tuple[str, str]]) -> dict:
        """pyfcm's notify() in a pool of the dispatcher's concurrency, the same messages."""
        from models import utcnow
        from shield.push.messages import build_message

        now = utcnow()
        kwargs = []
        for n, (_, token) in enumerate(pairs):
            self._n += 1
            message = build_message(
                delivery_id=f"dlv_bare{n:08d}",
                event_id=f"evt_bare{n:08d}",
                seq=n + 1,
                name="claim_approved",
                payload={
                    "event": "claim_approved",
                    "timestamp": "2026-01-01T00:00:00.000Z",
                    "data": _event_data(self._n),
                },
                token=token,
                platform="android",
                round_=0,
                ttl_seconds=self.settings.ttl_seconds,
                now=now,
            )
            kwargs.append(message.pyfcm_kwargs())
        procs = []
        for i in range(self.processes):  # each process its share of the messages
            path = self.work / f"bare-messages-{i}.json"
            path.write_text(json.dumps(kwargs[i :: self.processes]))
            procs.append(
                self._proc(
                    "bare",
                    str(self.account),
                    self.fcm.url,
                    str(path),
                    str(self.settings.concurrency),
                )
            )
        before = len(self.fcm.received)
        started = time.time()
        self._go(procs)
        self._wait_sends(before, len(pairs), timeout=120)
        return self._round(before, started, procs, pairs)

    def latency(self, events_: int, gap: float = 0.02) -> dict:
        """commit -> the push request reaching the stand-in, the worker in another process."""
        from models import db
        from shield import events

        ((member, _token),) = self.devices(1)
        proc = self._proc("dispatcher", self.db_url, self.secret, str(self.account), self.fcm.url)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        time.sleep(1.0)  # its LISTEN in place
        lags, lost = [], 0
        with self.app.app_context():
            for _ in range(events_):
                before = len(self.fcm.arrivals)
                self._n += 1
                events.record(db.session, "claim_approved", _event_data(self._n), member_id=member)
                started = time.time()
                db.session.commit()
                deadline = time.monotonic() + 5
                while len(self.fcm.arrivals) == before and time.monotonic() < deadline:
                    time.sleep(0.0005)
                if len(self.fcm.arrivals) == before:
                    lost += 1
                    continue
                lags.append((self.fcm.arrivals[before] - started) * 1000)
                time.sleep(gap)
            db.session.remove()
        self._settle(proc)
        return latency.summary(lags, lost, events_, "pushes")


def _py_spy(pid: int, out: Path) -> subprocess.Popen | None:
    from .profile import py_spy, record_command

    tool = py_spy()
    if tool is None:
        return None
    return subprocess.Popen(
        record_command(tool, pid, 4, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


# -- the child processes ---------------------------------------------------------------------
def _child_dispatcher(db_url: str, secret: str, account: str, endpoint: str) -> int:
    import shield.push

    app = _app(db_url, secret, SHIELD_FCM_SERVICE_ACCOUNT=account, SHIELD_FCM_ENDPOINT=endpoint)
    sender = shield.push.sender_for(app)  # loads the credentials
    sender.client._get_access_token()  # the OAuth round trip, before the clock starts
    print("ready", flush=True)
    sys.stdin.readline()
    worker = shield.push.start_worker(app)
    sys.stdin.readline()
    worker.stop()
    shield.push.shutdown(app)
    s = shield.push.settings_for(app)
    print(
        f"processed {worker.processed} in {worker.passes} passes "
        f"(concurrency {s.concurrency}, batch {s.batch_size})",
        flush=True,
    )
    return 0


def _child_bare(account: str, endpoint: str, messages: str, concurrency: str) -> int:
    from concurrent.futures import ThreadPoolExecutor

    from pyfcm import FCMNotification

    kwargs = json.loads(Path(messages).read_text())
    fcm = FCMNotification(service_account_file=account)
    fcm.FCM_END_POINT_BASE = endpoint.rstrip("/") + "/v1/projects"
    fcm.fcm_end_point  # noqa: B018 (load the credentials before threads share them)
    threads = int(concurrency)
    pool = ThreadPoolExecutor(max_workers=threads)
    # Each pool thread opens its session and fetches its access token once, off the clock.
    barrier = threading.Barrier(threads)

    def warm(_):
        fcm.requests_session  # noqa: B018
        barrier.wait(timeout=30)

    list(pool.map(warm, range(threads)))
    print("ready", flush=True)
    sys.stdin.readline()
    errors = 0
    for result in pool.map(lambda kw: _notify(fcm, kw), kwargs):
        errors += result
    sys.stdin.readline()
    pool.shutdown()
    print(f"sent {len(kwargs) - errors}, errors {errors} (threads {threads})", flush=True)
    return 0


def _notify(fcm, kw) -> int:
    try:
        fcm.notify(**kw, timeout=10)
        return 0
    except Exception:
        return 1


if __name__ == "__main__":
    mode, *rest = sys.argv[1:]
    sys.exit({"dispatcher": _child_dispatcher, "bare": _child_bare}[mode](*rest))
