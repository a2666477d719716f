"""Bad input gets a clear JSON error and changes nothing."""

import pytest
from sqlalchemy import func, select

from models import Claim, OutboxEvent, db
from tests.factories import claim_body, subscribe

CLAIMS = "/shield/v1/claims"


@pytest.fixture
def member(app):
    with app.app_context():
        subscribe("alice")
    return "alice"


def _counts(app):
    with app.app_context():
        return (
            db.session.scalar(select(func.count()).select_from(Claim)),
            db.session.scalar(select(func.count()).select_from(OutboxEvent)),
        )


def _assert_error(r, status, code):
    assert r.status_code == status, (r.status_code, r.data)
    body = r.get_json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


@pytest.mark.parametrize(
    ("kwargs", "status", "code"),
    [
        ({"data": "{not json", "content_type": "application/json"}, 400, "INVALID_PAYLOAD"),
        ({"data": "[1, 2]", "content_type": "application/json"}, 400, "INVALID_PAYLOAD"),
        (
            {"data": "ticketNumber=1", "content_type": "application/x-www-form-urlencoded"},
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        ({"json": {**claim_body(), "sneaky": 1}}, 422, "INVALID_PAYLOAD"),
        ({"json": {**claim_body(), "amount": "lots"}}, 422, "INVALID_PAYLOAD"),
        ({"json": {**claim_body(), "amount": True}}, 422, "INVALID_PAYLOAD"),
        ({"json": {**claim_body(), "amount": 10.005}}, 422, "INVALID_PAYLOAD"),
        ({"json": {**claim_body(), "amount": -5}}, 422, "INVALID_PAYLOAD"),
        ({"json": {**claim_body(), "amount": 0}}, 422, "INVALID_PAYLOAD"),
        ({"json": {**claim_body(), "ticketDate": "yesterday"}}, 422, "INVALID_PAYLOAD"),
        ({"json": {**claim_body(), "ticketDate": "2999-01-01"}}, 422, "INVALID_PAYLOAD"),
        ({"json": {**claim_body(), "ticketNumber": ""}}, 422, "INVALID_PAYLOAD"),
        ({"json": {**claim_body(), "city": 7}}, 422, "INVALID_PAYLOAD"),
        ({"json": {k: v for k, v in claim_body().items() if k != "city"}}, 422, "INVALID_PAYLOAD"),
    ],
)
def test_bad_claim_input_changes_nothing(app, client, auth, member, kwargs, status, code):
    before = _counts(app)
    r = client.post(CLAIMS, headers=auth(member), **kwargs)
    _assert_error(r, status, code)
    assert _counts(app) == before


def test_validation_details_name_the_field(client, auth, member):
    r = client.post(CLAIMS, headers=auth(member), json={**claim_body(), "amount": "x"})
    assert "amount" in r.json["error"]["details"]


def test_oversize_body(app, client, auth, member):
    before = _counts(app)
    big = {**claim_body(), "city": "x" * (70 * 1024)}
    r = client.post(CLAIMS, headers=auth(member), json=big)
    _assert_error(r, 413, "PAYLOAD_TOO_LARGE")
    assert _counts(app) == before


def test_wrong_method(client, auth):
    r = client.delete(CLAIMS, headers=auth("alice"))
    _assert_error(r, 405, "METHOD_NOT_ALLOWED")
    assert "GET" in r.headers["Allow"]


def test_unknown_route_and_ids(client, auth):
    _assert_error(client.get("/shield/v1/nothing-here", headers=auth("alice")), 404, "NOT_FOUND")
    _assert_error(client.get(f"{CLAIMS}/clm_missing", headers=auth("alice")), 404, "NOT_FOUND")
    admin = auth("root", admin=True)
    _assert_error(
        client.post("/shield/v1/admin/claims/clm_missing/review", headers=admin), 404, "NOT_FOUND"
    )


def test_unexpected_error_is_enveloped_and_rolled_back(app, client, auth, member, monkeypatch):
    from shield.claims import service

    def boom(*args, **kwargs):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(service, "record", boom)
    before = _counts(app)
    r = client.post(CLAIMS, headers=auth(member), json=claim_body())
    _assert_error(r, 500, "INTERNAL_ERROR")
    assert "fire" not in r.get_data(as_text=True)
    assert _counts(app) == before
