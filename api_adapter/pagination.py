"""Keyset pagination with resource-id cursors, in both directions (``after`` = next page,
``before`` = previous page), over a (sort column, id) key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Select, func, literal, tuple_
from sqlalchemy.orm import Session

from models.errors import ApiError

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass
class Page:
    rows: list[Any]
    before: str | None
    after: str | None


def paginate(session: Session, stmt: Select, *, model: Any, sort_col: Any, order: str, limit: int,
             before: str | None, after: str | None) -> Page:
    if before and after:
        raise ApiError(422, "validation_error", "provide at most one of before and after", {"fields": ["before", "after"]})
    if order not in ("asc", "desc"):
        raise ApiError(422, "validation_error", "order must be one of asc, desc", {"field": "order", "value": order})
    key = func.coalesce(sort_col, literal(EPOCH)) if _nullable(sort_col) else sort_col
    cursor_id = before or after
    if cursor_id:
        # The cursor must be an item of this very list (same filters), else it is meaningless.
        cursor_value = session.execute(stmt.with_only_columns(key).where(model.id == cursor_id)).first()
        if cursor_value is None:
            field = "before" if before else "after"
            raise ApiError(422, "invalid_cursor", f"{field} cursor {cursor_id!r} is not an item of this list",
                           {"field": field, "value": cursor_id})
        pair, cur = tuple_(key, model.id), tuple_(literal(cursor_value[0]), literal(cursor_id))
        forward = (order == "desc") == bool(before)  # which side of the cursor we read
        stmt = stmt.where(pair > cur if forward else pair < cur)
    reverse = bool(before)
    ascending = (order == "asc") != reverse
    stmt = stmt.order_by(key.asc() if ascending else key.desc(), model.id.asc() if ascending else model.id.desc())
    rows = list(session.scalars(stmt.limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    if reverse:
        rows.reverse()
        return Page(rows, before=rows[0].id if more and rows else None, after=rows[-1].id if rows else None)
    return Page(rows, before=rows[0].id if after and rows else None, after=rows[-1].id if more and rows else None)


def _nullable(col: Any) -> bool:
    return bool(getattr(col, "nullable", False))
