"""Configuration from the environment, with defaults for the embedded (one-machine) setup."""

from __future__ import annotations

import logging
import os

import click

log = logging.getLogger(__name__)

DEV_JWT_SECRET = "shield-dev-secret-not-for-production"  # noqa: S105 (documented dev default)
SERVER_VERSION = "1.0.0"

PRODUCTION = "production"
ENVIRONMENTS = ("development", "test", PRODUCTION)
# Environments where the built-in secret and the simulated providers are the defaults.
LOCAL_ENVIRONMENTS = ("development", "test")
MIN_HS256_SECRET_BYTES = 32


class ConfigError(RuntimeError, click.ClickException):
    """A setting that keeps the service from starting. The message is one line that says
    what to set; the Flask CLI prints it as `Error: ...` and exits 1, `python -m jobs`
    prints it and exits 2, a WSGI server fails to boot the worker."""

    def __init__(self, message: str):
        click.ClickException.__init__(self, " ".join(str(message).split()))

    def __str__(self) -> str:
        return self.message


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def database_url(raw: str | None) -> str | None:
    """Normalise a DATABASE_URL so SQLAlchemy uses psycopg 3 for PostgreSQL."""
    if not raw:
        return None
    for prefix in ("postgres://", "postgresql://"):
        if raw.startswith(prefix):
            return "postgresql+psycopg://" + raw[len(prefix) :]
    return raw


def from_env(env: os._Environ | dict | None = None) -> dict:
    """Read every setting the service knows from environment variables."""
    env = os.environ if env is None else env
    return {
        # Unset means production: a forgotten setting must never open the development doors.
        "SHIELD_ENV": env.get("SHIELD_ENV") or PRODUCTION,
        "SQLALCHEMY_DATABASE_URI": database_url(env.get("DATABASE_URL")),
        "SHIELD_JWT_SECRET": env.get("SHIELD_JWT_SECRET") or None,
        # simulated or package.module:Class (docs/providers.md); unset refuses production.
        "SHIELD_BANK_PROVIDER": env.get("SHIELD_BANK_PROVIDER") or None,
        "SHIELD_BILLING_PROVIDER": env.get("SHIELD_BILLING_PROVIDER") or None,
        "SHIELD_JWT_PUBLIC_KEY": env.get("SHIELD_JWT_PUBLIC_KEY") or None,
        "SHIELD_JWT_PRIVATE_KEY": env.get("SHIELD_JWT_PRIVATE_KEY") or None,
        "SHIELD_JWT_ISSUER": env.get("SHIELD_JWT_ISSUER") or None,
        "SHIELD_JWT_AUDIENCE": env.get("SHIELD_JWT_AUDIENCE") or None,
        "SHIELD_JWT_LEEWAY": int(env.get("SHIELD_JWT_LEEWAY", "30")),
        "SHIELD_FCM_SERVICE_ACCOUNT": env.get("SHIELD_FCM_SERVICE_ACCOUNT") or None,
        "SHIELD_FCM_ENDPOINT": env.get("SHIELD_FCM_ENDPOINT") or None,
        "REDIS_URL": env.get("REDIS_URL") or None,
        "SHIELD_WS_ENABLED": _bool(env.get("SHIELD_WS_ENABLED")),
        "SHIELD_SOCKETIO_ENABLED": _bool(env.get("SHIELD_SOCKETIO_ENABLED")),
        "SHIELD_WS_ALLOWED_ORIGINS": [
            o.strip() for o in env.get("SHIELD_WS_ALLOWED_ORIGINS", "").split(",") if o.strip()
        ],
        # inprocess: the web process runs the jobs (make run); off: `python -m jobs` does.
        "SHIELD_SCHEDULER": env.get("SHIELD_SCHEDULER", "off"),
        "SHIELD_EVENT_RETENTION_DAYS": int(env.get("SHIELD_EVENT_RETENTION_DAYS", "7")),
        # auto: a LISTEN/NOTIFY-fed per-process cache on PostgreSQL (304 lag <= 1 s), off on SQLite.
        "SHIELD_VERSION_CACHE": env.get("SHIELD_VERSION_CACHE", "auto"),
        # Operations (docs/operations.md): /metrics token, log format, access lines, metrics.
        "SHIELD_METRICS_TOKEN": env.get("SHIELD_METRICS_TOKEN") or None,
        "SHIELD_METRICS": env.get("SHIELD_METRICS", "on"),
        "SHIELD_LOG_FORMAT": env.get("SHIELD_LOG_FORMAT", "text"),
        "SHIELD_LOG_LEVEL": env.get("SHIELD_LOG_LEVEL", "INFO"),
        "SHIELD_ACCESS_LOG": env.get("SHIELD_ACCESS_LOG") or None,
        # `python -m jobs`: PORT or HOST:PORT for its /healthz /readyz /metrics (off unset).
        "SHIELD_JOBS_HTTP_PORT": env.get("SHIELD_JOBS_HTTP_PORT") or None,
    }


def resolve_env(config: dict) -> str:
    """Normalise SHIELD_ENV to one of ENVIRONMENTS (any case); refuse anything else."""
    raw = config.get("SHIELD_ENV") or PRODUCTION
    name = str(raw).strip().lower()
    if name not in ENVIRONMENTS:
        raise ConfigError(
            f"SHIELD_ENV={raw!r} is not known: set SHIELD_ENV to development, test or "
            "production (unset means production)"
        )
    config["SHIELD_ENV"] = name
    return name


def is_local(config) -> bool:
    """True in development and test, where demo defaults are allowed."""
    return config.get("SHIELD_ENV") in LOCAL_ENVIRONMENTS


def resolve_jwt(config: dict) -> None:
    """Pick the JWT key and algorithm. The built-in secret is for development and test
    only; production needs a key, and an HS256 secret of at least 32 bytes."""
    env = resolve_env(config)
    if config.get("SHIELD_JWT_PUBLIC_KEY"):
        config["SHIELD_JWT_ALGORITHM"] = "RS256"
        config["SHIELD_JWT_VERIFY_KEY"] = config["SHIELD_JWT_PUBLIC_KEY"]
        config["SHIELD_JWT_SIGN_KEY"] = config.get("SHIELD_JWT_PRIVATE_KEY")
        return
    config["SHIELD_JWT_ALGORITHM"] = "HS256"
    secret = config.get("SHIELD_JWT_SECRET")
    if not secret:
        if env == PRODUCTION:
            raise ConfigError(
                "no JWT key in production: set SHIELD_JWT_SECRET (HS256, at least "
                f"{MIN_HS256_SECRET_BYTES} bytes) or SHIELD_JWT_PUBLIC_KEY (RS256), "
                "or SHIELD_ENV=development for local use"
            )
        log.warning(
            "\n%s\nUSING THE BUILT-IN DEVELOPMENT JWT SECRET (SHIELD_ENV=%s). Set "
            "SHIELD_JWT_SECRET (HS256) or SHIELD_JWT_PUBLIC_KEY (RS256) for anything but "
            "local development.\n%s",
            "!" * 78,
            env,
            "!" * 78,
        )
        secret = DEV_JWT_SECRET
    elif env == PRODUCTION and (
        secret == DEV_JWT_SECRET or len(secret.encode()) < MIN_HS256_SECRET_BYTES
    ):
        raise ConfigError(
            f"SHIELD_JWT_SECRET is too weak for production: set it to a random value of at "
            f"least {MIN_HS256_SECRET_BYTES} bytes (e.g. `openssl rand -hex 32`), "
            "not the built-in one"
        )
    config["SHIELD_JWT_VERIFY_KEY"] = secret
    config["SHIELD_JWT_SIGN_KEY"] = secret
