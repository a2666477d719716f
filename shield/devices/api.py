"""Member device routes: register a push token, remove it, list the active ones."""

from __future__ import annotations

from flask import g

from models import db
from shield.api import member_blueprint
from shield.openapi import doc
from shield.requests import json_body

from . import service
from .schemas import DeviceIn, DeviceListOut, DeviceOut

bp = member_blueprint("devices", __name__)


@bp.post("/devices")
@doc(
    summary="Register a push token (201 new, 200 known)",
    body=DeviceIn,
    response=DeviceOut,
    status=201,
    also={200: "The token was known: refreshed and returned"},
)
def register():
    data = DeviceIn().load(json_body())
    device, created = service.register(db.session, g.principal, data["token"], data["platform"])
    db.session.commit()
    return DeviceOut().dump(device), 201 if created else 200


@bp.delete("/devices/<token>")
@doc(
    summary="Unregister one of my devices by deviceId (preferred: no token in URLs) or token",
    status=204,
)
def unregister(token: str):
    service.unregister(db.session, g.principal.id, token)
    db.session.commit()
    return "", 204


@bp.get("/devices")
@doc(summary="My active devices", response=DeviceListOut)
def list_devices():
    devices = service.active_devices(db.session, g.principal.id)
    return DeviceListOut().dump({"devices": devices})
