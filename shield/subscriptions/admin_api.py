"""TODO: routes of shield.subscriptions (being written)."""

from shield.api import admin_blueprint

bp = admin_blueprint("subscriptions_admin_api", __name__)
