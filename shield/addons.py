"""Optional pieces wired at start-up: scheduler, push wake-up, socket addon."""

from flask import Flask


def init_addons(app: Flask) -> None:
    """Start what the configuration asks for (nothing in tests)."""
