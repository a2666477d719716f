"""TODO: routes of shield.subscriptions (being written)."""

from shield.api import member_blueprint

bp = member_blueprint("subscriptions_api", __name__)
