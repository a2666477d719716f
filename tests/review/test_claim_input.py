"""One ticket is one claim, however its number is padded."""

from __future__ import annotations

import pytest

from tests.factories import claim_body, subscribe

from .helpers import API


@pytest.mark.parametrize("variant", ["T-777\n", " T-777", "T-777 "])
def test_a_padded_ticket_number_is_still_a_duplicate(app, client, auth, variant):
    with app.app_context():
        subscribe("alice", "professional")
    r = client.post(f"{API}/claims", json=claim_body(ticketNumber="T-777"), headers=auth("alice"))
    assert r.status_code == 201
    again = client.post(
        f"{API}/claims", json=claim_body(ticketNumber=variant), headers=auth("alice")
    )
    assert again.status_code in (409, 422), again.json
    assert len(client.get(f"{API}/claims", headers=auth("alice")).json["claims"]) == 1
