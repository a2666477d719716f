"""Reading a wallet's statement through the API, and checking that it chains."""

from __future__ import annotations

from datetime import datetime


def read_statement(client, headers: dict, url: str, limit: int) -> list[dict]:
    """Every transaction of `url` (newest first), page by page through `nextCursor`."""
    rows, cursor = [], None
    while True:
        query = f"?limit={limit}" + (f"&before={cursor}" if cursor else "")
        response = client.get(url + query, headers=headers)
        assert response.status_code == 200, response.json
        page = response.json
        assert page["count"] == len(page["transactions"]) <= limit
        rows += page["transactions"]
        cursor = page["nextCursor"]
        if cursor is None:
            return rows
        assert cursor == rows[-1]["transactionId"]


def cents(amount: float) -> int:
    return round(amount * 100)


def assert_chains(rows: list[dict], balance_cents: int) -> None:
    """Read oldest to newest, each balanceAfter is the one before plus the row's amount,
    from 0 to the wallet's balance; no row is listed twice."""
    assert len({row["transactionId"] for row in rows}) == len(rows)
    running = 0
    for row in reversed(rows):
        running += cents(row["amount"])
        assert cents(row["balanceAfter"]) == running, (row, [r["balanceAfter"] for r in rows])
    assert running == balance_cents


def created(row: dict) -> datetime:
    return datetime.fromisoformat(row["createdAt"].replace("Z", "+00:00"))
