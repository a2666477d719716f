"""The alert rules and the dashboard in deploy/ use only metrics the code produces."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from .scrape import names

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
METRIC = re.compile(r"\b(shield_[a-z0-9_]+)\b")
SERIES_SUFFIXES = ("_bucket", "_count", "_sum")


def _rules() -> list[dict]:
    document = yaml.safe_load((DEPLOY / "prometheus" / "shield-alerts.yml").read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def _panels() -> list[dict]:
    return json.loads((DEPLOY / "grafana" / "shield-dashboard.json").read_text())["panels"]


def _used() -> dict[str, set[str]]:
    used: dict[str, set[str]] = {}
    for rule in _rules():
        for name in METRIC.findall(rule["expr"]):
            used.setdefault(name, set()).add(f"alert {rule['alert']}")
    for panel in _panels():
        for target in panel["targets"]:
            for name in METRIC.findall(target["expr"]):
                used.setdefault(name, set()).add(f"panel {panel['title']!r}")
    return used


def test_the_files_are_well_formed():
    rules = _rules()
    assert {r["alert"] for r in rules} >= {
        "ShieldNotReady",
        "ShieldOutboxPushLag",
        "ShieldPushFailureRate",
        "ShieldPushBreakerOpen",
        "ShieldJobFailures",
    }
    for rule in rules:
        assert rule["expr"].strip() and rule["labels"]["severity"] in ("page", "warn")
        assert rule["annotations"]["summary"]
    panels = _panels()
    assert len({p["id"] for p in panels}) == len(panels)
    assert all(p["targets"] and p["title"] for p in panels)


def test_every_metric_they_use_is_in_a_scrape(client):
    text = client.get("/metrics").get_data(as_text=True)
    exported = names(text)
    used = _used()
    assert len(used) >= 20
    missing = {}
    for name, where in used.items():
        family = next((name[: -len(s)] for s in SERIES_SUFFIXES if name.endswith(s)), name)
        if name not in exported and family not in exported:
            missing[name] = sorted(where)
    assert not missing, missing
