"""WSGI entry point: `gunicorn wsgi:app`, `granian --interface wsgi wsgi:app`.

A configuration that cannot start (shield.config.ConfigError) is one line on stderr, no
traceback, and exit status 4: gunicorn reads it as "App failed to load" and stops instead of
booting the worker again and again; granian stops too.
"""

import sys

from app import create_app
from shield.config import ConfigError

# What gunicorn calls APP_LOAD_ERROR: the arbiter halts rather than respawn the worker.
CANNOT_START = 4

try:
    app = create_app()
except ConfigError as exc:
    print(f"shield: cannot start: {exc}", file=sys.stderr, flush=True)
    raise SystemExit(CANNOT_START) from None
