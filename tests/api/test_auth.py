import warnings
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from shield.auth import issue_token
from tests.conftest import TEST_SECRET

CLAIMS = "/shield/v1/claims"


def _error(response):
    assert response.is_json, response.data
    return response.json["error"]["code"]


def test_missing_token(client):
    r = client.get(CLAIMS)
    assert r.status_code == 401 and _error(r) == "AUTH_INVALID"
    assert "Bearer" in r.headers["WWW-Authenticate"]


@pytest.mark.parametrize("header", ["Basic abc", "Bearer", "Bearer not.a.jwt", "token abc"])
def test_malformed_header(client, header):
    r = client.get(CLAIMS, headers={"Authorization": header})
    assert r.status_code == 401 and _error(r) == "AUTH_INVALID"


def test_expired_token(client, app):
    old = datetime.now(UTC) - timedelta(days=2)
    token = issue_token(app.config, "alice", ttl=timedelta(hours=1), now=old)
    r = client.get(CLAIMS, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401 and _error(r) == "AUTH_EXPIRED"


def test_wrong_secret(client):
    token = jwt.encode(
        {"sub": "alice", "exp": datetime.now(UTC) + timedelta(hours=1)},
        "another-secret-that-is-long-enough-0123",
        algorithm="HS256",
    )
    r = client.get(CLAIMS, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401 and _error(r) == "AUTH_INVALID"


def test_alg_none_and_other_algs_refused(client):
    exp = datetime.now(UTC) + timedelta(hours=1)
    none = jwt.encode({"sub": "alice", "exp": exp}, None, algorithm="none")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hs512 = jwt.encode({"sub": "alice", "exp": exp}, TEST_SECRET, algorithm="HS512")
    for token in (none, hs512):
        r = client.get(CLAIMS, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401 and _error(r) == "AUTH_INVALID"


def test_exp_required(client):
    token = jwt.encode({"sub": "alice"}, TEST_SECRET, algorithm="HS256")
    r = client.get(CLAIMS, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401 and _error(r) == "AUTH_INVALID"


def test_member_on_admin_route(client, auth):
    r = client.get("/shield/v1/admin/claims", headers=auth("alice"))
    assert r.status_code == 403 and _error(r) == "NOT_AUTHORIZED"
    assert (
        client.get("/shield/v1/admin/claims", headers=auth("root", admin=True)).status_code == 200
    )


def test_issuer_and_audience_checked(make_app):
    app = make_app(SHIELD_JWT_ISSUER="https://id.courial.com", SHIELD_JWT_AUDIENCE="shield")
    client = app.test_client()
    good = issue_token(app.config, "alice")
    assert client.get(CLAIMS, headers={"Authorization": f"Bearer {good}"}).status_code == 200
    exp = datetime.now(UTC) + timedelta(hours=1)
    for claims in (
        {"iss": "https://evil", "aud": "shield"},
        {"iss": "https://id.courial.com", "aud": "other"},
        {},
    ):
        token = jwt.encode({"sub": "alice", "exp": exp, **claims}, TEST_SECRET, algorithm="HS256")
        r = client.get(CLAIMS, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401 and _error(r) == "AUTH_INVALID", claims


def test_rs256_public_key(make_app):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    app = make_app(SHIELD_JWT_PUBLIC_KEY=public, SHIELD_JWT_PRIVATE_KEY=private)
    client = app.test_client()
    exp = datetime.now(UTC) + timedelta(hours=1)
    good = jwt.encode({"sub": "alice", "exp": exp}, private, algorithm="RS256")
    assert client.get(CLAIMS, headers={"Authorization": f"Bearer {good}"}).status_code == 200
    # The classic confusion attack: HS256 signed with the public key must fail.
    forged = jwt.encode({"sub": "alice", "exp": exp}, TEST_SECRET, algorithm="HS256")
    assert client.get(CLAIMS, headers={"Authorization": f"Bearer {forged}"}).status_code == 401


def test_first_use_creates_member(client, auth, app):
    from models import Member, ResourceVersion, Wallet, db

    assert client.get(CLAIMS, headers=auth("newcomer")).status_code == 200
    with app.app_context():
        assert db.session.get(Member, "newcomer").email == "newcomer@example.com"
        assert db.session.get(ResourceVersion, "newcomer") is not None
        assert db.session.get(Wallet, "newcomer").balance_cents == 0


def test_cli_token_is_valid(app, client):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["shield", "token", "carol", "--admin"])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    r = client.get("/shield/v1/admin/claims", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
