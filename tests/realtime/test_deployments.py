"""Two deployments (two databases) on one Redis server: Redis pub/sub ignores the database
number, so only the deployment id in the channel and messages keeps them apart."""

from __future__ import annotations

import contextlib
import json
import time
import uuid

import pytest
import redis

from app import create_app
from models import db
from tests.conftest import REDIS_URL, _test_config, fresh_database
from tests.realtime.conftest import (
    DEFAULT_ENV,
    Server,
    _redis_problem,
    connect,
    submit_claim,
    subscribed,
    top_seq,
    uid,
    wait_for,
)

# One private prefix for both deployments, as two deployments left at the default prefix
# would share it; the poll is fast, so a deployment that trusted the other's seqs would
# soon "see" its own log go back and close its sockets (1012).
PREFIX = f"shield-test:{uuid.uuid4().hex}:"
ENV = {
    **DEFAULT_ENV,
    "REDIS_URL": REDIS_URL,
    "SHIELD_WS_REDIS_PREFIX": PREFIX,
    "SHIELD_WS_PG_LISTEN": "0",
    "SHIELD_WS_POLL_INTERVAL": "0.2",
}


class Deployment:
    def __init__(self, uri: str, server: Server) -> None:
        self.uri = uri
        self.server = server
        self.app = create_app(_test_config(uri))


@pytest.fixture(scope="module")
def deployments(tmp_path_factory):
    problem = _redis_problem()
    if problem is not None:
        from tests.conftest import _service_missing

        _service_missing("Redis", problem)
    with contextlib.ExitStack() as stack:
        uris = [stack.enter_context(fresh_database(tmp_path_factory)) for _ in range(2)]
        for uri in uris:
            app = create_app(_test_config(uri))
            with app.app_context():
                db.create_all()
                db.session.remove()
                db.engine.dispose()
        servers = [
            Server(uri, tmp_path_factory.mktemp("deployment") / "gunicorn.log", **ENV)
            for uri in uris
        ]
        try:
            for server in servers:
                server.wait_ready()
            pair = [Deployment(uri, server) for uri, server in zip(uris, servers, strict=True)]
            yield pair
        finally:
            for server in servers:
                server.stop()
            for deployment in locals().get("pair", []):
                with deployment.app.app_context():
                    db.engine.dispose()


def _alive(client) -> None:
    client.send("ping")
    frame, skipped = client.until("pong", timeout=3)
    assert skipped == [], skipped


@pytest.mark.redis
def test_two_deployments_on_one_redis_share_nothing(deployments, clients):
    a, b = deployments
    members = {a: uid("alice"), b: uid("bob")}
    for d, member in members.items():  # the same history on both: seqs that line up
        subscribed(d.app, member)
    assert top_seq(a.app) == top_seq(b.app)
    sockets = {
        d: {
            "admin": clients(connect(d.server, uid("root"), admin=True)),
            "member": clients(connect(d.server, members[d])),
        }
        for d in (a, b)
    }
    time.sleep(0.3)  # both hubs started at the same top seq

    claim_b = submit_claim(b.server, members[b])
    frame, _ = sockets[b]["admin"].until("admin_claim_submitted")
    assert frame["data"]["claimId"] == claim_b["claimId"]
    assert sockets[b]["member"].until("claim_submitted")[0]["data"]["claimId"] == claim_b["claimId"]
    # A hears nothing of B, and a few of its polls later still has every socket open.
    for client in sockets[a].values():
        assert client.quiet(1.0) == []
        _alive(client)

    claim_a = submit_claim(a.server, members[a])
    frame, skipped = sockets[a]["admin"].until("admin_claim_submitted")
    assert frame["data"]["claimId"] == claim_a["claimId"] and skipped == []
    assert sockets[a]["member"].until("claim_submitted")[0]["data"]["claimId"] == claim_a["claimId"]
    for client in sockets[b].values():
        frames = client.quiet(1.0)
        assert [f for f in frames if claim_a["claimId"] in json.dumps(f)] == []
        _alive(client)
    for d in (a, b):
        for client in sockets[d].values():
            assert client.quiet(0.3) == []  # nothing closed, nothing crossed since


@pytest.mark.redis
def test_foreign_or_unfit_fan_out_messages_are_dropped_and_counted(deployments, clients):
    """Messages on A's own channel that are not A's log: another deployment's, and seqs
    above A's database. Neither reaches a socket nor resets anyone; both are counted."""
    a, _ = deployments
    alice = uid("alice")
    subscribed(a.app, alice)
    admin = clients(connect(a.server, uid("root"), admin=True))
    member = clients(connect(a.server, alice))
    from shield.realtime.deployment import stored_id

    with a.app.app_context():
        deployment = stored_id(db.engine)
        db.session.remove()
    top = top_seq(a.app)
    payload = {"event": "admin_action_required", "timestamp": "2026-01-01T00:00:00.000Z"}
    payload["data"] = {"type": "fraud_alert", "priority": "high", "message": "forged"}
    rows = [[top + 1, "evt_forged1", "admin_action_required", None, "admin", payload]]
    far = [[top + 50, "evt_forged2", "admin_action_required", None, "admin", payload]]
    client = redis.Redis.from_url(REDIS_URL)
    try:
        channel = f"{PREFIX}{deployment}:events"
        for body in (
            {"deployment": "someone-else", "events": rows},
            {"events": rows},  # no deployment at all (an older publisher)
            {"deployment": deployment, "events": far},  # a hole the outbox does not fill
        ):
            assert client.publish(channel, json.dumps(body)) == 1  # A's hub is subscribed
    finally:
        client.close()
    for socket in (admin, member):
        assert socket.quiet(1.0) == []
        _alive(socket)

    def counted():
        return "'foreign': 2, 'unfit': 1" in a.server.log_path.read_text()

    assert wait_for(counted, timeout=3), a.server.log_path.read_text()[-2000:]
    # A's own events still flow, in order, after all that.
    claim = submit_claim(a.server, alice)
    assert member.until("claim_submitted")[0]["data"]["claimId"] == claim["claimId"]
    assert admin.until("admin_claim_submitted")[0]["data"]["claimId"] == claim["claimId"]
