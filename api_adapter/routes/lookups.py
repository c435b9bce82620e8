"""Organization-scoped lookups: anything unknown *or foreign* is a 404 (never reveal tenants)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.errors import not_found
from models.tables import Block, Run, Workflow


def get_workflow(session: Session, org: str, workflow_id: str) -> Workflow:
    wf = session.scalars(select(Workflow).where(Workflow.id == workflow_id, Workflow.organization_id == org,
                                                Workflow.deleted_at.is_(None))).first()
    if wf is None:
        raise not_found("workflow", workflow_id)
    return wf


def get_block(session: Session, workflow_id: str, block_id: str) -> Block:
    block = session.get(Block, (workflow_id, block_id))
    if block is None:
        raise not_found("block", block_id)
    return block


def get_run(session: Session, org: str, run_id: str) -> Run:
    run = session.scalars(select(Run).where(Run.id == run_id, Run.organization_id == org)).first()
    if run is None:
        raise not_found("run", run_id)
    return run
