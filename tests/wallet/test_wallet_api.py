"""Member wallet API: shapes, validation, isolation, idempotency and ETag polling."""

from __future__ import annotations

from datetime import datetime

import pytest

from models import db
from tests.wallet.helpers import WALLET, WITHDRAWALS, key, state

TRANSACTION_KEYS = {
    "transactionId",
    "type",
    "amount",
    "balanceAfter",
    "claimId",
    "payoutId",
    "withdrawalId",
    "description",
    "createdAt",
}
WITHDRAWAL_KEYS = {
    "withdrawalId",
    "amount",
    "status",
    "bankAccountLastFour",
    "createdAt",
    "processingAt",
    "completedAt",
    "failureReason",
}


def _is_utc(value: str) -> bool:
    return value.endswith("Z") and datetime.fromisoformat(value.replace("Z", "+00:00")) is not None


def test_empty_wallet_for_a_new_member(client, auth):
    r = client.get(WALLET, headers=auth("newbie"))
    assert r.status_code == 200
    assert r.json == {
        "balance": 0,
        "pendingWithdrawalAmount": 0,
        "recentTransactions": [],
        "withdrawals": [],
    }


def test_wallet_shape_after_payout_and_withdrawal(client, auth, fund, withdraw):
    [claim_id] = fund("alice", 120)
    r = client.get(WALLET, headers=auth("alice"))
    assert r.status_code == 200
    assert r.json["balance"] == 120 and r.json["pendingWithdrawalAmount"] == 0
    [payout] = r.json["recentTransactions"]
    assert set(payout) == TRANSACTION_KEYS
    assert payout["type"] == "payout" and payout["amount"] == 120 and payout["balanceAfter"] == 120
    assert payout["claimId"] == claim_id and payout["payoutId"].startswith("pay_")
    assert payout["withdrawalId"] is None and _is_utc(payout["createdAt"])

    r = withdraw("alice", 45.50, last_four="0042")
    assert r.status_code == 201, r.json
    created = r.json
    assert set(created) == WITHDRAWAL_KEYS
    assert created["amount"] == 45.5 and isinstance(created["amount"], float)
    assert created["status"] == "pending" and created["bankAccountLastFour"] == "0042"
    assert created["processingAt"] is None and created["completedAt"] is None
    assert created["failureReason"] is None and _is_utc(created["createdAt"])

    body = client.get(WALLET, headers=auth("alice")).json
    assert body["balance"] == 74.5 and body["pendingWithdrawalAmount"] == 45.5
    debit, credit = body["recentTransactions"]
    assert credit["transactionId"] == payout["transactionId"]
    assert debit["type"] == "withdrawal" and debit["amount"] == -45.5
    assert debit["balanceAfter"] == 74.5 and debit["withdrawalId"] == created["withdrawalId"]
    assert debit["claimId"] is None and debit["payoutId"] is None
    assert "0042" in debit["description"]
    assert body["withdrawals"] == [created]

    r = client.get(f"{WITHDRAWALS}/{created['withdrawalId']}", headers=auth("alice"))
    assert r.status_code == 200 and r.json == created


def test_recent_transactions_are_the_ten_newest(client, auth, fund, withdraw):
    fund("alice", 100)
    ids = [withdraw("alice", 1).json["withdrawalId"] for _ in range(11)]
    body = client.get(WALLET, headers=auth("alice")).json
    recent = body["recentTransactions"]
    assert len(recent) == 10
    assert [t["withdrawalId"] for t in recent] == ids[::-1][:10]
    assert [t["balanceAfter"] for t in recent] == list(range(89, 99))
    # Every withdrawal still in flight is listed, newest first.
    assert [w["withdrawalId"] for w in body["withdrawals"]] == ids[::-1]
    assert body["pendingWithdrawalAmount"] == 11 and body["balance"] == 89


BAD_BODIES = [
    pytest.param({"amount": "abc", "bankAccountLastFour": "1234"}, id="amount-text"),
    pytest.param({"amount": True, "bankAccountLastFour": "1234"}, id="amount-bool"),
    pytest.param({"amount": None, "bankAccountLastFour": "1234"}, id="amount-null"),
    pytest.param({"amount": [10], "bankAccountLastFour": "1234"}, id="amount-list"),
    pytest.param({"amount": {"v": 1}, "bankAccountLastFour": "1234"}, id="amount-object"),
    pytest.param({"amount": 10.001, "bankAccountLastFour": "1234"}, id="three-decimals"),
    pytest.param({"amount": "10.001", "bankAccountLastFour": "1234"}, id="three-decimals-text"),
    pytest.param({"amount": -5, "bankAccountLastFour": "1234"}, id="negative"),
    pytest.param({"amount": 0, "bankAccountLastFour": "1234"}, id="zero"),
    pytest.param({"amount": "0.00", "bankAccountLastFour": "1234"}, id="zero-text"),
    pytest.param({"amount": 1e12, "bankAccountLastFour": "1234"}, id="absurd"),
    pytest.param({"bankAccountLastFour": "1234"}, id="amount-missing"),
    pytest.param({"amount": 10}, id="last-four-missing"),
    pytest.param({"amount": 10, "bankAccountLastFour": "123"}, id="three-digits"),
    pytest.param({"amount": 10, "bankAccountLastFour": "123456789"}, id="full-account"),
    pytest.param({"amount": 10, "bankAccountLastFour": "12a4"}, id="letters"),
    pytest.param({"amount": 10, "bankAccountLastFour": 1234}, id="number"),
    pytest.param({"amount": 10, "bankAccountLastFour": "1234\n"}, id="newline"),
    pytest.param({"amount": 10, "bankAccountLastFour": "\uff11\uff12\uff13\uff14"}, id="fullwidth"),
    pytest.param(
        {"amount": 10, "bankAccountLastFour": "1234", "accountNumber": "987654321"},
        id="account-number-field",
    ),
    pytest.param(
        {"amount": 10, "bankAccountLastFour": "1234", "routingNumber": "021000021"},
        id="unknown-field",
    ),
]


@pytest.mark.parametrize("body", BAD_BODIES)
def test_invalid_withdrawal_is_422_and_writes_nothing(app, client, auth, fund, body):
    fund("alice", 50)
    with app.app_context():
        before = state("alice")
    r = client.post(WITHDRAWALS, json=body, headers=auth("alice", **{"Idempotency-Key": key()}))
    assert r.status_code == 422, r.json
    assert r.json["error"]["code"] == "INVALID_PAYLOAD"
    # An account number never comes back (nor is it stored anywhere).
    assert "987654321" not in r.get_data(as_text=True)
    assert "123456789" not in r.get_data(as_text=True)
    with app.app_context():
        assert state("alice") == before


@pytest.mark.parametrize(
    "data, headers, status",
    [
        pytest.param(
            b'{"amount": 10, "bankAccountLastFour": "12',
            {"Content-Type": "application/json"},
            400,
            id="broken-json",
        ),
        pytest.param(b"[10]", {"Content-Type": "application/json"}, 400, id="json-array"),
        pytest.param(
            b"amount=10", {"Content-Type": "application/x-www-form-urlencoded"}, 415, id="form"
        ),
        pytest.param(b"", {"Content-Type": "application/json"}, 400, id="empty"),
    ],
)
def test_malformed_request_is_4xx_and_writes_nothing(
    app, client, auth, fund, data, headers, status
):
    fund("alice", 50)
    with app.app_context():
        before = state("alice")
    r = client.post(
        WITHDRAWALS, data=data, headers=auth("alice", **headers, **{"Idempotency-Key": key()})
    )
    assert r.status_code == status, r.json
    assert set(r.json) == {"error"}
    with app.app_context():
        assert state("alice") == before


def test_idempotency_key_is_required(app, client, auth, fund):
    fund("alice", 50)
    r = client.post(
        WITHDRAWALS, json={"amount": 10, "bankAccountLastFour": "1234"}, headers=auth("alice")
    )
    assert r.status_code == 400 and "Idempotency-Key" in r.json["error"]["message"]
    with app.app_context():
        assert state("alice")["withdrawals"] == 0 and state("alice")["balance"] == 5000


def test_insufficient_funds(app, client, auth, fund, withdraw):
    fund("alice", 30)
    with app.app_context():
        before = state("alice")
    idem = key()
    r = withdraw("alice", 30.01, idem=idem)
    assert r.status_code == 409
    assert r.json["error"]["code"] == "INSUFFICIENT_FUNDS"
    assert r.json["error"]["details"] == {"balance": 30, "requested": 30.01}
    with app.app_context():
        assert state("alice") == before
    # The decided answer is replayed for the same key.
    again = withdraw("alice", 30.01, idem=idem)
    assert again.status_code == 409 and again.headers["Idempotent-Replayed"] == "true"
    # The whole balance can be withdrawn, leaving exactly zero.
    r = withdraw("alice", 30)
    assert r.status_code == 201
    with app.app_context():
        after = state("alice")
    assert after["balance"] == 0 and after["ledger"] == 0
    assert withdraw("alice", 0.01).json["error"]["details"]["balance"] == 0


def test_member_without_wallet_money_gets_insufficient_funds(client, withdraw):
    r = withdraw("nobody", 5)
    assert r.status_code == 409 and r.json["error"]["details"]["balance"] == 0


def test_other_members_withdrawal_is_not_found(client, auth, fund, withdraw):
    fund("alice", 50)
    withdrawal_id = withdraw("alice", 20).json["withdrawalId"]
    assert client.get(f"{WITHDRAWALS}/{withdrawal_id}", headers=auth("alice")).status_code == 200
    r = client.get(f"{WITHDRAWALS}/{withdrawal_id}", headers=auth("bob"))
    assert r.status_code == 404 and r.json["error"]["code"] == "NOT_FOUND"
    assert client.get(f"{WITHDRAWALS}/wd_missing", headers=auth("bob")).status_code == 404
    bob = client.get(WALLET, headers=auth("bob")).json
    assert bob["withdrawals"] == [] and bob["recentTransactions"] == [] and bob["balance"] == 0
    # Alice's transaction ids are no cursor for Bob either.
    txn = client.get(WALLET, headers=auth("alice")).json["recentTransactions"][0]["transactionId"]
    r = client.get(f"{WALLET}/transactions?before={txn}", headers=auth("bob"))
    assert r.status_code == 400


def test_withdrawal_replay_and_key_reuse(app, client, auth, fund, withdraw):
    fund("alice", 50)
    idem = key()
    first = withdraw("alice", 20, idem=idem)
    assert first.status_code == 201
    replay = withdraw("alice", 20, idem=idem)
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json == first.json
    other = withdraw("alice", 25, idem=idem)
    assert other.status_code == 422 and other.json["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    with app.app_context():
        after = state("alice")
    assert after["withdrawals"] == 1 and after["balance"] == 3000 and after["ledger"] == 3000
    # Keys are scoped per caller: Bob's identical key is a call of his own.
    fund("bob", 10)
    bob = withdraw("bob", 20, idem=idem)
    assert bob.status_code == 409 and bob.json["error"]["code"] == "INSUFFICIENT_FUNDS"


def test_transactions_pagination(client, auth, fund, withdraw):
    fund("alice", 100)
    for amount in (1, 2, 3, 4, 5):
        assert withdraw("alice", amount).status_code == 201
    full = client.get(f"{WALLET}/transactions?limit=100", headers=auth("alice")).json
    assert full["count"] == 6 and full["nextCursor"] is None
    amounts = [t["amount"] for t in full["transactions"]]
    assert amounts == [-5, -4, -3, -2, -1, 100]
    seen, cursor = [], None
    while True:
        url = f"{WALLET}/transactions?limit=4" + (f"&before={cursor}" if cursor else "")
        page = client.get(url, headers=auth("alice")).json
        assert page["limit"] == 4 and page["count"] == len(page["transactions"]) <= 4
        seen += page["transactions"]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == full["transactions"]
    default = client.get(f"{WALLET}/transactions", headers=auth("alice")).json
    assert default["transactions"] == full["transactions"] and default["limit"] == 20


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=ten", "before=txn_nope"])
def test_transactions_bad_query_is_400(client, auth, fund, query):
    fund("alice", 10)
    r = client.get(f"{WALLET}/transactions?{query}", headers=auth("alice"))
    assert r.status_code == 400 and r.json["error"]["code"] == "INVALID_PAYLOAD"


def test_wallet_etag_changes_with_payout_withdrawal_and_processing(
    app, client, auth, fund, withdraw
):
    fund("alice", 50)
    r = client.get(WALLET, headers=auth("alice"))
    etag = r.headers["ETag"]
    assert r.headers["Cache-Control"] == "private, no-cache"
    assert r.headers["Vary"] == "Authorization"
    r = client.get(WALLET, headers=auth("alice", **{"If-None-Match": etag}))
    assert r.status_code == 304 and r.headers["ETag"] == etag and r.data == b""
    assert r.headers["Cache-Control"] == "private, no-cache"

    fund("alice", 10)  # a payout
    r = client.get(WALLET, headers=auth("alice", **{"If-None-Match": etag}))
    assert r.status_code == 200 and r.json["balance"] == 60
    assert r.headers["ETag"] != etag
    etag = r.headers["ETag"]

    withdrawal_id = withdraw("alice", 15).json["withdrawalId"]
    r = client.get(WALLET, headers=auth("alice", **{"If-None-Match": etag}))
    assert r.status_code == 200 and r.json["balance"] == 45
    etag = r.headers["ETag"]
    item = client.get(f"{WITHDRAWALS}/{withdrawal_id}", headers=auth("alice"))
    item_etag = item.headers["ETag"]
    assert item_etag != etag
    pages = client.get(f"{WALLET}/transactions?limit=2", headers=auth("alice"))
    pages_etag = pages.headers["ETag"]
    assert (
        client.get(
            f"{WALLET}/transactions?limit=3", headers=auth("alice", **{"If-None-Match": pages_etag})
        ).status_code
        == 200
    )
    assert (
        client.get(
            f"{WALLET}/transactions?limit=2", headers=auth("alice", **{"If-None-Match": pages_etag})
        ).status_code
        == 304
    )

    # pending -> processing has no event, but the poller sees it at once.
    from jobs.withdrawals import process_due_withdrawals
    from shield.wallet.bank import SimulatedBank

    with app.app_context():
        assert process_due_withdrawals(db.session, SimulatedBank()) == 1
    r = client.get(WALLET, headers=auth("alice", **{"If-None-Match": etag}))
    assert r.status_code == 200 and r.json["withdrawals"][0]["status"] == "processing"
    assert r.json["withdrawals"][0]["processingAt"] is not None
    r = client.get(
        f"{WITHDRAWALS}/{withdrawal_id}", headers=auth("alice", **{"If-None-Match": item_etag})
    )
    assert r.status_code == 200 and r.json["status"] == "processing"
    assert (
        client.get(
            f"{WALLET}/transactions?limit=2", headers=auth("alice", **{"If-None-Match": pages_etag})
        ).status_code
        == 200
    )


def test_wallet_etags_differ_between_members(client, auth):
    a = client.get(WALLET, headers=auth("alice"))
    b = client.get(WALLET, headers=auth("bob"))
    assert a.json == b.json and a.headers["ETag"] != b.headers["ETag"]
    r = client.get(WALLET, headers=auth("bob", **{"If-None-Match": a.headers["ETag"]}))
    assert r.status_code == 200


def test_wallet_routes_need_a_token(client):
    assert client.get(WALLET).status_code == 401
    assert (
        client.post(
            WITHDRAWALS,
            json={"amount": 1, "bankAccountLastFour": "1234"},
            headers={"Idempotency-Key": key()},
        ).status_code
        == 401
    )
    assert client.delete(WALLET).status_code in (401, 405)
