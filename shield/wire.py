"""Wire formats shared by REST and events: money in dollars, timestamps in ISO 8601 UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation


def dollars(cents: int | None) -> int | float | None:
    """Return cents as a JSON number of dollars: 4550 -> 45.5, 12000 -> 120."""
    if cents is None:
        return None
    if cents % 100 == 0:
        return cents // 100
    # Correctly rounded division: repr() of the result is the two-decimal amount.
    return cents / 100


def to_cents(value) -> int:
    """Parse a dollar amount (number or numeric string, at most two decimals) into cents."""
    if isinstance(value, bool):
        raise ValueError("not a number")
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError("not a number") from exc
    if not amount.is_finite():
        raise ValueError("not a finite number")
    try:
        cents = amount * 100
        if cents != cents.to_integral_value():
            raise ValueError("at most two decimals")
        return int(cents.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    except ArithmeticError as exc:  # decimal Overflow/InvalidOperation: far out of range
        raise ValueError("out of range") from exc


def iso(value: datetime | date | None) -> str | None:
    """Return an ISO 8601 string; datetimes in UTC with a `Z` and millisecond precision."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        text = value.astimezone(UTC).isoformat(timespec="milliseconds")
        return text.replace("+00:00", "Z")
    return value.isoformat()
