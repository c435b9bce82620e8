"""Every error leaves the API as ``{"detail": {"code", "message", "details"}}`` — the body the
SDK parses — with the request id that every response carries."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.exc import DataError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from models.errors import ApiError

log = logging.getLogger("wft.api")

_STATUS_CODES = {400: "bad_request", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed",
                 409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type", 422: "validation_error"}


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"detail": {"code": code, "message": message, "details": details or {}}}


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(p) for p in loc if p not in ("body",)) or "body"


def validation_error(exc: ValidationError | RequestValidationError, prefix: str = "") -> ApiError:
    """One 422 naming every offending field and its rule (the first one leads the message)."""
    errors = []
    for err in exc.errors():
        loc = [p for p in err.get("loc", ()) if not (isinstance(p, str) and p.startswith("function-after"))]
        field = ".".join(filter(None, [prefix, _field(loc)]))
        rule = str(err.get("msg", "is invalid")).removeprefix("Value error, ")
        errors.append({"field": field, "rule": rule, "type": err.get("type")})
    first = errors[0] if errors else {"field": prefix or "body", "rule": "is invalid"}
    message = first["rule"] if first["field"] in first["rule"] else f"{first['field']}: {first['rule']}"
    return ApiError(422, "validation_error", message, {"errors": errors})


class RequestIdMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware): stamps ``x-request-id`` on every response, echoing the
    client's when it sent one."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id")
        request_id = incoming.decode("latin-1")[:200] if incoming else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", request_id.encode("latin-1")))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_id)


class RejectNulMiddleware:
    """PostgreSQL cannot compare or store text containing NUL, so a ``%00`` in the path or the
    query string would otherwise surface as a database error (a 500). Reject it up front."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            where = ("path" if "\x00" in scope.get("path", "")
                     else "query" if b"%00" in scope.get("query_string", b"").lower() else None)
            if where:
                body = error_body("validation_error", f"{where}: must not contain NUL (%00) characters",
                                  {"field": where})
                await JSONResponse(body, status_code=422)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _request_validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        err = validation_error(exc)
        return JSONResponse(err.body(), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code
        if exc.status_code == 404 and message == "Not Found":
            message = "no such route"
        return JSONResponse(error_body(code, message), status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(OperationalError)
    async def _database_unavailable(request: Request, exc: OperationalError) -> JSONResponse:
        request_id = request.scope.get("state", {}).get("request_id", "")
        log.warning("database unavailable (request %s): %s", request_id, exc)
        return JSONResponse(error_body("database_unavailable", "the database is unavailable, retry shortly",
                                       {"request_id": request_id}), status_code=503, headers={"Retry-After": "1"})

    @app.exception_handler(DataError)
    async def _unstorable_value(request: Request, exc: DataError) -> JSONResponse:
        # Backstop: the edge validation should catch every value PostgreSQL refuses; if one slips
        # through it is still the client's value, so a 422 (logged, to tighten the validation).
        request_id = request.scope.get("state", {}).get("request_id", "")
        log.warning("value refused by the database (request %s): %s", request_id, exc.orig)
        return JSONResponse(error_body("invalid_value", "a value in the request cannot be stored",
                                       {"request_id": request_id}), status_code=422)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        request_id = request.scope.get("state", {}).get("request_id", "")
        log.exception("unhandled error (request %s)", request_id)
        # Starlette answers unhandled exceptions from its outermost middleware, outside
        # RequestIdMiddleware, so this response must carry the header itself.
        return JSONResponse(error_body("internal_error", "internal server error", {"request_id": request_id}),
                            status_code=500, headers={"x-request-id": request_id})
