"""Every state change of runs and results, as guarded transitions.

Each function is one transaction. Result transitions lock the run row first (cancel does the
same), so the counts move under one lock order, never deadlock, and always sum to
``total_tests``. A transition whose guard no longer holds (a redelivered message, a cancelled
run, a claim taken over after a lost worker) changes nothing and says so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterator

from sqlalchemy import bindparam, func, insert, literal, select, text, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from models import ids
from models.counts import recount
from models.db import autocommit, session_scope
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
    context_row: Any = None  # what execute.build_context needs, read in the claim's own statement


@dataclass(frozen=True)
class Skip:
    reason: str  # run_not_running | terminal | gave_up | unknown
    status: str | None = None


@dataclass(frozen=True)
class Busy:
    """Another delivery holds a live claim; retry after ``retry_in`` seconds."""

    retry_in: float


# The hot path (claim and finish, once per test) is one round trip each: a data-modifying CTE
# that locks the run row first (the lock order cancel uses too), moves the result and its count
# together, and reports what it found. The ORM versions cost ~24 round trips per test.
_CLAIM = text("""
WITH run AS (SELECT id, status FROM runs WHERE id = :run_id FOR UPDATE),
cur AS (SELECT id, status, attempts, lease_expires_at FROM results
        WHERE run_id = :run_id AND test_id = :test_id FOR UPDATE),
claimed AS (
    UPDATE results SET status = 'running', attempts = results.attempts + 1,
           started_at = coalesce(results.started_at, now()),
           lease_expires_at = now() + make_interval(secs => :lease_s)
    FROM cur, run
    WHERE results.id = cur.id AND run.status = 'running' AND cur.attempts < :max_attempts
      AND (cur.status = 'pending' OR (cur.status = 'running' AND cur.lease_expires_at < now()))
    RETURNING results.attempts, cur.status AS previous
),
moved AS (
    UPDATE runs SET queued = queued - 1, running = running + 1, progress_at = now()
    WHERE id = :run_id AND EXISTS (SELECT 1 FROM claimed WHERE previous = 'pending')
    RETURNING 1
)
SELECT run.status AS run_status, cur.status, cur.attempts,
       extract(epoch FROM cur.lease_expires_at - now()) AS lease_left,
       (SELECT attempts FROM claimed) AS claimed_attempt,
       (SELECT count(*) FROM moved) AS moved,
       -- the test's frozen context, so the task needs no second query (see execute.build_context)
       r.organization_id, r.workflow_id, r.version_id, r.n_consensus, res.target_block_id, tr.source, tr.assertion
FROM run LEFT JOIN cur ON true
LEFT JOIN runs r ON r.id = run.id
LEFT JOIN results res ON res.id = cur.id
LEFT JOIN test_revisions tr ON tr.id = res.test_id AND tr.created_seq = res.test_seq
""")


def claim_result(run_id: str, test_id: str, *, lease_s: int, max_attempts: int) -> Claim | Skip | Busy:
    """``queued → running`` (or a takeover of an expired claim), bounded by ``max_attempts``:
    past it the test ends ``error`` so a poison test cannot loop through redeliveries."""
    with autocommit() as conn:
        row = conn.execute(_CLAIM, {"run_id": run_id, "test_id": test_id, "lease_s": lease_s,
                                    "max_attempts": max_attempts}).first()
    with session_scope() as session:
        if row is None or row.status is None:
            return Skip("unknown")
        if row.claimed_attempt is not None:
            return Claim(row.claimed_attempt, row)
        if row.run_status != "running":
            return Skip("run_not_running", row.run_status)
        if row.status not in ("pending", "running"):
            return Skip("terminal", row.status)
        if row.status == "running" and row.lease_left is not None and row.lease_left > 0:
            return Busy(float(row.lease_left))
        # attempts exhausted: end the test as error (rare; the ORM path is fine here)
        run = _lock_run(session, run_id)
        result = session.scalars(
            select(Result).where(Result.run_id == run_id, Result.test_id == test_id).with_for_update()).first()
        before = result.bucket
        result.status = "error"
        result.error_message = f"gave up after {result.attempts} attempts (the test's worker was lost each time)"
        result.completed_at = utcnow()
        result.lease_expires_at = None
        _move(run, before, "error")
        return Skip("gave_up", "error")


def claim_is_current(run_id: str, test_id: str, attempt: int) -> bool:
    """Cheap check before starting work (consensus sub-calls): is this claim still the live one?"""
    with autocommit() as conn:
        row = conn.execute(
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


_RESULT_JSON = ("outputs", "routing_decision", "warnings", "assertion_result", "verdict_summary", "consensus")
_FINISH_SQL = """
WITH run AS (SELECT id FROM runs WHERE id = :run_id AND status = 'running' FOR UPDATE),
done AS (
    UPDATE results SET status = :status, verdict = :verdict, error_message = :error_message,
           outputs = :outputs, routing_decision = :routing_decision, warnings = :warnings,
           assertion_result = :assertion_result, verdict_summary = :verdict_summary, consensus = :consensus,
           n_consensus = :n_consensus, execution_fingerprint = :execution_fingerprint,
           handle_inputs_fingerprint = :handle_inputs_fingerprint,
           workflow_draft_fingerprint = :workflow_draft_fingerprint,
           block_config_fingerprint = :block_config_fingerprint,
           completed_at = now(), lease_expires_at = NULL,
           duration_ms = (extract(epoch FROM now() - coalesce(results.started_at, now())) * 1000)::bigint
    FROM run
    WHERE results.run_id = :run_id AND results.test_id = :test_id
      AND results.status = 'running' AND results.attempts = :attempt
    RETURNING results.id
)
UPDATE runs SET running = running - 1, {bucket} = {bucket} + 1, progress_at = now()
WHERE id = :run_id AND EXISTS (SELECT 1 FROM done)
RETURNING 1
"""
_FINISH = {bucket: text(_FINISH_SQL.format(bucket=bucket)).bindparams(
    *[bindparam(name, type_=JSONB) for name in _RESULT_JSON]) for bucket in ("passed", "failed", "blocked", "error")}


def finish_result(run_id: str, test_id: str, attempt: int, outcome: Outcome) -> bool:
    """``running → terminal`` for the claim ``attempt``, with its count change, in one statement.
    Returns False (and changes nothing) when the claim is no longer current: the run was cancelled,
    or a later attempt took over."""
    bucket = bucket_of(outcome.status, outcome.verdict)
    fingerprints = {k: "" for k in ("execution_fingerprint", "handle_inputs_fingerprint",
                                    "workflow_draft_fingerprint", "block_config_fingerprint")}
    fingerprints.update(outcome.fingerprints or {})
    params = {
        "run_id": run_id, "test_id": test_id, "attempt": attempt, "status": outcome.status,
        "verdict": outcome.verdict if outcome.status == "completed" else None,
        "error_message": outcome.error_message, "outputs": outcome.outputs,
        "routing_decision": outcome.routing_decision, "warnings": outcome.warnings or [],
        "assertion_result": outcome.assertion_result, "verdict_summary": outcome.verdict_summary,
        "consensus": outcome.consensus, "n_consensus": outcome.n_consensus, **fingerprints,
    }
    with autocommit() as conn:
        return conn.execute(_FINISH[bucket], params).first() is not None


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
