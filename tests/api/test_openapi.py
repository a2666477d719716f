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
