"""Refuse oversized bodies before anything parses them (TRD: > 10 MB → 413).

Checked on the declared Content-Length, and by counting while buffering when a chunked upload
declares none, so no body gets past the limit.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.problems import PROBLEM_MEDIA_TYPE, problem_body


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
        if declared is not None:
            await self.app(scope, receive, send)
            return
        # No declared length (chunked): buffer up to the limit before the app sees any of it,
        # so the framework never half-parses a body that is about to be refused.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._reject(scope, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

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
