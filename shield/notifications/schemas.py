"""Schemas of the notification inbox API (the spec's `notification` object)."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, post_dump, validate, validates_schema

from models.notification import TYPES
from shield.events.kinds import KINDS
from shield.fields import Timestamp


class StrictBoolean(fields.Boolean):
    """Only JSON true/false: no "yes", 1 or "true" strings."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise ValidationError("Must be true or false.")
        return value


class NotificationOut(Schema):
    id = fields.String()
    title = fields.String()
    message = fields.String()
    type = fields.String(validate=validate.OneOf(TYPES))
    read = fields.Boolean()
    created_at = Timestamp(data_key="createdAt")
    data = fields.Method("_data", allow_none=True)

    def _data(self, entry):
        extra = {
            key: value
            for key, value in (("claimId", entry.claim_id), ("route", entry.route))
            if value
        }
        return extra or None

    @post_dump
    def _drop_empty_data(self, body, **kwargs):
        if body.get("data") is None:
            body.pop("data", None)
        return body


class InboxOut(Schema):
    notifications = fields.List(fields.Nested(NotificationOut))
    unread_count = fields.Integer(data_key="unreadCount")


class ReadOut(Schema):
    notification = fields.Nested(NotificationOut)
    unread_count = fields.Integer(data_key="unreadCount")


class ReadAllOut(Schema):
    updated = fields.Integer()
    unread_count = fields.Integer(data_key="unreadCount")


class EmptyIn(Schema):
    """Bodies of the mark-read calls: none, or an empty object."""


def _switches() -> dict:
    """Each known kind is a boolean; a locked (critical) kind can only be sent as true."""
    return {
        kind.id: {"type": "boolean", **({"enum": [True]} if kind.locked else {})} for kind in KINDS
    }


class PreferencesIn(Schema):
    """Either switch or both: `pushEnabled` (all non-critical push) and `kinds` (per kind)."""

    OPENAPI = {"minProperties": 1}  # an empty object is 422 "Send pushEnabled, kinds or both."

    push_enabled = StrictBoolean(
        data_key="pushEnabled",
        metadata={"description": "Push for non-critical kinds at all (critical kinds always)."},
    )
    kinds = fields.Dict(
        keys=fields.String(),
        values=StrictBoolean(),
        metadata={
            "description": 'One switch per kind, e.g. {"claim_under_review": false}. '
            "Unknown kinds, and locked (critical) kinds turned off, are a 422 naming them; "
            "nothing changes then.",
            "properties": _switches(),
            "additionalProperties": False,
        },
    )

    @validates_schema
    def _something(self, data, **kwargs):
        if "push_enabled" not in data and "kinds" not in data:
            raise ValidationError("Send pushEnabled, kinds or both.", "_schema")


class KindOut(Schema):
    kind = fields.String(metadata={"description": "e.g. claim_under_review, withdrawal_failed"})
    title = fields.String()
    enabled = fields.Boolean(metadata={"description": "This kind's own switch"})
    locked = fields.Boolean(metadata={"description": "Critical: always pushes, cannot be off"})


class PreferencesOut(Schema):
    push_enabled = fields.Boolean(data_key="pushEnabled")
    kinds = fields.List(fields.Nested(KindOut))
