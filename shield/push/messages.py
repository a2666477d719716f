"""What one push looks like: title and body, a small string-only data payload, platform configs."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from shield.events import rule_for
from shield.events.texts import describe

MAX_DATA_BYTES = 4096  # FCM's limit for the data payload
MAX_APNS_COLLAPSE_ID = 64  # bytes, Apple's limit
# Ids copied from the event's data into the push's data, when the event has them.
DATA_IDS = ("claimId", "payoutId", "transactionId", "withdrawalId")


class PayloadTooLarge(ValueError):
    """The data payload would exceed FCM's 4 KB: a bug in this module, never retried."""


@dataclass(frozen=True)
class PushMessage:
    delivery_id: str
    event_id: str
    token: str
    platform: str
    title: str
    body: str
    data: dict[str, str]
    android: dict
    apns: dict
    collapse_key: str

    def pyfcm_kwargs(self) -> dict:
        """Arguments for pyfcm's `parse_payload` / `notify`."""
        return {
            "fcm_token": self.token,
            "notification_title": self.title,
            "notification_body": self.body,
            "data_payload": self.data,
            "android_config": self.android,
            "apns_config": self.apns,
        }

    def describe(self) -> dict:
        """The message as it would go to FCM, with the token masked (logs, recorded pushes)."""
        return {
            "token": mask_token(self.token),
            "platform": self.platform,
            "notification": {"title": self.title, "body": self.body},
            "data": self.data,
            "android": self.android,
            "apns": self.apns,
        }


def mask_token(token: str | None) -> str | None:
    """Only the last 6 characters of a registration token are ever shown or logged."""
    if not token:
        return token
    return "…" + token[-6:]


def collapse_key(name: str, data: dict) -> str:
    """One key per claim (a newer push about the claim replaces the older one on the device)."""
    for key, prefix in (
        ("claimId", "claim"),
        ("payoutId", "payout"),
        ("withdrawalId", "withdrawal"),
        ("subscriptionId", "subscription"),
    ):
        if data.get(key):
            value = f"{prefix}-{data[key]}"
            break
    else:
        value = name
    if len(value.encode()) > MAX_APNS_COLLAPSE_ID:
        value = prefix_hash(value)
    return value


def prefix_hash(value: str) -> str:
    return "k-" + hashlib.blake2s(value.encode(), digest_size=16).hexdigest()


def build_message(
    *,
    delivery_id: str,
    event_id: str,
    seq: int,
    name: str,
    payload: dict,
    token: str,
    platform: str,
    round_: int,
    ttl_seconds: int,
    now: datetime,
) -> PushMessage:
    """Build the push for one event, device and round."""
    rule = rule_for(name)
    data_in = payload.get("data") or {}
    text = describe(name, data_in)
    data = {
        "eventId": event_id,
        "event": name,
        "seq": str(seq),
        "type": rule.notification_type,
        "route": text.route or "/notifications",
    }
    for key in DATA_IDS:  # what the app opens: "Payment received" carries all three ids
        if data_in.get(key):
            data[key] = str(data_in[key])
    if round_:
        data["round"] = str(round_)
    size = len(json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode())
    if size >= MAX_DATA_BYTES:
        raise PayloadTooLarge(f"data payload of {name} is {size} bytes")
    key = collapse_key(name, data_in)
    critical = rule.critical
    expires = now + timedelta(seconds=ttl_seconds)
    android = {
        "priority": "HIGH" if critical else "NORMAL",
        "ttl": f"{ttl_seconds}s",
        "collapse_key": key,
        # The tag replaces a shown notification about the same claim (collapse_key only
        # collapses messages stored while the device is offline).
        "notification": {"tag": key},
    }
    aps: dict = {"thread-id": key}
    if critical:
        aps["sound"] = "default"
    apns = {
        "headers": {
            "apns-priority": "10" if critical else "5",
            "apns-collapse-id": key,
            "apns-push-type": "alert",
            "apns-expiration": str(int(expires.timestamp())),
        },
        "payload": {"aps": aps},
    }
    return PushMessage(
        delivery_id=delivery_id,
        event_id=event_id,
        token=token,
        platform=platform,
        title=text.title,
        body=text.message or text.title,
        data=data,
        android=android,
        apns=apns,
        collapse_key=key,
    )
