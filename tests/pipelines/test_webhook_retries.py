"""The webhook's retry policy against a real HTTP receiver: a busy receiver (5xx, 429) is tried
again with growing waits, a refusal (4xx) is not, and nothing ever raises into the run."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from pipelines.notifications import WebhookResource


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[int], list[float]]]:
    """Answers the statuses queued in `script` (then 204), noting when each POST arrived."""
    script: list[int] = []
    arrivals: list[float] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            arrivals.append(time.monotonic())
            self.send_response(script.pop(0) if script else 204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", script, arrivals
    server.shutdown()


def test_a_busy_receiver_is_tried_again_with_growing_waits(
    receiver: tuple[str, list[int], list[float]],
) -> None:
    url, script, arrivals = receiver
    script.extend([503, 429])
    hook = WebhookResource(url=url, attempts=3, backoff_seconds=0.1)
    assert hook.post({"event": "test"}) == "delivered"
    assert len(arrivals) == 3
    first_wait, second_wait = arrivals[1] - arrivals[0], arrivals[2] - arrivals[1]
    assert 0.1 <= first_wait < second_wait and second_wait >= 0.2  # 0.1 s, then 0.2 s


def test_retries_end_with_the_last_status_and_a_refusal_is_not_retried(
    receiver: tuple[str, list[int], list[float]],
) -> None:
    url, script, arrivals = receiver
    script.extend([500, 502])
    assert WebhookResource(url=url, attempts=2, backoff_seconds=0.01).post({}) == "failed: HTTP 502"
    assert len(arrivals) == 2
    script.append(400)
    assert WebhookResource(url=url, attempts=3, backoff_seconds=0.01).post({}) == "failed: HTTP 400"
    assert len(arrivals) == 3  # one attempt: the receiver refused the payload
