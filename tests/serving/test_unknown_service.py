"""An unknown service is one error with one message (issue 16): every path that takes a
service id — reads, exports, decisions, impact analysis, regeneration — answers the same 404
`service-not-found` problem, raised by the one lookup and mapped once, on both dialects."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from store.errors import ServiceNotFoundError

UNKNOWN = "nobody-registered-this"


def test_every_path_answers_an_unknown_service_alike(client: TestClient) -> None:
    seeded = {"source": "manual", "nodes": [{"service_id": "known"}]}
    assert client.post("/api/v1/services/dependencies", json=seeded).status_code == 202
    base = f"/api/v1/services/{UNKNOWN}"
    decision = {"recommendation_id": str(uuid.uuid4()), "action": "reject",
                "rationale": "not ours", "actor": "ana@example.com"}  # fmt: skip
    answers = {
        "dependencies": client.get(f"{base}/dependencies"),
        "stale dependencies": client.get(f"{base}/dependencies", params={"include_stale": True}),
        "recommendations": client.get(f"{base}/slo-recommendations"),
        "regeneration": client.get(
            f"{base}/slo-recommendations", params={"force_regenerate": True}
        ),
        "active slo": client.get(f"{base}/slos"),
        "history": client.get(f"{base}/slo-history"),
        "alerts": client.get(f"{base}/slos/alerts"),
        "openslo": client.get(f"{base}/slos/openslo"),
        "decision": client.post(f"{base}/slos", json=decision),
        "impact": client.post(
            "/api/v1/slos/impact-analysis",
            json={"service_id": UNKNOWN, "proposed_change": {"proposed_target": 99.5}},
        ),
    }
    expected = ServiceNotFoundError(UNKNOWN).detail
    for name, answer in answers.items():
        assert answer.status_code == 404, (name, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json"), name
        problem = answer.json()
        assert problem["type"].endswith("/service-not-found"), (name, problem)
        assert problem["detail"] == expected, (name, problem["detail"])


def test_the_message_names_the_id_and_the_way_out() -> None:
    detail = ServiceNotFoundError("svc-a").detail
    assert "'svc-a'" in detail and "POST /api/v1/services/dependencies" in detail
