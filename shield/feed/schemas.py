"""Output schemas of the event feed, acks and the admin delivery views."""

from __future__ import annotations

import json

from marshmallow import Schema, fields

from shield.events.schemas import EventMessageOut
from shield.fields import Timestamp
from shield.push.messages import mask_token


class FeedOut(Schema):
    events = fields.List(fields.Nested(EventMessageOut), required=True)
    last_seq = fields.Integer(
        data_key="lastSeq", required=True, metadata={"description": "pass as `after` next time"}
    )
    has_more = fields.Boolean(data_key="hasMore", required=True)
    reset = fields.Boolean(
        required=True,
        metadata={"description": "events were pruned: refetch claims, wallet and subscription"},
    )


class AckOut(Schema):
    event_id = fields.String(data_key="eventId", attribute="event_id")
    event = fields.String()
    via = fields.String()
    acked_at = Timestamp(data_key="ackedAt")


class AttemptOut(Schema):
    attempted_at = Timestamp(data_key="attemptedAt")
    outcome = fields.String(
        metadata={
            "description": "sent, recorded (log backend), token_dead, "
            "payload_rejected, paused, retry, gave_up"
        }
    )
    http_status = fields.Integer(data_key="httpStatus", allow_none=True)
    error_code = fields.String(data_key="errorCode", allow_none=True)
    detail = fields.Method(
        "_detail", allow_none=True, metadata={"description": "FCM message name or error text"}
    )
    message = fields.Method(
        "_message",
        allow_none=True,
        metadata={"description": "recorded attempts: the message that would have been sent"},
    )

    def _detail(self, attempt) -> str | None:
        return None if attempt.outcome == "recorded" else attempt.detail

    def _message(self, attempt) -> dict | None:
        if attempt.outcome != "recorded" or not attempt.detail:
            return None
        return json.loads(attempt.detail)


class DeliveryOut(Schema):
    """One push delivery (event x device x round) and every attempt made for it."""

    id = fields.String()
    event_id = fields.String(data_key="eventId")
    event = fields.String()
    seq = fields.Integer()
    device_id = fields.String(data_key="deviceId")
    member_id = fields.String(data_key="userId")
    platform = fields.String()
    token = fields.Function(
        lambda view: mask_token(view.token), metadata={"description": "the last 6 characters only"}
    )
    device_active = fields.Boolean(data_key="deviceActive")
    round = fields.Integer(metadata={"description": "0: first push; 1..: re-push rounds"})
    status = fields.String()
    attempts = fields.Integer()
    next_attempt_at = Timestamp(data_key="nextAttemptAt")
    sent_at = Timestamp(data_key="sentAt", allow_none=True)
    last_error = fields.String(data_key="lastError", allow_none=True)
    attempt_log = fields.List(fields.Nested(AttemptOut), data_key="attemptLog")


class EventDeliveriesOut(Schema):
    event_id = fields.String(data_key="eventId")
    event = fields.String()
    seq = fields.Integer()
    user_id = fields.String(data_key="userId", allow_none=True)
    push_state = fields.String(data_key="pushState")
    ack = fields.Nested(AckOut, allow_none=True)
    deliveries = fields.List(fields.Nested(DeliveryOut))


class RecentDeliveriesOut(Schema):
    deliveries = fields.List(fields.Nested(DeliveryOut))
    count = fields.Integer()
