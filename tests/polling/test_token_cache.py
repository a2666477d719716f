"""The cache of verified tokens on the poll path: same answers as verifying every time."""

from __future__ import annotations

import time
from datetime import timedelta

import jwt

from shield.auth import issue_token

CLAIMS = "/shield/v1/claims"


def _bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_a_cached_token_is_refused_once_it_expires(make_app, app):
    papp = make_app(SHIELD_JWT_LEEWAY=0)
    client = papp.test_client()
    token = issue_token(papp.config, "alice", ttl=timedelta(seconds=1))
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    assert client.get(CLAIMS, headers=_bearer(token)).status_code == 200
    assert token in papp.extensions["shield.token_cache"]  # it was cached
    time.sleep(max(0.0, exp - time.time()) + 0.05)
    r = client.get(CLAIMS, headers=_bearer(token))
    assert r.status_code == 401
    assert r.json["error"]["code"] == "AUTH_EXPIRED"


def test_a_token_with_another_signature_is_not_a_hit(make_app, app):
    papp = make_app()
    client = papp.test_client()
    good = issue_token(papp.config, "alice")
    assert client.get(CLAIMS, headers=_bearer(good)).status_code == 200
    head, body, _ = good.split(".")
    forged = jwt.encode(
        jwt.decode(good, options={"verify_signature": False}),
        "another-secret-0123456789abcdef0123",
        algorithm="HS256",
    )
    assert forged.split(".")[:2] == [head, body]  # same claims, other signature
    r = client.get(CLAIMS, headers=_bearer(forged))
    assert r.status_code == 401 and r.json["error"]["code"] == "AUTH_INVALID"
    admin_claim = issue_token(papp.config, "alice", admin=True)
    assert client.get("/shield/v1/admin/claims", headers=_bearer(admin_claim)).status_code == 200
    assert client.get("/shield/v1/admin/claims", headers=_bearer(good)).status_code == 403


def test_the_cache_is_bounded_and_can_be_turned_off(make_app, app):
    papp = make_app(SHIELD_AUTH_CACHE_BYTES=10 * 400)
    client = papp.test_client()
    for i in range(25):
        token = issue_token(papp.config, f"m{i}")
        assert client.get(CLAIMS, headers=_bearer(token)).status_code == 200
    cache = papp.extensions["shield.token_cache"]
    stats = cache.stats()
    assert stats["bytes"] <= 10 * 400 and stats["evictions"] == 25 - len(cache) > 0
    off = make_app(SHIELD_AUTH_CACHE_BYTES=0)
    token = issue_token(off.config, "alice")
    assert off.test_client().get(CLAIMS, headers=_bearer(token)).status_code == 200
    assert not off.extensions["shield.token_cache"]
