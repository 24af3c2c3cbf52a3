"""The recommendations route's common case answered without FastAPI's per-request parameter solving.

Profiled in process (2,000 requests for `GET /v1/users/{id}/recommendations?k=20`), FastAPI's dependency and
parameter solving was over half of the server's Python time per request: more than the store read and the
response together. This ASGI layer sits inside the metrics and CORS middleware and answers only requests whose
parameters are plainly valid, through the same `answer` function the FastAPI route calls. Anything else goes on
to FastAPI unchanged, which validates it and answers as the OpenAPI schema documents: an out-of-range or malformed
value, a repeated or percent-encoded parameter, onboarding (`genres`, `age`), a missing or wrong API key. An error
the answer raises (an unpublished variant, nothing to serve) is rendered as FastAPI's handler renders it.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from collections.abc import Awaitable, Callable

from fastapi import HTTPException
from starlette.responses import JSONResponse, Response

ROUTE_PATH = "/v1/users/{user_id}/recommendations"
_PATH = re.compile(r"/v1/users/(0|[1-9][0-9]{0,18})/recommendations")
_NUMBER = re.compile(r"[1-9][0-9]{0,5}")
_ONBOARDING = {"genres", "age"}


@dataclass(frozen=True)
class Request:
    user_id: int
    k: int
    context: str
    variant: str | None


@dataclass(frozen=True)
class Rules:
    """What the FastAPI route accepts, for the parameters the fast path reads."""

    max_id: int
    max_k: int
    default_k: int
    contexts: frozenset[str]
    default_context: str
    variants: frozenset[str]
    api_key: str | None


def parse(path: str, query: bytes, api_key: bytes | None, rules: Rules) -> Request | None:
    """The request's parameters when every one is plainly valid; None to leave it to FastAPI."""
    matched = _PATH.fullmatch(path)
    if matched is None or (rules.api_key and not (api_key and hmac.compare_digest(api_key, rules.api_key.encode()))):
        return None
    user_id = int(matched.group(1))
    if user_id > rules.max_id:
        return None
    params: dict[str, str] = {}
    if query:
        if b"%" in query or b"+" in query:
            return None
        for part in query.decode("latin-1").split("&"):
            name, eq, value = part.partition("=")
            if not eq or not value or name in params or name in _ONBOARDING:
                return None
            params[name] = value
    k = params.get("k")
    if k is not None and not (_NUMBER.fullmatch(k) and int(k) <= rules.max_k):
        return None
    context = params.get("context", rules.default_context)
    variant = params.get("variant")
    if context not in rules.contexts or (variant is not None and variant not in rules.variants):
        return None
    return Request(user_id, int(k) if k is not None else rules.default_k, context, variant)


class RecommendationsFastPath:
    """ASGI: answers parsed requests with `answer(request)` and passes everything else to `app` (FastAPI)."""

    def __init__(self, app, rules: Rules, answer: Callable[[Request], Awaitable[Response]], route) -> None:
        self.app = app
        self.rules = rules
        self.answer = answer
        self.route = route

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        key = next((value for name, value in scope["headers"] if name == b"x-api-key"), None) if self.rules.api_key else None
        request = parse(scope["path"], scope["query_string"], key, self.rules)
        if request is None:
            await self.app(scope, receive, send)
            return
        try:
            response = await self.answer(request)
        except HTTPException as exc:   # as FastAPI's http_exception_handler answers it
            response = JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        scope["route"] = self.route   # the metrics label requests by route template, as the router would set it
        await response(scope, receive, send)
