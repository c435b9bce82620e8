"""Every state change of runs and results, as guarded transitions.

Each function is one transaction. Result transitions lock the run row first (cancel does the
same), so the counts move under one lock order, never deadlock, and always sum to
``total_tests``. A transition whose guard no longer holds (a redelivered message, a cancelled
run, a claim taken over after a lost worker) changes nothing and says so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

from sqlalchemy import func, insert, literal, select, update
from sqlalchemy.orm import Session

from models import ids
from models.counts import recount
from models.db import session_scope
from models.drafts import pinned_condition
from models.tables import BUCKETS, Result, Run, TestRevision, Workflow, bucket_of

log = logging.getLogger("wft.state")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _lock_run(session: Session, run_id: str) -> Run | None:
    return session.scalars(select(Run).where(Run.id == run_id).with_for_update()).first()


def _move(run: Run, from_bucket: str, to_bucket: str) -> None:
    if from_bucket == to_bucket:
        return
    setattr(run, from_bucket, getattr(run, from_bucket) - 1)
    setattr(run, to_bucket, getattr(run, to_bucket) + 1)
    run.progress_at = utcnow()


# --------------------------------------------------------------------------------------- run start


@dataclass(frozen=True)
class FanOut:
    run_id: str
    test_ids: list[str]


class SnapshotError(Exception):
    """The run cannot execute (its workflow was deleted, its pinned version is gone)."""


def start_run(run_id: str) -> FanOut | None:
    """``pending → running`` and one result row per pinned test, in one transaction (one
    INSERT … SELECT: no per-test round trip, nothing held in Python). A redelivered fan-out of a
    run that started but never dispatched its chord gets the ids again; otherwise None."""
    with session_scope() as session:
        run = _lock_run(session, run_id)
        if run is None:
            log.warning("fan-out for unknown run %s", run_id)
            return None
        if run.status == "running" and run.dispatched_at is None:
            return FanOut(run_id, _pending_test_ids(session, run_id))
        if run.status != "pending":
            return None
        workflow = session.get(Workflow, run.workflow_id)
        if workflow is None or workflow.deleted_at is not None:
            raise SnapshotError(f"workflow {run.workflow_id} was deleted before the run started")
        now = utcnow()
        pinned = (
            select(
                func.concat(literal(ids.RESULT + "_"), func.md5(func.concat(literal(run_id), TestRevision.id))),
                literal(run_id), TestRevision.id, TestRevision.created_seq, TestRevision.target_block_id,
                literal("pending"), literal(0), literal(now), literal([], type_=Result.warnings.type),
                literal(""), literal(""), literal(""), literal(""),
            )
            .where(pinned_condition(run.workflow_id, run.pinned_seq, run.test_id,
                                    run.target_block_id if run.test_id is None else None))
        )
        session.execute(
            insert(Result).from_select(
                ["id", "run_id", "test_id", "test_seq", "target_block_id", "status", "attempts", "created_at",
                 "warnings", "execution_fingerprint", "handle_inputs_fingerprint",
                 "workflow_draft_fingerprint", "block_config_fingerprint"],
                pinned,
            )
        )
        # (rowcount is not reported for INSERT … SELECT through SQLAlchemy's psycopg dialect.)
        inserted = session.scalar(select(func.count()).select_from(Result).where(Result.run_id == run_id))
        if inserted != run.total_tests:
            # Revisions are never deleted, so this means the pin itself is broken.
            raise SnapshotError(f"pinned selection has {inserted} tests, the run was created with {run.total_tests}")
        run.status = "running"
        run.started_at = now
        run.progress_at = now
        run.fanout_attempts += 1
        session.flush()
        return FanOut(run_id, _pending_test_ids(session, run_id))


def _pending_test_ids(session: Session, run_id: str) -> list[str]:
    return list(session.scalars(
        select(Result.test_id).where(Result.run_id == run_id, Result.status.in_(("pending", "running")))
        .order_by(Result.test_id)
    ))


def mark_dispatched(run_id: str) -> None:
    with session_scope() as session:
        session.execute(update(Run).where(Run.id == run_id).values(dispatched_at=utcnow()))


# --------------------------------------------------------------------------------------- claims


@dataclass(frozen=True)
class Claim:
    attempt: int


@dataclass(frozen=True)
class Skip:
    reason: str  # run_not_running | terminal | gave_up | unknown
    status: str | None = None


@dataclass(frozen=True)
class Busy:
    """Another delivery holds a live claim; retry after ``retry_in`` seconds."""

    retry_in: float


def claim_result(run_id: str, test_id: str, *, lease_s: int, max_attempts: int) -> Claim | Skip | Busy:
    """``queued → running`` (or a takeover of an expired claim), bounded by ``max_attempts``:
    past it the test ends ``error`` so a poison test cannot loop through redeliveries."""
    with session_scope() as session:
        run = _lock_run(session, run_id)
        if run is None:
            return Skip("unknown")
        if run.status != "running":
            return Skip("run_not_running", run.status)
        result = session.scalars(
            select(Result).where(Result.run_id == run_id, Result.test_id == test_id).with_for_update()
        ).first()
        if result is None:
            return Skip("unknown")
        now = utcnow()
        if result.status not in ("pending", "running"):
            return Skip("terminal", result.status)
        if result.status == "running" and result.lease_expires_at and result.lease_expires_at > now:
            return Busy((result.lease_expires_at - now).total_seconds())
        before = result.bucket
        if result.attempts >= max_attempts:
            result.status = "error"
            result.error_message = f"gave up after {result.attempts} attempts (the test's worker was lost each time)"
            result.completed_at = now
            result.lease_expires_at = None
            _move(run, before, "error")
            return Skip("gave_up", "error")
        result.status = "running"
        result.attempts += 1
        result.started_at = result.started_at or now
        result.lease_expires_at = now + timedelta(seconds=lease_s)
        _move(run, before, "running")
        run.progress_at = now
        return Claim(result.attempts)


def claim_is_current(run_id: str, test_id: str, attempt: int) -> bool:
    """Cheap check before starting work (consensus sub-calls): is this claim still the live one?"""
    with session_scope() as session:
        row = session.execute(
            select(Run.status, Result.status, Result.attempts)
            .join(Result, Result.run_id == Run.id)
            .where(Run.id == run_id, Result.test_id == test_id)
        ).first()
    return bool(row) and row[0] == "running" and row[1] == "running" and row[2] == attempt


# --------------------------------------------------------------------------------------- completion


@dataclass
class Outcome:
    """A test's end: ``status`` completed (with ``verdict``) or error (with ``error_message``)."""

    status: str
    verdict: str | None = None
    error_message: str | None = None
    outputs: dict[str, Any] | None = None
    routing_decision: list[str] | None = None
    warnings: list[str] | None = None
    assertion_result: dict[str, Any] | None = None
    verdict_summary: dict[str, Any] | None = None
    consensus: dict[str, Any] | None = None
    n_consensus: int | None = None
    fingerprints: dict[str, str] | None = None


def finish_result(run_id: str, test_id: str, attempt: int, outcome: Outcome) -> bool:
    """``running → terminal`` for the claim ``attempt``, with its count change, in one transaction.
    Returns False (and changes nothing) when the claim is no longer current: the run was cancelled,
    or a later attempt took over."""
    with session_scope() as session:
        run = _lock_run(session, run_id)
        if run is None or run.status != "running":
            return False
        result = session.scalars(
            select(Result).where(Result.run_id == run_id, Result.test_id == test_id,
                                 Result.status == "running", Result.attempts == attempt).with_for_update()
        ).first()
        if result is None:
            return False
        now = utcnow()
        result.status = outcome.status
        result.verdict = outcome.verdict if outcome.status == "completed" else None
        result.error_message = outcome.error_message
        result.outputs = outcome.outputs
        result.routing_decision = outcome.routing_decision
        result.warnings = outcome.warnings or []
        result.assertion_result = outcome.assertion_result
        result.verdict_summary = outcome.verdict_summary
        result.consensus = outcome.consensus
        result.n_consensus = outcome.n_consensus
        for key, value in (outcome.fingerprints or {}).items():
            setattr(result, key, value)
        result.completed_at = now
        result.lease_expires_at = None
        start = result.started_at or now
        result.duration_ms = int((now - start).total_seconds() * 1000)
        _move(run, "running", bucket_of(result.status, result.verdict))
        return True


# --------------------------------------------------------------------------------------- run end


def finalize_run(run_id: str) -> str | None:
    """Idempotent: recount from the results; a running run whose every result is terminal becomes
    ``completed``. Terminal runs never move (a late callback cannot overwrite ``cancelled``).
    Returns the run's status afterwards."""
    with session_scope() as session:
        run = _lock_run(session, run_id)
        if run is None:
            return None
        if run.status != "running":
            return run.status
        counts = recount(session, run_id)
        for bucket in BUCKETS:
            setattr(run, bucket, counts[bucket])
        if counts["queued"] or counts["running"]:
            return run.status
        now = utcnow()
        run.status = "completed"
        run.completed_at = now
        run.duration_ms = int((now - (run.started_at or run.created_at)).total_seconds() * 1000)
        run.progress_at = now
        return run.status


def fail_run(run_id: str, message: str, *, stage: str, category: str, details: dict[str, Any] | None = None) -> bool:
    """The run itself could not execute: ``error`` with a message; unfinished results end ``error`` too
    so the buckets still sum to the total."""
    with session_scope() as session:
        run = _lock_run(session, run_id)
        if run is None or run.status not in ("pending", "running"):
            return False
        now = utcnow()
        session.execute(
            update(Result).where(Result.run_id == run_id, Result.status.in_(("pending", "running")))
            .values(status="error", error_message=f"run error: {message}", completed_at=now, lease_expires_at=None)
        )
        counts = recount(session, run_id)
        if run.status == "pending":
            counts = {**counts, "queued": 0, "error": run.total_tests}
        for bucket in BUCKETS:
            setattr(run, bucket, counts[bucket])
        run.status = "error"
        run.lifecycle_detail = {"message": message, "stage": stage, "category": category, "details": details or {}}
        run.completed_at = now
        run.duration_ms = int((now - (run.started_at or run.created_at)).total_seconds() * 1000)
        run.progress_at = now
        return True


def touch_progress(run_id: str) -> None:
    with session_scope() as session:
        session.execute(update(Run).where(Run.id == run_id).values(progress_at=utcnow()))


def iter_ids(rows) -> Iterator[str]:
    for row in rows:
        yield row[0]
