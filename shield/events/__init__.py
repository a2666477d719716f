"""Spec events: the catalog of who gets what, envelopes, and the outbox hook."""

from .catalog import ACK_OPTIONAL, ACK_REQUIRED, EVENTS, rule_for
from .envelope import envelope
from .kinds import KINDS, Kind
from .outbox import (
    CommittedEvent,
    bump,
    mark_pruned,
    message,
    on_commit,
    pruned_through,
    record,
    remove_listener,
)

__all__ = [
    "ACK_OPTIONAL",
    "ACK_REQUIRED",
    "EVENTS",
    "rule_for",
    "envelope",
    "KINDS",
    "Kind",
    "CommittedEvent",
    "bump",
    "mark_pruned",
    "pruned_through",
    "message",
    "on_commit",
    "record",
    "remove_listener",
]
