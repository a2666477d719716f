"""One payment, one ack: a socket claim_paid_ack acknowledges its payout_completed too."""

from __future__ import annotations

from tests.realtime.conftest import acks_of, uid, wait_for
from tests.realtime.test_acks import _paid


def test_a_claim_paid_ack_acknowledges_the_whole_payment(server, local_app, clients):
    alice = uid("alice")
    client, claim, paid, payout = _paid(server, local_app, clients, alice)
    assert paid["data"]["transactionId"] == payout["data"]["transactionId"]
    client.send(
        "claim_paid_ack",
        {
            "claimId": claim["claimId"],
            "transactionId": paid["data"]["transactionId"],
            "received": True,
        },
    )
    ids = [paid["id"], payout["id"]]
    # Recorded for both events, so the push re-sends of the payment stop (tests/push).
    assert wait_for(
        lambda: acks_of(local_app, ids) == {paid["id"]: "socket", payout["id"]: "socket"}
    )
    client.quiet(0.1)  # whatever was already on the wire
    # Unacked, payout_completed would be resent 0.4 s and 1.2 s after delivery.
    frames = client.quiet(1.3)
    assert [f for f in frames if f.get("id") in ids] == []
    assert [f for f in frames if f["event"] == "error"] == []
