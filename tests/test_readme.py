"""The README's quickstart snippet works verbatim against a real server and real workers."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from api_adapter.responses import ResultOut, RunOut
from models.db import session_scope
from models.tables import SubCall
from tests.support.procs import wait_for
from tests.support.workers import start_preset_worker, start_worker

pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_quickstart_runs(api, api_key, service_env, logs_dir, capsys):
    snippet = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
    assert '"<the key>"' in snippet and "http://127.0.0.1:8000/v1" in snippet
    code = snippet.replace('"<the key>"', repr(api_key)).replace("http://127.0.0.1:8000/v1", api.url + "/v1")
    worker = start_worker(service_env, logs_dir, queues="wft.control,wft.tests,wft.calls", pool="threads", concurrency=4)
    try:
        exec(compile(code, "README.md", "exec"), {})
    finally:
        worker.stop()
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith(" pending")
    assert out[-1].startswith("completed") and "passed=1" in out[-1]


SCALE_TESTS = 200
SCALE_FAILING = 40  # every fifth test expects the wrong vendor


def test_quickstart_at_scale_200_tests_with_five_way_consensus(api, api_key, service_env, logs_dir, tmp_path):
    """Issue 3's bar: through the SDK and the preset worker pools, a run of 200 extract tests with
    n_consensus=5 completes with exact counts (1,000 provider sub-calls reconciled)."""
    from retab import Retab
    from retab.types.workflows.tests import WorkflowTestResult

    client = Retab(api_key=api_key, base_url=api.url + "/v1")
    invoice = tmp_path / f"invoice-{secrets.token_hex(4)}.txt"
    invoice.write_text("INVOICE\nVendor: Acme Inc\nTotal: 1,234.56\n")
    client.files.upload(str(invoice))
    file_id = client.files.list(filename=invoice.name)[0].id
    wf = client.workflows.create(name="Scale workflow")
    client.workflows.blocks.create(wf.id, id="extract", type="extract", config={"json_schema": {
        "type": "object", "properties": {"vendor": {"type": "string"}, "total": {"type": "number"}}}})
    for i in range(SCALE_TESTS):
        vendor = "Someone Else" if i % 5 == 0 else "Acme Inc"
        client.workflows.tests.create(
            workflow_id=wf.id, target={"type": "block", "block_id": "extract"}, name=f"vendor {i}",
            source={"type": "manual", "handle_inputs": {"input-file-document": {"type": "file", "file_id": file_id}}},
            assertion={"target": {"output_handle_id": "output-json-0", "path": "vendor"},
                       "condition": {"kind": "equals", "expected": vendor}})

    workers = [start_preset_worker(service_env, logs_dir, preset) for preset in ("control", "tests", "calls")]
    try:
        run = client.workflows.tests.runs.create(workflow_id=wf.id, n_consensus=5)
        snapshots = []  # every polled count, so a failure shows how the run moved

        def finished():
            current = client.workflows.tests.runs.get(run.id)
            snapshots.append((current.lifecycle.status, current.total_tests, current.counts))
            return current if current.lifecycle.status in ("completed", "error", "cancelled") else None

        try:
            final = wait_for(finished, 240, interval=0.2, what=f"run {run.id} to complete")
        except TimeoutError:
            pytest.fail(f"run did not complete; last polls: {snapshots[-3:]}")
    finally:
        for worker in workers:
            worker.stop()

    assert final.lifecycle.status == "completed"
    print(f"200 tests x n_consensus=5: run took {(final.timing.completed_at - final.timing.started_at).total_seconds():.1f} s")
    counts = final.counts
    assert (counts.passed, counts.failed, counts.blocked, counts.error, counts.cancelled) == \
        (SCALE_TESTS - SCALE_FAILING, SCALE_FAILING, 0, 0, 0)
    for status, total, seen in snapshots:
        buckets = seen.queued + seen.running + seen.passed + seen.failed + seen.blocked + seen.error + seen.cancelled
        assert buckets == total == SCALE_TESTS, (status, seen)
    assert any(0 < seen.passed + seen.failed < SCALE_TESTS for _, _, seen in snapshots), "counts never moved mid-run"
    # The SDK's results.list takes only a limit (≤ 100); the cursor is there for other clients.
    results, raw, params = [], [], {"limit": 100}
    while True:
        page = httpx.get(f"{api.url}/v1/workflows/tests/runs/{run.id}/results", params=params,
                         headers={"Api-Key": api_key}, timeout=30).json()
        raw += page["data"]
        results += [WorkflowTestResult.model_validate(item) for item in page["data"]]
        if not page["list_metadata"]["after"]:
            break
        params["after"] = page["list_metadata"]["after"]
    assert len({r.test_id for r in results}) == len(results) == SCALE_TESTS
    assert all(item["n_consensus"] == 5 and item["consensus"] for item in raw)
    # Completed consensus results match the response schema the OpenAPI document publishes.
    for item in raw:
        ResultOut.model_validate(item)
    RunOut.model_validate(httpx.get(f"{api.url}/v1/workflows/tests/runs/{run.id}", headers={"Api-Key": api_key},
                                    timeout=30).json())
    with session_scope() as s:
        sub_calls = s.scalar(select(func.count()).select_from(SubCall).where(SubCall.run_id == run.id))
    assert sub_calls == SCALE_TESTS * 5
