"""A Prometheus that answers from a function, under the real client and its HTTP library, for
the unit tests of the breaker and the readiness state (no network, no server process)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson
import requests
import requests.adapters

OK = {"status": "success", "data": {"resultType": "vector", "result": []}}

#: (status, JSON body) to answer with; raising a `requests` exception is the network failing.
Answer = Callable[[requests.PreparedRequest], tuple[int, Mapping[str, Any] | str]]


class Answering(requests.adapters.BaseAdapter):
    def __init__(self, answer: Answer) -> None:
        super().__init__()
        self.answer = answer

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        status, body = self.answer(request)
        response = requests.Response()
        response.status_code = status
        response._content = body.encode() if isinstance(body, str) else orjson.dumps(body)
        response.headers["Content-Type"] = "application/json"
        response.request = request
        response.url = request.url or ""
        return response

    def close(self) -> None:
        pass
