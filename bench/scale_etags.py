"""The working set's first polls, done in bulk: what each member's first GET would store
and the ETag it would get back.

Over HTTP the first poll of 200,000 members x 3 resources is 600,000 200s (each builds the
body and, for clocked resources, commits `valid_until`): at a few hundred per second on this
machine, most of an hour. The only state a first poll leaves is `valid_until`, the next
instant a clock-derived field changes, and the app's own rules say what it is:

- claims: the earliest appeal deadline still ahead (`shield.claims.service.list_json`);
- subscription: `shield.subscriptions.restriction.cancellation_state`'s next change;
- wallet: nothing clocked.

So they are computed here from the rows, written where they differ, and the ETags made with
`shield.polling.current_etag`, as the app does. Every case then checks a sample of its
requests against the server (304 expected) before it measures, so a rule this module got
wrong shows as "expected 304, got 200" instead of a figure.
"""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace

import psycopg

from shield.polling import current_etag
from shield.subscriptions.restriction import cancellation_state

from .db import admin_dsn

RESOURCES = ("claims", "wallet", "subscription")


def first_polls(db_url: str, members: list[str], now: datetime) -> dict[str, dict[str, str]]:
    """{resource: {member: ETag}} after storing what the members' first 200s would store."""
    with psycopg.connect(admin_dsn(db_url)) as conn:
        conn.execute("CREATE TEMP TABLE ws (member_id varchar(128) PRIMARY KEY)")
        with conn.cursor().copy("COPY ws (member_id) FROM STDIN") as copy:
            copy.write("".join(f"{m}\n" for m in members))
        deadlines = dict(
            conn.execute(
                "SELECT c.member_id, min(c.appeal_deadline) FROM claims c JOIN ws USING (member_id)"
                " WHERE c.appeal_deadline > %s GROUP BY c.member_id",
                (now,),
            ).fetchall()
        )
        payouts = dict(
            conn.execute(
                "SELECT s.member_id, s.last_payout_at FROM subscriptions s "
                "JOIN ws USING (member_id)"
            ).fetchall()
        )
        rows = conn.execute(
            "SELECT v.member_id, v.claims, v.wallet, v.subscription, v.claims_valid_until, "
            "v.subscription_valid_until FROM resource_versions v JOIN ws USING (member_id)"
        ).fetchall()
        etags: dict[str, dict[str, str]] = {r: {} for r in RESOURCES}
        changed = []
        for member, claims, wallet, sub, claims_until, sub_until in rows:
            want_claims = deadlines.get(member)
            sub_row = SimpleNamespace(last_payout_at=payouts.get(member))
            want_sub = cancellation_state(sub_row, now)[1] if member in payouts else None
            if (want_claims, want_sub) != (claims_until, sub_until):
                changed.append((member, want_claims, want_sub))
            for resource, state in (
                ("claims", (claims, want_claims)),
                ("wallet", (wallet, None)),
                ("subscription", (sub, want_sub)),
            ):
                etags[resource][member] = current_etag(member, resource, state, now)
        if changed:
            conn.execute(
                "CREATE TEMP TABLE due (member_id varchar(128), c timestamptz, s timestamptz)"
            )
            with conn.cursor().copy("COPY due (member_id, c, s) FROM STDIN") as copy:
                for row in changed:
                    copy.write_row(row)
            conn.execute(
                "UPDATE resource_versions v SET claims_valid_until = due.c, "
                "subscription_valid_until = due.s FROM due WHERE v.member_id = due.member_id"
            )
        conn.commit()
    missing = set(members) - set(etags["wallet"])
    if missing:
        raise RuntimeError(f"{len(missing)} working-set members have no version row")
    return etags
