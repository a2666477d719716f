"""Hostile input is a clear 4xx that changes nothing: nesting, odd token claims, sizes, types."""

import io
import logging
import time
import uuid

import jwt
import pytest
from sqlalchemy import func, select

from models import Claim, OutboxEvent, db
from shield.requests import MAX_JSON_DEPTH
from tests.factories import claim_body, subscribe

CLAIMS = "/shield/v1/claims"
BODY_METHODS = {"POST", "PUT", "PATCH"}


def _nested(levels: int) -> str:
    return '{"a":' * levels + "1" + "}" * levels


def _body_routes(app):
    """Every API route that takes a body, with its path arguments filled in."""
    routes = []
    for rule in app.url_map.iter_rules():
        methods = (rule.methods or set()) & BODY_METHODS
        if not methods or not rule.rule.startswith("/shield/"):
            continue
        values = {arg: str(uuid.uuid4()) for arg in rule.arguments}
        path = rule.rule
        for arg, value in values.items():
            path = path.replace(f"<{arg}>", value)
            for conv in ("string", "int", "uuid", "path"):
                path = path.replace(f"<{conv}:{arg}>", value)
        for method in sorted(methods):
            routes.append((method, path, "/admin/" in rule.rule, bool(rule.arguments)))
    return routes


def _counts(app):
    with app.app_context():
        return (
            db.session.scalar(select(func.count()).select_from(Claim)),
            db.session.scalar(select(func.count()).select_from(OutboxEvent)),
        )


# 10,000 levels: past the recursion limit, still under 64 KB
@pytest.mark.parametrize("levels", [MAX_JSON_DEPTH + 1, 400, 10_000])
def test_nested_json_is_400_on_every_body_route(app, client, auth, caplog, levels):
    with app.app_context():
        subscribe("alice")
    routes = _body_routes(app)
    assert len(routes) >= 10, routes  # the enumeration found the API, not nothing
    before = _counts(app)
    body = _nested(levels)
    caplog.set_level(logging.INFO)
    for method, path, admin, has_args in routes:
        headers = auth("root", admin=True) if admin else auth("alice")
        headers["Idempotency-Key"] = str(uuid.uuid4())
        r = client.open(
            path, method=method, data=body, headers=headers, content_type="application/json"
        )
        allowed = {400, 404} if has_args else {400}
        assert r.status_code in allowed, (method, path, r.status_code, r.data[:200])
        assert set(r.get_json()) == {"error"}, (method, path)
        if r.status_code == 400:
            assert r.get_json()["error"]["code"] == "INVALID_PAYLOAD", (method, path)
    assert _counts(app) == before
    assert "Traceback" not in caplog.text
    assert not [rec for rec in caplog.records if rec.levelno >= logging.ERROR]


def test_depth_at_the_limit_still_parses(client, auth):
    # 32 levels is accepted as JSON; the claim schema then refuses the unknown field (422).
    r = client.post(
        CLAIMS, headers=auth("alice"), data=_nested(MAX_JSON_DEPTH), content_type="application/json"
    )
    assert r.status_code == 422, r.data


def test_chunked_body_over_the_limit_is_413(client, auth):
    big = b'{"ticketNumber": "' + b"x" * (70 * 1024) + b'"}'

    headers = {**auth("alice"), "Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    r = client.post(
        CLAIMS,
        headers=headers,
        input_stream=io.BytesIO(big),
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert r.status_code == 413, (r.status_code, r.data[:200])
    assert r.get_json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


def _signed(app, **claims) -> str:
    base = {"sub": "alice", "exp": int(time.time()) + 3600, "role": "member"}
    base.update(claims)
    if app.config.get("SHIELD_JWT_ISSUER"):
        base["iss"] = app.config["SHIELD_JWT_ISSUER"]
    if app.config.get("SHIELD_JWT_AUDIENCE"):
        base["aud"] = app.config["SHIELD_JWT_AUDIENCE"]
    return jwt.encode(
        base, app.config["SHIELD_JWT_SIGN_KEY"], algorithm=app.config["SHIELD_JWT_ALGORITHM"]
    )


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": str(int(time.time()) + 3600)},
        {"exp": 1e20},
        {"exp": True},
        {"sub": "ali\x00ce"},
        {"sub": "ali\nce"},
        {"sub": 12},
    ],
)
def test_odd_claims_in_a_signed_token_are_auth_invalid(app, client, claims):
    token = _signed(app, **claims)
    for path in (CLAIMS, "/shield/v1/wallet"):
        r = client.get(path, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401, (claims, path, r.status_code, r.data[:200])
        assert r.get_json()["error"]["code"] == "AUTH_INVALID"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("amount", "85"),
        ("amount", "85.00"),
        ("ticketDate", "0001-01-01"),
        ("ticketDate", "1999-12-31"),
    ],
)
def test_amount_strings_and_implausible_dates_are_refused(app, client, auth, field, value):
    with app.app_context():
        subscribe("alice")
    before = _counts(app)
    r = client.post(CLAIMS, headers=auth("alice"), json=claim_body(**{field: value}))
    assert r.status_code == 422, r.data
    assert field in r.get_json()["error"]["details"]
    assert _counts(app) == before


def test_if_none_match_star_never_hides_a_404(app, client, auth):
    with app.app_context():
        subscribe("alice")
        subscribe("bob")
    r = client.post(CLAIMS, headers=auth("bob"), json=claim_body())
    assert r.status_code == 201, r.data
    bobs = r.get_json()["claimId"]
    # Warm the version store so the 304 shortcut is armed for alice.
    assert client.get(CLAIMS, headers=auth("alice")).status_code == 200
    star = {**auth("alice"), "If-None-Match": "*"}
    for claim_id in (str(uuid.uuid4()), bobs):
        r = client.get(f"{CLAIMS}/{claim_id}", headers=star)
        assert r.status_code == 404, (claim_id, r.status_code)
    # Bob's own claim with `*` is a 304: it exists for him.
    r = client.get(f"{CLAIMS}/{bobs}", headers={**auth("bob"), "If-None-Match": "*"})
    assert r.status_code == 304
