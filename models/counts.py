"""Run counts: recomputed from the result rows (the source of truth) when a run is finalized
or cancelled; moved incrementally, under the run's row lock, by every result transition."""

from __future__ import annotations

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from models.tables import BUCKETS, Result

_BUCKET_EXPR = case(
    (Result.status == "pending", "queued"),
    (Result.status == "completed", func.coalesce(Result.verdict, "error")),
    else_=Result.status,
)


def recount(session: Session, run_id: str) -> dict[str, int]:
    rows = session.execute(
        select(_BUCKET_EXPR, func.count()).where(Result.run_id == run_id).group_by(_BUCKET_EXPR)
    ).all()
    counts = dict.fromkeys(BUCKETS, 0)
    for bucket, n in rows:
        counts[bucket] += n
    return counts
