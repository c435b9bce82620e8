"""Request plumbing shared by the routes: authentication, JSON bodies, validation, pagination."""

from __future__ import annotations

import json
import math
from typing import Any, Callable, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from api_adapter.errors import validation_error
from api_adapter.keys import authenticate
from models.db import session_scope
from models.errors import ApiError

M = TypeVar("M", bound=BaseModel)


def organization_id(request: Request) -> str:
    """The organization of the request's ``Api-Key`` (401 when missing, unknown or revoked)."""
    key = request.headers.get("api-key")
    if not key:
        raise ApiError(401, "unauthorized", "missing Api-Key header", {"header": "Api-Key"})
    with session_scope() as session:
        org = authenticate(session, key)
    if org is None:
        raise ApiError(401, "unauthorized", "invalid or revoked Api-Key", {"header": "Api-Key"})
    return org


# JSON bodies are small documents (files go through the signed upload URL); this bounds the
# memory one request can take. Nesting is bounded so json.loads cannot hit the recursion limit.
MAX_JSON_BYTES = 16 * 1024 * 1024
MAX_JSON_DEPTH = 64


async def json_body(request: Request) -> Any:
    """The request's JSON. An empty body means ``{}`` (the SDK sends none for a bare create-run,
    cancel or empty PATCH, still labelled application/json)."""
    content_type = request.headers.get("content-type", "")
    raw = await read_body(request, MAX_JSON_BYTES, lambda _: _body_too_large())
    if not raw.strip():
        return {}
    if content_type.split(";")[0].strip().lower() not in ("application/json", ""):
        raise ApiError(415, "unsupported_media_type", f"Content-Type must be application/json, got {content_type!r}",
                       {"content_type": content_type})
    try:
        value = json.loads(raw, parse_constant=_reject_constant, parse_float=_finite_float)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ApiError(422, "invalid_json", f"body: malformed JSON ({exc})", {"field": "body"}) from exc
    problem = _unstorable(value, "body", 0)
    if problem:
        raise ApiError(422, "validation_error", problem[1], {"field": problem[0]})
    return value


async def read_body(request: Request, limit: int, too_large: Callable[[int], ApiError]) -> bytes:
    """The request body, refused with ``too_large(size)`` as soon as it is known to exceed ``limit``
    bytes: from Content-Length when declared, else while streaming (never buffered past the limit)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large(int(declared))
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(size)
        chunks.append(chunk)
    return b"".join(chunks)


def _body_too_large() -> ApiError:
    return ApiError(413, "payload_too_large", f"body: a JSON body may not exceed {MAX_JSON_BYTES} bytes",
                    {"field": "body", "limit": MAX_JSON_BYTES})


def _reject_constant(name: str) -> Any:
    # NaN / Infinity are not JSON, and PostgreSQL's jsonb cannot store them.
    raise ValueError(f"{name} is not a valid JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # 1e999: valid JSON syntax, but not a storable number
        raise ValueError(f"number {text} is out of range")
    return value


def _unstorable(value: Any, field: str, depth: int) -> tuple[str, str] | None:
    """The first value PostgreSQL cannot store (a NUL character in text or jsonb), or a document
    nested deeper than MAX_JSON_DEPTH: (field path, message); None when the body is fine."""
    if depth > MAX_JSON_DEPTH:
        return field, f"{field}: nested deeper than {MAX_JSON_DEPTH} levels"
    if isinstance(value, str):
        return (field, f"{field}: must not contain NUL (\\u0000) characters") if "\x00" in value else None
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        path = f"{field}.{key}"
        if isinstance(key, str) and "\x00" in key:
            return field, f"{field}: keys must not contain NUL (\\u0000) characters"
        problem = _unstorable(item, path, depth + 1)
        if problem:
            return problem
    return None


def documented_body(model: type[BaseModel], *, array: bool = False) -> dict[str, Any]:
    """``openapi_extra`` describing the JSON body a route reads through ``json_body`` + ``parse``.

    Bodies are read by hand (an empty body means ``{}``, errors get our body shape), so FastAPI
    cannot infer them; this puts the model's schema in the OpenAPI document for clients, /docs and
    schemathesis. Nested models refer to ``components/schemas``; the app hoists them there."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    if array:
        defs = schema.pop("$defs", {})
        schema = {"type": "array", "items": schema, "$defs": defs}
    return {"requestBody": {"required": False, "content": {"application/json": {"schema": schema}}}}


def parse(model: type[M], body: Any, prefix: str = "body") -> M:
    if not isinstance(body, dict):
        raise ApiError(422, "validation_error", f"{prefix} must be a JSON object", {"field": prefix})
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise validation_error(exc, prefix) from exc


def check_limit(limit: int, maximum: int = 100) -> int:
    if not 1 <= limit <= maximum:
        raise ApiError(422, "validation_error", f"limit must be between 1 and {maximum}", {"field": "limit", "value": limit})
    return limit
