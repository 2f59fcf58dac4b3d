"""Errors mapped to JSON in one place: OperationOutcome bodies, never HTML, never a trace."""

from __future__ import annotations

import logging
import traceback
from typing import Any

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

# FHIR IssueType codes (http://hl7.org/fhir/issue-type) per HTTP status.
_ISSUE_CODE = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    408: "timeout",
    412: "incomplete",
    413: "too-costly",
    414: "too-long",
    415: "invalid",
    417: "invalid",
    431: "too-long",
    500: "exception",
    501: "not-supported",
    503: "transient",
}


class ServiceError(Exception):
    """An answer other than 200 that the client caused or must know about."""

    status = 400

    def __init__(self, diagnostics: str, expression: tuple[str, ...] = ()) -> None:
        super().__init__(diagnostics)
        self.diagnostics = diagnostics
        self.expression = expression


class BadRequest(ServiceError):
    status = 400


class UnknownService(ServiceError):
    status = 404


class PreconditionFailed(ServiceError):
    status = 412


class ContentTooLarge(ServiceError):
    status = 413


class ServiceUnavailable(ServiceError):
    status = 503


def operation_outcome(
    status: int, diagnostics: str, expression: tuple[str, ...] = ()
) -> dict[str, Any]:
    issue: dict[str, Any] = {
        "severity": "error",
        "code": _ISSUE_CODE.get(status, "processing"),
        "diagnostics": diagnostics,
    }
    if expression:
        issue["expression"] = list(expression)
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def json_error(status: int, diagnostics: str, expression: tuple[str, ...] = ()):
    response = jsonify(operation_outcome(status, diagnostics, expression))
    response.status_code = status
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ServiceError)
    def _service_error(error: ServiceError):
        return json_error(error.status, error.diagnostics, error.expression)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        response = json_error(error.code or 500, error.description or error.name)
        if error.code == 405 and getattr(error, "valid_methods", None):
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        # The type and the frames go to the log, not the message: it may carry patient data.
        frames = "".join(traceback.format_tb(error.__traceback__))
        log.error("unexpected %s\n%s", type(error).__name__, frames)
        return json_error(500, "The service failed to process this request.")
