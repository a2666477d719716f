"""TODO: routes of shield.wallet (being written)."""

from shield.api import member_blueprint

bp = member_blueprint("wallet_api", __name__)
