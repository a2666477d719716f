"""The OpenAPI 3 document, generated from the routes and the same marshmallow schemas.

Views declare their schemas with `@doc(...)`; the document walks the URL map, so a route
without `@doc` still appears (with its methods and the error envelope).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, current_app, jsonify
from marshmallow import Schema, fields

from .config import SERVER_VERSION
from .idempotency import KEY_MAX_LENGTH, KEY_PATTERN

bp = Blueprint("openapi", __name__, url_prefix="/shield/v1")

ERROR_STATUSES = {
    "400": "Bad request (malformed JSON, bad query parameter, missing Idempotency-Key)",
    "401": "Missing, invalid (AUTH_INVALID) or expired (AUTH_EXPIRED) token",
    "403": "Not allowed (NOT_AUTHORIZED)",
    "404": "Not found (NOT_FOUND)",
    "409": "Conflict with the current state (CONFLICT and friends)",
    "413": "Body over 64 KB",
    "415": "Body is not JSON",
    "422": "Invalid payload (INVALID_PAYLOAD) or reused Idempotency-Key",
}


NO_NUL = "^[^\\u0000]*$"  # what a database text column can hold
ETAG_HEADER = {
    "description": "Send it back as If-None-Match to get 304 while nothing changed",
    "schema": {"type": "string"},
}


class ErrorBody(Schema):
    code = fields.String(required=True)
    message = fields.String(required=True)
    details = fields.Dict()


class ErrorEnvelope(Schema):
    error = fields.Nested(ErrorBody, required=True)


def doc(
    *,
    summary: str,
    body: type[Schema] | None = None,
    response: type[Schema] | None = None,
    status: int = 200,
    many: bool = False,
    polled: bool = False,
    idempotent: bool = False,
    tags: list[str] | None = None,
    query: list[dict] | None = None,
    also: dict[int, str] | None = None,
) -> Callable:
    """Describe a view for the OpenAPI document.

    `query` lists the query parameters (see `query_int`, `query_enum`, `query_string`); `also`
    maps further success statuses that answer the same body (POST /devices: 200 known token).
    A `status` of 204 documents an empty answer.
    """

    def decorate(view):
        view.__openapi__ = {
            "summary": summary,
            "body": body,
            "response": response,
            "status": status,
            "many": many,
            "polled": polled,
            "idempotent": idempotent,
            "tags": tags,
            "query": query or [],
            "also": also or {},
        }
        return view

    return decorate


def query_int(
    name: str, default: int, *, minimum: int = 0, maximum: int | None = None, description=""
) -> dict:
    """A query parameter read with `shield.requests.int_arg` (same bounds)."""
    from .requests import MAX_SQL_INT

    schema = {
        "type": "integer",
        "default": default,
        "minimum": minimum,
        "maximum": MAX_SQL_INT if maximum is None else maximum,
    }
    return _query(name, schema, description)


def query_enum(name: str, values, description: str = "") -> dict:
    return _query(name, {"type": "string", "enum": sorted(values)}, description)


def query_string(name: str, description: str = "", **schema) -> dict:
    return _query(name, {"type": "string", "pattern": NO_NUL, **schema}, description)


def _query(name: str, schema: dict, description: str) -> dict:
    # An empty value (?status=) is the same as leaving the parameter out.
    param = {
        "name": name,
        "in": "query",
        "required": False,
        "allowEmptyValue": True,
        "schema": schema,
    }
    if description:
        param["description"] = description
    return param


def _money_bounds(self, field, **kwargs) -> dict:
    """Money input fields carry their bounds: dollars, at most two decimals."""
    maximum = getattr(field, "maximum_cents", None)
    if maximum is None:
        return {}
    return {
        "minimum": getattr(field, "minimum_cents", 0) / 100,
        "maximum": maximum / 100,
        "multipleOf": 0.01,
    }


def _metadata_wins(self, field, **kwargs) -> dict:
    """A Dict field's own `additionalProperties` (e.g. False: only the listed keys) beats the
    one apispec derives from its `values` field."""
    if "additionalProperties" in field.metadata:
        return {"additionalProperties": field.metadata["additionalProperties"]}
    return {}


def _url_format(self, field, **kwargs) -> dict:
    """fields.Url is an absolute URI (OpenAPI's `uri`), restricted to its schemes."""
    if not isinstance(field, fields.Url):
        return {}
    attrs: dict = {"format": "uri"}
    from marshmallow import validate

    urls = [v for v in field.validators if isinstance(v, validate.URL)]
    schemes = sorted(urls[0].schemes) if urls else []
    if schemes:
        attrs["pattern"] = "^(" + "|".join(map(re.escape, schemes)) + r")://[^\s/?#]+\.[^\s]+$"
    return attrs


PATH_VARIABLE = re.compile(r"<(?:([^:<>]+):)?([^<>]+)>")


def _path(rule: str) -> tuple[str, list[tuple[str, str]]]:
    """The OpenAPI path of a Werkzeug rule, and its (name, converter) variables."""
    variables = [(name, converter or "default") for converter, name in PATH_VARIABLE.findall(rule)]
    return PATH_VARIABLE.sub(r"{\2}", rule), variables


def _path_schema(app, converter: str) -> dict:
    """A path variable's schema: a converter with its own regex (e.g. `device_id`) is that
    pattern; the default one is any string without a slash."""
    regex = getattr(app.url_map.converters.get(converter), "regex", None)
    if converter == "default" or not regex:
        return {"type": "string"}
    return {"type": "string", "pattern": f"^{regex}$"}


def build_spec(app) -> dict:
    """Build the OpenAPI document of every /shield/v1 route of `app`."""
    plugin = MarshmallowPlugin()
    spec = APISpec(
        title="Courial Shield API",
        version=SERVER_VERSION,
        openapi_version="3.0.3",
        plugins=[plugin],
        info={
            "description": "Claims, wallet, subscription and notifications for the Shield app. "
            "Events use the envelope of the realtime-events spec. No string, in a body, a "
            "path or a query, may contain NUL (U+0000) or a lone surrogate: 400 (404 in a "
            "path). A query parameter given twice is 400; unknown ones are ignored."
        },
    )
    plugin.converter.add_attribute_function(_money_bounds)
    plugin.converter.add_attribute_function(_url_format)
    plugin.converter.add_attribute_function(_metadata_wins)
    spec.components.security_scheme(
        "bearer", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    )
    spec.components.schema("Error", schema=ErrorEnvelope)
    _register_extras(spec, plugin, app)
    paths: dict[str, dict] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.rule.startswith("/shield/v1") or rule.endpoint == "openapi.document":
            continue
        view = app.view_functions[rule.endpoint]
        meta = getattr(view, "__openapi__", {})
        path, variables = _path(rule.rule)
        params = {name: _path_schema(app, converter) for name, converter in variables}
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(rule, meta, params)
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


def _register_extras(spec, plugin, app) -> None:
    """A body schema's `OPENAPI` dict (object-level keywords such as minProperties) joins its
    component; registered before the paths so every $ref points at it."""
    done = set()
    for view in app.view_functions.values():
        body = getattr(view, "__openapi__", {}).get("body")
        extra = getattr(body, "OPENAPI", None)
        if extra and body not in done:
            done.add(body)
            name = plugin.schema_name_resolver(body)
            spec.components.schema(name, component=dict(extra), schema=body)


def _operation(rule, meta: dict, params: dict[str, dict]) -> dict:
    tag = meta.get("tags") or [rule.endpoint.split(".")[0]]
    op: dict = {
        "summary": meta.get("summary") or rule.endpoint,
        "tags": tag,
        "security": [{"bearer": []}],
        "parameters": [
            {"name": name, "in": "path", "required": True, "schema": schema}
            for name, schema in params.items()
        ],
        "responses": {
            k: {
                "description": v,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            }
            for k, v in ERROR_STATUSES.items()
        },
    }
    if meta.get("idempotent"):
        op["parameters"].append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": True,
                "description": "1-255 visible ASCII characters (a UUID is a good key); "
                "the same key and body replay the stored answer",
                "schema": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": KEY_MAX_LENGTH,
                    "pattern": KEY_PATTERN,
                },
            }
        )
    if meta.get("polled"):
        op["parameters"].append(
            {
                "name": "If-None-Match",
                "in": "header",
                "required": False,
                "schema": {"type": "string"},
            }
        )
        op["responses"]["304"] = {
            "description": "Not modified since the ETag you hold",
            "headers": {"ETag": ETAG_HEADER},
        }
    op["parameters"].extend(meta.get("query", []))
    if meta.get("body"):
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": meta["body"]}},
        }
    response = meta.get("response")
    status = meta.get("status", 200)
    statuses = {status: "OK", **meta.get("also", {})}
    for code, description in statuses.items():
        if status == 204:
            op["responses"][str(code)] = {"description": "Done; no body"}
            continue
        answer: dict = {"description": description}
        if response is not None:
            schema = {"type": "array", "items": response} if meta.get("many") else response
            answer["content"] = {"application/json": {"schema": schema}}
        if meta.get("polled"):
            answer["headers"] = {"ETag": ETAG_HEADER}
        op["responses"][str(code)] = answer
    return op


@bp.get("/openapi.json")
def document():
    """The OpenAPI document (public, no token needed)."""
    cached = current_app.extensions.get("shield.openapi")
    if cached is None:
        cached = current_app.extensions["shield.openapi"] = build_spec(current_app)
    return jsonify(cached)
