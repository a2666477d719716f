import pytest


def test_openapi_document_covers_every_route(app, client):
    r = client.get("/shield/v1/openapi.json")
    assert r.status_code == 200
    doc = r.json
    assert doc["openapi"].startswith("3.")
    routes = {
        (rule.rule, method.lower())
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/shield/v1") and rule.endpoint != "openapi.document"
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    import re

    documented = {
        (re.sub(r"\{([^}]+)\}", r"<\1>", path), method)
        for path, ops in doc["paths"].items()
        for method in ops
    }
    normalised = {(re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"<\1>", p), m) for p, m in routes}
    assert normalised <= documented


def test_openapi_uses_the_marshmallow_schemas(client):
    doc = client.get("/shield/v1/openapi.json").json
    submit = doc["paths"]["/shield/v1/claims"]["post"]
    ref = submit["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    claim_in = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert set(claim_in["properties"]) == {
        "ticketNumber",
        "amount",
        "city",
        "state",
        "violationType",
        "ticketDate",
    }
    assert set(claim_in["required"]) == set(claim_in["properties"])
    listing = doc["paths"]["/shield/v1/claims"]["get"]
    assert "304" in listing["responses"]
    pay = doc["paths"]["/shield/v1/admin/claims/{claim_id}/pay"]["post"]
    assert any(p["name"] == "Idempotency-Key" and p["required"] for p in pay["parameters"])


def test_every_api_route_is_described(app):
    undocumented = [
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/shield/v1")
        and rule.endpoint != "openapi.document"
        and not getattr(app.view_functions[rule.endpoint], "__openapi__", None)
    ]
    assert undocumented == []


def _patterns(node, where="$"):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                yield where, value
            else:
                yield from _patterns(value, f"{where}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _patterns(value, f"{where}[{i}]")


def test_patterns_are_valid_ecma262_and_anchored(client):
    """JavaScript validators and code generators compile every pattern with `u`."""
    import json
    import os
    import shutil
    import subprocess

    doc = client.get("/shield/v1/openapi.json").json
    patterns = dict(_patterns(doc))
    assert len(patterns) >= 5
    for where, pattern in patterns.items():
        assert "\\A" not in pattern and "\\Z" not in pattern, where
        assert pattern.startswith("^") and pattern.endswith("$"), where
    node = shutil.which("node")
    if node is None:
        message = "node is needed to compile the patterns as ECMA-262"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    script = (
        "const ps = JSON.parse(require('fs').readFileSync(0, 'utf8')); const bad = [];"
        "for (const [w, p] of Object.entries(ps)) { try { new RegExp(p, 'u'); }"
        " catch (e) { bad.push(w + ': ' + e.message); } }"
        "console.log(JSON.stringify(bad));"
    )
    out = subprocess.run(
        [node, "-e", script], input=json.dumps(patterns), capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == []


def _schema(doc, ref_or_schema):
    ref = ref_or_schema.get("$ref")
    return doc["components"]["schemas"][ref.rsplit("/", 1)[1]] if ref else ref_or_schema


def _json_schema(doc, op, status):
    return _schema(doc, op["responses"][status]["content"]["application/json"]["schema"])


def test_documented_shapes_and_statuses_are_the_served_ones(client):
    doc = client.get("/shield/v1/openapi.json").json
    paths = doc["paths"]
    listing = _json_schema(doc, paths["/shield/v1/admin/claims"]["get"], "200")
    assert listing.get("type", "object") == "object"
    assert {"claims", "count", "limit", "offset"} <= set(listing["properties"])
    register = paths["/shield/v1/devices"]["post"]["responses"]
    assert "201" in register and "200" in register
    unregister = next(
        ops["delete"] for p, ops in paths.items() if p.startswith("/shield/v1/devices/")
    )
    assert "204" in unregister["responses"] and "200" not in unregister["responses"]
    assert "content" not in unregister["responses"]["204"]


def test_bounds_and_formats_are_documented(client):
    doc = client.get("/shield/v1/openapi.json").json
    schemas = doc["components"]["schemas"]
    for name in ("ClaimIn", "WithdrawalIn"):
        amount = schemas[name]["properties"]["amount"]
        assert amount["type"] == "number"
        assert amount["minimum"] == 0.01 and amount["maximum"] > 0 and amount["multipleOf"] == 0.01
    url = schemas["ProofUploadIn"]["properties"]["documentUrl"]
    assert url["format"] == "uri" and url["pattern"].startswith("^(https)://")
    pay = doc["paths"]["/shield/v1/admin/claims/{claim_id}/pay"]["post"]
    key = next(p for p in pay["parameters"] if p["name"] == "Idempotency-Key")["schema"]
    assert key["minLength"] == 1 and key["maxLength"] == 255 and key["pattern"] == "^[!-~]+$"


@pytest.mark.parametrize(
    ("path", "names"),
    [
        ("/shield/v1/admin/claims", {"status", "q", "limit", "offset"}),
        ("/shield/v1/admin/withdrawals", {"status", "userId", "limit", "offset"}),
        ("/shield/v1/admin/push/deliveries", {"status", "userId", "limit"}),
        ("/shield/v1/events", {"after", "limit"}),
        ("/shield/v1/wallet/transactions", {"before", "limit"}),
        ("/shield/v1/notifications", {"limit"}),
    ],
)
def test_query_parameters_are_documented(client, path, names):
    doc = client.get("/shield/v1/openapi.json").json
    params = doc["paths"][path]["get"]["parameters"]
    assert {p["name"] for p in params if p["in"] == "query"} == names


def test_polled_answers_document_their_etag(client):
    doc = client.get("/shield/v1/openapi.json").json
    listing = doc["paths"]["/shield/v1/claims"]["get"]["responses"]
    assert "ETag" in listing["200"]["headers"] and "ETag" in listing["304"]["headers"]


def test_path_parameters_carry_their_route_pattern(client, auth):
    """A path variable whose converter has its own regex is documented with that pattern,
    and the document and the route agree on what matches."""
    import re

    doc = client.get("/shield/v1/openapi.json").json
    (param,) = doc["paths"]["/shield/v1/devices/{deviceId}"]["delete"]["parameters"]
    assert param["schema"] == {"type": "string", "pattern": "^dev_[0-9a-f]{32}$"}
    pattern = re.compile(param["schema"]["pattern"])
    registered = client.post(
        "/shield/v1/devices",
        json={"token": "fcm-token-1", "platform": "ios"},
        headers=auth("alice"),
    ).json["deviceId"]
    assert pattern.fullmatch(registered)
    assert (
        client.delete(f"/shield/v1/devices/{registered}", headers=auth("alice")).status_code == 204
    )
    for unrouted in (registered.upper(), registered[:-1], "fcm-token-1"):
        assert not pattern.fullmatch(unrouted)
        response = client.delete(f"/shield/v1/devices/{unrouted}", headers=auth("alice"))
        assert response.status_code == 404
        assert response.json["error"]["message"] != "No such device."  # no route at all
    plain = doc["paths"]["/shield/v1/claims/{claim_id}"]["get"]["parameters"][0]
    assert plain["schema"] == {"type": "string"}
