"""The published OpenAPI document says what the API really does: every error is an RFC 7807
`application/problem+json` body, protected operations take an API key or a bearer token, and
the error statuses any protected route can answer (401, 403, 422, 429, 503, 500) are listed.
Clients generated from it, and schemathesis in CI, can then hold the API to its word."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 7807 problem details; `errors` names each invalid field.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
}
PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
GENERIC = {
    "401": "Missing or invalid credentials",
    "403": "The principal's role or team may not do this",
    "422": "Invalid request; the problem names each field",
    "429": "Rate limit exceeded (Retry-After says when to retry)",
    "500": "Unexpected error (no stack trace is returned)",
    "503": "The store or telemetry is unreachable",
}
OPEN_PREFIXES = ("/api/v1/health",)


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        document = get_openapi(title=app.title, version=app.version,
                               description=app.description, routes=app.routes)  # fmt: skip
        components = document.setdefault("components", {})
        components.setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
        components["securitySchemes"] = {
            "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            "Bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
        }
        for path, operations in document.get("paths", {}).items():
            for operation in operations.values():
                _errors_are_problems(path, operation)
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _errors_are_problems(path: str, operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    protected = not path.startswith(OPEN_PREFIXES)
    if protected:
        operation["security"] = [{"ApiKey": []}, {"Bearer": []}]
        for status, description in GENERIC.items():
            responses.setdefault(status, {"description": description})
        responses.setdefault("404", {"description": "Unknown service or resource"})
        if "requestBody" in operation:
            responses.setdefault("413", {"description": "Request body too large"})
    for status, response in responses.items():
        if status.isdigit() and int(status) >= 400:
            response["content"] = PROBLEM
