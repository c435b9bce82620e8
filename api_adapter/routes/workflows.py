"""Workflows: ``/v1/workflows``."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, Depends, Query, Response

from api_adapter.deps import check_limit, documented_body, json_body, organization_id, parse
from api_adapter.pagination import paginate
from api_adapter.responses import Page, WorkflowOut, documented
from api_adapter.routes.lookups import get_workflow
from models import ids
from models.db import session_scope
from models.errors import ApiError
from models.tables import Workflow
from models.wire import WorkflowCreate, WorkflowUpdate, list_envelope, workflow_to_wire
from sqlalchemy import select

router = APIRouter(prefix="/v1/workflows", tags=["workflows"])

SORTABLE = {"created_at": Workflow.created_at, "updated_at": Workflow.updated_at}


@router.post("", openapi_extra=documented_body(WorkflowCreate), **documented(WorkflowOut))
def create_workflow(org: str = Depends(organization_id), body: Any = Depends(json_body)) -> dict[str, Any]:
    req = parse(WorkflowCreate, body)
    with session_scope() as s:
        now = datetime.now(timezone.utc)
        wf = Workflow(id=ids.new_id(ids.WORKFLOW), organization_id=org, name=req.name, description=req.description,
                      email_trigger={}, change_seq=0, created_at=now, updated_at=now)
        s.add(wf)
    return workflow_to_wire(wf)


@router.get("", **documented(Page[WorkflowOut]))
def list_workflows(org: str = Depends(organization_id), limit: int = Query(10), order: str = "desc",
                   sort_by: str = "updated_at", before: str | None = None, after: str | None = None,
                   fields: str | None = None) -> dict[str, Any]:
    check_limit(limit)
    if sort_by not in SORTABLE:
        raise ApiError(422, "validation_error", f"sort_by must be one of {', '.join(SORTABLE)}", {"field": "sort_by"})
    with session_scope() as s:
        stmt = select(Workflow).where(Workflow.organization_id == org, Workflow.deleted_at.is_(None))
        page = paginate(s, stmt, model=Workflow, sort_col=SORTABLE[sort_by], order=order, limit=limit,
                        before=before, after=after)
        return list_envelope([workflow_to_wire(w) for w in page.rows], page.before, page.after)


@router.get("/{workflow_id}", **documented(WorkflowOut))
def get_workflow_route(workflow_id: str, org: str = Depends(organization_id)) -> dict[str, Any]:
    with session_scope() as s:
        return workflow_to_wire(get_workflow(s, org, workflow_id))


@router.patch("/{workflow_id}", openapi_extra=documented_body(WorkflowUpdate), **documented(WorkflowOut))
def update_workflow(workflow_id: str, org: str = Depends(organization_id), body: Any = Depends(json_body)) -> dict[str, Any]:
    req = parse(WorkflowUpdate, body)
    with session_scope() as s:
        wf = get_workflow(s, org, workflow_id)
        changes = req.model_dump(exclude_unset=True)
        if changes.get("name") is not None:
            wf.name = changes["name"]
        if changes.get("description") is not None:
            wf.description = changes["description"]
        if changes.get("email_trigger") is not None:
            wf.email_trigger = changes["email_trigger"]
        wf.updated_at = datetime.now(timezone.utc)
        return workflow_to_wire(wf)


@router.delete("/{workflow_id}", status_code=204)
def delete_workflow(workflow_id: str, org: str = Depends(organization_id)) -> Response:
    with session_scope() as s:
        wf = get_workflow(s, org, workflow_id)
        wf.deleted_at = datetime.now(timezone.utc)
    return Response(status_code=204)
