"""The domain's errors: one small hierarchy, mapped to RFC 7807 once (`serving.problems`).

Routes used to catch each store error and re-raise a problem of their own (24 `except`
clauses, "is not registered" written seven times with five different endings). Now the code
that knows what went wrong raises one of these with the words a person needs, and the API's
single handler picks the status from the kind: not found 404, conflict 409, forbidden 403,
invalid 422. `slug` and `title` name the problem type (`…/errors/<slug>`), which clients match on.
This module imports nothing of the project, so every layer may raise from it.
"""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    """An error the caller can act on; `detail` says how."""

    slug: ClassVar[str] = "domain-error"
    title: ClassVar[str] = "Request Failed"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class NotFoundError(DomainError):
    slug, title = "not-found", "Not Found"


class ConflictError(DomainError):
    slug, title = "conflict", "Conflict"


class ForbiddenError(DomainError):
    slug, title = "forbidden", "Forbidden"


class InvalidError(DomainError):
    """Input that parsed but breaks a rule; `field` is what the person must fix."""

    slug, title = "validation-error", "Invalid Request"

    def __init__(self, field: str, message: str, *, location: str = "body",
                 detail: str | None = None) -> None:  # fmt: skip
        super().__init__(
            detail or f"The request is invalid: {field}: {message}. Nothing was written."
        )
        self.field = field
        self.message = message
        self.location = location

    @property
    def errors(self) -> list[dict[str, str]]:
        return [{"field": self.field, "location": self.location, "message": self.message,
                 "type": "value_error"}]  # fmt: skip


class ServiceNotFoundError(NotFoundError):
    """The one answer for an unknown service id, wherever it is looked up."""

    slug, title = "service-not-found", "Service Not Found"

    def __init__(self, service_id: str) -> None:
        super().__init__(
            f"Service with ID '{service_id}' is not registered. Ingest it with "
            "POST /api/v1/services/dependencies (or `slo-engine graph ingest`), or check "
            "GET /api/v1/services. Nothing was written."
        )
        self.service_id = service_id


class NoActiveSloError(NotFoundError):
    slug, title = "slo-not-found", "No Active SLO"

    def __init__(self, service_id: str) -> None:
        super().__init__(
            f"Service '{service_id}' has no active SLO yet: accept or modify one of its "
            "recommendations (POST /api/v1/services/{id}/slos)."
        )
        self.service_id = service_id


class BackstageEntityNotFoundError(NotFoundError):
    """A Backstage entity no import linked to a service (and no unclaimed service is named
    like it): the fix is an import or an annotation, so the detail names both."""

    slug, title = "backstage-entity-not-found", "Backstage Entity Not Found"

    def __init__(self, entity_ref: str) -> None:
        super().__init__(
            f"No service is known for the Backstage entity '{entity_ref}': import the catalog "
            "with `slo-engine graph import-backstage`, or give the entity the annotation "
            "slo-engine.io/service-id naming its service.",
            entity_ref=entity_ref,
        )
