"""Admin route: a member's registered devices (tokens masked to their last characters)."""

from __future__ import annotations

from sqlalchemy import select

from models import Device, db
from shield.api import admin_blueprint
from shield.openapi import doc

from .schemas import DeviceListOut

bp = admin_blueprint("admin_devices", __name__)


@bp.get("/members/<member_id>/devices")
@doc(
    summary="A member's devices, active first then most recently seen (tokens masked)",
    response=DeviceListOut,
)
def member_devices(member_id: str):
    devices = db.session.execute(
        select(Device)
        .where(Device.member_id == member_id)
        .order_by(Device.active.desc(), Device.last_seen_at.desc(), Device.id)
    ).scalars()
    return DeviceListOut().dump({"devices": list(devices)})
