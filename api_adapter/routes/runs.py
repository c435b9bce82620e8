"""Test runs: create (workflow-scoped), then get / list / cancel / results (run-id-first)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from fastapi import APIRouter, Depends, Header, Query
from sqlalchemy import exists, select, tuple_

from api_adapter.adapter import cancel_run, create_and_enqueue_run
from api_adapter.deps import check_limit, documented_body, json_body, organization_id, parse
from api_adapter.pagination import paginate
from api_adapter.responses import Page, ResultOut, RunOut, documented
from api_adapter.routes.lookups import get_run
from models.db import session_scope
from models.errors import ApiError, not_found
from models.tables import RUN_STATUSES, Result, Run, TestRevision
from models.wire import RunCreate, list_envelope, result_to_wire, run_to_wire

router = APIRouter(tags=["runs"])

TRIGGER_TYPES = ("manual", "api", "schedule", "webhook", "email", "restart")
SORTABLE = {"created_at": Run.created_at, "started_at": Run.started_at, "completed_at": Run.completed_at}


@router.post("/v1/workflows/{workflow_id}/tests/runs", openapi_extra=documented_body(RunCreate), **documented(RunOut))
def create_run(workflow_id: str, org: str = Depends(organization_id), body: Any = Depends(json_body),
               idempotency_key: str | None = Header(None, alias="Idempotency-Key", max_length=255)) -> dict[str, Any]:
    req = parse(RunCreate, body)
    if req.test_id is not None and req.target is not None:
        raise ApiError(422, "validation_error", "provide at most one of test_id and target", {"fields": ["test_id", "target"]})
    run = create_and_enqueue_run(organization_id=org, workflow_id=workflow_id, test_id=req.test_id,
                                 target_block_id=req.target.block_id if req.target else None,
                                 n_consensus=req.n_consensus, trigger_type="api", idempotency_key=idempotency_key)
    return run_to_wire(run)


def _csv(value: str | None, allowed: tuple[str, ...], field: str) -> list[str]:
    items = [v.strip() for v in (value or "").split(",") if v.strip()]
    bad = [v for v in items if v not in allowed]
    if bad:
        raise ApiError(422, "validation_error", f"{field} must be one or more of {', '.join(allowed)} (got {bad[0]!r})",
                       {"field": field, "value": value})
    return items


def _day(value: str | None, field: str, end: bool) -> datetime | None:
    """``YYYY-MM-DD`` (whole day, inclusive) or an ISO 8601 datetime."""
    if value is None:
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            if end and day == date.max:
                return None  # "until the end of time": no bound (the exclusive end would overflow)
            start = datetime.combine(day, time.min, tzinfo=timezone.utc)
            return start + timedelta(days=1) if end else start
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    except ValueError:
        raise ApiError(422, "validation_error", f"{field} must be a date YYYY-MM-DD or an ISO 8601 datetime",
                       {"field": field, "value": value}) from None


@router.get("/v1/workflows/tests/runs", **documented(Page[RunOut]))
def list_runs(org: str = Depends(organization_id), workflow_id: str | None = None, test_id: str | None = None,
              target_block_id: str | None = None, status: str | None = None, statuses: str | None = None,
              exclude_status: str | None = None, trigger_type: str | None = None, trigger_types: str | None = None,
              from_date: str | None = None, to_date: str | None = None, sort_by: str = "created_at",
              order: str = "desc", before: str | None = None, after: str | None = None, limit: int = Query(20),
              fields: str | None = None) -> dict[str, Any]:
    check_limit(limit)
    if sort_by not in SORTABLE:
        raise ApiError(422, "validation_error", f"sort_by must be one of {', '.join(SORTABLE)}",
                       {"field": "sort_by", "value": sort_by})
    wanted_status = _csv(status, RUN_STATUSES, "status") + _csv(statuses, RUN_STATUSES, "statuses")
    excluded = _csv(exclude_status, RUN_STATUSES, "exclude_status")
    triggers = _csv(trigger_type, TRIGGER_TYPES, "trigger_type") + _csv(trigger_types, TRIGGER_TYPES, "trigger_types")
    start, end = _day(from_date, "from_date", end=False), _day(to_date, "to_date", end=True)
    stmt = select(Run).where(Run.organization_id == org)
    if workflow_id:
        stmt = stmt.where(Run.workflow_id == workflow_id)
    if test_id:
        stmt = stmt.where((Run.test_id == test_id) | exists().where(Result.run_id == Run.id, Result.test_id == test_id))
    if target_block_id:
        stmt = stmt.where(Run.target_block_id == target_block_id)
    if wanted_status:
        stmt = stmt.where(Run.status.in_(wanted_status))
    if excluded:
        stmt = stmt.where(Run.status.not_in(excluded))
    if triggers:
        stmt = stmt.where(Run.trigger_type.in_(triggers))
    if start:
        stmt = stmt.where(Run.created_at >= start)
    if end:
        stmt = stmt.where(Run.created_at < end if len(to_date or "") == 10 else Run.created_at <= end)
    with session_scope() as s:
        page = paginate(s, stmt, model=Run, sort_col=SORTABLE[sort_by], order=order, limit=limit,
                        before=before, after=after)
        return list_envelope([run_to_wire(r) for r in page.rows], page.before, page.after)


@router.get("/v1/workflows/tests/runs/{run_id}", **documented(RunOut))
def get_run_route(run_id: str, org: str = Depends(organization_id)) -> dict[str, Any]:
    with session_scope() as s:
        return run_to_wire(get_run(s, org, run_id))


@router.post("/v1/workflows/tests/runs/{run_id}/cancel", **documented(RunOut))
def cancel_run_route(run_id: str, org: str = Depends(organization_id), _: Any = Depends(json_body)) -> dict[str, Any]:
    with session_scope() as s:
        return run_to_wire(cancel_run(s, organization_id=org, run_id=run_id))


def _revisions(s, results: list[Result]) -> dict[tuple[str, int], TestRevision]:
    keys = {(r.test_id, r.test_seq) for r in results}
    if not keys:
        return {}
    revs = s.scalars(select(TestRevision).where(tuple_(TestRevision.id, TestRevision.created_seq).in_(list(keys))))
    return {(r.id, r.created_seq): r for r in revs}


@router.get("/v1/workflows/tests/runs/{run_id}/results", **documented(Page[ResultOut]))
def list_results(run_id: str, org: str = Depends(organization_id), limit: int = Query(20),
                 before: str | None = None, after: str | None = None, order: str = "asc") -> dict[str, Any]:
    check_limit(limit)
    with session_scope() as s:
        get_run(s, org, run_id)
        page = paginate(s, select(Result).where(Result.run_id == run_id), model=Result, sort_col=Result.created_at,
                        order=order, limit=limit, before=before, after=after)
        revs = _revisions(s, page.rows)
        return list_envelope([result_to_wire(r, revs.get((r.test_id, r.test_seq))) for r in page.rows],
                             page.before, page.after)


@router.get("/v1/workflows/tests/runs/{run_id}/results/{test_id}", **documented(ResultOut))
def get_result(run_id: str, test_id: str, org: str = Depends(organization_id)) -> dict[str, Any]:
    with session_scope() as s:
        get_run(s, org, run_id)
        result = s.scalars(select(Result).where(Result.run_id == run_id, Result.test_id == test_id)).first()
        if result is None:
            raise not_found("result", test_id)
        return result_to_wire(result, _revisions(s, [result]).get((result.test_id, result.test_seq)))
