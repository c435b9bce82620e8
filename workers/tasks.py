"""The Celery tasks. Thin: each loads ids from its JSON payload, calls ``workers.state`` (guarded
transitions) and ``workers.execute`` (the work), and returns a tiny status for the chord.

Canvas (SPEC §3)::

    fan_out_run ─► chord([run_test(run, test) …], finalize_run(run))           (errback: finalize_run_on_error)
    run_test    ─► n == 1: call + assert inline
                   n  > 1: replace itself with chord([block_call(…, i) …], reconcile_and_assert(…))
"""

from __future__ import annotations

import logging
import os
import random
import socket
from datetime import datetime, timezone
from typing import Any

from celery import chord
from celery.exceptions import Ignore, Retry, SoftTimeLimitExceeded
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import InterfaceError, OperationalError

from models.db import autocommit
from models.settings import get_settings
from models.tables import SubCall
from workers import state
from workers.app import app
from workers.blocks.base import BlockError, TransientBlockError
from workers.blocks.providers.base import ProviderError
from workers.execute import ContextError, assert_outputs, build_context, error_outcome, load_current_context
from workers.observability import log_event, observe_block_call
from workers.ratelimit import acquire_provider_slot

log = logging.getLogger("wft.tasks")

# Infrastructure faults (a killed PostgreSQL backend, a broker blip) are retried by Celery;
# everything about the test itself is data, written to the result row.
INFRA_ERRORS = (OperationalError, InterfaceError, RedisConnectionError, ConnectionError)
_INFRA_RETRY = dict(autoretry_for=INFRA_ERRORS, retry_backoff=1, retry_backoff_max=30, retry_jitter=True, max_retries=8)

_settings = get_settings()


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class FanOutTask(app.Task):
    """A fan-out that fails for good (past its retries, or a bug) ends its run ``error``: the run
    itself could not execute, and waiting for the reaper would only repeat the failure."""

    def on_failure(self, exc, task_id, args, kwargs, einfo):  # noqa: D401 - Celery hook
        run_id = args[0] if args else kwargs.get("run_id")
        if run_id:
            state.fail_run(run_id, f"fan-out failed: {type(exc).__name__}: {exc}", stage="fan_out",
                           category="internal_error")
            log_event("run_error", run_id=run_id, message=str(exc))


@app.task(name="wft.fan_out_run", bind=True, base=FanOutTask, **_INFRA_RETRY)
def fan_out_run(self, run_id: str) -> dict[str, Any]:
    try:
        fan = state.start_run(run_id)
    except state.SnapshotError as exc:
        state.fail_run(run_id, str(exc), stage="snapshot", category="workflow_deleted")
        log_event("run_error", run_id=run_id, message=str(exc))
        return {"status": "error"}
    if fan is None:
        return {"status": "skipped"}
    log_event("run_started", run_id=run_id, tests=len(fan.test_ids))
    if not fan.test_ids:
        state.finalize_run(run_id)
        return {"status": "finalized"}
    body = finalize_run.si(run_id)
    body.link_error(finalize_run_on_error.s(run_id=run_id))
    # Dispatched from inside a worker: a non-worker producer would hold one pub/sub
    # subscription per header task (SPEC §3 property 9).
    chord([run_test.si(run_id, test_id) for test_id in fan.test_ids], body).apply_async()
    state.mark_dispatched(run_id)
    log_event("run_dispatched", run_id=run_id, tests=len(fan.test_ids))
    return {"status": "dispatched", "tests": len(fan.test_ids)}


@app.task(name="wft.run_test", bind=True, soft_time_limit=_settings.wft_run_test_soft_limit_s, **_INFRA_RETRY)
def run_test(self, run_id: str, test_id: str) -> dict[str, Any]:
    claim = state.claim_result(run_id, test_id, lease_s=_settings.wft_test_lease_s,
                               max_attempts=_settings.wft_max_attempts)
    if isinstance(claim, state.Busy):
        # Another delivery of this message holds a live claim. Come back when its lease ends:
        # either it finished (we then skip) or its worker died (we take over).
        log_event("claim_busy", run_id=run_id, test_id=test_id, retry_in=round(claim.retry_in, 1))
        raise self.retry(countdown=claim.retry_in + random.uniform(0.5, 1.5), max_retries=100, exc=None)
    if isinstance(claim, state.Skip):
        log_event("test_skipped", run_id=run_id, test_id=test_id, reason=claim.reason, status=claim.status)
        return {"status": claim.status or claim.reason}
    attempt = claim.attempt
    log_event("test_running", run_id=run_id, test_id=test_id, attempt=attempt)

    ctx = None
    try:
        ctx = build_context(run_id, test_id, claim.context_row)
        if ctx.n_consensus > 1:
            log_event("consensus_dispatched", run_id=run_id, test_id=test_id, attempt=attempt, n=ctx.n_consensus)
            raise self.replace(chord(
                [block_call.si(run_id, test_id, attempt, i) for i in range(ctx.n_consensus)],
                reconcile_and_assert.s(run_id, test_id, attempt),
            ))
        outcome = _single_call(ctx, attempt)
    except ClaimLost:
        log_event("test_skipped", run_id=run_id, test_id=test_id, reason="claim_lost")
        return {"status": "stale"}
    except ContextError as exc:
        outcome = error_outcome(ctx, str(exc))
    except SoftTimeLimitExceeded:
        outcome = error_outcome(ctx, f"test exceeded its {_settings.wft_run_test_soft_limit_s} s time limit")
    except (Retry, Ignore, *INFRA_ERRORS):
        raise  # replace() raises Ignore; infrastructure faults are retried by Celery
    except Exception as exc:  # noqa: BLE001 - a bug in one block must not loop through redeliveries
        log.exception("run_test %s/%s failed", run_id, test_id)
        outcome = error_outcome(ctx, f"internal error: {type(exc).__name__}: {exc}")
    return _finish(run_id, test_id, attempt, outcome)


def _single_call(ctx, attempt: int) -> state.Outcome:
    from workers.blocks.registry import get_executor

    errors: list[str] = []
    try:
        executor = get_executor(ctx.block.type)
        for retry in range(_settings.wft_block_call_retries + 1):
            try:
                choice, _ = _call_provider(executor, ctx.call_context(0),
                                           lambda: state.claim_is_current(ctx.run_id, ctx.test_id, attempt))
                break
            except TransientBlockError as exc:
                errors.append(str(exc))
                if retry == _settings.wft_block_call_retries:
                    raise BlockError(f"block call failed after {retry + 1} tries: {exc}") from exc
        output = executor.assemble(ctx.call_context(0), [choice], [])
    except (BlockError, ProviderError) as exc:
        return error_outcome(ctx, str(exc), warnings=errors)
    return assert_outputs(ctx, output)


class ClaimLost(Exception):
    """The run was cancelled (or the test taken over) while this call waited for a rate-limit slot."""


def _call_provider(executor, call_ctx, still_current=None) -> tuple[Any, datetime]:
    """One executor call behind the global provider rate limit. Returns the choice and the moment
    the call itself started (after any wait for a rate-limit slot, after which the claim is checked
    again: no model call may start after a cancel)."""
    if executor.block_type != "function":
        waited = acquire_provider_slot()
        if waited > 0 and still_current is not None and not still_current():
            raise ClaimLost()
    started = datetime.now(timezone.utc)
    with observe_block_call(executor.block_type):
        return executor.call(call_ctx), started


def _finish(run_id: str, test_id: str, attempt: int, outcome: state.Outcome) -> dict[str, Any]:
    written = state.finish_result(run_id, test_id, attempt, outcome)
    bucket = outcome.verdict if outcome.status == "completed" else outcome.status
    log_event("test_finished" if written else "test_result_discarded", run_id=run_id, test_id=test_id,
              attempt=attempt, bucket=bucket, error=outcome.error_message)
    return {"status": bucket if written else "stale"}


@app.task(name="wft.block_call", bind=True, soft_time_limit=_settings.wft_block_call_soft_limit_s,
          max_retries=_settings.wft_block_call_retries)
def block_call(self, run_id: str, test_id: str, attempt: int, idx: int) -> dict[str, Any]:
    """One consensus sub-call. Never raises once its retries are spent: an exception escaping a
    header task of the inner chord would leave the outer chord hanging silently (measured), so
    every failure is recorded and returned as data for ``reconcile_and_assert``."""
    from workers.blocks.registry import get_executor

    started = datetime.now(timezone.utc)
    try:
        current = load_current_context(run_id, test_id, attempt)
        if current is None:
            # Cancelled, or a later attempt took over: no model call may start now.
            log_event("block_call_skipped", run_id=run_id, test_id=test_id, attempt=attempt, idx=idx)
            return {"idx": idx, "ok": False, "skipped": True}
        ctx, _ = current
        started = datetime.now(timezone.utc)
        executor = get_executor(ctx.block.type)
        try:
            choice, started = _call_provider(executor, ctx.call_context(idx),
                                             lambda: state.claim_is_current(run_id, test_id, attempt))
        except TransientBlockError as exc:
            if self.request.retries < self.max_retries:
                raise self.retry(countdown=min(2 ** self.request.retries, 10) * random.uniform(0.5, 1.0), exc=exc)
            raise BlockError(f"failed after {self.request.retries + 1} tries: {exc}") from exc
        _record_sub_call(run_id, test_id, attempt, idx, True, choice, None, started)
        log_event("block_call_done", run_id=run_id, test_id=test_id, attempt=attempt, idx=idx, ok=True)
        return {"idx": idx, "ok": True}
    except Retry:
        raise
    except ClaimLost:
        log_event("block_call_skipped", run_id=run_id, test_id=test_id, attempt=attempt, idx=idx)
        return {"idx": idx, "ok": False, "skipped": True}
    except SoftTimeLimitExceeded:
        message = f"sub-call exceeded its {_settings.wft_block_call_soft_limit_s} s time limit"
    except (BlockError, ContextError, ProviderError) as exc:
        # ProviderError arrives after the provider's own backoff retries: final for this sub-call.
        message = str(exc)
    except Exception as exc:  # noqa: BLE001 - see the docstring: nothing may escape
        log.exception("block_call %s/%s#%s failed", run_id, test_id, idx)
        message = f"{type(exc).__name__}: {exc}"
    try:
        _record_sub_call(run_id, test_id, attempt, idx, False, None, message, started)
    except Exception:  # noqa: BLE001 - reconcile treats a missing row as a failed sub-call
        log.exception("could not record failed sub-call %s/%s#%s", run_id, test_id, idx)
    log_event("block_call_done", run_id=run_id, test_id=test_id, attempt=attempt, idx=idx, ok=False, error=message)
    return {"idx": idx, "ok": False}


def _record_sub_call(run_id: str, test_id: str, attempt: int, idx: int, ok: bool, choice: Any,
                     error: str | None, started: datetime) -> None:
    values = dict(run_id=run_id, test_id=test_id, attempt=attempt, idx=idx, ok=ok, choice=choice,
                  error_message=error, started_at=started, ended_at=datetime.now(timezone.utc), worker=_worker_name())
    with autocommit() as conn:
        stmt = insert(SubCall).values(**values)
        conn.execute(stmt.on_conflict_do_update(
            index_elements=["run_id", "test_id", "attempt", "idx"],
            set_={k: stmt.excluded[k] for k in ("ok", "choice", "error_message", "started_at", "ended_at", "worker")},
        ))


@app.task(name="wft.reconcile_and_assert", bind=True, soft_time_limit=_settings.wft_run_test_soft_limit_s, **_INFRA_RETRY)
def reconcile_and_assert(self, call_statuses: list[Any], run_id: str, test_id: str, attempt: int) -> dict[str, Any]:
    from workers.blocks.registry import get_executor

    ctx = None
    try:
        current = load_current_context(run_id, test_id, attempt, with_sub_calls=True)
        if current is None:
            return {"status": "stale"}
        ctx, recorded = current
        rows = {idx: (ok, choice, error) for idx, ok, choice, error in recorded}
        choices: list[Any] = []
        errors: list[str] = []
        for i in range(ctx.n_consensus):
            ok, choice, error = rows.get(i, (False, None, "no result recorded"))
            if ok:
                choices.append(choice)
            else:
                choices.append(None)
                errors.append(f"sub-call {i + 1}/{ctx.n_consensus} failed: {error}")
        try:
            output = get_executor(ctx.block.type).assemble(ctx.call_context(0), choices, errors)
            outcome = assert_outputs(ctx, output)
        except BlockError as exc:
            outcome = error_outcome(ctx, str(exc), warnings=errors)
    except ContextError as exc:
        outcome = error_outcome(ctx, str(exc))
    except INFRA_ERRORS:
        raise
    except Exception as exc:  # noqa: BLE001 - an escaping exception would leave the outer chord hanging
        log.exception("reconcile_and_assert %s/%s failed", run_id, test_id)
        outcome = error_outcome(ctx, f"internal error: {type(exc).__name__}: {exc}")
    return _finish(run_id, test_id, attempt, outcome)


@app.task(name="wft.finalize_run", bind=True, **_INFRA_RETRY)
def finalize_run(self, run_id: str) -> dict[str, Any]:
    status = state.finalize_run(run_id)
    log_event("run_finalized", run_id=run_id, status=status)
    return {"status": status}


@app.task(name="wft.finalize_run_on_error", bind=True, **_INFRA_RETRY)
def finalize_run_on_error(self, request, exc, traceback, run_id: str) -> dict[str, Any]:
    """The chord's error callback: a header task raised (an infrastructure fault past its retries).
    Finalize from the database as usual; tests still unfinished are the reaper's job."""
    log_event("chord_error", run_id=run_id, error=repr(exc))
    status = state.finalize_run(run_id)
    return {"status": status}


@app.task(name="wft.reap", bind=True, ignore_result=True)
def reap(self) -> dict[str, int]:
    from workers.reaper import reap_once

    actions = reap_once()
    if any(actions.values()):
        log_event("reaper", **actions)
    return actions
