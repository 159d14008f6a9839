"""What a service id is: one rule, checked once at the door (issue 15).

Every id the API takes in — graph nodes, edge sources and targets, the impact analysis body
and every `{service_id}` path parameter — is held to this one pattern, so an id that ingestion
accepts is an id every route can be called with. Ids are identifiers: nothing is refused for
"looking like" something else (digits are digits). The PromQL boundary does not rely on this
rule: it escapes whatever reaches it (telemetry/promql.py).

No `/`: a service id travels as one URL path segment (`/api/v1/services/{service_id}/…`), and
a `/` — even percent-encoded — would split it, so such an id could be ingested but never read.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

MAX_SERVICE_ID_LENGTH = 255
SERVICE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,254}$"
SERVICE_ID_DESCRIPTION = (
    "A letter or digit, then letters, digits, '.', '_', ':' or '-' (at most 255 characters)."
)

#: A service id in a request body or a graph payload (pydantic models).
ServiceId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_SERVICE_ID_LENGTH, pattern=SERVICE_ID_PATTERN),
]
