"""Schemas of the device API. Tokens are accepted in full but only ever shown as a suffix."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from models.device import PLATFORMS
from shield.fields import Timestamp
from shield.patterns import Pattern

MAX_TOKEN = 4096
# FCM registration tokens (and APNs hex tokens) use these: no '/', space or '%'.
TOKEN_PATTERN = r"^[A-Za-z0-9_\-:.~+=]+$"  # noqa: S105 - a pattern, not a secret


def _token() -> fields.String:
    return fields.String(
        required=True,
        validate=[
            validate.Length(min=1, max=MAX_TOKEN),
            Pattern(TOKEN_PATTERN, error="Not a push registration token."),
        ],
    )


class DeviceIn(Schema):
    token = _token()
    platform = fields.String(required=True, validate=validate.OneOf(PLATFORMS))


class DeviceTokenIn(Schema):
    """POST /devices/unregister: the token travels in the body, never in the URL."""

    token = _token()


class DeviceOut(Schema):
    id = fields.String(data_key="deviceId")
    platform = fields.String(validate=validate.OneOf(PLATFORMS))
    token_suffix = fields.Method("_suffix", data_key="tokenSuffix")
    active = fields.Boolean()
    created_at = Timestamp(data_key="createdAt")
    last_seen_at = Timestamp(data_key="lastSeenAt")

    def _suffix(self, device):
        return device.token[-8:]


class DeviceListOut(Schema):
    devices = fields.List(fields.Nested(DeviceOut))
