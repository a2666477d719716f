"""SHIELD_ENV and the JWT key: production is the default and fails closed, with one line
that says what to set, both from create_app() and from a real process start."""

from __future__ import annotations

import subprocess
import sys

import pytest

from app import create_app
from shield.config import DEV_JWT_SECRET, ConfigError
from tests.processes import ROOT, process_env

STRONG = "s" * 32
CLEARED = ("SHIELD_ENV", "SHIELD_JWT_SECRET", "SHIELD_JWT_PUBLIC_KEY", "SHIELD_JWT_PRIVATE_KEY")


@pytest.fixture
def bare_env(monkeypatch):
    """No SHIELD_ENV and no JWT key in the environment (the suite sets SHIELD_ENV=test)."""
    for name in CLEARED:
        monkeypatch.delenv(name, raising=False)


def refusal(**config) -> str:
    with pytest.raises(ConfigError) as info:
        create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "SHIELD_SCHEDULER": "off", **config})
    message = str(info.value)
    assert "\n" not in message and message.strip() == message
    return message


@pytest.mark.parametrize("name", ["prod", "Prod", "staging", "dev", " ", "production2"])
def test_an_unknown_environment_refuses_to_start(bare_env, name):
    message = refusal(SHIELD_ENV=name, SHIELD_JWT_SECRET=STRONG)
    assert "set SHIELD_ENV to development, test or production" in message


def test_unset_environment_is_production_and_needs_a_key(bare_env):
    message = refusal()
    assert "set SHIELD_JWT_SECRET" in message and "SHIELD_JWT_PUBLIC_KEY" in message


@pytest.mark.parametrize("env", ["production", "PRODUCTION", "Production"])
def test_production_needs_a_key_in_any_case(bare_env, env):
    assert "no JWT key in production" in refusal(SHIELD_ENV=env)


@pytest.mark.parametrize("secret", ["abc", "x" * 31, "é" * 15, DEV_JWT_SECRET])
def test_production_refuses_a_short_or_builtin_secret(bare_env, secret):
    message = refusal(SHIELD_ENV="production", SHIELD_JWT_SECRET=secret)
    assert "SHIELD_JWT_SECRET is too weak" in message and "32 bytes" in message


@pytest.mark.parametrize("env", ["development", "test", "TEST", " Development "])
def test_the_builtin_secret_works_in_development_and_test(bare_env, env, caplog):
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "SHIELD_ENV": env})
    assert app.config["SHIELD_ENV"] == env.strip().lower()
    assert app.config["SHIELD_JWT_VERIFY_KEY"] == DEV_JWT_SECRET
    assert "BUILT-IN DEVELOPMENT JWT SECRET" in caplog.text


def test_the_environment_variable_is_read(monkeypatch):
    for name in CLEARED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SHIELD_ENV", "Prod")
    assert "SHIELD_ENV='Prod'" in refusal()


# --- a real process start --------------------------------------------------------------


def start(cmd: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def bad_envs(database_uri: str) -> dict[str, dict[str, str]]:
    base = process_env(database_uri)
    unset = {k: v for k, v in base.items() if k != "SHIELD_ENV"}
    unset.pop("SHIELD_JWT_SECRET")
    return {
        "prod": {**base, "SHIELD_ENV": "prod"},
        "unset": unset,
        "short": {**base, "SHIELD_ENV": "production", "SHIELD_JWT_SECRET": "short"},
    }


EXPECTED = {
    "prod": "set SHIELD_ENV to development, test or production",
    "unset": "no JWT key in production: set SHIELD_JWT_SECRET",
    "short": "SHIELD_JWT_SECRET is too weak for production",
}


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_python_m_jobs_refuses_with_one_line(database_uri, case):
    result = start([sys.executable, "-m", "jobs", "--once"], bad_envs(database_uri)[case])
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("python -m jobs: cannot start: ")
    assert EXPECTED[case] in lines[0]
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_the_flask_cli_refuses_with_one_line(database_uri, case):
    flask = [sys.executable, "-m", "flask", "--app", "app"]
    for args in (["shield", "token", "bob"], ["run", "--no-reload", "--port", "0"]):
        result = start([*flask, *args], bad_envs(database_uri)[case])
        assert result.returncode == 1, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("Error: ") and EXPECTED[case] in lines[0]
        assert result.stdout == ""


def _server_refuses(cmd: list[str], env: dict[str, str], expected: str) -> None:
    """A WSGI server given a configuration that cannot start: it stops (no worker respawned
    for ever) with a non-zero status, and the reason is one line, with no traceback."""
    result = start(cmd, env)
    output = result.stderr + result.stdout
    assert result.returncode != 0, output
    reasons = [line for line in output.splitlines() if "cannot start" in line]
    assert reasons == [f"shield: cannot start: {reasons[0].split(': ', 2)[2]}"], output
    assert expected in reasons[0]
    assert "Traceback" not in output and "ConfigError" not in output, output


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_gunicorn_refuses_with_one_line(database_uri, case):
    gunicorn = [sys.executable, "-m", "gunicorn", "--bind", "127.0.0.1:0", "wsgi:app"]
    _server_refuses(gunicorn, bad_envs(database_uri)[case], EXPECTED[case])


def test_granian_refuses_with_one_line(database_uri):
    """The same wsgi.py refusal as under gunicorn (every case takes one path)."""
    granian = [sys.executable, "-m", "granian", "--interface", "wsgi", "--port", "0", "wsgi:app"]
    _server_refuses(granian, bad_envs(database_uri)["prod"], EXPECTED["prod"])


def test_a_good_production_configuration_starts(database_uri):
    env = {
        **process_env(database_uri),
        "SHIELD_ENV": "production",
        "SHIELD_JWT_SECRET": STRONG,
        "SHIELD_BANK_PROVIDER": "simulated",
        "SHIELD_BILLING_PROVIDER": "simulated",
    }
    result = start([sys.executable, "-m", "flask", "--app", "app", "shield", "token", "bob"], env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(".") == 2  # a JWT
