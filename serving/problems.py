"""RFC 7807 problem details: the one shape every error of the API takes.

The domain raises `store.errors.DomainError`s (not found, conflict, forbidden, invalid) and
the serving layer `Problem`s (authentication, limits, availability); the handlers registered
here turn those, request validation failures, unknown routes and unexpected exceptions into
`application/problem+json` — the last without a stack trace, which goes to the log instead.
Routes catch nothing: the status of a domain error is decided here, once, by its kind.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from store.errors import ConflictError, DomainError, ForbiddenError, InvalidError, NotFoundError

PROBLEM_BASE = "https://slo-engine.internal/errors/"
PROBLEM_MEDIA_TYPE = "application/problem+json"

log = logging.getLogger("slo_engine.api")


class Problem(Exception):  # noqa: N818 - RFC 7807 calls it a problem
    """An error the client can act on."""

    status = 500
    slug = "internal-error"
    title = "Internal Server Error"

    def __init__(
        self,
        detail: str,
        *,
        errors: Sequence[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = list(errors or [])
        self.headers = headers or {}
        self.extra = extra


class NotFoundProblem(Problem):
    status, slug, title = 404, "not-found", "Not Found"


class ServiceNotFoundProblem(NotFoundProblem):
    slug, title = "service-not-found", "Service Not Found"


class ValidationProblem(Problem):
    status, slug, title = 422, "validation-error", "Invalid Request"


class PayloadTooLargeProblem(Problem):
    status, slug, title = 413, "payload-too-large", "Payload Too Large"


class ServiceUnavailableProblem(Problem):
    status, slug, title = 503, "service-unavailable", "Service Unavailable"


#: A domain error's HTTP status, by its kind (the first match in this order).
DOMAIN_STATUS: tuple[tuple[type[DomainError], int], ...] = (
    (NotFoundError, 404),
    (ConflictError, 409),
    (ForbiddenError, 403),
    (InvalidError, 422),
)


def domain_status(exc: DomainError) -> int:
    return next((status for kind, status in DOMAIN_STATUS if isinstance(exc, kind)), 400)


def problem_body(
    *,
    status: int,
    slug: str,
    title: str,
    detail: str,
    instance: str,
    errors: Sequence[dict[str, Any]] = (),
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    if errors:
        body["errors"] = list(errors)
    body.update(extra)
    return body


def problem_response(
    request: Request,
    *,
    status: int,
    slug: str,
    title: str,
    detail: str,
    errors: Sequence[dict[str, Any]] = (),
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    return JSONResponse(
        problem_body(
            status=status,
            slug=slug,
            title=title,
            detail=detail,
            instance=request.url.path,
            errors=errors,
            **extra,
        ),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        # An error still spent a token: the client must see its rate-limit state.
        headers={**getattr(request.state, "rate_limit_headers", {}), **(headers or {})},
    )


def field_path(loc: Sequence[int | str]) -> str:
    """("body", "edges", 3, "target") -> "edges[3].target": the name a person looks for."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "body"


def validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    errors = []
    for error in exc.errors():
        loc = error.get("loc", ())
        errors.append(
            {
                "field": field_path(loc),
                "location": loc[0] if loc else "body",
                "message": error.get("msg", "invalid value"),
                "type": error.get("type", "value_error"),
            }
        )
    return errors


def describe_errors(errors: Sequence[dict[str, Any]]) -> str:
    shown = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return f"The request is invalid: {shown}{more}. Nothing was written."


def install_problem_handlers(app: FastAPI) -> None:
    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return problem_response(
            request,
            status=exc.status,
            slug=exc.slug,
            title=exc.title,
            detail=exc.detail,
            errors=exc.errors,
            headers=exc.headers,
            **exc.extra,
        )

    async def on_domain(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DomainError)
        return problem_response(
            request,
            status=domain_status(exc),
            slug=exc.slug,
            title=exc.title,
            detail=exc.detail,
            errors=exc.errors if isinstance(exc, InvalidError) else (),
            **exc.extra,
        )

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = validation_errors(exc)
        return problem_response(
            request,
            status=422,
            slug="validation-error",
            title="Invalid Request",
            detail=describe_errors(errors),
            errors=errors,
        )

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        status = exc.status_code
        detail = exc.detail if isinstance(exc.detail, str) else "Request failed."
        if status == 404:
            detail = f"No resource at {request.url.path}. See /docs for the API's paths."
        elif status == 405:
            detail = f"{request.method} is not allowed on {request.url.path}."
        return problem_response(
            request,
            status=status,
            slug={404: "not-found", 405: "method-not-allowed"}.get(status, "http-error"),
            title={404: "Not Found", 405: "Method Not Allowed"}.get(status, "HTTP Error"),
            detail=detail,
            headers=dict(exc.headers or {}),
        )

    async def on_store_down(request: Request, exc: Exception) -> JSONResponse:
        log.error("operational store unavailable: %s", type(exc).__name__)
        return problem_response(
            request,
            status=503,
            slug="store-unavailable",
            title="Service Unavailable",
            detail="The operational store cannot be reached. Retry shortly; nothing was written.",
            headers={"Retry-After": "5"},
        )

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(
            request,
            status=500,
            slug="internal-error",
            title="Internal Server Error",
            detail="An unexpected error occurred; it has been logged. Nothing was half-written.",
        )

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(DomainError, on_domain)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(sqlalchemy.exc.OperationalError, on_store_down)
    app.add_exception_handler(sqlalchemy.exc.InterfaceError, on_store_down)
    app.add_exception_handler(Exception, on_unexpected)
