"""wft's own Prometheus metrics, scraped from real workers: a prefork pool (children count in
their own processes, summed through multiprocess mode) and a threads pool."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support import seed
from tests.support.procs import wait_for
from tests.support.services import free_port
from tests.support.workers import start_preset_worker, start_worker

pytestmark = pytest.mark.slow

DOC = b"INVOICE\nVendor: Acme Inc\nTotal: 12.50\n"
SCHEMA = {"type": "object", "properties": {"vendor": {"type": "string"}}}
DOUBLE = "def main(inputs):\n    return {'double': inputs['input-json-0'] * 2}\n"


def scrape(port: int) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} from a worker's /metrics."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def test_workers_serve_their_metrics_prefork_children_included(producer, org, service_env, logs_dir):
    from api_adapter.adapter import create_and_enqueue_run
    from models.db import session_scope
    from models.tables import Run

    wf = seed.make_workflow(org)
    seed.put_block(wf, "fn", "function", seed.function_block(DOUBLE))
    seed.put_block(wf, "x", "extract", {"json_schema": SCHEMA, "n_consensus": 3})
    file_id = seed.add_file(org, "doc.txt", DOC)
    for value in (1, 2, 3):
        seed.add_test(org, wf, "fn", {"input-json-0": seed.json_input(value)},
                      {"target": {"output_handle_id": "output-json-0", "path": "double"},
                       "condition": {"kind": "equals", "expected": value * 2}})
    seed.add_test(org, wf, "x", {"input-file-document": seed.file_input(file_id)},
                  {"target": {"output_handle_id": "output-json-0", "path": "vendor"},
                   "condition": {"kind": "equals", "expected": "Acme Inc"}})

    # The session's Redis still holds messages other modules left for workers they never started
    # (API tests create runs without workers). They would run here and count in these workers'
    # metrics, so the queues start empty; nothing else runs while this test does.
    producer.control.purge()
    tests_port, calls_port = free_port(), free_port()
    workers = [start_worker(service_env, logs_dir, queues="wft.control", concurrency=1)]
    try:
        workers.append(start_preset_worker(service_env, logs_dir, "tests", {"WFT_METRICS_PORT": str(tests_port)}))
        workers.append(start_preset_worker(service_env, logs_dir, "calls", {"WFT_METRICS_PORT": str(calls_port)}))
        run_id = create_and_enqueue_run(organization_id=org, workflow_id=wf, celery_app=producer).id

        def finished() -> Run | None:
            with session_scope() as s:
                run = s.get(Run, run_id)
                return run if run.status == "completed" else None

        run = wait_for(finished, 90, interval=0.2, what=f"run {run_id} to complete")
        assert run.passed == 4

        # The prefork tests worker: function calls ran in its children, and every test finished
        # there (the consensus test in its reconcile task).
        tests_metrics = scrape(tests_port)
        assert tests_metrics[("wft_block_call_seconds_count", (("block_type", "function"), ("outcome", "ok")))] == 3
        assert tests_metrics[("wft_test_transitions_total", (("event", "test_finished"),))] == 4
        # The threads calls worker: the three consensus sub-calls.
        calls_metrics = scrape(calls_port)
        assert calls_metrics[("wft_block_call_seconds_count", (("block_type", "extract"), ("outcome", "ok")))] == 3
        assert calls_metrics[("wft_test_transitions_total", (("event", "block_call_done"),))] == 3
    finally:
        for worker in workers:
            worker.stop()
