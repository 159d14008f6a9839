"""`slo-engine graph import-backstage` end to end on a real store (SQLite and PostgreSQL):
catalog files or a live catalog API in, rows of discovery source `backstage` out, merged
with what other sources said."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import sqlalchemy as sa
import yaml
from support.backstage_catalog import CATALOG
from typer.testing import CliRunner

from cli.main import app
from config.settings import get_settings
from store.engine import make_engine
from store.graph_ingest import ingest_graph
from store.graph_payload import DependencyGraphIn
from store.tables import service_dependencies, services

runner = CliRunner()
TOKEN = "backstage-static-token"


@pytest.fixture
def cli_env(store_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("SLO_DATABASE_URL", store_url)
    monkeypatch.delenv("SLO_BACKSTAGE_URL", raising=False)
    monkeypatch.delenv("SLO_BACKSTAGE_TOKEN", raising=False)
    get_settings.cache_clear()
    yield store_url
    get_settings.cache_clear()


@pytest.fixture
def catalog_dir(tmp_path: Path) -> Path:
    """The catalog split the way repositories hold it: one catalog-info.yaml per service
    repository plus a shared file, and one broken document among them."""
    documents = CATALOG.split("---\n")
    root = tmp_path / "catalog"
    for i, document in enumerate(documents[2:6]):
        repo = root / f"repo-{i}"
        repo.mkdir(parents=True)
        (repo / "catalog-info.yaml").write_text(document)
    shared = "---\n".join([*documents[:2], *documents[6:], "kind: Component\nmetadata: [oops\n"])
    (root / "shared.yaml").write_text(shared)
    return root


def _import(*args: str) -> dict[str, Any]:
    result = runner.invoke(app, ["graph", "import-backstage", *args, "--json"])
    assert result.exit_code == 0, result.output
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


def _rows(url: str) -> list[dict[str, Any]]:
    engine = make_engine(url)
    src, tgt = services.alias("src"), services.alias("tgt")
    d = service_dependencies
    try:
        with engine.connect() as conn:
            return [
                dict(row._mapping)
                for row in conn.execute(
                    sa.select(src.c.service_id.label("source"), tgt.c.service_id.label("target"),
                              d.c.discovery_source, d.c.criticality, d.c.communication_mode,
                              d.c.confidence_score, d.c.updated_at)
                    .join(src, src.c.id == d.c.source_service_id)
                    .join(tgt, tgt.c.id == d.c.target_service_id)
                    .order_by(src.c.service_id, tgt.c.service_id, d.c.discovery_source)
                )
            ]  # fmt: skip
    finally:
        engine.dispose()


def test_catalog_files_land_through_the_merge_and_a_reimport_changes_nothing(
    cli_env: str, catalog_dir: Path
) -> None:
    # The mesh saw checkout call orders-db and took the call as soft.
    engine = make_engine(cli_env)
    try:
        mesh = {"source": "service_mesh", "nodes": [],
                "edges": [{"source": "checkout", "target": "orders-db",
                           "attributes": {"criticality": "soft"}}]}  # fmt: skip
        ingest_graph(engine, DependencyGraphIn.model_validate(mesh).to_submission(),
                     stale_after=timedelta(days=7))  # fmt: skip
    finally:
        engine.dispose()

    first = _import(str(catalog_dir))
    report, ingestion = first["report"], first["ingestion"]
    assert (report["services"], report["edges"], report["errors"]) == (7, 6, 1)
    (broken,) = [i for i in report["issues"] if i["severity"] == "error"]
    assert broken["code"] == "malformed_document"
    assert broken["origin"].endswith("shared.yaml, document 8 (line 60)")
    assert ingestion["source"] == "backstage" and ingestion["status"] == "completed"
    assert ingestion["counts"]["edges_created"] == 6
    (conflict,) = ingestion["conflicts"]  # declared hard, observed soft: Backstage wins
    assert conflict["attribute"] == "criticality"
    assert conflict["effective_source"] == "backstage" and conflict["effective_value"] == "hard"

    rows = _rows(cli_env)
    declared = [r for r in rows if r["discovery_source"] == "backstage"]
    assert {(r["source"], r["target"]) for r in declared} == {
        ("storefront", "checkout"), ("storefront", "recommender"), ("checkout", "orders-db"),
        ("checkout", "orders-events"), ("checkout", "payments"), ("payments", "ledger-db"),
    }  # fmt: skip
    assert all(r["confidence_score"] == 1.0 for r in declared)
    events = next(r for r in declared if r["target"] == "orders-events")
    assert (events["criticality"], events["communication_mode"]) == ("soft", "async")
    engine = make_engine(cli_env)
    try:
        with engine.connect() as conn:
            checkout = conn.execute(
                sa.select(services.c.team, services.c.metadata, services.c.discovered).where(
                    services.c.service_id == "checkout"
                )
            ).one()
    finally:
        engine.dispose()
    assert checkout.team == "shop-team" and checkout.discovered is False  # no placeholder now
    assert checkout.metadata["backstage"]["entity_ref"] == "component:default/checkout-service"

    again = _import(str(catalog_dir))["ingestion"]["counts"]
    assert again == {**again, "services_created": 0, "services_updated": 0,
                     "placeholders_created": 0, "edges_created": 0, "edges_updated": 0,
                     "edges_refreshed": 6}  # fmt: skip
    assert _rows(cli_env) == rows  # not even updated_at moved


def test_the_human_report_names_what_was_not_used(cli_env: str, catalog_dir: Path) -> None:
    result = runner.invoke(app, ["graph", "import-backstage", str(catalog_dir), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "7 service(s), 6 edge(s); 1 error(s), 1 warning(s)" in result.output
    assert "error malformed_document" in result.output and "shared.yaml" in result.output
    assert "warning missing_entity" in result.output
    assert "dry run: nothing was written" in result.output
    assert _rows(cli_env) == []


def test_nothing_importable_is_a_failure_and_no_source_is_a_usage_error(
    cli_env: str, tmp_path: Path
) -> None:
    bad = tmp_path / "catalog-info.yaml"
    bad.write_text("- not\n- an entity\n")
    result = runner.invoke(app, ["graph", "import-backstage", str(bad)])
    assert result.exit_code == 1 and "nothing to import" in result.output
    result = runner.invoke(app, ["graph", "import-backstage"])
    assert result.exit_code == 2 and "SLO_BACKSTAGE_URL" in result.output


class _Catalog(BaseHTTPRequestHandler):
    """Backstage's by-query endpoint over the CATALOG's entities, a page at a time."""

    entities: list[dict[str, Any]] = [
        e for e in yaml.safe_load_all(CATALOG) if e["kind"] in ("Component", "API", "Resource")
    ]
    seen: list[tuple[str, str | None]] = []

    def do_GET(self) -> None:
        url = urlparse(self.path)
        query = parse_qs(url.query)
        self.seen.append((url.path, self.headers.get("Authorization")))
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._answer(401, {"error": {"name": "AuthenticationError"}})
        if url.path != "/api/catalog/entities/by-query":
            return self._answer(404, {"error": {"name": "NotFoundError"}})
        limit, start = int(query["limit"][0]), int(query.get("cursor", ["0"])[0])
        more = start + limit < len(self.entities)
        return self._answer(200, {"items": self.entities[start : start + limit],
                                  "pageInfo": {"nextCursor": str(start + limit)} if more
                                  else {}})  # fmt: skip

    def _answer(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


@pytest.fixture
def backstage_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Catalog)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Catalog.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_catalog_api_is_read_with_the_token_from_the_settings(
    cli_env: str, backstage_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLO_BACKSTAGE_URL", backstage_url)
    monkeypatch.setenv("SLO_BACKSTAGE_TOKEN", TOKEN)
    get_settings.cache_clear()
    answer = _import("--page-size", "5")
    assert _Catalog.seen == [("/api/catalog/entities/by-query", f"Bearer {TOKEN}")] * 2
    assert answer["report"]["services"] == 7 and answer["report"]["edges"] == 6
    assert len([r for r in _rows(cli_env) if r["discovery_source"] == "backstage"]) == 6

    result = runner.invoke(app, ["graph", "import-backstage", "--token", "wrong"])
    assert result.exit_code == 1 and "401" in result.output
