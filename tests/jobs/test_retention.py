from datetime import timedelta

from sqlalchemy import func, select, update

from jobs.retention import deactivate_stale_devices, prune_events, prune_idempotency_keys
from models import (
    DeliveryAttempt,
    Device,
    EventAck,
    IdempotencyKey,
    OutboxEvent,
    PushDelivery,
    db,
    utcnow,
)
from models.idempotency import DONE, RUNNING
from tests.jobs.support import T0, events, file_claim, member


def count(model) -> int:
    return db.session.execute(select(func.count()).select_from(model)).scalar_one()


def age_events(ids, created_at) -> None:
    db.session.execute(
        update(OutboxEvent).where(OutboxEvent.id.in_(ids)).values(created_at=created_at)
    )
    db.session.commit()


def with_delivery(event: OutboxEvent, device: Device) -> None:
    delivery = PushDelivery(event_id=event.id, device_id=device.id, member_id="alice")
    db.session.add(delivery)
    db.session.flush()
    db.session.add(DeliveryAttempt(delivery_id=delivery.id, outcome="sent", http_status=200))
    db.session.add(EventAck(event_id=event.id, member_id="alice", via="rest"))
    db.session.commit()


def test_prunes_only_events_older_than_the_retention_with_their_deliveries(ctx):
    member("alice")
    device = Device(member_id="alice", token="tok-alice", platform="android")
    db.session.add(device)
    db.session.commit()
    old_claim = file_claim("alice", at=T0)
    old = events()
    file_claim("alice", at=T0 + timedelta(days=1))
    new = [e for e in events() if e.id not in {o.id for o in old}]
    assert old and new
    now = utcnow()
    age_events([e.id for e in old], now - timedelta(days=7, minutes=1))
    age_events([e.id for e in new], now - timedelta(days=6, hours=23))
    with_delivery(old[0], device)
    with_delivery(new[0], device)

    removed = prune_events(now=now)
    # the old events, one delivery, its attempt and its ack
    assert removed == len(old) + 3
    remaining = {e.id for e in events()}
    assert remaining == {e.id for e in new}
    assert count(PushDelivery) == count(DeliveryAttempt) == count(EventAck) == 1
    assert db.session.execute(select(PushDelivery.event_id)).scalar_one() == new[0].id
    assert old_claim.id  # the claim itself is not an event: untouched
    assert prune_events(now=now) == 0


def test_event_retention_is_configurable(app, ctx):
    app.config["SHIELD_EVENT_RETENTION_DAYS"] = 2
    member("alice")
    file_claim("alice", at=T0)
    ids = [e.id for e in events()]
    now = utcnow()
    age_events(ids, now - timedelta(days=1, hours=23))
    assert prune_events(now=now) == 0
    age_events(ids, now - timedelta(days=2, seconds=1))
    assert prune_events(now=now) == len(ids)
    assert events() == []


def test_prunes_idempotency_keys_older_than_24h(ctx):
    member("alice")
    now = utcnow()
    rows = {
        "old-done": IdempotencyKey(
            owner_id="alice",
            key="old-done",
            request_hash="h",
            status=DONE,
            created_at=now - timedelta(hours=24, seconds=1),
        ),
        "young-done": IdempotencyKey(
            owner_id="alice",
            key="young-done",
            request_hash="h",
            status=DONE,
            created_at=now - timedelta(hours=23, minutes=59),
        ),
        "old-dead": IdempotencyKey(
            owner_id="alice",
            key="old-dead",
            request_hash="h",
            status=RUNNING,
            created_at=now - timedelta(hours=30),
            locked_until=now - timedelta(hours=29),
        ),
        "old-running": IdempotencyKey(
            owner_id="alice",
            key="old-running",
            request_hash="h",
            status=RUNNING,
            created_at=now - timedelta(hours=30),
            locked_until=now + timedelta(minutes=1),
        ),
    }
    db.session.add_all(rows.values())
    db.session.commit()
    assert prune_idempotency_keys(now=now) == 2
    kept = set(db.session.execute(select(IdempotencyKey.key)).scalars())
    assert kept == {"young-done", "old-running"}
    assert prune_idempotency_keys(now=now) == 0


def test_deactivates_devices_unseen_for_270_days(ctx):
    member("alice")
    now = utcnow()
    stale = Device(
        member_id="alice",
        token="stale",
        platform="ios",
        last_seen_at=now - timedelta(days=270, seconds=1),
    )
    recent = Device(
        member_id="alice",
        token="recent",
        platform="android",
        last_seen_at=now - timedelta(days=269),
    )
    dead = Device(
        member_id="alice",
        token="dead",
        platform="android",
        active=False,
        deactivated_reason="unregistered",
        last_seen_at=now - timedelta(days=400),
    )
    db.session.add_all([stale, recent, dead])
    db.session.commit()
    assert deactivate_stale_devices(now=now) == 1
    db.session.expire_all()
    assert (stale.active, stale.deactivated_reason) == (False, "unseen_270_days")
    assert (recent.active, recent.deactivated_reason) == (True, None)
    assert (dead.active, dead.deactivated_reason) == (False, "unregistered")
    assert deactivate_stale_devices(now=now) == 0


def test_events_go_in_time_sized_batches_by_seq(app, ctx, monkeypatch):
    import jobs.retention as retention

    member("alice")
    for day in range(12):
        file_claim("alice", at=T0 + timedelta(days=day))
    ordered = events()  # seq order
    now = utcnow()
    half = len(ordered) // 2
    age_events([e.id for e in ordered[:half]], now - timedelta(days=8))
    age_events([e.id for e in ordered[half:]], now - timedelta(days=1))
    sizes = []
    real = retention._next_size

    def spy(size, seconds):
        sizes.append(size)
        return real(size, seconds)

    monkeypatch.setattr(retention, "BATCH", 2)
    monkeypatch.setattr(retention, "EVENT_BATCH_MIN", 2)
    monkeypatch.setattr(retention, "_next_size", spy)
    assert prune_events(now=now) == half
    assert [e.id for e in events()] == [e.id for e in ordered[half:]]
    assert sizes and sizes[0] == 2  # more than one batch, starting from BATCH
    assert real(100, 0.001) == 200 and real(100, 1.0) == 50 and real(100, 0.05) == 100
    assert real(retention.EVENT_BATCH_MAX, 0.0) == retention.EVENT_BATCH_MAX


def test_an_old_event_committed_after_a_kept_one_waits_for_a_later_run(app, ctx):
    member("alice")
    file_claim("alice", at=T0)
    file_claim("alice", at=T0 + timedelta(days=1))
    first, *rest = events()
    now = utcnow()
    age_events([e.id for e in rest[:-1]], now - timedelta(days=8))
    age_events([first.id], now - timedelta(days=1))  # kept, and the lowest seq
    age_events([rest[-1].id], now - timedelta(days=8))
    assert prune_events(now=now) == 0  # nothing below the first kept seq is old
    age_events([first.id], now - timedelta(days=8))
    assert prune_events(now=now) == len(rest) + 1


def test_retention_marks_how_far_it_pruned_for_the_feed(app, ctx):
    from shield.events import pruned_through

    member("alice")
    file_claim("alice", at=T0)
    file_claim("alice", at=T0 + timedelta(days=1))
    ordered = [(e.id, e.seq) for e in events()]
    now = utcnow()
    assert pruned_through(db.session) == 0
    age_events([i for i, _ in ordered[:2]], now - timedelta(days=8))
    prune_events(now=now)
    assert pruned_through(db.session) == ordered[1][1]
    age_events([i for i, _ in ordered[2:]], now - timedelta(days=8))
    prune_events(now=now)
    assert pruned_through(db.session) == ordered[-1][1]
    assert prune_events(now=now) == 0 and pruned_through(db.session) == ordered[-1][1]
