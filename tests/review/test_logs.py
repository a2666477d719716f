"""No bearer token, push registration token or bank number ever reaches the logs."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import insert

from models import Device, db, utcnow
from shield.devices import service as devices

from .helpers import API, key, paid_claim

PUSH_TOKEN = "fcmTok_" + "Zq9" * 50  # looks like a registration token, long and unique


def _all_logged(caplog) -> str:
    return "\n".join(
        record.getMessage()
        + (logging.Formatter().formatException(record.exc_info) if record.exc_info else "")
        for record in caplog.records
    )


def _secrets(token: str) -> list[str]:
    return [token, token.split(".")[2], PUSH_TOKEN, PUSH_TOKEN[:-6], "123456781234"]


def test_a_whole_flow_logs_no_secret(app, client, auth, token, caplog):
    caplog.set_level(logging.DEBUG)
    jwt = token("alice")
    headers = {"Authorization": f"Bearer {jwt}"}
    r = client.post(
        f"{API}/devices", json={"token": PUSH_TOKEN, "platform": "android"}, headers=headers
    )
    assert r.status_code == 201
    paid_claim(app, client, auth, "alice", 80)
    with app.app_context():
        from jobs.push import dispatch_push
        from jobs.withdrawals import process_withdrawals

        assert dispatch_push() > 0  # the log backend records what would be sent
        db.session.remove()
    # A full account number is refused (and so never stored or logged).
    r = client.post(
        f"{API}/wallet/withdrawals",
        json={"amount": 5, "bankAccountLastFour": "123456781234"},
        headers={**headers, "Idempotency-Key": key()},
    )
    assert r.status_code == 422
    r = client.post(
        f"{API}/wallet/withdrawals",
        json={"amount": 5, "bankAccountLastFour": "1234"},
        headers={**headers, "Idempotency-Key": key()},
    )
    assert r.status_code == 201
    with app.app_context():
        process_withdrawals(now=utcnow() + timedelta(hours=1))
        process_withdrawals(now=utcnow() + timedelta(days=3))
        db.session.remove()
    client.post(
        f"{API}/devices", json={"token": PUSH_TOKEN, "platform": "ios"}, headers=auth("bob")
    )  # the token moves to bob: logged, masked
    r = client.post(f"{API}/devices/unregister", json={"token": PUSH_TOKEN}, headers=auth("bob"))
    assert r.status_code == 204
    client.get(f"{API}/claims", headers={"Authorization": "Bearer " + jwt + "x"})
    logged = _all_logged(caplog)
    assert "push recorded" in logged and "moved from member" in logged
    for secret in _secrets(jwt):
        assert secret not in logged


def test_an_unexpected_database_error_does_not_log_the_token(
    app, client, token, caplog, monkeypatch
):
    """SQLAlchemy puts bound parameters in its error text; that text is logged on a 500."""

    def broken_register(session, principal, push_token, platform, now=None):
        # e.g. a constraint or driver error while writing the device row
        session.execute(
            insert(Device).values(
                id="dev_x", member_id="nobody", token=push_token, platform=platform
            )
        )
        raise AssertionError("not reached")

    monkeypatch.setattr(devices, "register", broken_register)
    caplog.set_level(logging.DEBUG)
    jwt = token("alice")
    r = client.post(
        f"{API}/devices",
        json={"token": PUSH_TOKEN, "platform": "android"},
        headers={"Authorization": f"Bearer {jwt}"},
    )
    assert r.status_code == 500
    logged = _all_logged(caplog)
    assert "unhandled error" in logged
    for secret in _secrets(jwt):
        assert secret not in logged
