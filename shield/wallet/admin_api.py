"""TODO: routes of shield.wallet (being written)."""

from shield.api import admin_blueprint

bp = admin_blueprint("wallet_admin_api", __name__)
