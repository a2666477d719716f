"""Fixtures: the FCM/OAuth stand-in and an app whose pushes go to it through pyfcm."""

from __future__ import annotations

import pytest

import shield.push
from models import db
from tests.fakes.fcm_server import FakeFCM


@pytest.fixture
def fcm():
    server = FakeFCM().start()
    yield server
    server.stop()


@pytest.fixture
def service_account(fcm, tmp_path):
    return fcm.write_service_account(tmp_path / "service-account.json")


@pytest.fixture
def push_app(app, make_app, fcm, service_account):
    """An app on the (freshly emptied) test database that sends through the stand-in."""
    papp = make_app(
        SHIELD_FCM_SERVICE_ACCOUNT=str(service_account),
        SHIELD_FCM_ENDPOINT=fcm.url,
        SHIELD_PUSH_CONCURRENCY=4,
        SHIELD_PUSH_TIMEOUT_SECONDS=5,
        # The reaction tests move `now` by hours between passes; the breaker's real-time
        # probe interval is tested on its own (test_faults.py), so here it lets a probe
        # through at every pass.
        SHIELD_PUSH_BREAKER_OPEN_SECONDS=0,
    )
    yield papp
    shield.push.shutdown(papp)


@pytest.fixture
def pctx(push_app):
    with push_app.app_context():
        yield push_app
        db.session.remove()
