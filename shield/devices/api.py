"""Member device routes: register a push token, remove it, list the active ones.

A push token never appears in a URL (URLs end up in access logs): a device is removed by
its deviceId in the path, or by its token in a POST body.
"""

from __future__ import annotations

from flask import g
from werkzeug.routing import BaseConverter

from models import db
from shield.api import member_blueprint
from shield.openapi import doc
from shield.requests import json_body

from . import service
from .schemas import DeviceIn, DeviceListOut, DeviceOut, DeviceTokenIn

bp = member_blueprint("devices", __name__)


class DeviceIdConverter(BaseConverter):
    """Only a deviceId (`dev_` + 32 hex) matches, so a token in the path matches no route."""

    regex = r"dev_[0-9a-f]{32}"


bp.record_once(
    lambda state: state.app.url_map.converters.setdefault("device_id", DeviceIdConverter)
)


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


@bp.delete("/devices/<device_id:deviceId>")
@doc(summary="Unregister one of my devices by deviceId (204; again: 204)", status=204)
def unregister(deviceId: str):  # noqa: N803 (the documented path parameter)
    service.unregister(db.session, g.principal.id, deviceId)
    db.session.commit()
    return "", 204


@bp.post("/devices/unregister")
@doc(
    summary="Unregister one of my devices by its push token, sent in the body (204; again: 204)",
    body=DeviceTokenIn,
    status=204,
)
def unregister_by_token():
    data = DeviceTokenIn().load(json_body())
    service.unregister_token(db.session, g.principal.id, data["token"])
    db.session.commit()
    return "", 204


@bp.get("/devices")
@doc(summary="My active devices", response=DeviceListOut)
def list_devices():
    devices = service.active_devices(db.session, g.principal.id)
    return DeviceListOut().dump({"devices": devices})
