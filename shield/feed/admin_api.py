"""TODO: routes of shield.feed (being written)."""

from shield.api import admin_blueprint

bp = admin_blueprint("feed_admin_api", __name__)
