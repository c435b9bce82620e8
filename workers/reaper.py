"""The safety net (beat, on ``wft.control``). It reads only PostgreSQL, so it works when Redis
lost everything: queues, unacked messages and chord state (SPEC §3 property 7).

- a run still ``pending`` past ``wft_pending_timeout_s`` gets its fan-out re-sent;
- a run past its ``deadline_at`` ends ``error`` (unfinished results end ``error``);
- a ``running`` run silent for ``wft_stall_timeout_s`` (no transition at all) gets its stuck
  tests re-sent — queued ones, and running ones whose claim lease expired — and is finalized
  when nothing is left unfinished (its chord callback was lost).
Every re-send is a plain ``run_test``: its guarded claim makes duplicates harmless, and its
``attempts`` bound ends poison tests as ``error``.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import or_, select, update

from models.db import session_scope
from models.settings import get_settings
from models.tables import Result, Run
from workers import state

log = logging.getLogger("wft.reaper")

BATCH = 500


def _send(name: str, args: list[str]) -> None:
    from workers.app import app

    app.send_task(name, args=args)


def reap_once() -> dict[str, int]:
    s = get_settings()
    now = state.utcnow()
    actions = {"fan_out_resent": 0, "deadline_errors": 0, "tests_resent": 0, "finalized": 0}

    with session_scope() as session:
        overdue = list(session.scalars(
            select(Run.id).where(Run.status.in_(("pending", "running")), Run.deadline_at < now).limit(BATCH)))
    for run_id in overdue:
        if state.fail_run(run_id, "run deadline exceeded", stage="execution", category="deadline_exceeded",
                          details={"deadline_s": s.wft_run_deadline_s}):
            actions["deadline_errors"] += 1

    with session_scope() as session:
        stale_pending = list(session.scalars(
            select(Run.id).where(Run.status == "pending",
                                 Run.progress_at < now - timedelta(seconds=s.wft_pending_timeout_s)).limit(BATCH)))
        session.execute(update(Run).where(Run.id.in_(stale_pending), Run.status == "pending").values(progress_at=now))
    for run_id in stale_pending:
        _send("wft.fan_out_run", [run_id])
        actions["fan_out_resent"] += 1

    with session_scope() as session:
        stalled = session.execute(
            select(Run.id, Run.dispatched_at).where(
                Run.status == "running", Run.progress_at < now - timedelta(seconds=s.wft_stall_timeout_s)
            ).limit(BATCH)
        ).all()
    for run_id, dispatched_at in stalled:
        if dispatched_at is None:
            state.touch_progress(run_id)
            _send("wft.fan_out_run", [run_id])
            actions["fan_out_resent"] += 1
            continue
        if state.finalize_run(run_id) != "running":
            actions["finalized"] += 1
            continue
        with session_scope() as session:
            stuck = list(session.scalars(
                select(Result.test_id).where(
                    Result.run_id == run_id,
                    or_(Result.status == "pending",
                        (Result.status == "running") & (Result.lease_expires_at < now)),
                )
            ))
        state.touch_progress(run_id)
        for test_id in stuck:
            _send("wft.run_test", [run_id, test_id])
        actions["tests_resent"] += len(stuck)
    return actions
