"""payouts package."""
