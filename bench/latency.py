"""Commit -> delivery latency figures, the same for pushes and socket frames."""

from __future__ import annotations

import statistics


def summary(lags_ms: list[float], lost: int, sent: int, what: str) -> dict:
    """p50/p90/p99/max of the lags that arrived; a problem when too few did or some were lost."""
    lags = sorted(lags_ms)
    if len(lags) < 2:
        return {"problem": f"{lost} of {sent} {what} did not arrive within 5 s"}
    q = statistics.quantiles(lags, n=100, method="inclusive")
    return {
        "events": len(lags),
        "lost": lost,
        "p50_ms": round(q[49], 1),
        "p90_ms": round(q[89], 1),
        "p99_ms": round(q[98], 1),
        "max_ms": round(lags[-1], 1),
        "problem": f"{lost} {what} lost" if lost else None,
    }


def describe(r: dict) -> str:
    """One line: p50, p99, max and count."""
    return (
        f"p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms "
        f"(max {r['max_ms']:.0f}, n {r['events']})"
    )
