"""The global provider rate limit holds across three worker processes sharing one Redis."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from models.db import session_scope
from models.tables import SubCall
from tests.support import seed
from tests.support.workers import start_worker
from tests.test_engine import create_run, doc_input, extract_workflow, wait_terminal

pytestmark = pytest.mark.slow

RATE = 8.0


def test_provider_rate_limit_is_global(producer, service_env, logs_dir):
    org = seed.make_org()
    wf, file_id = extract_workflow(org)
    for _ in range(10):
        seed.add_test(org, wf, "extract-1", doc_input(file_id),
                      {"target": {"output_handle_id": "output-json-0", "path": "vendor"}, "condition": {"kind": "exists"}})
    limited = {"WFT_RATE_LIMIT_RPS": str(RATE)}
    procs = [start_worker(service_env, logs_dir, queues="wft.control,wft.tests", concurrency=2, extra_env=limited)]
    procs += [start_worker(service_env, logs_dir, queues="wft.calls", pool="threads", concurrency=4,
                           name=f"calls{i}", extra_env=limited) for i in range(3)]
    try:
        run = wait_terminal(create_run(producer, org, wf, n_consensus=3), timeout=120)
    finally:
        for p in procs:
            p.stop()
    assert run.status == "completed" and run.passed == 10
    with session_scope() as s:
        calls = list(s.scalars(select(SubCall).where(SubCall.run_id == run.id)))
    assert len(calls) == 30
    assert len({c.worker for c in calls}) >= 2, "calls were spread over several worker processes"
    starts = sorted(c.started_at.timestamp() for c in calls)
    # In any one-second window at most RATE calls start (+1 for a slot on the window's edge).
    busiest = max(sum(1 for t in starts if t0 <= t < t0 + 1.0) for t0 in starts)
    assert busiest <= RATE + 1, busiest
    achieved = (len(starts) - 1) / (starts[-1] - starts[0])
    assert achieved <= RATE * 1.05, achieved
