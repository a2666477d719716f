"""The application factory: `flask --app app run`, `gunicorn wsgi:app`."""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from shield import config as shield_config
from shield import ops, polling_fastpath
from shield.claims import serialize as claim_rendering
from shield.errors import register_error_handlers
from shield.events import outbox
from shield.extensions import db, migrate
from shield.ops import logs

MAX_BODY_BYTES = 64 * 1024


def create_app(config: Mapping | None = None, **overrides) -> Flask:
    """Build the Shield app from the environment, then `config` and `overrides` on top."""
    app = Flask("shield", instance_relative_config=True, root_path=os.path.dirname(__file__))
    configure(app, config, overrides)
    register_providers(app)
    register_extensions(app)
    ops.install(app)  # request ids, metrics, access lines, /healthz /readyz /metrics
    register_blueprints(app)
    register_error_handlers(app)
    register_cli(app)
    register_addons(app)
    polling_fastpath.install(app)  # unchanged polls answered before Flask (PostgreSQL)
    return app


def configure(app: Flask, config: Mapping | None, overrides: Mapping) -> None:
    app.config.update(shield_config.from_env())
    app.config.update(config or {})
    app.config.update(overrides)
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        os.makedirs(app.instance_path, exist_ok=True)
        app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + os.path.join(
            app.instance_path, "shield.sqlite3"
        )
    app.config["SQLALCHEMY_DATABASE_URI"] = shield_config.database_url(
        app.config["SQLALCHEMY_DATABASE_URI"]
    )
    if not app.config.get("MAX_CONTENT_LENGTH"):
        app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json.sort_keys = False
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {"connect_args": {"timeout": 30}})
    else:
        app.config.setdefault(
            "SQLALCHEMY_ENGINE_OPTIONS",
            {"pool_size": 10, "max_overflow": 20, "pool_pre_ping": True},
        )
    # Database errors are logged on a 500; their text must not carry bound values (push
    # tokens, emails). Kept unless the configuration says otherwise.
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
        "hide_parameters": True,
        **app.config["SQLALCHEMY_ENGINE_OPTIONS"],
    }
    shield_config.resolve_jwt(app.config)
    logs.configure(app.config)  # SHIELD_LOG_FORMAT=text|json


def register_providers(app: Flask) -> None:
    """The bank and billing providers the configuration names (refuses to start otherwise)."""
    from shield.subscriptions import billing
    from shield.wallet import bank

    bank.install(app)
    billing.install(app)


def register_extensions(app: Flask) -> None:
    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(__file__), "migrations"))
    outbox.install()
    claim_rendering.install()


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record) -> None:
    """WAL and foreign keys for SQLite, the embedded default."""
    module = type(dbapi_connection).__module__
    if "sqlite" not in module:
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


BLUEPRINT_MODULES = (
    "shield.claims.api",
    "shield.claims.admin_api",
    "shield.claims.admin_history_api",
    "shield.wallet.api",
    "shield.wallet.admin_api",
    "shield.subscriptions.api",
    "shield.subscriptions.admin_api",
    "shield.notifications.api",
    "shield.devices.api",
    "shield.devices.admin_api",
    "shield.feed.api",
    "shield.feed.admin_api",
    "shield.openapi",
    "shield.console",
)


def register_blueprints(app: Flask) -> None:
    """Every feature module exposes `bp`; the list above is the whole HTTP surface."""
    for name in BLUEPRINT_MODULES:
        app.register_blueprint(importlib.import_module(name).bp)


def register_cli(app: Flask) -> None:
    from shield.cli import shield_cli

    app.cli.add_command(shield_cli)


def register_addons(app: Flask) -> None:
    """Optional pieces: the in-process scheduler, the push wake-up and the socket addon."""
    from shield.addons import init_addons

    init_addons(app)
