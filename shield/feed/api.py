"""TODO: routes of shield.feed (being written)."""

from shield.api import member_blueprint

bp = member_blueprint("feed_api", __name__)
