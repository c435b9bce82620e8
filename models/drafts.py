"""The draft's test revisions and its content-addressed versions (see ``models.tables``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from models.canonical import fingerprint
from models.tables import Block, TestRevision, Workflow, WorkflowVersion


def bump_change_seq(session: Session, workflow_id: str) -> int:
    """Take the workflow's row lock and return the next sequence number. Test edits and run
    creation both go through this lock, so a run's pin is exactly "what had committed"."""
    return session.execute(
        update(Workflow)
        .where(Workflow.id == workflow_id)
        .values(change_seq=Workflow.change_seq + 1, updated_at=func.now())
        .returning(Workflow.change_seq)
    ).scalar_one()


def lock_change_seq(session: Session, workflow_id: str) -> int:
    return session.execute(
        select(Workflow.change_seq).where(Workflow.id == workflow_id).with_for_update()
    ).scalar_one()


def block_snapshot(block: Block) -> dict[str, Any]:
    return {"id": block.id, "type": block.type, "label": block.label, "config": block.config or {},
            "parent_id": block.parent_id}


def pin_version(session: Session, workflow_id: str) -> WorkflowVersion:
    """Store (once) and return the content-addressed version of the current draft's blocks.
    Positions and sizes are layout, not behaviour, so they are left out of the content."""
    blocks = session.scalars(select(Block).where(Block.workflow_id == workflow_id).order_by(Block.id)).all()
    content = {"blocks": [block_snapshot(b) for b in blocks], "edges": []}
    version_id = "ver_" + fingerprint(content, 24)
    session.execute(
        insert(WorkflowVersion)
        .values(workflow_id=workflow_id, id=version_id, content=content)
        .on_conflict_do_nothing()
    )
    return WorkflowVersion(workflow_id=workflow_id, id=version_id, content=content)


def current_tests(workflow_id: str) -> Select[tuple[TestRevision]]:
    return select(TestRevision).where(TestRevision.workflow_id == workflow_id, TestRevision.retired_seq.is_(None))


def pinned_condition(workflow_id: str, seq: int, test_id: str | None, target_block_id: str | None):
    """Revisions visible at ``seq`` (the run's pin), restricted to the run's selection."""
    clauses = [
        TestRevision.workflow_id == workflow_id,
        TestRevision.created_seq <= seq,
        or_(TestRevision.retired_seq.is_(None), TestRevision.retired_seq > seq),
    ]
    if test_id is not None:
        clauses.append(TestRevision.id == test_id)
    if target_block_id is not None:
        clauses.append(TestRevision.target_block_id == target_block_id)
    return and_(*clauses)
