"""Where Backstage entities come from: the catalog's HTTP API, or `catalog-info.yaml` files.

The API is read page by page: current Backstage answers `GET /api/catalog/entities/by-query`
(`limit`, then `cursor` → `{items, pageInfo: {nextCursor}}`); a catalog that does not know it
(404) is read through the legacy `GET /api/catalog/entities?limit=&offset=` list. Only the
kinds the graph uses are asked for, and only the fields it reads. What the documents mean is
`telemetry.backstage_catalog`'s business."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from telemetry.backstage_catalog import (
    API_KIND,
    NODE_KINDS,
    CatalogDocument,
    CatalogIssue,
    parse_catalog_yaml,
)

#: Per request: a catalog page of 500 entities is a few hundred kilobytes.
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
DEFAULT_PAGE_SIZE = 500
FETCHED_KINDS = (*NODE_KINDS, API_KIND)
FIELDS = "kind,apiVersion,metadata.name,metadata.namespace,metadata.annotations,spec"
BY_QUERY = "/api/catalog/entities/by-query"
LEGACY_LIST = "/api/catalog/entities"
CATALOG_SUFFIXES = (".yaml", ".yml")


class BackstageCatalogError(RuntimeError):
    """The catalog could not be read; the message says what to check."""


def fetch_catalog(
    base_url: str,
    *,
    token: str | None,
    page_size: int = DEFAULT_PAGE_SIZE,
    timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    transport: httpx.BaseTransport | None = None,
) -> list[CatalogDocument]:
    """Every Component, API and Resource entity of the catalog at `base_url`."""
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    with httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout,
                      transport=transport) as client:  # fmt: skip
        try:
            pages = _by_query(client, page_size)
            if pages is None:
                pages = _legacy_list(client, page_size)
        except httpx.HTTPError as exc:
            raise BackstageCatalogError(
                f"Backstage's catalog at {base_url} is unreachable: {type(exc).__name__}: {exc}"
            ) from exc
    return pages


def _by_query(client: httpx.Client, page_size: int) -> list[CatalogDocument] | None:
    """None when the catalog has no by-query endpoint (older Backstage)."""
    params = [("filter", f"kind={kind}") for kind in FETCHED_KINDS]
    params += [("fields", FIELDS), ("limit", str(page_size))]
    documents: list[CatalogDocument] = []
    seen: set[str] = set()
    page = 1
    while True:
        response = client.get(BY_QUERY, params=tuple(params))
        if response.status_code == 404 and page == 1:
            return None
        body = _json(response)
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise BackstageCatalogError(
                f"{response.request.url}: expected {{items, pageInfo}}, got {_excerpt(response)}"
            )
        origin = f"{BY_QUERY} page {page}"
        documents += [CatalogDocument(f"{origin}, item {i + 1}", e) for i, e in enumerate(items)]
        page_info = body.get("pageInfo") or {}
        cursor = page_info.get("nextCursor") if isinstance(page_info, dict) else None
        if not cursor:
            return documents
        cursor = str(cursor)
        if cursor in seen:
            raise BackstageCatalogError(f"{BY_QUERY}: the catalog repeated a cursor at page {page}")
        seen.add(cursor)
        # The cursor carries the filter; Backstage takes only limit and fields beside it.
        params = [("cursor", cursor), ("fields", FIELDS), ("limit", str(page_size))]
        page += 1


def _legacy_list(client: httpx.Client, page_size: int) -> list[CatalogDocument]:
    base = [("filter", f"kind={kind}") for kind in FETCHED_KINDS]
    base += [("fields", FIELDS), ("limit", str(page_size))]
    documents: list[CatalogDocument] = []
    offset = 0
    while True:
        response = client.get(LEGACY_LIST, params=(*base, ("offset", str(offset))))
        items = _json(response)
        if not isinstance(items, list):
            raise BackstageCatalogError(
                f"{response.request.url}: expected a list of entities, got {_excerpt(response)}"
            )
        documents += [
            CatalogDocument(f"{LEGACY_LIST} offset {offset + i}", entity)
            for i, entity in enumerate(items)
        ]
        if len(items) < page_size:
            return documents
        offset += len(items)


def _json(response: httpx.Response) -> Any:
    if response.status_code in (401, 403):
        raise BackstageCatalogError(
            f"Backstage refused the request ({response.status_code} on {response.request.url.path})"
            ": check the token (--token or SLO_BACKSTAGE_TOKEN) and that it may read the catalog"
        )
    if response.status_code >= 400:
        raise BackstageCatalogError(
            f"Backstage answered {response.status_code} on {response.request.url.path}: "
            f"{_excerpt(response)}"
        )
    try:
        return response.json()
    except ValueError as exc:
        raise BackstageCatalogError(
            f"{response.request.url.path}: not JSON: {_excerpt(response)}"
        ) from exc


def _excerpt(response: httpx.Response) -> str:
    text = response.text.strip().replace("\n", " ")
    return text[:200] + ("…" if len(text) > 200 else "") if text else "(empty body)"


def read_catalog_files(
    paths: Sequence[Path],
) -> tuple[list[CatalogDocument], list[CatalogIssue]]:
    """The documents of these files; a directory stands for every `*.yaml` / `*.yml` below it
    (hidden folders such as `.git` left out). Unreadable files are issues, not failures."""
    documents: list[CatalogDocument] = []
    issues: list[CatalogIssue] = []
    for path in paths:
        if path.is_dir():
            files = sorted(
                f
                for f in path.rglob("*")
                if f.suffix.lower() in CATALOG_SUFFIXES
                and f.is_file()
                and not any(part.startswith(".") for part in f.relative_to(path).parts)
            )
            if not files:
                issues.append(CatalogIssue("warning", "no_catalog_files",
                                           "no *.yaml or *.yml file in this folder",
                                           str(path)))  # fmt: skip
        elif path.is_file():
            files = [path]
        else:
            issues.append(CatalogIssue("error", "unreadable_file", "no such file or folder",
                                       str(path)))  # fmt: skip
            continue
        for file in files:
            try:
                text = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                issues.append(CatalogIssue("error", "unreadable_file",
                                           f"{type(exc).__name__}: {exc}", str(file)))  # fmt: skip
                continue
            found, problems = parse_catalog_yaml(text, str(file))
            documents += found
            issues += problems
    return documents, issues
