import pytest

from shield.rules import PLANS, payout_split
from shield.wire import dollars, iso, to_cents


@pytest.mark.parametrize(
    ("amount", "deductible", "remaining", "payout", "applied", "copay"),
    [
        (6500, 1500, 25000, 5000, 1500, 1500),
        (1000, 1500, 25000, 0, 1000, 1000),  # below the deductible: nothing paid
        (30000, 1500, 25000, 25000, 1500, 5000),  # capped by what is left
        (8000, 0, 3000, 3000, 0, 5000),
        (8000, 1000, 0, 0, 1000, 8000),
    ],
)
def test_payout_formula(amount, deductible, remaining, payout, applied, copay):
    split = payout_split(amount, deductible, remaining)
    assert (split.payout_cents, split.deductible_cents, split.copay_cents) == (
        payout,
        applied,
        copay,
    )
    assert split.payout_cents + split.copay_cents == amount


def test_plans_match_domain_table():
    assert {
        p: (v.monthly_cents, v.annual_cents, v.annual_cap_cents, v.max_tickets, v.deductible_cents)
        for p, v in PLANS.items()
    } == {
        "basic": (999, 9900, 25000, 3, 1500),
        "pro": (1999, 19900, 60000, 6, 1000),
        "professional": (3999, 39900, 150000, 15, 0),
    }


@pytest.mark.parametrize(
    ("value", "cents"), [(45.5, 4550), (120, 12000), ("0.01", 1), (19.99, 1999)]
)
def test_to_cents(value, cents):
    assert to_cents(value) == cents


@pytest.mark.parametrize("value", [1.005, "abc", "NaN", "Infinity", True])
def test_to_cents_rejects(value):
    with pytest.raises(ValueError):
        to_cents(value)


def test_dollars_are_json_numbers():
    assert dollars(4550) == 45.5
    assert dollars(12000) == 120 and isinstance(dollars(12000), int)
    assert dollars(1) == 0.01


def test_iso_is_utc_with_z():
    from datetime import datetime, timedelta, timezone

    moment = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=timezone(timedelta(hours=2)))
    assert iso(moment) == "2026-01-02T01:04:05.678Z"
    with pytest.raises(ValueError):
        iso(datetime(2026, 1, 1))
