"""docs/operations.md's settings table names every SHIELD_* variable the code reads."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Derived from other settings or passed between our own processes: not for operators.
INTERNAL = {
    "SHIELD_JWT_ALGORITHM",
    "SHIELD_JWT_SIGN_KEY",
    "SHIELD_JWT_VERIFY_KEY",
    "SHIELD_PUSH_PARENT_PID",
}


def test_every_setting_the_code_reads_is_documented():
    sources = [ROOT / "app.py", ROOT / "wsgi.py", ROOT / "gunicorn.conf.py"]
    for folder in ("shield", "jobs", "models"):
        sources += sorted((ROOT / folder).rglob("*.py"))
    read = set()
    for path in sources:
        read.update(re.findall(r"\bSHIELD_[A-Z0-9_]+\b", path.read_text()))
    docs = (ROOT / "docs" / "operations.md").read_text()
    table = docs[docs.index("## Settings") :]
    documented = set(re.findall(r"`(SHIELD_[A-Z0-9_]+)`", table))
    assert len(read) > 40
    assert read - INTERNAL - documented == set()
