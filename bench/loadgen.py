# ruff: noqa: S603, S607 (the benchmark runs local tools: wrk, servers, ps, py-spy, git)
"""wrk as the load generator: random members, pre-minted tokens and the ETags they'd hold."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

LUA = Path(__file__).with_name("poll.lua")


def ensure_wrk() -> str:
    path = shutil.which("wrk")
    if path:
        return path
    print("wrk is missing: apt-get install -y wrk", flush=True)
    for cmd in (
        ["apt-get", "install", "-y", "-q", "wrk"],
        ["apt-get", "update", "-q"],
        ["apt-get", "install", "-y", "-q", "wrk"],
    ):
        if subprocess.run(cmd, capture_output=True, check=False).returncode == 0 and shutil.which(
            "wrk"
        ):
            break
    path = shutil.which("wrk")
    if not path:
        raise RuntimeError("wrk is needed: apt-get install -y wrk")
    return path


@dataclass
class WrkResult:
    rps: float
    requests: int
    errors: int
    p50_ms: float
    p99_ms: float
    raw: dict

    def as_dict(self) -> dict:
        return {
            "rps": round(self.rps, 1),
            "requests": self.requests,
            "errors": self.errors,
            "p50_ms": round(self.p50_ms, 3),
            "p99_ms": round(self.p99_ms, 3),
        }


def write_targets(path: Path, lines: list[tuple[str, str | None, str | None]]) -> Path:
    with open(path, "w") as f:
        for url_path, token, etag in lines:
            f.write(f"{url_path}\t{token or '-'}\t{etag or '-'}\n")
    return path


def run(
    base: str, targets: Path, *, duration: float, threads: int = 2, connections: int = 50
) -> WrkResult:
    seconds = max(1, round(duration))  # wrk takes whole seconds
    cmd = [
        ensure_wrk(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "5s",
        "-s",
        str(LUA),
        base,
        "--",
        str(targets),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("BENCH_JSON "))
    raw = json.loads(line.removeprefix("BENCH_JSON "))
    errors = sum(
        raw[k]
        for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")
    )
    seconds = raw["duration_us"] / 1e6
    return WrkResult(
        raw["requests"] / seconds if seconds else 0.0,
        raw["requests"],
        errors,
        raw["p50_us"] / 1000,
        raw["p99_us"] / 1000,
        raw,
    )


def combine(results: list[WrkResult]) -> WrkResult:
    """Several runs of one case as one: total requests over total time."""
    requests = sum(r.requests for r in results)
    seconds = sum(r.raw["duration_us"] for r in results) / 1e6
    return WrkResult(
        rps=requests / seconds if seconds else 0.0,
        requests=requests,
        errors=sum(r.errors for r in results),
        p50_ms=sum(r.p50_ms * r.requests for r in results) / max(requests, 1),
        p99_ms=max(r.p99_ms for r in results),
        raw={"runs": [r.raw for r in results]},
    )
