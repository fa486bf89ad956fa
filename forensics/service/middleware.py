"""Security headers on every response — errors and unexpected 500s included — a size cap on non-upload
request bodies, and a bounded drain of unread request bodies before an early error answer (pure ASGI: no
buffering of responses, works with streaming).

Why the drain: a server that answers 413 (or 401, 415…) before reading the body and then closes the
connection makes clients that write the whole body first (Python's urllib, requests, httpx) fail with a
broken pipe instead of seeing the answer. So before an error response starts, whatever is left of the body
is read and discarded, up to ``drain_bytes`` and ``drain_seconds``; past either bound the answer goes out as
it is. A client that sent ``Expect: 100-continue`` and has not been told to continue is answered at once
(it has not sent the body, and reading would tell the server to ask for it).
"""
from __future__ import annotations

import asyncio
import json
import logging
import time

from starlette.datastructures import MutableHeaders

log = logging.getLogger("forensics.service")

# No inline script or style anywhere: the page's JS and CSS are static files. blob: lets the page preview
# the picked file without sending it anywhere else.
CSP = ("default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}
INTERNAL_ERROR = "internal server error; the details are in the server log"


class SecurityHeaders:
    def __init__(self, app, json_body_limit: int = 1024 * 1024, upload_paths: tuple[str, ...] = (),
                 drain_bytes: int = 128 * 1024 * 1024, drain_seconds: float = 15.0):
        self.app = app
        self.limit = json_body_limit
        self.upload_paths = upload_paths
        self.drain_bytes = drain_bytes
        self.drain_seconds = drain_seconds

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        body = {"done": scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE") and b"content-length" not in headers
                and b"transfer-encoding" not in headers,
                "read": 0, "asked": False, "started": False}
        expects_continue = headers.get(b"expect", b"").lower() == b"100-continue"

        async def tracked_receive():
            body["asked"] = True
            message = await receive()
            if message["type"] == "http.request":
                body["read"] += len(message.get("body", b""))
                if not message.get("more_body"):
                    body["done"] = True
            elif message["type"] == "http.disconnect":
                body["done"] = True
            return message

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                if message["status"] >= 400 and not body["done"] and not (expects_continue and not body["asked"]):
                    await self._drain(tracked_receive, body, headers.get(b"content-length"))
                body["started"] = True
                out = MutableHeaders(scope=message)
                for k, v in HEADERS.items():
                    if k not in out:
                        out[k] = v
            await send(message)

        try:
            if scope["method"] in ("POST", "PUT", "PATCH") and scope["path"] not in self.upload_paths:
                return await self._capped(scope, tracked_receive, send_with_headers, headers)
            return await self.app(scope, tracked_receive, send_with_headers)
        except Exception:  # the app's own handlers missed it: still a JSON answer with the headers above
            log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            if not body["started"]:
                await self._reject(send_with_headers, 500, INTERNAL_ERROR)

    async def _capped(self, scope, receive, send, headers):
        """Non-upload bodies (JSON) are small: read at most ``limit`` bytes, then hand them on."""
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            return await self._reject(send, 413, "request body too large")
        chunks, total = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            total += len(chunks[-1])
            if total > self.limit:
                return await self._reject(send, 413, "request body too large")
            if not message.get("more_body"):
                break
        data = b"".join(chunks)
        sent = False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": data, "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)

    async def _drain(self, receive, body, declared: bytes | None) -> None:
        """Read and drop the rest of the request body, within the byte and time bounds."""
        if declared is not None and declared.isdigit() and int(declared) - body["read"] > self.drain_bytes:
            return  # too much to be worth reading: the client will see the connection close
        budget = body["read"] + self.drain_bytes
        deadline = time.monotonic() + self.drain_seconds
        while not body["done"] and body["read"] <= budget:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                await asyncio.wait_for(receive(), left)
            except Exception:  # a stalled (TimeoutError) or broken client: answer anyway
                return

    @staticmethod
    async def _reject(send, status: int, detail: str):
        data = json.dumps({"detail": detail}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
        await send({"type": "http.response.body", "body": data})
