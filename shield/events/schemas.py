"""The schema of a feed message, shared by the feed and the admin claim history."""

from __future__ import annotations

from marshmallow import Schema, fields


class EventMessageOut(Schema):
    """A spec envelope plus `id` and `seq` (the same message every channel sends)."""

    event = fields.String(required=True)
    timestamp = fields.String(required=True)
    data = fields.Dict(required=True)
    id = fields.String(required=True)
    seq = fields.Integer(required=True)
