"""Marshmallow fields for the wire format: money in dollars (cents inside), UTC timestamps."""

from __future__ import annotations

from marshmallow import ValidationError, fields

from .wire import dollars, iso, to_cents


class Money(fields.Field):
    """Dollars on the wire (at most two decimals), integer cents in Python."""

    def __init__(self, *, minimum_cents: int = 0, maximum_cents: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.minimum_cents = minimum_cents
        self.maximum_cents = maximum_cents
        self.metadata.setdefault("type", "number")

    def _serialize(self, value, attr, obj, **kwargs):
        return dollars(value)

    def _deserialize(self, value, attr, data, **kwargs):
        # A JSON number only: "85" (a string) is refused, as the API document says.
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValidationError("Must be a JSON number of dollars, like 45.5.")
        try:
            cents = to_cents(value)
        except ValueError as exc:
            raise ValidationError(
                f"Must be an amount in dollars with {exc}."
                if "decimal" in str(exc)
                else "Must be an amount in dollars, like 45.5."
            ) from None
        if cents < self.minimum_cents:
            raise ValidationError(f"Must be at least {dollars(self.minimum_cents)}.")
        if self.maximum_cents is not None and cents > self.maximum_cents:
            raise ValidationError(f"Must be at most {dollars(self.maximum_cents)}.")
        return cents


class Timestamp(fields.DateTime):
    """ISO 8601 UTC with a Z; naive input is refused."""

    def _serialize(self, value, attr, obj, **kwargs):
        return iso(value)

    def _deserialize(self, value, attr, data, **kwargs):
        result = super()._deserialize(value, attr, data, **kwargs)
        if result.tzinfo is None:
            raise ValidationError("Must include a timezone (use Z for UTC).")
        return result
