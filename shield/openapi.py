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
) -> Callable:
    """Describe a view for the OpenAPI document."""

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
        }
        return view

    return decorate


def _path(rule: str) -> tuple[str, list[str]]:
    names = re.findall(r"<(?:[^:<>]+:)?([^<>]+)>", rule)
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule), names


def build_spec(app) -> dict:
    """Build the OpenAPI document of every /shield/v1 route of `app`."""
    spec = APISpec(
        title="Courial Shield API",
        version=SERVER_VERSION,
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={
            "description": "Claims, wallet, subscription and notifications for the Shield app. "
            "Events use the envelope of the realtime-events spec."
        },
    )
    spec.components.security_scheme(
        "bearer", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    )
    spec.components.schema("Error", schema=ErrorEnvelope)
    paths: dict[str, dict] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.rule.startswith("/shield/v1") or rule.endpoint == "openapi.document":
            continue
        view = app.view_functions[rule.endpoint]
        meta = getattr(view, "__openapi__", {})
        path, params = _path(rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(rule, meta, params)
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


def _operation(rule, meta: dict, params: list[str]) -> dict:
    tag = meta.get("tags") or [rule.endpoint.split(".")[0]]
    op: dict = {
        "summary": meta.get("summary") or rule.endpoint,
        "tags": tag,
        "security": [{"bearer": []}],
        "parameters": [
            {"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
            for n in params
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
                "schema": {"type": "string", "maxLength": 255},
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
        op["responses"]["304"] = {"description": "Not modified since the ETag you hold"}
    if meta.get("body"):
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": meta["body"]}},
        }
    response = meta.get("response")
    status = str(meta.get("status", 200))
    if response is not None:
        schema = {"type": "array", "items": response} if meta.get("many") else response
        op["responses"][status] = {
            "description": "OK",
            "content": {"application/json": {"schema": schema}},
        }
    else:
        op["responses"][status] = {"description": "OK"}
    return op


@bp.get("/openapi.json")
def document():
    """The OpenAPI document (public, no token needed)."""
    cached = current_app.extensions.get("shield.openapi")
    if cached is None:
        cached = current_app.extensions["shield.openapi"] = build_spec(current_app)
    return jsonify(cached)
