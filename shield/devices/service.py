"""Push devices: FCM registration tokens, one row per token, owned by the last registrant."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import Device, utcnow
from shield.auth import Principal
from shield.errors import NotFound
from shield.members import ensure_member

log = logging.getLogger(__name__)

# Oldest active devices beyond this many are retired when a new one registers.
MAX_ACTIVE_DEVICES = 20


def mask(token: str) -> str:
    """A loggable stand-in for a token: never log a whole one."""
    return f"{token[:6]}…{token[-4:]}" if len(token) > 12 else "…"


def _by_token(session: Session, token: str) -> Device | None:
    return session.execute(
        select(Device).where(Device.token == token).with_for_update()
    ).scalar_one_or_none()


def register(
    session: Session, principal: Principal, token: str, platform: str, now: datetime | None = None
) -> tuple[Device, bool]:
    """Upsert the caller's device; returns (device, created).

    The same token again refreshes and reactivates it; a token another member registered
    moves to the caller (the phone changed hands, so the old owner must stop getting pushes).
    """
    now = now or utcnow()
    member = ensure_member(session, principal)
    device = _by_token(session, token)
    created = False
    if device is None:
        device = Device(
            member_id=member.id,
            token=token,
            platform=platform,
            active=True,
            created_at=now,
            last_seen_at=now,
        )
        try:
            with session.begin_nested():
                session.add(device)
                session.flush([device])
            created = True
        except IntegrityError:  # registered concurrently: take the row that won
            device = _by_token(session, token)
    if not created:
        if device.member_id != member.id:
            log.info(
                "device %s moved from member %s to %s", mask(token), device.member_id, member.id
            )
            device.member_id = member.id
        device.platform = platform
        device.active = True
        device.deactivated_reason = None
        device.last_seen_at = now
    _retire_extra(session, member.id, keep=device.id)
    return device, created


def _retire_extra(session: Session, member_id: str, keep: str) -> None:
    devices = active_devices(session, member_id)
    extra = [d for d in devices if d.id != keep][MAX_ACTIVE_DEVICES - 1 :]
    for device in extra:
        device.active = False
        device.deactivated_reason = "superseded"


def unregister(session: Session, member_id: str, device_id: str) -> Device:
    """Deactivate one of the caller's own devices by deviceId (idempotent)."""
    return _deactivate(session.get(Device, device_id, with_for_update=True), member_id)


def unregister_token(session: Session, member_id: str, token: str) -> Device:
    """Deactivate the caller's own device holding `token` (idempotent). The token comes in
    a request body, never in a URL, so it stays out of access logs."""
    return _deactivate(_by_token(session, token), member_id)


def _deactivate(device: Device | None, member_id: str) -> Device:
    # Another member's device answers like a missing one: nothing to learn from the status.
    if device is None or device.member_id != member_id:
        raise NotFound("No such device.")
    if device.active:
        device.active = False
        device.deactivated_reason = "unregistered"
    return device


def active_devices(session: Session, member_id: str) -> list[Device]:
    return list(
        session.execute(
            select(Device)
            .where(Device.member_id == member_id, Device.active.is_(True))
            .order_by(Device.last_seen_at.desc(), Device.id)
        ).scalars()
    )
