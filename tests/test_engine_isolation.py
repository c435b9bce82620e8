"""Engine behaviours that need control over which workers run: snapshot isolation (no worker
until the draft was edited), duplicate delivery, and provider failures. No shared worker pool
runs in this module."""

from __future__ import annotations

import json

import pytest
import redis

from models.db import session_scope
from tests.support import seed
from tests.support.procs import wait_for
from tests.support.workers import start_worker
from tests.test_engine import SCHEMA, create_run, doc_input, extract_workflow, get_run, results, wait_terminal

pytestmark = pytest.mark.slow


def test_snapshot_isolation(producer, org, service_env, logs_dir):
    wf, file_id = extract_workflow(org)
    kept = seed.add_test(org, wf, "extract-1", doc_input(file_id),
                         {"target": {"output_handle_id": "output-json-0", "path": "paid"},
                          "condition": {"kind": "exists"}})
    deleted = seed.add_test(org, wf, "extract-1", doc_input(file_id),
                            {"target": {"output_handle_id": "output-json-0", "path": "vendor"},
                             "condition": {"kind": "exists"}})
    run_id = create_run(producer, org, wf)  # no worker is running yet
    pinned_version = get_run(run_id).version_id

    # Edit the draft after the create call committed: a schema without `paid`, one test gone, one new.
    seed.put_block(wf, "extract-1", "extract", {"json_schema": {"type": "object", "properties": {"vendor": {"type": "string"}}}})
    seed.delete_test(wf, deleted)
    added = seed.add_test(org, wf, "extract-1", doc_input(file_id),
                          {"target": {"output_handle_id": "output-json-0", "path": "vendor"}, "condition": {"kind": "exists"}})

    procs = [start_worker(service_env, logs_dir, queues="wft.control,wft.tests,wft.calls", pool="threads", concurrency=4)]
    try:
        run = wait_terminal(run_id)
    finally:
        for p in procs:
            p.stop()
    got = results(run_id)
    assert set(got) == {kept, deleted} and added not in got
    assert run.total_tests == 2 and run.passed == 2
    assert "paid" in got[kept].outputs["output-json-0"]  # the old schema ran
    assert run.version_id == pinned_version
    fresh = get_run(create_run(producer, org, wf))
    assert fresh.version_id != pinned_version  # the edited draft is different content
    from api_adapter.adapter import cancel_run
    with session_scope() as s:
        cancel_run(s, organization_id=org, run_id=fresh.id)


def test_duplicate_delivery_executes_once(producer, org, service_env, logs_dir, redis_server):
    wf, file_id = extract_workflow(org, latency_ms=500)
    test_id = seed.add_test(org, wf, "extract-1", doc_input(file_id),
                            {"target": {"output_handle_id": "output-json-0", "path": "vendor"}, "condition": {"kind": "exists"}})
    control = start_worker(service_env, logs_dir, queues="wft.control", concurrency=1)
    r = redis.Redis.from_url(redis_server.url)
    try:
        run_id = create_run(producer, org, wf, test_id=test_id)
        wait_for(lambda: r.llen("wft.tests") >= 1, 30, what="the run_test message to be queued")
        message = r.lindex("wft.tests", 0)
        r.lpush("wft.tests", message)  # the very same message, delivered twice
        tests = start_worker(service_env, logs_dir, queues="wft.tests", concurrency=2)
        try:
            run = wait_terminal(run_id)
            assert run.status == "completed" and run.passed == 1 and run.total_tests == 1
            wait_for(lambda: r.llen("wft.tests") == 0 and "test_skipped" in tests.log_text(), 60,
                     what="the duplicate to be consumed")
            runs_of_test = [json.loads(line[line.index("{"):])
                            for line in tests.log_text().splitlines() if '"event": "test_running"' in line]
            assert [e["test_id"] for e in runs_of_test] == [test_id]
            assert results(run_id)[test_id].attempts == 1
            assert get_run(run_id).counts() == run.counts()
        finally:
            tests.stop()
    finally:
        control.stop()


def test_block_call_failing_every_retry_ends_error(producer, org, service_env, logs_dir):
    from tests.support.services import free_port

    wf, file_id = extract_workflow(org)
    seed.put_block(wf, "extract-1", "extract", {"json_schema": SCHEMA, "provider": "openai"})
    test_id = seed.add_test(org, wf, "extract-1", doc_input(file_id),
                            {"target": {"output_handle_id": "output-json-0", "path": "vendor"}, "condition": {"kind": "exists"}})
    dead = {"OPENAI_BASE_URL": f"http://127.0.0.1:{free_port()}/v1", "OPENAI_API_KEY": "x",
            "OPENAI_MAX_RETRIES": "1", "OPENAI_TIMEOUT_S": "2", "WFT_BLOCK_CALL_RETRIES": "1"}
    procs = [start_worker(service_env, logs_dir, queues="wft.control,wft.tests", concurrency=2, extra_env=dead),
             start_worker(service_env, logs_dir, queues="wft.calls", pool="threads", concurrency=4, extra_env=dead)]
    try:
        run = wait_terminal(create_run(producer, org, wf, n_consensus=3), timeout=120)
    finally:
        for p in procs:
            p.stop()
    assert run.status == "completed" and run.error == 1
    result = results(run.id)[test_id]
    assert result.status == "error" and result.error_message
    assert len(result.warnings) == 3
