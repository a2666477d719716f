"""Read by gunicorn from the working directory (`gunicorn wsgi:app` at the repository root).

It sets nothing the command line sets (bind, workers, worker class); it makes /metrics right
with several workers and no environment of the operator's:

- PROMETHEUS_MULTIPROC_DIR: when unset, a fresh directory of this master's, which the workers
  inherit and which is removed when the master exits (shield/ops/multiproc.py);
- child_exit: a worker that exits takes its live gauges (open sockets...) with it;
- SHIELD_LOG_FORMAT=json: gunicorn's own lines are JSON too.
"""

import os

from shield.ops import multiproc

multiproc.prepare(own=True)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


if os.environ.get("SHIELD_LOG_FORMAT", "").strip().lower() == "json":

    def _handler(stream):
        return {"class": "logging.StreamHandler", "formatter": "json", "stream": stream}

    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "root": {"level": "INFO", "handlers": []},
        "formatters": {"json": {"()": "shield.ops.logs.JsonFormatter"}},
        "handlers": {
            "error_console": _handler("ext://sys.stderr"),
            "console": _handler("ext://sys.stdout"),
        },
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["error_console"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["console"], "propagate": False},
        },
    }
