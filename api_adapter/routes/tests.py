"""Workflow tests CRUD: ``/v1/workflows/{workflow_id}/tests``. Every change writes a new
revision under the workflow's row lock (see ``models.tables``), so runs already created keep
executing the revisions they pinned."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from api_adapter.deps import check_limit, documented_body, json_body, organization_id, parse
from api_adapter.pagination import paginate
from api_adapter.responses import Page, TestOut, documented
from api_adapter.routes.lookups import get_block, get_workflow
from models import ids
from models.conditions import validate_assertion
from models.db import session_scope
from models.drafts import bump_change_seq, current_tests
from models.errors import ApiError, not_found
from models.tables import Result, TestRevision
from models.wire import ManualSource, RunStepSource, SourceBody, TestCreate, TestUpdate, list_envelope, test_to_wire

router = APIRouter(prefix="/v1/workflows/{workflow_id}/tests", tags=["tests"])


def checked_assertion(raw: Any) -> dict[str, Any]:
    """422 naming the field and the rule, or the assertion as stored (id stamped, path defaulted)."""
    issues = validate_assertion(raw)
    if issues:
        raise ApiError(422, "invalid_assertion", issues[0].message,
                       {"errors": [{"field": i.field, "rule": i.message} for i in issues]})
    target = raw["target"]
    return {"id": raw.get("id") or ids.new_id(ids.ASSERTION),
            "target": {"output_handle_id": target["output_handle_id"], "path": target.get("path") or ""},
            "condition": raw["condition"], "label": raw.get("label")}


def checked_source(source: ManualSource | RunStepSource) -> dict[str, Any]:
    if isinstance(source, RunStepSource):
        raise ApiError(422, "unsupported_source",
                       "source.type run_step is not supported: wft has no workflow runs to capture inputs from; "
                       "use a manual source with handle_inputs", {"field": "source.type"})
    return source.model_dump()


def current_revision(s: Session, workflow_id: str, test_id: str, lock: bool = False) -> TestRevision:
    stmt = current_tests(workflow_id).where(TestRevision.id == test_id)
    rev = s.scalars(stmt.with_for_update() if lock else stmt).first()
    if rev is None:
        raise not_found("test", test_id)
    return rev


def latest_summaries(s: Session, test_ids: list[str]) -> dict[str, dict[str, Result | None]]:
    """Most recent terminal result per test: any, passing, failing (one query each)."""
    out: dict[str, dict[str, Result | None]] = {t: {"latest": None, "passing": None, "failing": None} for t in test_ids}
    if not test_ids:
        return out
    terminal = Result.status.in_(("completed", "error", "cancelled"))
    for key, extra in (("latest", terminal), ("passing", Result.verdict == "passed"),
                       ("failing", Result.verdict.in_(("failed", "blocked")) | (Result.status == "error"))):
        stmt = (select(Result).where(Result.test_id.in_(test_ids), terminal, extra)
                .order_by(Result.test_id, Result.completed_at.desc()).distinct(Result.test_id))
        for r in s.scalars(stmt):
            out[r.test_id][key] = r
    return out


@router.post("", openapi_extra=documented_body(TestCreate), **documented(TestOut))
def create_test(workflow_id: str, org: str = Depends(organization_id), body: Any = Depends(json_body)) -> dict[str, Any]:
    req = parse(TestCreate, body)
    assertion = checked_assertion(body.get("assertion"))
    source = checked_source(req.source)
    with session_scope() as s:
        get_workflow(s, org, workflow_id)
        try:
            get_block(s, workflow_id, req.target.block_id)
        except ApiError:
            raise ApiError(404, "block_not_found", f"target.block_id {req.target.block_id!r} is not a block of this workflow",
                           {"field": "target.block_id", "block_id": req.target.block_id}) from None
        seq = bump_change_seq(s, workflow_id)
        now = datetime.now(timezone.utc)
        rev = TestRevision(id=ids.new_id(ids.TEST), created_seq=seq, organization_id=org, workflow_id=workflow_id,
                           target_block_id=req.target.block_id, name=req.name, source=source, assertion=assertion,
                           test_created_at=now, updated_at=now)
        s.add(rev)
        return test_to_wire(rev)


@router.get("", **documented(Page[TestOut]))
def list_tests(workflow_id: str, org: str = Depends(organization_id), limit: int = Query(50),
               target_block_id: str | None = None, before: str | None = None, after: str | None = None,
               order: str = "asc") -> dict[str, Any]:
    check_limit(limit)
    with session_scope() as s:
        get_workflow(s, org, workflow_id)
        stmt = current_tests(workflow_id)
        if target_block_id:
            stmt = stmt.where(TestRevision.target_block_id == target_block_id)
        page = paginate(s, stmt, model=TestRevision, sort_col=TestRevision.test_created_at, order=order,
                        limit=limit, before=before, after=after)
        latest = latest_summaries(s, [r.id for r in page.rows])
        return list_envelope([test_to_wire(r, latest[r.id]) for r in page.rows], page.before, page.after)


@router.get("/{test_id}", **documented(TestOut))
def get_test(workflow_id: str, test_id: str, org: str = Depends(organization_id)) -> dict[str, Any]:
    with session_scope() as s:
        get_workflow(s, org, workflow_id)
        rev = current_revision(s, workflow_id, test_id)
        return test_to_wire(rev, latest_summaries(s, [test_id])[test_id])


@router.patch("/{test_id}", openapi_extra=documented_body(TestUpdate), **documented(TestOut))
def update_test(workflow_id: str, test_id: str, org: str = Depends(organization_id),
                body: Any = Depends(json_body)) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(422, "validation_error", "body must be a JSON object", {"field": "body"})
    if "assertion" in body and body["assertion"] is None:
        raise ApiError(422, "validation_error", "assertion cannot be null: a test has exactly one assertion "
                       "(delete the test instead)", {"field": "assertion"})
    assertion = checked_assertion(body["assertion"]) if "assertion" in body else None
    source = None
    if body.get("source") is not None:
        source = checked_source(parse(SourceBody, {"source": body["source"]}).source)
    name = body.get("name")
    if name is not None and not isinstance(name, str):
        raise ApiError(422, "validation_error", "name must be a string", {"field": "name"})
    with session_scope() as s:
        get_workflow(s, org, workflow_id)
        rev = current_revision(s, workflow_id, test_id)
        if assertion is None and source is None and "name" not in body:
            return test_to_wire(rev, latest_summaries(s, [test_id])[test_id])
        seq = bump_change_seq(s, workflow_id)
        rev = current_revision(s, workflow_id, test_id, lock=True)
        s.execute(update(TestRevision).where(TestRevision.id == test_id, TestRevision.created_seq == rev.created_seq)
                  .values(retired_seq=seq))
        new = TestRevision(id=test_id, created_seq=seq, organization_id=org, workflow_id=workflow_id,
                           target_block_id=rev.target_block_id, name=name if "name" in body else rev.name,
                           source=source or rev.source, assertion=assertion or rev.assertion,
                           test_created_at=rev.test_created_at, updated_at=datetime.now(timezone.utc))
        s.add(new)
        s.flush()
        return test_to_wire(new, latest_summaries(s, [test_id])[test_id])


@router.delete("/{test_id}", status_code=204)
def delete_test(workflow_id: str, test_id: str, org: str = Depends(organization_id)) -> Response:
    with session_scope() as s:
        get_workflow(s, org, workflow_id)
        current_revision(s, workflow_id, test_id)
        seq = bump_change_seq(s, workflow_id)
        s.execute(update(TestRevision).where(TestRevision.id == test_id, TestRevision.retired_seq.is_(None))
                  .values(retired_seq=seq))
    return Response(status_code=204)
