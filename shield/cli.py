"""`flask --app app shield ...`: tokens and demo data for development."""

from __future__ import annotations

import os

import click
from flask import current_app
from flask.cli import AppGroup

from .auth import issue_token
from .console import console_link

shield_cli = AppGroup("shield", help="Shield developer commands.")


@shield_cli.command("token")
@click.argument("user")
@click.option("--admin", is_flag=True, help="Give the token the admin role.")
@click.option("--email", default=None, help="Email claim (default USER@example.com).")
@click.option("--days", default=30, show_default=True, help="Days until it expires.")
def token_command(user: str, admin: bool, email: str | None, days: int) -> None:
    """Print a bearer token for USER valid for the running configuration."""
    from datetime import timedelta

    click.echo(
        issue_token(
            current_app.config,
            user,
            admin=admin,
            email=email or f"{user}@example.com",
            ttl=timedelta(days=days),
        )
    )


@shield_cli.command("seed")
def seed_command() -> None:
    """Create demo members, subscriptions and claims once (safe to run again)."""
    from .seed import seed_demo

    created = seed_demo()
    click.echo("demo data created" if created else "demo data already present")


@shield_cli.command("demo-tokens")
def demo_tokens_command() -> None:
    """Print the demo member's and admin's tokens, ready for curl (development and test)."""
    from datetime import timedelta

    from .config import ConfigError, is_local
    from .seed import DEMO_ADMIN, DEMO_MEMBER

    config = current_app.config
    if not is_local(config):
        # A week-long admin token signed with the production key, and a console link that
        # signs its holder in: demo conveniences, like the demo data.
        raise ConfigError(
            f"refusing to print demo tokens with SHIELD_ENV={config.get('SHIELD_ENV')}: "
            "demo tokens are for SHIELD_ENV=development or test"
        )
    member = issue_token(
        config, DEMO_MEMBER, email=f"{DEMO_MEMBER}@example.com", ttl=timedelta(days=7)
    )
    admin = issue_token(
        config, DEMO_ADMIN, admin=True, email=f"{DEMO_ADMIN}@example.com", ttl=timedelta(days=7)
    )
    click.echo("\nDemo tokens (valid 7 days):")
    click.echo(f"  export MEMBER_TOKEN={member}")
    click.echo(f"  export ADMIN_TOKEN={admin}\n")
    base = os.environ.get("SHIELD_CONSOLE_BASE_URL", "http://127.0.0.1:8000")
    click.echo("Admin console (opens signed in as the demo admin):")
    click.echo(f"  {console_link(base, admin)}\n")
