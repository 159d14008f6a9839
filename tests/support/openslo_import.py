"""Posting OpenSLO documents to the import endpoint, as the OpenSLO tests all do.

The endpoint, the YAML content type and the "it worked" check were spelled out in each test
module; a change to how an import is sent (a header, the path) now happens here once.
"""

from __future__ import annotations

from typing import Any

import httpx
from fastapi.testclient import TestClient

IMPORT = "/api/v1/slos/openslo"
YAML = {"Content-Type": "application/yaml"}


def post_openslo(
    client: TestClient,
    text: str,
    *,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """The import's answer, whatever it is: `params` are the query (actor, rationale),
    `headers` add to the YAML content type (another caller's API key)."""
    response: httpx.Response = client.post(
        IMPORT, content=text, headers={**YAML, **(headers or {})}, params=params
    )
    return response


def import_openslo(client: TestClient, text: str, params: dict[str, str]) -> dict[str, Any]:
    """The body of an import that must succeed (a failure shows the problem document)."""
    response = post_openslo(client, text, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body
