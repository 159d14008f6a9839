"""Reading Backstage's catalog API page by page (a stand-in catalog behind httpx's
MockTransport, answering as Backstage's catalog backend documents it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from telemetry.backstage_catalog import catalog_graph
from telemetry.backstage_sources import BackstageCatalogError, fetch_catalog

TOKEN = "s3cret-static-token"


def _entity(kind: str, name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "backstage.io/v1alpha1", "kind": kind,
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"owner": "group:default/team-a", **spec}}  # fmt: skip


ENTITIES = [
    _entity("Component", "web", type="website", dependsOn=["component:checkout"]),
    _entity("Component", "checkout", type="service", consumesApis=["payments-api"]),
    _entity(
        "Component",
        "payments",
        type="service",
        providesApis=["payments-api"],
        dependsOn=["resource:ledger-db"],
    ),
    _entity("API", "payments-api", type="openapi", lifecycle="production", definition="{}"),
    _entity("Resource", "ledger-db", type="database"),
]


class Catalog:
    """Backstage's two list endpoints over ENTITIES; records every request."""

    def __init__(self, *, by_query: bool = True) -> None:
        self.by_query = by_query
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return httpx.Response(401, json={"error": {"name": "AuthenticationError"}})
        params = request.url.params
        kinds = {f.removeprefix("kind=") for f in params.get_list("filter")}
        if request.url.path == "/api/catalog/entities/by-query" and self.by_query:
            limit = int(params["limit"])
            start = int(params.get("cursor", "c0").removeprefix("c"))
            if "cursor" in params:
                assert "filter" not in params  # the cursor carries the query
                kinds = {"component", "api", "resource"}
            chosen = [e for e in ENTITIES if e["kind"].lower() in kinds]
            page = chosen[start : start + limit]
            more = start + limit < len(chosen)
            info = {"nextCursor": f"c{start + limit}"} if more else {}
            return httpx.Response(200, json={"items": page, "totalItems": len(chosen),
                                             "pageInfo": info})  # fmt: skip
        if request.url.path == "/api/catalog/entities":
            chosen = [e for e in ENTITIES if e["kind"].lower() in kinds]
            offset, limit = int(params["offset"]), int(params["limit"])
            return httpx.Response(200, json=chosen[offset : offset + limit])
        return httpx.Response(404, json={"error": {"name": "NotFoundError"}})


def _fetch(catalog: Callable[[httpx.Request], httpx.Response], **kwargs: Any) -> Any:
    return fetch_catalog("https://backstage.example.com/", transport=httpx.MockTransport(catalog),
                         **{"token": TOKEN, **kwargs})  # fmt: skip


def test_by_query_is_read_over_two_pages_with_the_token() -> None:
    catalog = Catalog()
    documents = _fetch(catalog, page_size=3)
    assert [d.body["metadata"]["name"] for d in documents] == [e["metadata"]["name"]
                                                              for e in ENTITIES]  # fmt: skip
    assert len(catalog.requests) == 2
    first, second = (r.url.params for r in catalog.requests)
    assert first.get_list("filter") == ["kind=component", "kind=resource", "kind=api"]
    assert first["limit"] == "3" and "spec" in first["fields"]
    assert second["cursor"] == "c3"
    assert documents[3].origin == "/api/catalog/entities/by-query page 2, item 1"
    graph = catalog_graph(documents)
    edges = {(e.source, e.target) for e in graph.payload.edges}
    assert edges == {("web", "checkout"), ("checkout", "payments"), ("payments", "ledger-db")}
    assert graph.report.issues == []


def test_an_older_catalog_without_by_query_is_read_through_the_legacy_list() -> None:
    catalog = Catalog(by_query=False)
    documents = _fetch(catalog, page_size=2)
    assert len(documents) == len(ENTITIES)
    paths = [r.url.path for r in catalog.requests]
    assert paths == ["/api/catalog/entities/by-query"] + ["/api/catalog/entities"] * 3
    assert [r.url.params["offset"] for r in catalog.requests[1:]] == ["0", "2", "4"]


def test_a_wrong_token_is_an_error_that_names_the_setting() -> None:
    catalog = Catalog()
    with pytest.raises(BackstageCatalogError, match="SLO_BACKSTAGE_TOKEN"):
        _fetch(catalog, token="wrong")
    with pytest.raises(BackstageCatalogError, match="401"):
        _fetch(catalog, token=None)
    assert "authorization" not in catalog.requests[-1].headers


def test_unreachable_or_odd_answers_are_errors_not_crashes() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(BackstageCatalogError, match="unreachable"):
        _fetch(refuse)

    def html(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>login</html>")

    with pytest.raises(BackstageCatalogError, match="not JSON"):
        _fetch(html)

    def looping(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"items": [], "pageInfo": {"nextCursor": "same"}})

    with pytest.raises(BackstageCatalogError, match="repeated a cursor"):
        _fetch(looping)
