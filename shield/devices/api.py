"""TODO: routes of shield.devices (being written)."""

from shield.api import member_blueprint

bp = member_blueprint("devices_api", __name__)
