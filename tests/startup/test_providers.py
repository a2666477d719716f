"""SHIELD_BANK_PROVIDER / SHIELD_BILLING_PROVIDER: a name or an import path; production never
runs a simulation it was not told to run, and says so loudly when it was; demo data never
reaches production."""

from __future__ import annotations

import logging
import subprocess
import sys
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app import create_app
from models import Member, db, utcnow
from shield.config import ConfigError
from shield.subscriptions import service as subscriptions
from shield.subscriptions.billing import SimulatedBilling, default_provider
from shield.wallet.bank import SimulatedBank, bank_for
from tests.conftest import TEST_SECRET
from tests.processes import ROOT, process_env
from tests.startup.adapters import ConfiguredBilling, LedgerBank

BANK, BILLING = "SHIELD_BANK_PROVIDER", "SHIELD_BILLING_PROVIDER"
PRODUCTION = {"SHIELD_ENV": "production", "SHIELD_JWT_SECRET": TEST_SECRET}
SIMULATED = {BANK: "simulated", BILLING: "simulated"}
ADAPTERS = "tests.startup.adapters"


@pytest.fixture(autouse=True)
def no_provider_env(monkeypatch):
    for name in (BANK, BILLING):
        monkeypatch.delenv(name, raising=False)


def build(**config):
    return create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", **config})


def refusal(**config) -> str:
    with pytest.raises(ConfigError) as info:
        build(**config)
    message = str(info.value)
    assert "\n" not in message
    return message


def simulated_warnings(caplog) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and "=simulated IN PRODUCTION" in r.getMessage()
    ]


@pytest.mark.parametrize("missing", [BANK, BILLING])
def test_production_refuses_an_unset_provider(missing):
    given = {k: v for k, v in SIMULATED.items() if k != missing}
    message = refusal(**PRODUCTION, **given)
    assert message.startswith(f"{missing} is not set: in production set it to")
    assert "docs/providers.md" in message


def test_production_runs_the_simulation_only_when_named_and_warns_every_start(caplog):
    for _ in range(2):
        caplog.clear()
        app = build(**PRODUCTION, **{BANK: "simulated", BILLING: "Simulated"})
        assert isinstance(bank_for(app), SimulatedBank)
        with app.app_context():
            assert isinstance(default_provider(), SimulatedBilling)
        warnings = simulated_warnings(caplog)
        assert len(warnings) == 2
        assert any(
            "SHIELD_BANK_PROVIDER" in w and "WITHOUT MOVING ANY MONEY" in w for w in warnings
        )
        assert any("SHIELD_BILLING_PROVIDER" in w and "WITHOUT CHARGING" in w for w in warnings)


@pytest.mark.parametrize("env", ["development", "test"])
def test_development_and_test_default_to_the_simulation_quietly(env, caplog):
    app = build(SHIELD_ENV=env)
    assert isinstance(bank_for(app), SimulatedBank)
    with app.app_context():
        assert isinstance(default_provider(), SimulatedBilling)
    assert simulated_warnings(caplog) == []


def test_an_import_path_is_the_provider_the_jobs_use(make_app):
    app = make_app(
        SHIELD_ENV="production",
        SHIELD_BANK_PROVIDER=f"{ADAPTERS}:LedgerBank",
        SHIELD_BILLING_PROVIDER=f" {ADAPTERS}:ConfiguredBilling ",
        TEST_BILLING_ACCOUNT="acct-7",
    )
    assert type(bank_for(app)) is LedgerBank
    with app.app_context():
        assert type(default_provider()) is ConfiguredBilling
        member = f"adapter-{uuid.uuid4().hex[:8]}"  # make_app keeps the session's rows
        sub = subscriptions.create_subscription(
            db.session, member, "pro", "monthly", now=utcnow() - timedelta(days=40)
        )
        db.session.flush()
        # The configured adapter declines; the simulated one would have succeeded.
        assert subscriptions.renew(db.session, sub, utcnow()) is False
        assert sub.status == "past_due"
        db.session.rollback()


BAD_PATHS = {
    "no.such.module:Bank": "cannot be imported: ModuleNotFoundError: No module named 'no'",
    f"{ADAPTERS}:Missing": f"{ADAPTERS} has no Missing",
    "bank_of_nowhere": "is neither a known name (simulated) nor an import path",
    f"{ADAPTERS}:": "is neither a known name",
    f"{ADAPTERS}:HalfABank": "does not implement the interface: missing transfer_status",
    f"{ADAPTERS}:NeedsCredentials": "could not be created: KeyError: 'BANK_API_KEY'",
    f"{ADAPTERS}:NOT_A_CLASS": "is not a class",
}


@pytest.mark.parametrize("path", sorted(BAD_PATHS))
@pytest.mark.parametrize("env", ["production", "development"])
def test_a_bad_bank_path_refuses_to_start(path, env):
    message = refusal(**{**PRODUCTION, **SIMULATED, "SHIELD_ENV": env, BANK: path})
    assert message.startswith(f"{BANK}={path.strip()!r}")
    assert BAD_PATHS[path] in message


def test_a_billing_adapter_missing_charge_refuses_to_start():
    message = refusal(**PRODUCTION, **{**SIMULATED, BILLING: f"{ADAPTERS}:LedgerBank"})
    assert "does not implement the interface: missing charge" in message


# --- seeding and real process starts ---------------------------------------------------


def members() -> int:
    return db.session.scalar(select(func.count()).select_from(Member))


def test_seed_refuses_production(make_app):
    app = make_app(SHIELD_ENV="production", **SIMULATED)
    with app.app_context():
        before = members()
        result = app.test_cli_runner().invoke(args=["shield", "seed"])
        assert result.exit_code == 1
        assert "refusing to write demo data with SHIELD_ENV=production" in result.output
        assert members() == before


def test_demo_tokens_refuse_production(make_app):
    app = make_app(SHIELD_ENV="production", **SIMULATED)
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["shield", "demo-tokens"])
    assert result.exit_code == 1
    assert "refusing to print demo tokens with SHIELD_ENV=production" in result.output
    assert "TOKEN=" not in result.output


def test_demo_tokens_still_work_in_development(make_app):
    app = make_app(SHIELD_ENV="development")
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["shield", "demo-tokens"])
    assert result.exit_code == 0, result.output
    assert "export MEMBER_TOKEN=" in result.output and "export ADMIN_TOKEN=" in result.output


def test_seed_still_works_in_development(make_app):
    app = make_app(SHIELD_ENV="development")
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["shield", "seed"])
        assert result.exit_code == 0, result.output
        assert db.session.get(Member, "demo-member") is not None


def run(cmd: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


FLASK = [sys.executable, "-m", "flask", "--app", "app"]


def test_processes_refuse_unset_or_bad_providers_with_one_line(database_uri):
    base = {**process_env(database_uri), "SHIELD_ENV": "production"}
    cases = {
        "SHIELD_BANK_PROVIDER is not set": base,
        "cannot be imported": {**base, **SIMULATED, BANK: "acme_bank.adapter:Bank"},
    }
    for expected, env in cases.items():
        jobs = run([sys.executable, "-m", "jobs", "--once"], env)
        assert jobs.returncode == 2, jobs.stderr
        assert jobs.stderr.strip().count("\n") == 0 and expected in jobs.stderr
        cli = run([*FLASK, "shield", "token", "bob"], env)
        assert cli.returncode == 1, cli.stderr
        assert cli.stderr.strip().count("\n") == 0 and expected in cli.stderr


def test_a_production_start_with_named_simulations_warns_and_seed_refuses(database_uri):
    env = {**process_env(database_uri), "SHIELD_ENV": "production", **SIMULATED}
    token = run([*FLASK, "shield", "token", "bob"], env)
    assert token.returncode == 0, token.stderr
    assert token.stdout.count(".") == 2
    assert (
        "WARNING" in token.stderr and "SHIELD_BANK_PROVIDER=simulated IN PRODUCTION" in token.stderr
    )
    seed = run([*FLASK, "shield", "seed"], env)
    assert seed.returncode == 1
    assert "Error: refusing to write demo data with SHIELD_ENV=production" in seed.stderr
    demo = run([*FLASK, "shield", "demo-tokens"], env)
    assert demo.returncode == 1 and "TOKEN=" not in demo.stdout
    assert "Error: refusing to print demo tokens with SHIELD_ENV=production" in demo.stderr
