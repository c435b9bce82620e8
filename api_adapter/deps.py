"""Request plumbing shared by the routes: authentication, JSON bodies, validation, pagination."""

from __future__ import annotations

import json
from typing import Any, TypeVar

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


async def json_body(request: Request) -> Any:
    """The request's JSON. An empty body means ``{}`` (the SDK sends none for a bare create-run,
    cancel or empty PATCH, still labelled application/json)."""
    raw = await request.body()
    if not raw.strip():
        return {}
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() not in ("application/json", ""):
        raise ApiError(415, "unsupported_media_type", f"Content-Type must be application/json, got {content_type!r}",
                       {"content_type": content_type})
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(422, "invalid_json", f"body: malformed JSON ({exc})", {"field": "body"}) from exc


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
