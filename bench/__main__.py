import os
import sys

# The bench's own in-process apps (seeding, sockets) are local tools; the servers it measures
# get SHIELD_ENV=production explicitly (bench/run.py server_env).
os.environ.setdefault("SHIELD_ENV", "development")

from .run import main  # noqa: E402

sys.exit(main())
