"""Reading a Prometheus text exposition in tests."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def fetch(url: str, token: str | None = None, timeout: float = 10) -> str:
    request = urllib.request.Request(url)  # noqa: S310 (a local test server)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        return response.read().decode()


def samples(text: str) -> list:
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def total(text: str, name: str, **labels: str) -> float:
    """Sum of the samples called `name` whose labels include `labels`."""
    return sum(
        s.value
        for s in samples(text)
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def names(text: str) -> set[str]:
    """Every metric family and sample name the exposition declares."""
    found = set()
    for family in text_string_to_metric_families(text):
        found.add(family.name)
        found.update(s.name for s in family.samples)
    for line in text.splitlines():
        if line.startswith(("# HELP ", "# TYPE ")):
            found.add(line.split()[2])
    return found
