"""The service id rule at the API's door: `{service_id}` path parameters.

The rule itself lives with the domain (`store/service_id_rule.py`): graph payloads from the
CLI and the pipeline are held to it as well as the API's."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from store.service_id_rule import MAX_SERVICE_ID_LENGTH, SERVICE_ID_DESCRIPTION, SERVICE_ID_PATTERN

#: A `{service_id}` path parameter: a bad one is a 422 problem naming `service_id`.
ServiceIdPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=MAX_SERVICE_ID_LENGTH,
        pattern=SERVICE_ID_PATTERN,
        description=SERVICE_ID_DESCRIPTION,
    ),
]
