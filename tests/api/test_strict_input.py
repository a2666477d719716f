"""Input the document calls invalid is refused: whole-value patterns, ASCII integers, keys."""

from __future__ import annotations

import pytest

from tests.factories import subscribe

API = "/shield/v1"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/wallet/withdrawals", {"amount": 1, "bankAccountLastFour": "1234\n"}),
        ("/devices", {"token": "abc:def\n", "platform": "ios"}),
    ],
)
def test_a_trailing_newline_does_not_match_a_pattern(app, client, auth, path, body):
    """Python's `$` matches before a final newline; the patterns must match the whole value."""
    with app.app_context():
        subscribe("alice")
    headers = {**auth("alice"), "Idempotency-Key": "newline-1"}
    r = client.post(f"{API}{path}", json=body, headers=headers)
    assert r.status_code == 422, r.json
    assert r.json["error"]["code"] == "INVALID_PAYLOAD"


@pytest.mark.parametrize("raw", ["%205", "5%20", "1_0", "%D9%A3", "+5", "0x10", "5.0"])
def test_integer_query_parameters_are_ascii_digits(client, auth, raw):
    r = client.get(f"{API}/notifications?limit={raw}", headers=auth("alice"))
    assert r.status_code == 400
    assert "must be an integer" in r.json["error"]["message"]


def test_a_huge_integer_is_out_of_bounds_not_a_crash(client, auth):
    r = client.get(f"{API}/events?after={'9' * 5000}", headers=auth("alice"))
    assert r.status_code == 400
    assert "between" in r.json["error"]["message"]


@pytest.mark.parametrize("key", ["two words", "caf\u00e9", "tab\there"])
def test_idempotency_keys_are_visible_ascii(app, client, auth, key):
    headers = {**auth("root", admin=True), "Idempotency-Key": key.encode().decode("latin-1")}
    r = client.post(f"{API}/admin/claims/nope/pay", headers=headers)
    assert r.status_code == 400
    assert "Idempotency-Key" in r.json["error"]["message"]


def test_a_visible_ascii_key_reaches_the_route(client, auth):
    headers = {**auth("root", admin=True), "Idempotency-Key": "a!~" + "k" * 252}
    assert client.post(f"{API}/admin/claims/nope/pay", headers=headers).status_code == 404


def test_a_query_parameter_given_twice_is_refused(client, auth):
    r = client.get(
        f"{API}/admin/withdrawals?status=pending&status=failed", headers=auth("root", admin=True)
    )
    assert r.status_code == 400
    assert "more than once" in r.json["error"]["message"]
