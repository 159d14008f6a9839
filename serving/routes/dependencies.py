"""Graph ingestion and dependency subgraph queries (TRD FR-1)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response, status

from serving.deps import EngineDep, SettingsDep, SubgraphCacheDep
from serving.graph_index import indexed_subgraph
from serving.problems import ValidationProblem, describe_errors
from serving.schemas.graph import IngestionOut, SubgraphOut
from serving.service_id import ServiceIdPath
from store.dependency_traversal import Subgraph, dependency_subgraph
from store.graph_ingest import ingest_graph
from store.graph_payload import DependencyGraphIn
from store.graph_version import graph_version

router = APIRouter(tags=["dependencies"])


@router.post(
    "/services/dependencies",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=IngestionOut,
    summary="Bulk upsert of the dependency graph (partial submissions merge)",
)
def post_dependencies(
    payload: DependencyGraphIn, engine: EngineDep, settings: SettingsDep
) -> IngestionOut:
    errors = payload.duplicate_errors()
    if errors:
        raise ValidationProblem(describe_errors(errors), errors=errors)
    result = ingest_graph(
        engine,
        payload.to_submission(),
        stale_after=timedelta(hours=settings.stale_edge_hours),
    )
    return IngestionOut.model_validate(result.as_document())


@router.get(
    "/services/{service_id}/dependencies",
    response_model=SubgraphOut,
    summary="Dependency subgraph around one service",
)
def get_dependencies(
    service_id: ServiceIdPath,
    engine: EngineDep,
    cache: SubgraphCacheDep,
    direction: Literal["upstream", "downstream", "both"] = "both",
    depth: Annotated[int, Query(ge=1, le=10)] = 3,
    include_external: bool = True,
    include_stale: bool = False,
) -> Response:
    with engine.connect() as conn:
        version = graph_version(conn)

    def traverse() -> Subgraph:
        if include_stale:  # stale edges are not in the effective graph: ask the store
            return dependency_subgraph(
                engine, service_id, direction=direction, depth=depth,
                include_external=include_external, include_stale=True,
            )  # fmt: skip
        return indexed_subgraph(engine, service_id, direction, depth, include_external)

    def compute() -> tuple[str, bytes, bytes]:
        graph = traverse()
        answer = subgraph_answer(graph)
        kept = answer.model_copy(update={"cached": True})
        return (
            graph.graph_version,
            answer.model_dump_json().encode(),
            kept.model_dump_json().encode(),
        )

    body, _ = cache.get_or_compute(
        version, (service_id, direction, depth, include_external, include_stale), compute
    )
    # Already serialized by `SubgraphOut` (validated on the miss that produced it).
    return Response(content=body, media_type="application/json")


def subgraph_answer(graph: Subgraph) -> SubgraphOut:
    warnings = []
    if graph.truncated:
        warnings.append(
            f"Traversal truncated at depth {graph.depth}: more services lie further "
            + (
                "out; raise `depth` (max 10)."
                if graph.depth < 10
                else "out than the maximum depth."
            )
        )
    return SubgraphOut(
        service_id=graph.service_id,
        direction=graph.direction,
        depth=graph.depth,
        truncated=graph.truncated,
        node_count=len(graph.nodes),
        edge_count=len(graph.edges),
        nodes=graph.nodes,
        edges=graph.edges,
        warnings=warnings,
        graph_version=graph.graph_version,
        cached=False,
    )
