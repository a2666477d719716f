"""Admin completion and failure: transitions, refunds, spec events, inbox and the ledger."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from models import Notification, WalletTransaction, db
from tests.spec_check import assert_conforms
from tests.wallet.helpers import ADMIN_WITHDRAWALS, WALLET, events, key, state


def _admin_post(client, admin, withdrawal_id: str, action: str, body=None, idem=None):
    return client.post(
        f"{ADMIN_WITHDRAWALS}/{withdrawal_id}/{action}",
        json=body,
        headers={**admin, "Idempotency-Key": idem or key()},
    )


def _inbox(member_id: str) -> list[Notification]:
    return list(
        db.session.execute(
            select(Notification).where(Notification.member_id == member_id)
        ).scalars()
    )


def test_complete_emits_the_spec_event_and_no_inbox_entry(app, client, admin, fund, withdraw):
    fund("alice", 80)
    w = withdraw("alice", 25.25, last_four="4321").json
    with app.app_context():
        inbox_before = len(_inbox("alice"))
    r = _admin_post(client, admin, w["withdrawalId"], "complete")
    assert r.status_code == 200, r.json
    assert r.json["status"] == "completed" and r.json["userId"] == "alice"
    assert r.json["completedAt"] is not None and r.json["failureReason"] is None
    with app.app_context():
        [event] = events("alice", "withdrawal_status_changed")
        assert event.pop("_push") == "none"
        assert_conforms(event)
        assert event["data"] == {
            "withdrawalId": w["withdrawalId"],
            "previousStatus": "pending",
            "newStatus": "completed",
            "amount": 25.25,
            "bankAccountLastFour": "4321",
            "completedAt": r.json["completedAt"],
            "newWalletBalance": 54.75,
        }
        assert event["timestamp"] == r.json["completedAt"]
        assert len(_inbox("alice")) == inbox_before
        assert (
            events("alice", "notification_received")[-1]["data"]["notification"]["title"]
            != "Withdrawal completed"
        )
        assert state("alice")["balance"] == 5475


def test_fail_refunds_once_and_notifies(app, client, auth, admin, fund, withdraw):
    fund("alice", 80)
    w = withdraw("alice", 30, last_four="4321").json
    idem = key()
    r = _admin_post(client, admin, w["withdrawalId"], "fail", {"reason": "Account closed"}, idem)
    assert r.status_code == 200, r.json
    assert r.json["status"] == "failed" and r.json["failureReason"] == "Account closed"
    assert r.json["completedAt"] is None
    replay = _admin_post(
        client, admin, w["withdrawalId"], "fail", {"reason": "Account closed"}, idem
    )
    assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"
    again = _admin_post(client, admin, w["withdrawalId"], "fail", {"reason": "Account closed"})
    assert again.status_code == 409 and again.json["error"]["code"] == "CONFLICT"
    with app.app_context():
        [event] = events("alice", "withdrawal_status_changed")
        assert event.pop("_push") == "pending"  # pushed when failed (catalog)
        assert_conforms(event)
        assert event["data"] == {
            "withdrawalId": w["withdrawalId"],
            "previousStatus": "pending",
            "newStatus": "failed",
            "amount": 30,
            "bankAccountLastFour": "4321",
            "failureReason": "Account closed",
            "newWalletBalance": 80,
        }
        refunds = (
            db.session.execute(
                select(WalletTransaction).where(
                    WalletTransaction.withdrawal_id == w["withdrawalId"],
                    WalletTransaction.type == "refund",
                )
            )
            .scalars()
            .all()
        )
        assert [(t.amount_cents, t.balance_after_cents) for t in refunds] == [(3000, 8000)]
        [entry] = [n for n in _inbox("alice") if n.source_event == "withdrawal_status_changed"]
        assert entry.title == "Withdrawal failed" and entry.type == "payout"
        received = events("alice", "notification_received")[-1]
        assert_conforms({k: v for k, v in received.items() if k != "_push"})
        assert received["data"]["notification"]["id"] == entry.id
        assert state("alice")["balance"] == 8000 == state("alice")["ledger"]
    body = client.get(WALLET, headers=auth("alice")).json
    assert body["recentTransactions"][0]["type"] == "refund"
    assert body["recentTransactions"][0]["amount"] == 30
    assert body["pendingWithdrawalAmount"] == 0
    assert body["withdrawals"][0]["status"] == "failed"


def test_illegal_transitions_are_409_and_change_nothing(app, client, admin, fund, withdraw):
    fund("alice", 50)
    w = withdraw("alice", 10).json
    assert _admin_post(client, admin, w["withdrawalId"], "complete").status_code == 200
    with app.app_context():
        before = (state("alice"), len(events("alice")))
    for action, body in (("complete", None), ("fail", {"reason": "late"})):
        r = _admin_post(client, admin, w["withdrawalId"], action, body)
        assert r.status_code == 409, r.json
        assert r.json["error"]["code"] == "CONFLICT"
        assert r.json["error"]["details"]["status"] == "completed"
    with app.app_context():
        assert (state("alice"), len(events("alice"))) == before
    assert _admin_post(client, admin, "wd_missing", "complete").status_code == 404


@pytest.mark.parametrize(
    "body",
    [None, {}, {"reason": ""}, {"reason": 5}, {"reason": "x" * 201}, {"reason": "ok", "extra": 1}],
)
def test_fail_needs_a_reason(app, client, admin, fund, withdraw, body):
    fund("alice", 50)
    w = withdraw("alice", 10).json
    r = _admin_post(client, admin, w["withdrawalId"], "fail", body)
    assert r.status_code in (400, 415, 422), r.json
    with app.app_context():
        assert state("alice")["balance"] == 4000
        assert events("alice", "withdrawal_status_changed") == []


def test_admin_routes_need_admin_and_key(client, auth, admin, fund, withdraw):
    fund("alice", 50)
    w = withdraw("alice", 10).json
    r = client.get(ADMIN_WITHDRAWALS, headers=auth("alice"))
    assert r.status_code == 403 and r.json["error"]["code"] == "NOT_AUTHORIZED"
    r = client.post(
        f"{ADMIN_WITHDRAWALS}/{w['withdrawalId']}/complete",
        headers={**auth("alice"), "Idempotency-Key": key()},
    )
    assert r.status_code == 403
    r = client.post(f"{ADMIN_WITHDRAWALS}/{w['withdrawalId']}/complete", headers=admin)
    assert r.status_code == 400
    r = client.post(
        f"{ADMIN_WITHDRAWALS}/{w['withdrawalId']}/complete",
        json={"force": True},
        headers={**admin, "Idempotency-Key": key()},
    )
    assert r.status_code == 422


def test_admin_list_by_status(client, auth, admin, fund, withdraw):
    fund("alice", 50)
    fund("bob", 50)
    a1 = withdraw("alice", 5).json["withdrawalId"]
    b1 = withdraw("bob", 6).json["withdrawalId"]
    a2 = withdraw("alice", 7).json["withdrawalId"]
    _admin_post(client, admin, a2, "fail", {"reason": "Bank rejected"})
    r = client.get(ADMIN_WITHDRAWALS, headers=admin)
    assert [w["withdrawalId"] for w in r.json["withdrawals"]] == [a1, b1, a2]
    assert r.json["count"] == 3 and r.json["withdrawals"][1]["userId"] == "bob"
    r = client.get(f"{ADMIN_WITHDRAWALS}?status=pending", headers=admin)
    assert [w["withdrawalId"] for w in r.json["withdrawals"]] == [a1, b1]
    r = client.get(f"{ADMIN_WITHDRAWALS}?status=failed", headers=admin)
    assert [w["failureReason"] for w in r.json["withdrawals"]] == ["Bank rejected"]
    r = client.get(f"{ADMIN_WITHDRAWALS}?status=pending&userId=bob", headers=admin)
    assert [w["withdrawalId"] for w in r.json["withdrawals"]] == [b1]
    assert client.get(f"{ADMIN_WITHDRAWALS}?status=lost", headers=admin).status_code == 400
    r = client.get(f"{ADMIN_WITHDRAWALS}/{b1}", headers=admin)
    assert r.status_code == 200 and r.json["userId"] == "bob" and r.json["amount"] == 6
    assert client.get(f"{ADMIN_WITHDRAWALS}/wd_missing", headers=admin).status_code == 404


def test_ledger_sums_to_balance_through_a_mixed_history(app, client, admin, fund, withdraw):
    fund("alice", 100, 50.5)
    done = withdraw("alice", 30).json["withdrawalId"]
    failed = withdraw("alice", 40.25).json["withdrawalId"]
    assert withdraw("alice", 200).status_code == 409
    withdraw("alice", 20)
    assert _admin_post(client, admin, done, "complete").status_code == 200
    assert (
        _admin_post(client, admin, failed, "fail", {"reason": "Invalid account"}).status_code == 200
    )
    with app.app_context():
        facts = state("alice")
        assert facts["balance"] == 10050 == facts["ledger"]
        rows = (
            db.session.execute(
                select(WalletTransaction)
                .where(WalletTransaction.member_id == "alice")
                .order_by(WalletTransaction.created_at, WalletTransaction.id)
            )
            .scalars()
            .all()
        )
        running = 0
        for row in rows:
            running += row.amount_cents
            assert row.balance_after_cents == running >= 0
        assert [r.type for r in rows] == [
            "payout",
            "payout",
            "withdrawal",
            "withdrawal",
            "withdrawal",
            "refund",
        ]
        assert [e["data"]["newStatus"] for e in events("alice", "withdrawal_status_changed")] == [
            "completed",
            "failed",
        ]
        assert [
            e["data"]["newWalletBalance"] for e in events("alice", "withdrawal_status_changed")
        ] == [60.25, 100.5]
