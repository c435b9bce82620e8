"""The run engine end to end: real celery workers, real Redis, real PostgreSQL, no eager mode."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from models.db import session_scope
from models.tables import Result, Run, SubCall
from tests.support import seed
from tests.support.procs import wait_for
from tests.support.workers import start_worker

pytestmark = pytest.mark.slow

INVOICE = (
    "INVOICE\n"
    "Vendor: Acme Inc\n"
    "Invoice number: INV-001\n"
    "Total: 1,234.56\n"
    "Paid: yes\n"
)
SCHEMA = {
    "type": "object",
    "properties": {
        "vendor": {"type": "string"},
        "invoice_number": {"type": "string"},
        "total": {"type": "number"},
        "paid": {"type": "boolean"},
    },
}


@pytest.fixture(scope="module")
def pool(service_env, logs_dir):
    """One worker per queue, shaped like the presets."""
    procs = [
        start_worker(service_env, logs_dir, queues="wft.control", concurrency=1),
        start_worker(service_env, logs_dir, queues="wft.tests", concurrency=2),
        start_worker(service_env, logs_dir, queues="wft.calls", pool="threads", concurrency=8),
    ]
    yield procs
    for p in procs:
        p.stop()


def create_run(producer, org: str, workflow_id: str, **kwargs) -> str:
    from api_adapter.adapter import create_and_enqueue_run

    return create_and_enqueue_run(organization_id=org, workflow_id=workflow_id, celery_app=producer, **kwargs).id


def get_run(run_id: str) -> Run:
    with session_scope() as s:
        return s.get(Run, run_id)


def assert_counts_consistent(run: Run) -> None:
    assert sum(run.counts().values()) == run.total_tests, run.counts()


def wait_terminal(run_id: str, timeout: float = 90) -> Run:
    def done():
        run = get_run(run_id)
        assert_counts_consistent(run)
        return run if run.status in ("completed", "error", "cancelled") else None

    return wait_for(done, timeout, interval=0.2, what=f"run {run_id} to end")


def results(run_id: str) -> dict[str, Result]:
    with session_scope() as s:
        return {r.test_id: r for r in s.scalars(select(Result).where(Result.run_id == run_id))}


def extract_workflow(org: str, n_consensus: int | None = None, latency_ms: int = 0) -> tuple[str, str]:
    wf = seed.make_workflow(org)
    config = {"json_schema": SCHEMA, "sim_latency_ms": latency_ms}
    if n_consensus:
        config["n_consensus"] = n_consensus
    seed.put_block(wf, "extract-1", "extract", config)
    file_id = seed.add_file(org, "invoice.txt", INVOICE.encode())
    return wf, file_id


def doc_input(file_id: str) -> dict:
    return {"input-file-document": seed.file_input(file_id)}


def test_single_test_block_target_and_whole_workflow(producer, org, pool):
    wf, file_id = extract_workflow(org)
    seed.put_block(wf, "fn-1", "function", seed.function_block(
        "def main(inputs):\n    return {'double': inputs['input-json-0']['x'] * 2}\n"))
    t_pass = seed.add_test(org, wf, "extract-1", doc_input(file_id),
                           {"target": {"output_handle_id": "output-json-0", "path": "vendor"},
                            "condition": {"kind": "equals", "expected": "Acme Inc"}})
    t_fail = seed.add_test(org, wf, "extract-1", doc_input(file_id),
                           {"target": {"output_handle_id": "output-json-0", "path": "total"},
                            "condition": {"kind": "number_compare", "op": "gt", "expected": 5000}})
    t_fn = seed.add_test(org, wf, "fn-1", {"input-json-0": seed.json_input({"x": 21})},
                         {"target": {"output_handle_id": "output-json-0", "path": "double"},
                          "condition": {"kind": "equals", "expected": 42}})

    single = wait_terminal(create_run(producer, org, wf, test_id=t_pass))
    assert single.status == "completed" and single.total_tests == 1 and single.passed == 1
    assert single.target_block_id == "extract-1"

    block = wait_terminal(create_run(producer, org, wf, target_block_id="extract-1"))
    assert (block.total_tests, block.passed, block.failed) == (2, 1, 1)
    got = results(block.id)
    assert set(got) == {t_pass, t_fail}
    assert got[t_pass].outputs["output-json-0"]["total"] == pytest.approx(1234.56)
    assert got[t_fail].assertion_result["status"] == "failed"

    whole = wait_terminal(create_run(producer, org, wf))
    assert (whole.total_tests, whole.passed, whole.failed, whole.error) == (3, 2, 1, 0)
    fn = results(whole.id)[t_fn]
    assert fn.status == "completed" and fn.verdict == "passed" and fn.outputs["output-json-0"] == {"double": 42}
    assert whole.started_at and whole.completed_at and whole.duration_ms is not None
    assert all(r.execution_fingerprint and r.block_config_fingerprint for r in results(whole.id).values())


@pytest.mark.parametrize("n", [3, 5, 7])
def test_consensus_sub_calls_run_in_parallel(producer, org, pool, n):
    wf, file_id = extract_workflow(org, latency_ms=400)
    test_id = seed.add_test(org, wf, "extract-1", doc_input(file_id),
                            {"target": {"output_handle_id": "likelihoods-json-0", "path": "vendor"},
                             "condition": {"kind": "number_compare", "op": "gte", "expected": 0.8}})
    run = wait_terminal(create_run(producer, org, wf, n_consensus=n))
    assert run.status == "completed" and run.passed == 1, results(run.id)[test_id].error_message
    result = results(run.id)[test_id]
    assert result.n_consensus == n
    assert len(result.consensus["choices"]) == n
    with session_scope() as s:
        calls = list(s.scalars(select(SubCall).where(SubCall.run_id == run.id)))
    assert sorted(c.idx for c in calls) == list(range(n)) and all(c.ok for c in calls)
    # Overlap: some sub-call started before another one ended, i.e. they were not serialized.
    latest_start = max(c.started_at for c in calls)
    earliest_end = min(c.ended_at for c in calls)
    assert latest_start < earliest_end, [(c.idx, c.started_at, c.ended_at) for c in calls]
    assert len({c.worker for c in calls}) >= 1


def test_live_counts_and_cancel_mid_run(producer, org, pool):
    wf, file_id = extract_workflow(org, latency_ms=300)
    for _ in range(12):
        seed.add_test(org, wf, "extract-1", doc_input(file_id),
                      {"target": {"output_handle_id": "output-json-0", "path": "vendor"}, "condition": {"kind": "exists"}})
    run_id = create_run(producer, org, wf, n_consensus=3)

    def some_progress():
        run = get_run(run_id)
        assert_counts_consistent(run)
        return run.running > 0 and (run.passed + run.failed) >= 2

    wait_for(some_progress, 60, interval=0.05, what="a run with tests running and some finished")
    from api_adapter.adapter import cancel_run
    with session_scope() as s:
        cancelled = cancel_run(s, organization_id=org, run_id=run_id)
        assert cancelled.status == "cancelled"
    cancel_answered = datetime.now(timezone.utc)
    run = get_run(run_id)
    assert run.status == "cancelled" and run.cancelled > 0 and run.queued == 0 and run.running == 0
    assert_counts_consistent(run)

    # In-flight calls may finish; none may start after the cancel answered, and nothing moves.
    def drained():
        with session_scope() as s:
            return s.scalar(select(func.count()).select_from(Result).where(
                Result.run_id == run_id, Result.status.in_(("pending", "running")))) == 0
    wait_for(drained, 10, what="no unfinished results")
    with session_scope() as s:
        late = s.scalars(select(SubCall).where(SubCall.run_id == run_id, SubCall.started_at > cancel_answered)).all()
    assert late == []
    final = get_run(run_id)
    assert final.status == "cancelled" and final.counts() == run.counts()


