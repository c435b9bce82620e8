"""The adapter proper: create and enqueue a test run, or cancel one.

Other API servers can call :func:`create_and_enqueue_run` directly: it stores the run in one
transaction (O(1) in the number of tests: a pin, a count and one row) and sends the fan-out task
*by name* to ``wft.control``. Nothing here executes a test.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any

from celery import Celery
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import ids
from models.canonical import fingerprint
from models.counts import recount
from models.db import session_scope
from models.drafts import lock_change_seq, pin_version, pinned_condition
from models.errors import ApiError, not_found
from models.settings import get_settings
from models.tables import Block, Result, Run, TestRevision, Workflow

log = logging.getLogger(__name__)

FAN_OUT_TASK = "wft.fan_out_run"
CONTROL_QUEUE = "wft.control"


def _find_idempotent(session: Session, organization_id: str, key: str, request_fp: str) -> Run | None:
    existing = session.scalars(
        select(Run).where(Run.organization_id == organization_id, Run.idempotency_key == key)
    ).first()
    if existing is None:
        return None
    ttl = timedelta(seconds=get_settings().wft_idempotency_ttl_s)
    if existing.created_at < datetime.now(timezone.utc) - ttl:
        # Expired: free the key for this new request.
        existing.idempotency_key = None
        session.flush()
        return None
    if existing.request_fingerprint != request_fp:
        raise ApiError(409, "idempotency_key_conflict",
                       "Idempotency-Key was already used with a different request body",
                       {"idempotency_key": key, "run_id": existing.id})
    return existing


def create_run(
    session: Session,
    *,
    organization_id: str,
    workflow_id: str,
    test_id: str | None = None,
    target_block_id: str | None = None,
    n_consensus: int | None = None,
    trigger_type: str = "api",
    idempotency_key: str | None = None,
) -> tuple[Run, bool]:
    """Store a pending run pinned to the current draft. Returns ``(run, created)``; ``created`` is
    False when an ``Idempotency-Key`` replay returned the original run. The caller commits."""
    if test_id is not None and target_block_id is not None:
        raise ApiError(422, "invalid_request", "provide at most one of test_id and target",
                       {"fields": ["test_id", "target"]})
    if n_consensus is not None and n_consensus not in (3, 5, 7):
        raise ApiError(422, "invalid_request", "n_consensus must be one of 3, 5, 7",
                       {"field": "n_consensus", "value": n_consensus})
    request_fp = fingerprint({"workflow_id": workflow_id, "test_id": test_id,
                              "target_block_id": target_block_id, "n_consensus": n_consensus})
    if idempotency_key:
        existing = _find_idempotent(session, organization_id, idempotency_key, request_fp)
        if existing is not None:
            return existing, False

    workflow = session.scalars(
        select(Workflow).where(Workflow.id == workflow_id, Workflow.organization_id == organization_id,
                               Workflow.deleted_at.is_(None))
    ).first()
    if workflow is None:
        raise not_found("workflow", workflow_id)
    # The row lock orders this pin against concurrent test edits (they bump change_seq under it).
    seq = lock_change_seq(session, workflow_id)

    if test_id is not None:
        target = session.scalars(
            select(TestRevision.target_block_id).where(pinned_condition(workflow_id, seq, test_id, None))
        ).first()
        if target is None:
            raise ApiError(404, "test_not_found", f"test_id {test_id!r} is not a test of workflow {workflow_id!r}",
                           {"field": "test_id", "test_id": test_id})
        target_block_id_out = target
    else:
        if target_block_id is not None:
            exists = session.scalar(
                select(func.count()).select_from(Block).where(Block.workflow_id == workflow_id, Block.id == target_block_id)
            )
            if not exists:
                raise ApiError(404, "block_not_found",
                               f"target.block_id {target_block_id!r} is not a block of workflow {workflow_id!r}",
                               {"field": "target.block_id", "block_id": target_block_id})
        target_block_id_out = target_block_id

    total = session.scalar(
        select(func.count()).select_from(TestRevision).where(pinned_condition(workflow_id, seq, test_id, target_block_id))
    ) or 0
    if total == 0:
        raise ApiError(422, "no_tests_selected", "the selection contains no tests: create a test first or change test_id / target",
                       {"workflow_id": workflow_id, "target_block_id": target_block_id})

    version = pin_version(session, workflow_id)
    now = datetime.now(timezone.utc)
    run = Run(
        id=ids.new_id(ids.RUN), organization_id=organization_id, workflow_id=workflow_id,
        version_id=version.id, name_at_run_time=workflow.name, pinned_seq=seq,
        test_id=test_id, target_block_id=target_block_id_out if test_id is None else target_block_id_out,
        n_consensus=n_consensus, trigger_type=trigger_type, status="pending", lifecycle_detail={},
        created_at=now, progress_at=now,
        deadline_at=now + timedelta(seconds=get_settings().wft_run_deadline_s),
        total_tests=total, queued=total, running=0, passed=0, failed=0, blocked=0, error=0, cancelled=0,
        idempotency_key=idempotency_key or None, request_fingerprint=request_fp,
    )
    session.add(run)
    session.flush()
    return run, True


def enqueue_run(run_id: str, celery_app: Celery | None = None) -> bool:
    """Send the fan-out by name. A broker outage is not the client's problem: the run stays
    ``pending`` and the reaper re-sends its fan-out after ``wft_pending_timeout_s``."""
    if celery_app is None:
        from workers.app import app as celery_app
    try:
        # ignore_result: a non-worker producer would otherwise subscribe to the result channel.
        celery_app.send_task(FAN_OUT_TASK, args=[run_id], queue=CONTROL_QUEUE, ignore_result=True,
                             argsrepr=repr((run_id,)))
        return True
    except Exception:  # noqa: BLE001 - any transport failure leaves the run to the reaper
        log.exception("could not enqueue fan-out for run %s; the reaper will retry", run_id)
        return False


def create_and_enqueue_run(*, organization_id: str, workflow_id: str, celery_app: Celery | None = None,
                           **kwargs: Any) -> Run:
    """Create (committing) then enqueue. Concurrent calls with one Idempotency-Key create one run."""
    try:
        with session_scope() as session:
            run, created = create_run(session, organization_id=organization_id, workflow_id=workflow_id, **kwargs)
    except IntegrityError:
        # Lost the race on the idempotency key's unique index: the winner's run is the answer.
        with session_scope() as session:
            run, created = create_run(session, organization_id=organization_id, workflow_id=workflow_id, **kwargs)
    if created:
        enqueue_run(run.id, celery_app)
    return run


def cancel_run(session: Session, *, organization_id: str, run_id: str) -> Run:
    """Cancel at once: the run and every unfinished result move to ``cancelled`` in one
    transaction; tasks check before starting work, and their guarded writes then find nothing."""
    run = session.scalars(
        select(Run).where(Run.id == run_id, Run.organization_id == organization_id).with_for_update()
    ).first()
    if run is None:
        raise not_found("run", run_id)
    if run.status not in ("pending", "running"):
        raise ApiError(404, "run_not_cancellable", f"run {run_id!r} is {run.status} and cannot be cancelled",
                       {"run_id": run_id, "status": run.status})
    now = datetime.now(timezone.utc)
    session.execute(
        update(Result).where(Result.run_id == run_id, Result.status.in_(("pending", "running")))
        .values(status="cancelled", completed_at=now, lease_expires_at=None)
    )
    counts = recount(session, run_id)
    if run.status == "pending":  # no result rows yet: every selected test is cancelled
        counts = {**counts, "queued": 0, "cancelled": run.total_tests}
    run.status = "cancelled"
    run.lifecycle_detail = {"reason": "cancelled by user"}
    run.completed_at = now
    run.duration_ms = int((now - (run.started_at or run.created_at)).total_seconds() * 1000)
    run.progress_at = now
    for bucket, n in counts.items():
        setattr(run, bucket, n)
    session.flush()
    return run
