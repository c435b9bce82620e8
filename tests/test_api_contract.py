"""Contract: the real retab==0.0.142 SDK round-trips every method against a real wft server."""

from __future__ import annotations

import pytest
from retab.types.workflows.tests import WorkflowTest, WorkflowTestResult, WorkflowTestRun
from sqlalchemy import select

from models.db import session_scope
from models.tables import Result, TestRevision
from workers import state

FN_CODE = "def main(inputs):\n    return {'double': inputs['input-json-0'] * 2}\n"


def _assertion(expected=42):
    return {"target": {"output_handle_id": "output-json-0", "path": "double"},
            "condition": {"kind": "equals", "expected": expected}}


def _source(x=21):
    return {"type": "manual", "handle_inputs": {"input-json-0": {"type": "json", "data": x}}}


@pytest.fixture()
def workflow(sdk):
    wf = sdk.workflows.create(name="Contract workflow", description="made by the contract test")
    yield wf
    try:
        sdk.workflows.delete(wf.id)
    except Exception:
        pass


def test_workflows_round_trip(sdk):
    wf = sdk.workflows.create(name="A", description="first")
    assert wf.id.startswith("wf_") and wf.name == "A" and wf.description == "first" and wf.created_at
    assert sdk.workflows.get(wf.id).id == wf.id
    updated = sdk.workflows.update(wf.id, name="A2", description="second")
    assert (updated.name, updated.description) == ("A2", "second")
    listed = sdk.workflows.list(limit=100)
    assert wf.id in [w.id for w in listed.data]
    sdk.workflows.delete(wf.id)
    with pytest.raises(Exception) as exc:
        sdk.workflows.get(wf.id)
    assert getattr(exc.value, "status_code", None) == 404 or "404" in str(exc.value)


def test_blocks_round_trip(sdk, workflow):
    block = sdk.workflows.blocks.create(workflow.id, id="fn", type="function", label="Double", config={"code": FN_CODE})
    assert (block.id, block.workflow_id, block.type, block.label) == ("fn", workflow.id, "function", "Double")
    batch = sdk.workflows.blocks.create_batch(workflow.id, [
        {"id": "x1", "type": "extract", "config": {"json_schema": {"type": "object", "properties": {}}}},
        {"id": "c1", "type": "classifier", "config": {"categories": [{"name": "invoice"}]}},
    ])
    assert [b.id for b in batch] == ["x1", "c1"]
    assert {b.id for b in sdk.workflows.blocks.list(workflow.id).data} == {"fn", "x1", "c1"}
    assert sdk.workflows.blocks.get(workflow.id, "x1").type == "extract"
    moved = sdk.workflows.blocks.update(workflow.id, "x1", label="Extract", position_x=10)
    assert moved.label == "Extract" and moved.position_x == 10
    sdk.workflows.blocks.delete(workflow.id, "c1")
    assert {b.id for b in sdk.workflows.blocks.list(workflow.id).data} == {"fn", "x1"}


def test_files_round_trip(sdk, tmp_path):
    path = tmp_path / "invoice.txt"
    path.write_text("INVOICE\nVendor: Acme\n\fpage two\n")
    uploaded = sdk.files.upload(str(path))
    assert uploaded.filename == "invoice.txt"
    files = sdk.files.list()
    ours = [f for f in files if f.filename == "invoice.txt"]
    assert ours
    got = sdk.files.get(ours[0].id)
    assert got.id == ours[0].id and got.page_count == 2


def test_tests_round_trip(sdk, workflow):
    sdk.workflows.blocks.create(workflow.id, id="fn", type="function", config={"code": FN_CODE})
    test = sdk.workflows.tests.create(workflow_id=workflow.id, target={"type": "block", "block_id": "fn"},
                                      source=_source(), assertion=_assertion(), name="doubles")
    assert isinstance(test, WorkflowTest) and test.id.startswith("wfnodetest_")
    assert test.assertion.id.startswith("assert_") and test.assertion.target.path == "double"
    assert test.schema_drift == "unknown" and test.created_at and test.updated_at
    assert sdk.workflows.tests.get(workflow.id, test.id).name == "doubles"
    renamed = sdk.workflows.tests.update(workflow.id, test.id, name="doubles twenty-one",
                                         assertion={**_assertion(), "condition": {"kind": "matches_regex", "expected": "^4"}})
    assert renamed.name == "doubles twenty-one" and renamed.assertion.condition["kind"] == "matches_regex"
    unchanged = sdk.workflows.tests.update(workflow.id, test.id)  # empty PATCH: no body at all
    assert unchanged.name == "doubles twenty-one"
    listed = sdk.workflows.tests.list(workflow.id, target_block_id="fn")
    assert [t.id for t in listed.data] == [test.id]
    sdk.workflows.tests.delete(workflow.id, test.id)
    assert sdk.workflows.tests.list(workflow.id).data == []


def test_runs_and_results_round_trip(sdk, workflow):
    sdk.workflows.blocks.create(workflow.id, id="fn", type="function", config={"code": FN_CODE})
    sdk.workflows.blocks.create(workflow.id, id="x", type="extract", config={"json_schema": {"type": "object"}})
    t1 = sdk.workflows.tests.create(workflow_id=workflow.id, target={"type": "block", "block_id": "fn"},
                                    source=_source(), assertion=_assertion())
    t2 = sdk.workflows.tests.create(workflow_id=workflow.id, target={"type": "block", "block_id": "fn"},
                                    source=_source(1), assertion=_assertion(3))

    single = sdk.workflows.tests.runs.create(workflow_id=workflow.id, test_id=t1.id)
    assert isinstance(single, WorkflowTestRun)
    assert single.lifecycle.status == "pending" and single.total_tests == 1 and single.counts.queued == 1
    assert single.test_id == t1.id and single.target.block_id == "fn"
    assert single.workflow.requested_version == "draft" and single.workflow.version_id.startswith("ver_")
    assert single.workflow.name_at_run_time == "Contract workflow" and single.trigger.type == "api"
    block_run = sdk.workflows.tests.runs.create(workflow_id=workflow.id, target={"type": "block", "block_id": "fn"})
    assert block_run.total_tests == 2 and block_run.target.block_id == "fn"
    whole = sdk.workflows.tests.runs.create(workflow_id=workflow.id, n_consensus=5)
    assert whole.total_tests == 2 and whole.workflow.version_id == single.workflow.version_id

    assert sdk.workflows.tests.runs.get(whole.id).id == whole.id
    mine = sdk.workflows.tests.runs.list(workflow_id=workflow.id, limit=100)
    assert [r.id for r in mine.data] == [whole.id, block_run.id, single.id]  # newest first
    page1 = sdk.workflows.tests.runs.list(workflow_id=workflow.id, limit=2)
    assert [r.id for r in page1.data] == [whole.id, block_run.id] and page1.list_metadata.after == block_run.id
    page2 = sdk.workflows.tests.runs.list(workflow_id=workflow.id, limit=2, after=page1.list_metadata.after)
    assert [r.id for r in page2.data] == [single.id] and page2.list_metadata.after is None
    back = sdk.workflows.tests.runs.list(workflow_id=workflow.id, limit=2, before=page2.list_metadata.before)
    assert [r.id for r in back.data] == [whole.id, block_run.id]
    assert [r.id for r in sdk.workflows.tests.runs.list(workflow_id=workflow.id, test_id=t1.id).data] == [single.id]
    by_block = sdk.workflows.tests.runs.list(workflow_id=workflow.id, target_block_id="fn", statuses="pending,running")
    assert [r.id for r in by_block.data] == [block_run.id, single.id]
    assert sdk.workflows.tests.runs.list(workflow_id=workflow.id, exclude_status="pending").data == []

    # Result rows as the fan-out writes them, then one completed and one errored.
    fan = state.start_run(block_run.id)
    assert fan is not None and sorted(fan.test_ids) == sorted([t1.id, t2.id])
    claim = state.claim_result(block_run.id, t1.id, lease_s=60, max_attempts=3)
    passed_result = {"assertion_id": "assert_x", "condition_kind": "equals", "status": "passed", "actual_value": 42,
                  "expected_value": 42, "score": None, "threshold": None, "metric_kind": None,
                  "assertion_label": None, "failure": None}
    assert state.finish_result(block_run.id, t1.id, claim.attempt, state.Outcome(
        status="completed", verdict="passed", outputs={"output-json-0": {"double": 42}}, assertion_result=passed_result,
        verdict_summary={"result": True, "assertions_passed": 1, "assertions_failed": 0, "blocked_assertions": 0,
                         "failed_assertion_ids": []}))
    claim2 = state.claim_result(block_run.id, t2.id, lease_s=60, max_attempts=3)
    assert state.finish_result(block_run.id, t2.id, claim2.attempt, state.Outcome(status="error", error_message="boom"))
    state.finalize_run(block_run.id)

    results = sdk.workflows.tests.runs.results.list(block_run.id, limit=1)
    assert len(results.data) == 1 and results.list_metadata.after
    everything = {r.test_id: r for r in sdk.workflows.tests.runs.results.list(block_run.id, limit=100).data}
    assert set(everything) == {t1.id, t2.id}
    ok = sdk.workflows.tests.runs.results.get(block_run.id, t1.id)
    assert isinstance(ok, WorkflowTestResult)
    assert ok.lifecycle.status == "completed" and ok.verdict == {"status": "passed"}
    assert ok.assertion_result.status == "passed" and ok.outputs["output-json-0"] == {"double": 42}
    assert ok.source.handle_inputs["input-json-0"]["data"] == 21 and ok.timing.created_at
    bad = sdk.workflows.tests.runs.results.get(block_run.id, t2.id)
    assert bad.lifecycle.status == "error" and bad.error == "boom" and bad.verdict is None
    done = sdk.workflows.tests.runs.get(block_run.id)
    assert done.lifecycle.status == "completed" and (done.counts.passed, done.counts.error) == (1, 1)

    cancelled = sdk.workflows.tests.runs.cancel(whole.id)
    assert cancelled.lifecycle.status == "cancelled" and cancelled.counts.cancelled == 2
    with pytest.raises(Exception) as exc:
        sdk.workflows.tests.runs.cancel(whole.id)
    assert "run_not_cancellable" in str(exc.value) or getattr(exc.value, "code", "") == "run_not_cancellable"
    with session_scope() as s:
        assert s.scalar(select(TestRevision.id).where(TestRevision.id == t1.id))
        assert s.scalars(select(Result).where(Result.run_id == single.id)).all() == []
