"""The log backend: with no FCM credentials, record what would have been sent.

Each recorded push is logged, kept in a small in-memory ring (`recent()`) and, by the
dispatcher, stored as a DeliveryAttempt with outcome `recorded` whose detail is the message
(token masked): `GET /shield/v1/admin/push/deliveries` shows them, so `make run` works offline.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque

from .messages import PushMessage
from .results import RECORDED, SendResult

log = logging.getLogger("shield.push.recorded")


class LogSender:
    """A sender that sends nothing and records everything."""

    name = "log"

    def __init__(self, keep: int = 200):
        self._ring: deque[dict] = deque(maxlen=keep)
        self._lock = threading.Lock()

    def send(self, message: PushMessage) -> SendResult:
        shown = message.describe()
        with self._lock:
            self._ring.append(
                {"deliveryId": message.delivery_id, "eventId": message.event_id, **shown}
            )
        log.info(
            "push recorded (no FCM credentials) to %s [%s]: %s | %s | data=%s",
            shown["token"],
            message.platform,
            message.title,
            message.body,
            json.dumps(message.data, sort_keys=True),
        )
        return SendResult(RECORDED, detail=json.dumps(shown, ensure_ascii=False, sort_keys=True))

    def recent(self) -> list[dict]:
        """The last recorded pushes of this process, oldest first."""
        with self._lock:
            return list(self._ring)

    def close(self) -> None:
        pass
