"""Schemathesis against the app: the OpenAPI document is what the API serves.

Every operation of /shield/v1/openapi.json gets generated requests, valid ones and invalid ones,
with a member token on member routes and an admin token on admin routes. Each response must
match the documented status, headers and body shape; no request may be a 500; a request the
document calls valid must not be refused as malformed, and one it calls invalid must be refused.

schemathesis' own pytest loader reaches into pytest internals that pytest 9 removed, so the
operations are parametrized here and each one is driven with its hypothesis strategy.
"""

from __future__ import annotations

import os
import uuid

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance
from schemathesis.core.failures import Failure
from schemathesis.core.parameters import ParameterLocation

from app import create_app
from shield.openapi import build_spec
from tests.conftest import _test_config
from tests.factories import subscribe

# A longer hunt: SHIELD_SCHEMATHESIS_EXAMPLES=500 (and --hypothesis-seed=N to replay one run).
MAX_EXAMPLES = int(os.environ.get("SHIELD_SCHEMATHESIS_EXAMPLES", "25"))
MEMBER = "member-1"

# Valid by the document, refused by a business rule no JSON Schema can state (it depends on
# today's date or on what is stored). positive_data_acceptance lets exactly these through.
BUSINESS_RULES = {
    (422, "The ticket date is in the future."): "depends on today's date",
    (422, "dueBy must be in the future."): "depends on the current time",
    (400, "Query parameter 'before' is not one of your transactions."): "the cursor must "
    "be a transaction of yours, which the generator cannot know",
}


def _operations() -> list[tuple[str, str]]:
    spec = build_spec(create_app(_test_config("sqlite://")))
    return sorted((method.upper(), path) for path, ops in spec["paths"].items() for method in ops)


OPERATIONS = _operations()


def _whole_cents(context, body):
    """Money is `multipleOf: 0.01`; the generator multiplies in floats (57 * 0.01 is
    0.5700000000000001), so a valid amount is rounded back to the cent it stands for."""
    if isinstance(body, dict) and isinstance(body.get("amount"), float):
        return {**body, "amount": round(body["amount"], 2)}
    return body


def _as_sent(value):
    """A query value as a client puts it on the wire. An object has no one way: requests sends
    its keys (`{"a": 1, "b": 2}` as `userId=a&userId=b`), the WSGI test client its Python
    repr (`userId={'a': 1, ...}`, a valid string), and the checks read the URL as requests
    would. So the negative run sends an object as requests does, the list of its keys, and
    the request sent is the one judged. An empty object is an empty value (schemathesis)."""
    if isinstance(value, dict):
        return list(value) if value else ""
    return value


def _sendable_query(context, query) -> bool:
    """A list of no or one item is sent as no parameter or as one plain value (both valid), so
    a negative case built on one does not reach the API as invalid data. Two or more items
    are a repeated parameter, which the API refuses (400)."""
    sent = [_as_sent(v) for v in (query or {}).values()]
    return not any(isinstance(v, list) and len(v) < 2 for v in sent)


def _query_as_sent(context, query):
    if not isinstance(query, dict):
        return query
    return {name: _as_sent(value) for name, value in query.items()}


def _only_authorization_mutated(case) -> bool:
    """Whether every mutation of a negative case is of its Authorization header (missing, not
    a bearer token, ...): such a case is sent with the header as generated, to be refused."""
    mutations = getattr(case.meta.phase.data, "mutations", ())
    return bool(mutations) and all(
        m.parameter_location is ParameterLocation.HEADER and m.parameter == "Authorization"
        for m in mutations
    )


def _key_is_mutated(case) -> bool:
    mutations = getattr(case.meta.phase.data, "mutations", ())
    return any(
        m.parameter_location is ParameterLocation.HEADER and m.parameter == "Idempotency-Key"
        for m in mutations
    )


def _send_headers(case, headers: dict) -> dict:
    """Write the headers the test sends into the case itself, not only into the request.

    The checks judge a case by its own containers: a negative case whose generated
    Authorization was replaced only on the wire still reads as negative in its header, so a
    query mutation that is valid as sent (`limit={}` goes out as `limit=`, a valid empty
    value) was reported as accepted invalid data. Assigning `case.headers` makes schemathesis
    revalidate the header component against what is really sent. The same headers still go
    as explicit request headers, so the `ignored_auth` check knows the token is ours and
    probes the operation without it and with a wrong one.
    """
    case.headers = {**(case.headers or {}), **headers}
    return headers


def _business_rule(response) -> str | None:
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return None
    return BUSINESS_RULES.get((response.status_code, message))


def valid_data_is_accepted(ctx, response, case):
    """positive_data_acceptance, less the BUSINESS_RULES refusals."""
    try:
        return positive_data_acceptance(ctx, response, case)
    except Failure:
        if _business_rule(response):
            return None
        raise


@pytest.fixture
def api_schema(app):
    with app.app_context():
        subscribe(MEMBER)
    schema = schemathesis.openapi.from_wsgi("/shield/v1/openapi.json", app)
    # Query parameters the API does not know are ignored, as HTTP APIs do (documented in
    # docs/api.md), so an unknown one is not "invalid data".
    # No string may hold NUL (400 everywhere, stated in the document's description and
    # fuzzed in tests/review/test_fuzz_routes.py); a per-field pattern would say it 40 times.
    schema.config.generation.update(allow_extra_parameters=False, allow_x00=False)
    return schema


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_operation_matches_its_document(api_schema, token, method, path, mode):
    if mode is GenerationMode.POSITIVE:
        api_schema.hooks.register_hook_with_name(_whole_cents, "map_body")
    else:
        api_schema.hooks.register_hook_with_name(_sendable_query, "filter_query")
        api_schema.hooks.register_hook_with_name(_query_as_sent, "map_query")
    operation = api_schema[path][method]
    admin = path.startswith("/shield/v1/admin")
    bearer = token("root", admin=True) if admin else token(MEMBER)

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def run(case):
        headers = {}
        if mode is GenerationMode.POSITIVE or not _only_authorization_mutated(case):
            headers["Authorization"] = f"Bearer {bearer}"
        if "Idempotency-Key" in (case.headers or {}) and not (
            mode is GenerationMode.NEGATIVE and _key_is_mutated(case)
        ):
            # A key names one request; the generator would reuse one for different bodies,
            # which the API rightly refuses (422 IDEMPOTENCY_KEY_REUSED). A negative case
            # whose key is valid can become valid once its headers are what is sent, so it
            # gets a fresh key too; a mutated key is sent as generated.
            key = case.headers["Idempotency-Key"][:200]
            headers["Idempotency-Key"] = f"{key}-{uuid.uuid4()}"
        case.call_and_validate(
            headers=_send_headers(case, headers) or None,
            excluded_checks=[positive_data_acceptance],
            additional_checks=[valid_data_is_accepted],
        )

    run()
