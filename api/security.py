"""Who may call what: API keys and their scopes, request size limits, CORS closed unless opened."""

from __future__ import annotations

import json
import os
from collections.abc import Callable

from fastapi import Request
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import ApiError
from api.keys import KeyRecord, KeyStore

CORS_ENV = "COMPTOIR_API_CORS_ORIGINS"  # comma-separated origins allowed to call the API from a browser
# Bodies: a score request is one customer's features (~2 KB); a batch of 10,000 rows is ~5 MB as JSON or CSV.
MAX_BODY_BYTES = 64 * 1024
MAX_BATCH_BODY_BYTES = 16 * 1024 * 1024
BATCH_PATH = "/v1/score/batch"
MAX_QUERY_BYTES = 4096
AUTH_HEADERS = {"WWW-Authenticate": "Bearer"}


def _presented_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.headers.get("x-api-key") or None


def require(*scopes: str, store: Callable[[], KeyStore]) -> Callable[[Request], KeyRecord]:
    """A dependency: the caller's key record, when it holds one of ``scopes``; else 401 (no or bad key) or 403."""

    def check(request: Request) -> KeyRecord:
        key = _presented_key(request)
        if key is None:
            raise ApiError(401, "header.Authorization", "an API key is required: Authorization: Bearer <key> "
                           "(comptoir api keys create)", AUTH_HEADERS)
        record = store().authenticate(key)
        if record is None:
            raise ApiError(401, "header.Authorization", "unknown or revoked API key", AUTH_HEADERS)
        if not set(scopes) & set(record.scopes):
            raise ApiError(403, "header.Authorization",
                           f"this key's scopes ({', '.join(record.scopes)}) do not include {' or '.join(scopes)}")
        request.state.key = record
        return record

    return check


class BodyLimit:
    """Refuses (413) a body larger than the route allows, counted as it arrives (a missing or false
    Content-Length does not get past it), and a query string over MAX_QUERY_BYTES (414)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if len(scope.get("query_string", b"")) > MAX_QUERY_BYTES:
            await _refuse(send, 414, "query", f"the query string is longer than {MAX_QUERY_BYTES} bytes")
            return
        limit = MAX_BATCH_BODY_BYTES if scope["path"].rstrip("/") == BATCH_PATH else MAX_BODY_BYTES
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _refuse(send, 413, "body", f"the body is larger than {limit:,} bytes")
            return
        # Read the body up to the limit before the app sees it (at most 16 MB held), then hand it over whole.
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > limit:
                await _refuse(send, 413, "body", f"the body is larger than {limit:,} bytes")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()  # after the body: wait for the disconnect, as the server would
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


async def _refuse(send: Send, status: int, field: str, reason: str) -> None:
    body = json.dumps({"status": status, "errors": [{"field": field, "reason": reason}]}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def cors_origins() -> list[str]:
    return [origin.strip() for origin in os.environ.get(CORS_ENV, "").split(",") if origin.strip()]


def add_cors(app: ASGIApp, origins: list[str]) -> ASGIApp:
    """CORS only for the origins given: none by default, so browsers on other sites cannot read the API."""
    if not origins:
        return app
    return CORSMiddleware(app, allow_origins=origins, allow_methods=["GET", "POST"],
                          allow_headers=["Authorization", "X-API-Key", "Content-Type"])
