"""All models; importing this package registers every table on `db.metadata`."""

from .base import Base, UTCDateTime, db, new_id, utcnow
from .claim import Claim
from .delivery import DeliveryAttempt, EventAck, PushDelivery
from .deployment import Deployment
from .device import Device
from .idempotency import IdempotencyKey
from .member import Member, PushKindPreference, ResourceVersion
from .notification import Notification
from .outbox import EventRetention, EventSequence, OutboxEvent
from .payout import Payout
from .subscription import CoveragePeriod, Subscription
from .wallet import Wallet, WalletTransaction
from .withdrawal import Withdrawal

__all__ = [
    "Base",
    "UTCDateTime",
    "db",
    "new_id",
    "utcnow",
    "Claim",
    "DeliveryAttempt",
    "Deployment",
    "EventAck",
    "PushDelivery",
    "Device",
    "IdempotencyKey",
    "Member",
    "PushKindPreference",
    "ResourceVersion",
    "Notification",
    "EventRetention",
    "EventSequence",
    "OutboxEvent",
    "Payout",
    "CoveragePeriod",
    "Subscription",
    "Wallet",
    "WalletTransaction",
    "Withdrawal",
]
