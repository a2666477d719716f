"""TODO: routes of shield.notifications (being written)."""

from shield.api import member_blueprint

bp = member_blueprint("notifications_api", __name__)
