"""Every route, a few malformed inputs each: never a 500, always the JSON error envelope."""

from __future__ import annotations

import pytest

from models import db
from tests.factories import subscribe

BAD_IDS = ["x" * 5000, "%00", "\u00e9\u4e2d\U0001f600", "-1", "99999999999999999999999", "null"]
BAD_BODIES = [
    None,
    "null",
    "[]",
    "[1]",
    '"str"',
    "1e999",
    "{}",
    '{"amount": 1e308, "bankAccountLastFour": "1234"}',
    '{"amount": -1e308}',
    '{"amount": "NaN", "bankAccountLastFour": "1234"}',
    '{"amount": "Infinity"}',
    '{"amount": 99999999999999999999999999999999999, "bankAccountLastFour": "1234"}',
    '{"amount": "1e-999999999"}',
    '{"amount": "9e999999999", "bankAccountLastFour": "1234"}',
    '{"amount": null, "bankAccountLastFour": null}',
    '{"amount": [], "bankAccountLastFour": {}}',
    '{"token": null, "platform": null}',
    '{"token": ["a"], "platform": "ios"}',
    '{"pushEnabled": "yes"}',
    '{"planId": {}, "billingPeriod": []}',
    '{"status": null, "reason": 5}',
    '{"reason": ["x"]}',
    '{"dueBy": "9999-12-31T23:59:59Z"}',
    '{"dueBy": "0001-01-01T00:00:00+14:00"}',
    '{"dueBy": 1e30}',
    '{"message": null, "dueBy": null}',
    '{"denialCode": null}',
    '{"decisionNotes": 5}',
    '{"documentUrl": "https://' + "a" * 300 + '.com"}',
    '{"ticketNumber": "A", "amount": 10, "city": "c", "state": "s", "violationType": "v",'
    ' "ticketDate": "0001-01-01"}',
    '{"ticketNumber": "B", "amount": 10, "city": "c", "state": "s", "violationType": "v",'
    ' "ticketDate": "9999-12-31"}',
    '{"ticketNumber": "C", "amount": 10, "city": "\\u0000", "state": "s", "violationType": "v",'
    ' "ticketDate": "2024-01-01"}',
    '{"\\ud800": 1}',
    '{"ticketNumber": "D", "amount": 10, "city": "\\ud800", "state": "s", "violationType": "v",'
    ' "ticketDate": "2024-01-01"}',
    '{"token": "abc", "platform": "ios", "x\\u0000": 1}',
    '{"reason": "bank \\u0000 said no"}',
    '{"reason": "bank \\udfff said no"}',
    '{"city": "\\ud800"}',
]
BAD_QUERIES = [
    "",
    "?limit=-1",
    "?limit=0",
    "?limit=99999999999999999999999",
    "?limit=abc",
    "?after=-5",
    "?after=99999999999999999999999999",
    "?offset=-1",
    "?offset=99999999999999999999",
    "?status=%00",
    "?before=" + "x" * 3000,
    "?userId=" + "x" * 3000,
    "?status=pending&userId=%F0%9F%98%80",
]


def _url(rule: str, value: str) -> str:
    import re

    return re.sub(r"<[^>]+>", lambda _m: value, rule)


def _routes(app):
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/shield/v1"):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule.rule, method


def _check(response):
    assert response.status_code < 500, (response.status_code, response.data[:500])
    if response.status_code >= 400:
        body = response.get_json(silent=True)
        assert body and set(body) == {"error"}, response.data[:300]
        assert body["error"]["code"] and body["error"]["message"]


@pytest.mark.parametrize("admin", [False, True])
def test_no_route_answers_500(app, client, auth, admin):
    with app.app_context():
        subscribe("fuzzer")
        subscribe("root")
        db.session.remove()
    headers = auth("root" if admin else "fuzzer", admin=admin)
    failures = []
    for rule, method in _routes(app):
        ids = BAD_IDS if "<" in rule else [""]
        for ident in ids:
            url = _url(rule, ident)
            if method == "GET":
                for q in BAD_QUERIES:
                    r = client.get(url + q, headers=headers)
                    try:
                        _check(r)
                    except AssertionError as exc:
                        failures.append((method, url[:80] + q[:40], str(exc)[:300]))
                continue
            for n, body in enumerate(BAD_BODIES):
                kw = {"headers": {**headers, "Idempotency-Key": f"k-{method}-{rule}-{ident}-{n}"}}
                if body is not None:
                    kw["data"] = body
                    kw["content_type"] = "application/json"
                r = client.open(url, method=method, **kw)
                try:
                    _check(r)
                except AssertionError as exc:
                    failures.append((method, url[:80], body and body[:60], str(exc)[:300]))
    assert not failures, "\n".join(map(str, failures))
