"""Member device routes: register a push token, remove it, list the active ones."""

from __future__ import annotations

from flask import g

from models import db
from shield.api import member_blueprint
from shield.requests import json_body

from . import service
from .schemas import DeviceIn, DeviceListOut, DeviceOut

bp = member_blueprint("devices", __name__)


@bp.post("/devices")
def register():
    data = DeviceIn().load(json_body())
    device, created = service.register(db.session, g.principal, data["token"], data["platform"])
    db.session.commit()
    return DeviceOut().dump(device), 201 if created else 200


@bp.delete("/devices/<token>")
def unregister(token: str):
    service.unregister(db.session, g.principal.id, token)
    db.session.commit()
    return "", 204


@bp.get("/devices")
def list_devices():
    devices = service.active_devices(db.session, g.principal.id)
    return DeviceListOut().dump({"devices": devices})
