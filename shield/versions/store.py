"""Reading versions straight from the database: one indexed SELECT per conditional GET."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from models import ResourceVersion, db

# Resources whose representation holds clock-derived fields -> their `valid_until` column.
CLOCKED = {"claims": "claims_valid_until", "subscription": "subscription_valid_until"}

# The columns a cache keeps per member, in this order.
FIELDS = (
    "claims",
    "wallet",
    "subscription",
    "notifications",
    "events",
    "claims_valid_until",
    "subscription_valid_until",
)
INDEX = {name: i for i, name in enumerate(FIELDS)}
_ROW_COLUMNS = [getattr(ResourceVersion, name) for name in FIELDS]

Versions = tuple[int, datetime | None]


def pick(row: tuple, resource: str) -> Versions:
    """A resource's (version, valid_until) out of a full FIELDS row."""
    clock = CLOCKED.get(resource)
    return row[INDEX[resource]], (row[INDEX[clock]] if clock else None)


def load_row(member_id: str) -> tuple | None:
    """The member's whole version row (FIELDS order), or None when there is none."""
    row = db.session.execute(
        select(*_ROW_COLUMNS).where(ResourceVersion.member_id == member_id)
    ).first()
    return tuple(row) if row is not None else None


class DatabaseVersionStore:
    """Reads a member's version for a resource with one indexed SELECT, every time."""

    def read(self, member_id: str, resource: str) -> Versions | None:
        columns = [getattr(ResourceVersion, resource)]
        clock = CLOCKED.get(resource)
        if clock:
            columns.append(getattr(ResourceVersion, clock))
        row = db.session.execute(
            select(*columns).where(ResourceVersion.member_id == member_id)
        ).first()
        if row is None:
            return None
        return row[0], (row[1] if clock else None)

    def changed(self, session, member_id: str) -> None:
        """Called inside a transaction that updates a member's row outside the outbox hook."""

    def committed(self, member_id: str) -> None:
        """Called after that transaction commits."""

    def stats(self) -> dict:
        return {"mode": "off"}
