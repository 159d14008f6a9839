"""Refuse oversized bodies before anything parses them (TRD: > 10 MB → 413).

Checked on the declared Content-Length and again while streaming, so a chunked upload without
a length cannot get past the limit either.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.problems import PROBLEM_MEDIA_TYPE, problem_body


class _TooLargeError(Exception):
    pass


class BodySizeLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(scope, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLargeError
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLargeError:
            await self._reject(scope, send)

    async def _reject(self, scope: Scope, send: Send) -> None:
        body = json.dumps(
            problem_body(
                status=413,
                slug="payload-too-large",
                title="Payload Too Large",
                detail=(
                    f"The request body exceeds {self.max_bytes} bytes. Split the graph into "
                    "several partial submissions (they merge) or raise SLO_MAX_BODY_BYTES."
                ),
                instance=scope.get("path", ""),
                errors=[
                    {
                        "field": "body",
                        "location": "body",
                        "message": f"larger than {self.max_bytes} bytes",
                        "type": "too_large",
                    }
                ],
                max_bytes=self.max_bytes,
            )
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
