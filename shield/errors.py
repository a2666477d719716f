"""One JSON error envelope for every 4xx/5xx: {"error": {"code", "message", "details"?}}."""

from __future__ import annotations

import logging

from flask import Flask, jsonify
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

from models import db

log = logging.getLogger(__name__)

CODES_BY_STATUS = {
    400: "INVALID_PAYLOAD",
    401: "AUTH_INVALID",
    403: "NOT_AUTHORIZED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "INVALID_PAYLOAD",
    429: "RATE_LIMITED",
}


class ApiError(Exception):
    """An error a client should see, with a spec error code."""

    status = 400
    code = "INVALID_PAYLOAD"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        details: dict | None = None,
    ):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status
        self.details = details


class NotFound(ApiError):
    status, code = 404, "NOT_FOUND"


class Conflict(ApiError):
    status, code = 409, "CONFLICT"


class Unprocessable(ApiError):
    status, code = 422, "INVALID_PAYLOAD"


class AuthError(ApiError):
    status, code = 401, "AUTH_INVALID"


class Forbidden(ApiError):
    status, code = 403, "NOT_AUTHORIZED"


def error_response(status: int, code: str, message: str, details: dict | None = None):
    body = {"code": code, "message": message}
    if details:
        body["details"] = details
    response = jsonify({"error": body})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="shield"'
    return response


def register_error_handlers(app: Flask) -> None:
    """Make every error, expected or not, answer with the envelope and change nothing."""

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        db.session.rollback()
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.errorhandler(ValidationError)
    def _validation_error(exc: ValidationError):
        db.session.rollback()
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        return error_response(422, "INVALID_PAYLOAD", "The request body is not valid.", messages)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        db.session.rollback()
        status = exc.code or 500
        code = CODES_BY_STATUS.get(status, "INTERNAL_ERROR" if status >= 500 else "BAD_REQUEST")
        response = error_response(status, code, exc.description or exc.name)
        if status == 405 and getattr(exc, "valid_methods", None):
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        db.session.rollback()
        log.exception("unhandled error")
        return error_response(500, "INTERNAL_ERROR", "Something went wrong on our side.")
